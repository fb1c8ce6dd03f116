"""Which statements apply to a request (topic, timing, validity, general rule) and the doubts
that send it to an operator: waivers for the request's reason, no-show fees that may add up,
"any time" after departure, several fares."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from llm_worker.refund.models import Decision, FlightStatus, RefundReason
from llm_worker.refund.reading import Kind, Scope, read_fare_rules
from llm_worker.refund.reading.applying import Applicable, quote, select
from tests.refund_cases import GENERAL_RULE, REQUEST, decide, no_show, refund_case


def applicable(rules: str, **over: object) -> Applicable:
    return select(read_fare_rules(rules), refund_case(rules, **over))


DISPLAY = (
    "CHANGES\n  ANY TIME\n    CHARGE USD 80 FOR REISSUE.\n"
    "CANCELLATIONS\n"
    "  MORE THAN 7 DAYS BEFORE DEPARTURE\n    CHARGE USD 50 FOR CANCEL/REFUND.\n"
    "  WITHIN 7 DAYS BEFORE DEPARTURE\n    CHARGE USD 150 FOR CANCEL/REFUND.\n"
    "  AFTER DEPARTURE\n    TICKET IS NON-REFUNDABLE.\n"
)


def test_only_refund_statements_for_this_timing_apply() -> None:
    found = applicable(DISPLAY)
    assert [(s.kind, s.amount) for s in found.statements] == [(Kind.FEE, Decimal(50))]
    assert found.doubts == () and found.unread == ()
    assert found.evidence() == "CHARGE USD 50 FOR CANCEL/REFUND"
    # Every refund statement of the fare rule, at any timing, is kept for "charges elsewhere".
    assert len(found.provisions) == 3


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        ({"departure_date": REQUEST + timedelta(days=3)}, (Decision.WITH_PENALTY, Decimal(150))),
        ({"departure_date": REQUEST + timedelta(days=30)}, (Decision.WITH_PENALTY, Decimal(50))),
        ({"flight_status": FlightStatus.DEPARTED}, (Decision.MANUAL, None)),
    ],
)
def test_the_timing_of_the_request_picks_the_statement(
    over: dict[str, object], expected: tuple[Decision, Decimal | None]
) -> None:
    result = decide(DISPLAY, **over)
    assert (result.decision, result.penalty) == expected


def test_a_window_without_a_departure_date_is_a_doubt() -> None:
    found = applicable(DISPLAY, departure_date=None)
    assert found.statements == ()
    assert "departure date is not known" in found.doubts[0].why


# --- waivers against the refund reason -------------------------------------------------------
DEATH_WAIVER = (
    "CANCELLATIONS\n  ANY TIME\n    CHARGE USD 100 FOR CANCEL/REFUND.\n"
    "    WAIVED FOR DEATH OF PASSENGER OR IMMEDIATE FAMILY MEMBER.\n"
)
ILLNESS_WAIVER = (
    "CANCELLATIONS\n  ANY TIME\n    CHARGE USD 100 FOR CANCEL/REFUND.\n"
    "    PENALTY WAIVED IN CASE OF SERIOUS ILLNESS OF THE PASSENGER.\n"
)


@pytest.mark.parametrize(
    ("rules", "reason", "decision"),
    [
        (DEATH_WAIVER, RefundReason.BEREAVEMENT, Decision.MANUAL),
        (DEATH_WAIVER, RefundReason.MEDICAL, Decision.WITH_PENALTY),
        (DEATH_WAIVER, RefundReason.VOLUNTARY, Decision.WITH_PENALTY),
        (DEATH_WAIVER, RefundReason.OTHER, Decision.MANUAL),
        (ILLNESS_WAIVER, RefundReason.MEDICAL, Decision.MANUAL),
        (ILLNESS_WAIVER, RefundReason.BEREAVEMENT, Decision.WITH_PENALTY),
        (ILLNESS_WAIVER, RefundReason.VOLUNTARY, Decision.WITH_PENALTY),
    ],
)
def test_a_waiver_matters_only_when_the_refund_reason_matches_it(
    rules: str, reason: RefundReason, decision: Decision
) -> None:
    result = decide(rules, refund_reason=reason)
    assert result.decision is decision
    if decision is Decision.MANUAL:
        assert "need a document an operator checks" in result.reasoning
    else:
        assert result.penalty == Decimal(100)


def test_a_waiver_on_a_non_refundable_fare_is_for_an_operator_on_a_bereavement() -> None:
    rules = (
        "CANCELLATIONS\n  ANY TIME\n    TICKET IS NON-REFUNDABLE.\n"
        "    NOTE - IN CASE OF DEATH OF PASSENGER THE\n    FARE IS REFUNDED.\n"
    )
    assert decide(rules, refund_reason=RefundReason.BEREAVEMENT).decision is Decision.MANUAL
    assert decide(rules).step == 7


def test_an_involuntary_waiver_never_stands_in_the_way_of_a_voluntary_refund() -> None:
    rules = "CHARGE USD 60 FOR CANCEL/REFUND. WAIVED IN CASE OF SCHEDULE CHANGE BY THE CARRIER."
    assert decide(rules, refund_reason=RefundReason.OTHER).penalty == Decimal(60)


# --- after departure and no-show -------------------------------------------------------------
NO_SHOW_WITH_CANCEL_FEE = (
    "CANCELLATIONS\n  ANY TIME\n    CHARGE USD 100 FOR CANCEL/REFUND.\n"
    "  IN CASE OF NO-SHOW\n    CHARGE USD 150.\n"
)


def test_a_no_show_fee_that_may_add_to_another_cancellation_fee_is_manual() -> None:
    result = no_show(NO_SHOW_WITH_CANCEL_FEE)
    assert (result.decision, result.step) == (Decision.MANUAL, 4)
    assert "may add to another cancellation charge" in result.reasoning
    # Before departure the no-show fee does not apply: the cancellation fee does.
    assert decide(NO_SHOW_WITH_CANCEL_FEE).penalty == Decimal(100)


def test_a_no_show_fee_said_to_come_on_top_of_the_cancellation_fee_is_manual() -> None:
    rules = (
        "CANCELLATIONS\n  BEFORE DEPARTURE\n    CHARGE USD 100 FOR CANCEL/REFUND.\n"
        "NO-SHOW\n  CHARGE USD 150 FOR NO-SHOW.\n"
        "  NO-SHOW FEE IS IN ADDITION TO THE CANCELLATION FEE.\n"
    )
    result = no_show(rules)
    assert (result.decision, result.penalty) == (Decision.MANUAL, None)
    assert "added to the fee" in result.reasoning


def test_a_no_show_fee_alone_decides_a_no_show() -> None:
    rules = (
        "CANCELLATIONS\n  BEFORE DEPARTURE\n    REFUNDABLE WITHOUT CHARGE.\n"
        "  IN CASE OF NO-SHOW\n    CHARGE USD 150.\n"
    )
    result = no_show(rules)
    assert (result.decision, result.step, result.penalty) == (
        Decision.WITH_PENALTY, 4, Decimal(150),
    )  # fmt: skip
    assert decide(rules).decision is Decision.ALLOWED


def test_an_any_time_fee_is_no_fee_after_departure() -> None:
    rules = "CANCELLATIONS\n  ANY TIME\n    CHARGE USD 100 FOR CANCEL/REFUND.\n"
    for result in (no_show(rules), decide(rules, flight_status=FlightStatus.DEPARTED)):
        assert (result.decision, result.step) == (Decision.MANUAL, 4)
        assert '"any time" is not one' in result.reasoning


def test_an_after_departure_fee_decides_a_departed_flight() -> None:
    rules = (
        "CANCELLATIONS\n  BEFORE DEPARTURE\n    CANCELLATIONS PERMITTED.\n"
        "  AFTER DEPARTURE\n    CHARGE USD 200 FOR CANCEL/REFUND.\n"
    )
    result = decide(rules, flight_status=FlightStatus.DEPARTED)
    assert (result.decision, result.penalty) == (Decision.WITH_PENALTY, Decimal(200))


def test_a_flown_part_deducted_after_departure_cannot_be_computed() -> None:
    rules = (
        "CANCELLATIONS\n  AFTER DEPARTURE\n    CHARGE USD 100 FOR CANCEL/REFUND.\n"
        "    PARTIALLY USED TICKETS - DEDUCT THE ONE WAY FARE FOR THE FLOWN PORTION.\n"
    )
    result = decide(rules, flight_status=FlightStatus.DEPARTED)
    assert result.decision is Decision.MANUAL
    assert "already flown" in result.reasoning


def test_no_show_statements_do_not_apply_to_a_departed_passenger_who_flew() -> None:
    found = applicable(NO_SHOW_WITH_CANCEL_FEE, flight_status=FlightStatus.DEPARTED)
    assert all(s.scope is not Scope.NO_SHOW for s in found.statements)


# --- general rule, validity, several fares ---------------------------------------------------
def test_the_general_rule_is_dropped_when_the_fare_rule_decides() -> None:
    rules = (
        f"{GENERAL_RULE}\n"
        "CANCELLATIONS\n  ANY TIME\n    CHARGE USD 200 FOR CANCEL/REFUND.\n"
        "    WAIVED FOR DEATH OF PASSENGER.\n"
        "FARE RULE\nCANCELLATIONS\n  BEFORE DEPARTURE\n    REFUNDABLE WITHOUT CHARGE.\n"
    )
    found = applicable(rules, refund_reason=RefundReason.BEREAVEMENT)
    assert [s.kind for s in found.statements] == [Kind.FREE]
    assert found.doubts == ()
    assert decide(rules, refund_reason=RefundReason.BEREAVEMENT).decision is Decision.ALLOWED


def test_statements_of_another_validity_period_are_not_applied() -> None:
    rules = (
        "FOR TICKETING ON/AFTER 01APR 17\nCANCELLATIONS\n  CHARGE USD 80 FOR CANCEL/REFUND.\n"
        "FOR TICKETING ON/BEFORE 31MAR 17\nCANCELLATIONS\n  NON-REFUNDABLE.\n"
    )
    assert [s.amount for s in applicable(rules).statements] == [Decimal(80)]
    assert decide(rules).penalty == Decimal(80)


PROSE_FARES = (
    "Fare conditions\n"
    "Saver: Cancellation is not possible. The ticket has no refund value.\n"
    "Classic: Cancellation fee USD 70 per passenger.\n"
    "Flex: Free cancellation until departure.\n"
)


@pytest.mark.parametrize("fare_basis", [None, "KCLASSIC"])
def test_a_prose_page_with_several_fares_is_for_an_operator(fare_basis: str | None) -> None:
    result = decide(PROSE_FARES, fare_basis=fare_basis)
    assert (result.decision, result.penalty) == (Decision.MANUAL, None)


def test_a_prose_page_with_several_booking_classes_is_for_an_operator() -> None:
    rules = (
        "Booking classes Y, B and M: refundable without charge.\n"
        "Booking classes Q and V: refund fee USD 150.\n"
    )
    result = decide(rules, ticket_class="Economy")
    assert result.decision is Decision.MANUAL


def test_a_display_with_several_fare_headings_is_for_an_operator() -> None:
    rules = (
        "FOR ECONOMY SAVER FARES\n  CANCELLATIONS\n    CHARGE USD 150 FOR CANCEL/REFUND.\n"
        "FOR ECONOMY FLEX FARES\n  CANCELLATIONS\n    CHARGE USD 40 FOR CANCEL/REFUND.\n"
    )
    found = applicable(rules)
    assert "several fares or directions" in found.doubts[0].why
    assert decide(rules, fare_basis="YFLEX").decision is Decision.MANUAL


def test_a_prose_page_with_one_fee_is_decided() -> None:
    rules = (
        "Cancellation and refund\n"
        "Refund of unused tickets is possible for a fee of USD 45 per ticket.\n"
        "Unused airport taxes are refunded.\n"
    )
    result = decide(rules, passenger_count=2)
    assert (result.decision, result.penalty) == (Decision.WITH_PENALTY, Decimal(90))


def test_quotes_are_short_and_on_one_line() -> None:
    long = "CHARGE USD 40 FOR CANCEL/REFUND OF THE\n" + "UNUSED COUPONS OF THE TICKET AND\n" * 8
    (statement,) = read_fare_rules(long).statements
    assert len(statement.text) > 160
    assert len(quote(statement)) == 160 and quote(statement).endswith("...")
    assert "\n" not in quote(statement)
