"""Splitting penalty lines into sentences under their headings: provision topic, timing, NOTE
blocks, the general rule, fare qualifiers and validity blocks."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from llm_worker.refund.models import Decision
from llm_worker.refund.reading import Context, Kind, Scope, Topic, Validity, Window
from llm_worker.refund.reading.normalise import normalise
from llm_worker.refund.reading.provisions import Sentence, split_provisions
from tests.refund_cases import BOUGHT, GENERAL_RULE, NOT_VALIDATED, REQUEST, decide, no_show, read


def sentences(text: str) -> list[Sentence]:
    return split_provisions(normalise(text)[0])


def test_sentences_stand_under_their_provision_and_timing_headings() -> None:
    found = sentences(
        "CANCELLATIONS\n  BEFORE DEPARTURE\n    CHARGE USD 150 FOR CANCEL/REFUND.\n"
        "  AFTER DEPARTURE\n    TICKET IS NON-REFUNDABLE.\n"
        "CHANGES\n  ANY TIME\n    CHARGE USD 80 FOR REISSUE.\n"
    )
    assert [(s.text, s.context.topic, s.context.scope) for s in found] == [
        ("CHARGE USD 150 FOR CANCEL/REFUND", Topic.REFUND, Scope.BEFORE_DEPARTURE),
        ("TICKET IS NON-REFUNDABLE", Topic.REFUND, Scope.AFTER_DEPARTURE),
        ("CHARGE USD 80 FOR REISSUE", Topic.CHANGE, Scope.ANY_TIME),
    ]
    assert all(s.context.headed for s in found)


@pytest.mark.parametrize(
    ("heading", "topic"),
    [
        ("CANCELLATIONS", Topic.REFUND),
        ("CHANGES/CANCELLATIONS", Topic.REFUND),
        ("CANCELLATIONS/REFUNDS", Topic.REFUND),
        ("REFUND PROVISIONS", Topic.REFUND),
        ("NO-SHOW", Topic.REFUND),
        ("CHANGES", Topic.CHANGE),
        ("REISSUE/REVALIDATION", Topic.CHANGE),
        ("VOLUNTARY CHANGES", Topic.CHANGE),
    ],
)
def test_provision_headings(heading: str, topic: Topic) -> None:
    (sentence,) = sentences(f"{heading}\n  CHARGE USD 40.\n")
    assert sentence.context.topic is topic


def test_a_no_show_heading_scopes_what_follows() -> None:
    (sentence,) = sentences("NO-SHOW\n  CHARGE USD 150.\n")
    assert sentence.context.scope is Scope.NO_SHOW


@pytest.mark.parametrize(
    ("heading", "scope", "window"),
    [
        ("BEFORE DEPARTURE", Scope.BEFORE_DEPARTURE, None),
        ("AFTER DEPARTURE", Scope.AFTER_DEPARTURE, None),
        ("ANY TIME", Scope.ANY_TIME, None),
        ("A. BEFORE DEPARTURE OF JOURNEY", Scope.BEFORE_DEPARTURE, None),
        ("MORE THAN 14 DAYS BEFORE DEPARTURE", Scope.BEFORE_DEPARTURE, Window(min_hours=336)),
        ("WITHIN 24 HOURS BEFORE DEPARTURE", Scope.BEFORE_DEPARTURE, Window(max_hours=24)),
        ("BETWEEN 2 AND 7 DAYS BEFORE DEPARTURE", Scope.BEFORE_DEPARTURE, Window(48, 168)),
        pytest.param(
            "LESS THAN 24 HOURS BEFORE DEPARTURE",
            Scope.BEFORE_DEPARTURE,
            Window(max_hours=24),
        ),
        pytest.param(
            "24 HOURS OR LESS BEFORE DEPARTURE",
            Scope.BEFORE_DEPARTURE,
            Window(max_hours=24),
        ),
        ("IN CASE OF NO-SHOW", Scope.NO_SHOW, None),
    ],
)
def test_timing_headings(heading: str, scope: Scope, window: Window | None) -> None:
    (sentence,) = sentences(f"CANCELLATIONS\n  {heading}\n    CHARGE USD 40.\n")
    assert (sentence.context.scope, sentence.context.window) == (scope, window)


TWO_WINDOWS = (
    "CANCELLATIONS\n"
    "  MORE THAN 7 DAYS BEFORE DEPARTURE\n    CHARGE USD 50 FOR CANCEL/REFUND.\n"
    "  LESS THAN 7 DAYS BEFORE DEPARTURE\n    CHARGE USD 150 FOR CANCEL/REFUND.\n"
)


@pytest.mark.parametrize(("days", "penalty"), [(23, Decimal(50)), (3, Decimal(150))])
def test_fees_under_more_than_and_less_than_headings_follow_the_timing(
    days: int, penalty: Decimal
) -> None:
    result = decide(TWO_WINDOWS, departure_date=REQUEST + timedelta(days=days))
    assert (result.decision, result.penalty) == (Decision.WITH_PENALTY, penalty)


def test_a_fee_only_for_the_last_day_says_nothing_for_a_request_weeks_before() -> None:
    text = "CANCELLATIONS\n  LESS THAN 24 HOURS BEFORE DEPARTURE\n    CHARGE USD 40 FOR REFUND.\n"
    assert decide(text).decision is Decision.MANUAL


def test_a_fee_only_for_the_last_day_with_within_says_nothing_for_a_request_weeks_before() -> None:
    text = "CANCELLATIONS\n  WITHIN 24 HOURS BEFORE DEPARTURE\n    CHARGE USD 40 FOR REFUND.\n"
    assert decide(text).decision is Decision.MANUAL
    late = decide(text, departure_date=REQUEST + timedelta(hours=5))
    assert late.penalty == Decimal(40)


def test_wrapped_lines_are_joined_into_one_sentence() -> None:
    (sentence,) = sentences(
        "CANCELLATIONS\n  ANY TIME\n    CHARGE 25 PERCENT OF THE TOTAL FARE PAID FOR\n"
        "    CANCEL/REFUND OF A WHOLLY UNUSED TICKET.\n"
    )
    assert sentence.text == (
        "CHARGE 25 PERCENT OF THE TOTAL FARE PAID FOR CANCEL/REFUND OF A WHOLLY UNUSED TICKET"
    )


def test_list_marks_stay_with_their_sentence() -> None:
    found = sentences("CANCELLATIONS\n  1. CHARGE USD 40 FOR CANCEL.\n  2. NON-REFUNDABLE.\n")
    assert [s.text for s in found] == ["1. CHARGE USD 40 FOR CANCEL", "2. NON-REFUNDABLE"]


# --- NOTE blocks -----------------------------------------------------------------------------
NOTE_BY_INDENT = (
    "CANCELLATIONS\n"
    "  ANY TIME\n"
    f"      NOTE - {NOT_VALIDATED}.\n"
    "      UNUSED TICKETS HAVE NO VALUE.\n"
    "    CHARGE USD 50 FOR CANCEL/REFUND.\n"
)


def test_a_note_block_ends_where_the_indentation_goes_back() -> None:
    found = sentences(NOTE_BY_INDENT)
    assert [(s.text, s.context.note) for s in found] == [
        (NOT_VALIDATED, True),
        ("UNUSED TICKETS HAVE NO VALUE", True),
        ("CHARGE USD 50 FOR CANCEL/REFUND", False),
    ]
    assert {s.context.scope for s in found} == {Scope.ANY_TIME}


def test_a_note_inside_the_provision_still_decides() -> None:
    # The note says the fare has no value: the fee line after it does not make it refundable.
    result = decide(NOTE_BY_INDENT)
    assert (result.decision, result.step) == (Decision.MANUAL, 7)


def test_text_below_not_validated_for_autopricing_is_read_and_neutral() -> None:
    text = (
        "CANCELLATIONS\n  BEFORE DEPARTURE\n    CHARGE USD 100 FOR CANCEL/REFUND.\n"
        f"      NOTE - {NOT_VALIDATED}.\n"
        "      REFUND TO BE MADE THROUGH THE ISSUING OFFICE.\n"
    )
    reading = read(text)
    assert [(s.kind, s.about) for s in reading.statements] == [
        (Kind.FEE, None),
        (Kind.NEUTRAL, "a note on automated pricing"),
        (Kind.NEUTRAL, "how and when a refund is processed"),
    ]
    assert decide(text).penalty == Decimal(100)


def test_a_timing_heading_inside_a_note_scopes_the_note_only() -> None:
    found = sentences(
        "CANCELLATIONS\n  ANY TIME\n    CHARGE USD 90 FOR CANCEL/REFUND.\n"
        "      NOTE -\n      IN CASE OF NO-SHOW\n      CHARGE USD 150.\n"
    )
    assert [(s.context.scope, s.context.note) for s in found] == [
        (Scope.ANY_TIME, False),
        (Scope.NO_SHOW, True),
    ]


# --- GENERAL RULE ----------------------------------------------------------------------------
GENERAL_AND_FARE_RULE = (
    f"{GENERAL_RULE}\n"
    "CANCELLATIONS\n  ANY TIME\n    CHARGE USD 200 FOR CANCEL/REFUND.\n"
    "FARE RULE\n"
    "CANCELLATIONS\n  BEFORE DEPARTURE\n    CHARGE USD 75 FOR CANCEL/REFUND.\n"
)


def test_general_rule_blocks_are_marked_and_the_fare_rule_clears_them() -> None:
    found = sentences(GENERAL_AND_FARE_RULE)
    assert [(s.text, s.context.general) for s in found] == [
        ("CHARGE USD 200 FOR CANCEL/REFUND", True),
        ("CHARGE USD 75 FOR CANCEL/REFUND", False),
    ]


def test_the_general_rule_gives_way_where_the_fare_rule_speaks() -> None:
    result = decide(GENERAL_AND_FARE_RULE)
    assert (result.decision, result.penalty) == (Decision.WITH_PENALTY, Decimal(75))


def test_the_general_rule_applies_where_the_fare_rule_is_silent() -> None:
    text = (
        "FARE RULE\nCHANGES\n  CHARGE USD 30 FOR REISSUE.\n"
        f"{GENERAL_RULE}\n"
        "CANCELLATIONS\n  ANY TIME\n    CHARGE USD 200 FOR CANCEL/REFUND.\n"
    )
    assert decide(text).penalty == Decimal(200)


def test_a_fare_rule_of_boilerplate_only_does_not_override_the_general_rule() -> None:
    text = (
        f"CANCELLATIONS\n  ANY TIME\n    NOTE - {NOT_VALIDATED}.\n"
        f"{GENERAL_RULE}\n"
        "CANCELLATIONS\n  ANY TIME\n    TICKET IS NON-REFUNDABLE.\n"
    )
    assert decide(text).step == 7


# --- validity blocks -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("heading", "validity"),
    [
        ("FOR TICKETING ON/AFTER 01APR 17", Validity("", on_or_after=date(2017, 4, 1))),
        ("FOR TICKETS ISSUED ON/BEFORE 31MAY22", Validity("", on_or_before=date(2022, 5, 31))),
        ("FOR TICKETS ISSUED BEFORE 01JUN22", Validity("", on_or_before=date(2022, 5, 31))),
        ("FOR TICKETS SOLD AFTER 15MAR23", Validity("", on_or_after=date(2023, 3, 16))),
    ],
)
def test_validity_headings(heading: str, validity: Validity) -> None:
    (sentence,) = sentences(f"{heading}\nCANCELLATIONS\n  CHARGE USD 40 FOR REFUND.\n")
    got = sentence.context.validity
    assert got is not None and got.text == heading
    assert (got.on_or_after, got.on_or_before) == (validity.on_or_after, validity.on_or_before)


TWO_PERIODS = (
    "FOR TICKETS ISSUED ON/BEFORE 31MAY22\n"
    "CANCELLATIONS\n  ANY TIME\n    REFUNDABLE WITHOUT CHARGE.\n"
    "FOR TICKETS ISSUED ON/AFTER 01JUN22\n"
    "CANCELLATIONS\n  ANY TIME\n    CHARGE USD 140 FOR CANCEL/REFUND.\n"
)


@pytest.mark.parametrize(
    ("bought", "decision", "penalty"),
    [
        (BOUGHT, Decision.WITH_PENALTY, Decimal(140)),
        (BOUGHT.replace(year=2022, month=5, day=31), Decision.ALLOWED, None),
        (BOUGHT.replace(year=2022, month=6, day=1), Decision.WITH_PENALTY, Decimal(140)),
    ],
)
def test_validity_blocks_are_matched_to_the_purchase_date(
    bought: datetime, decision: Decision, penalty: Decimal | None
) -> None:
    result = decide(TWO_PERIODS, purchase_date=bought)
    assert (result.decision, result.penalty) == (decision, penalty)


def test_validity_without_a_purchase_date_is_for_an_operator() -> None:
    result = decide(TWO_PERIODS, purchase_date=None)
    assert result.decision is Decision.MANUAL
    assert "purchase date is not known" in result.reasoning


def test_rules_only_for_tickets_issued_at_another_time_are_for_an_operator() -> None:
    text = "FOR TICKETS ISSUED ON/BEFORE 31MAY22\nCANCELLATIONS\n  REFUNDABLE WITHOUT CHARGE.\n"
    result = decide(text)
    assert result.decision is Decision.MANUAL
    assert "issued at another time" in result.reasoning


# --- fare and direction qualifiers -----------------------------------------------------------
def test_fare_qualifier_headings_are_kept_on_their_sentences() -> None:
    found = sentences(
        "FOR ECONOMY LIGHT FARES\n  CANCELLATIONS\n    TICKET IS NON-REFUNDABLE.\n"
        "FOR ECONOMY FLEX FARES\n  CANCELLATIONS\n    REFUNDABLE WITHOUT CHARGE.\n"
    )
    assert [s.context.qualifier for s in found] == [
        "FOR ECONOMY LIGHT FARES",
        "FOR ECONOMY FLEX FARES",
    ]
    assert found[0].context.label() == "FOR ECONOMY LIGHT FARES / REFUND"


def test_several_fares_with_rules_of_their_own_are_for_an_operator() -> None:
    text = (
        "BETWEEN USA AND EUROPE\n  CANCELLATIONS\n    CHARGE USD 100 FOR CANCEL/REFUND.\n"
        "WITHIN EUROPE\n  CANCELLATIONS\n    CHARGE USD 60 FOR CANCEL/REFUND.\n"
    )
    assert read(text).qualifiers == ("BETWEEN USA AND EUROPE", "WITHIN EUROPE")
    result = decide(text)
    assert result.decision is Decision.MANUAL
    assert "several fares or directions" in result.reasoning


def test_a_for_sentence_that_refers_elsewhere_is_a_reference_not_a_heading() -> None:
    text = (
        "CANCELLATIONS\n  ANY TIME\n    CHARGE USD 120 FOR CANCEL/REFUND.\n"
        "    FOR FURTHER DETAILS CONTACT CARRIER.\n"
    )
    assert Kind.REFERENCE in [s.kind for s in read(text).statements]
    assert decide(text).decision is Decision.MANUAL


def test_sentence_contexts_default_to_unheaded_prose() -> None:
    (sentence,) = sentences("Refunds are possible for a fee of USD 30.")
    assert sentence.context == Context()
    assert no_show("Refunds are possible for a fee of USD 30.").decision is Decision.MANUAL


def test_a_heading_change_flushes_a_sentence_that_looks_unfinished() -> None:
    found = sentences("CHANGES\n  CHARGE USD 80 FOR\nCANCELLATIONS\n  NON-REFUNDABLE.\n")
    assert [(s.context.topic, s.text) for s in found] == [
        (Topic.CHANGE, "CHARGE USD 80 FOR"),
        (Topic.REFUND, "NON-REFUNDABLE"),
    ]


def test_wrapped_statements_are_joined_after_a_colon_or_a_band() -> None:
    rules = (
        "CANCELLATIONS\n"
        "  BETWEEN 4 AND 7 DAYS BEFORE DEPARTURE FULLY\n  REFUNDABLE.\n"
        "  FROM 3 TO 1 DAYS BEFORE DEPARTURE\n"
        "    THE CHARGE FOR CANCEL/REFUND IS:\n    USD 40.00.\n"
    )
    texts = [s.text for s in read(rules).statements]
    assert texts == [
        "BETWEEN 4 AND 7 DAYS BEFORE DEPARTURE FULLY REFUNDABLE",
        "THE CHARGE FOR CANCEL/REFUND IS: USD 40.00",
    ]
    assert decide(rules, departure_date=REQUEST + timedelta(days=5)).decision is Decision.ALLOWED
    assert decide(rules, departure_date=REQUEST + timedelta(days=2)).penalty == Decimal(40)


def test_a_heading_for_all_journeys_names_no_one_fare() -> None:
    rules = (
        "CANCELLATIONS\n  CHARGE USD 50.00 FOR CANCEL.\n\n"
        "FOR ALL JOURNEYS BEFORE OR AFTER FIRST FLIGHT\n"
        "  NO-SHOW FEE USD 80.\n"
    )
    assert read(rules).qualifiers == ()
