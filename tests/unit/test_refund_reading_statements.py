"""Classifying each sentence: fees and their notations, free, permitted, non-refundable, taxes,
vouchers, waivers and their reasons, references, boilerplate, and what stays unread."""

from __future__ import annotations

from decimal import Decimal

import pytest

from llm_worker.refund.models import Decision, RefundReason
from llm_worker.refund.reading import DECISIVE, Kind, Per, Reason, Scope, Statement, Window
from llm_worker.refund.reading.model import Context, Topic
from llm_worker.refund.reading.provisions import Sentence
from llm_worker.refund.reading.statements import classify
from tests.refund_cases import NOT_VALIDATED, decide, kinds, no_show, read, that


def only(text: str) -> Statement:
    statements = read(text).statements
    assert len(statements) == 1, statements
    return statements[0]


# --- fees ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("CANCEL/REFUND: USD 150", "150", "USD"),
        ("Refund permitted for a fee of 150.00 USD.", "150.00", "USD"),
        ("Cancellation fee $150 per ticket.", "150", "USD"),
        ("CHARGE EUR150 FOR CANCEL/REFUND.", "150", "EUR"),
        ("CHARGE USD 200 FOR CANCEL/REFUND.", "200", "USD"),
        ("charge usd 200 for cancel/refund.", "200", "USD"),
        ("Cancellation fee 45,00 EUR per passenger.", "45.00", "EUR"),
        ("CHARGE USD 1,250.00 FOR CANCEL/REFUND.", "1250.00", "USD"),
        ("Refund fee £60.", "60", "GBP"),
        ("REFUND PERMITTED SUBJECT TO A CHARGE OF CAD 90", "90", "CAD"),
    ],
)
def test_fee_amount_notations(text: str, amount: str, currency: str) -> None:
    fee = only(text)
    assert fee.kind is Kind.FEE
    assert (fee.amount, fee.currency) == (Decimal(amount), currency)


@pytest.mark.parametrize(
    ("text", "percent"),
    [
        ("CANCELLATION FEE: 25% OF THE FARE.", "25"),
        ("REFUND PERMITTED LESS 10 PERCENT OF FARE.", "10"),
        ("CHARGE 15 PCT OF FARE FOR REFUND", "15"),
        ("A refund of 75% of the fare is given on cancellation.", "25"),
        ("NO SHOW - 50 PCT OF THE FARE WILL BE FORFEITED.", "50"),
    ],
)
def test_percentage_fees(text: str, percent: str) -> None:
    fees = [s for s in read(text).statements if s.kind is Kind.FEE]
    assert [f.percent for f in fees] == [Decimal(percent)]


def test_alternative_fees_whichever_is_higher() -> None:
    fee = only("CHARGE USD 100 OR 10 PCT OF FARE WHICHEVER IS HIGHER FOR CANCEL/REFUND.")
    assert fee.amount == Decimal("100") or fee.percent == Decimal("10")
    assert fee.alternative is not None
    assert fee.pick == "max"


def test_alternative_fees_whichever_is_lower() -> None:
    fee = only("CHARGE USD 100 OR 30 PERCENT OF FARE WHICHEVER IS LOWER.")
    assert (fee.pick, fee.uncomputable) == ("min", None)
    assert decide("CHARGE USD 100 OR 30 PERCENT OF FARE WHICHEVER IS LOWER.").penalty == 100


def test_the_same_fee_in_two_currencies_takes_the_tickets() -> None:
    fee = only("CHARGE 50 EUR OR 60 USD FOR CANCEL/REFUND.")
    assert fee.pick is None and fee.alternative is not None
    assert decide("CHARGE 50 EUR OR 60 USD FOR CANCEL/REFUND.").penalty == Decimal(60)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("CANCELLATION FEE UP TO USD 150.", '"up to"'),
        ("REFUND FEE MAXIMUM USD 150.", '"up to"'),
        ("CHARGE 10 PERCENT OF THE BASIC FARE FOR CANCEL/REFUND.", "basic fare"),
        ("CHARGE USD 150 OR THE BASE FARE WHICHEVER IS LOWER.", "basic fare"),
        ("CHARGE USD 150 PLUS 10 PERCENT OF THE FARE.", "added to the fee"),
    ],
)
def test_fees_that_cannot_be_computed_from_the_case(text: str, why: str) -> None:
    fee = that(text, Kind.FEE)
    assert fee.uncomputable is not None and why in fee.uncomputable
    result = decide(f"CANCELLATIONS\n  BEFORE DEPARTURE\n    {text}\n")
    assert (result.decision, result.penalty) == (Decision.MANUAL, None)
    assert why in result.reasoning


@pytest.mark.parametrize(
    ("text", "per"),
    [
        ("CHARGE USD 40 PER COUPON FOR CANCEL/REFUND.", Per.UNIT),
        ("CHARGE USD 40 PER SECTOR.", Per.UNIT),
        ("CANCELLATION FEE USD 40 EACH WAY.", Per.UNIT),
        ("CHARGE USD 40 PER FARE COMPONENT.", Per.UNIT),
        ("CHARGE USD 40 PER BOOKING FOR CANCEL/REFUND.", Per.BOOKING),
        ("CHARGE USD 40 PER PASSENGER FOR CANCEL/REFUND.", Per.PASSENGER),
        ("CHARGE USD 40 FOR CANCEL/REFUND.", Per.PASSENGER),
    ],
)
def test_what_a_fee_is_charged_for(text: str, per: Per) -> None:
    assert only(text).per is per


def test_a_per_coupon_fee_cannot_be_computed() -> None:
    result = decide("CANCELLATIONS\n  BEFORE DEPARTURE\n    CHARGE USD 40 PER COUPON.\n")
    assert result.decision is Decision.MANUAL
    assert "per coupon, sector or direction" in result.reasoning


@pytest.mark.parametrize(
    "note",
    [
        "CHARGES APPLY PER FARE COMPONENT.",
        "THE PENALTY APPLIES PER DIRECTION.",
        "FEES ARE APPLIED PER COUPON.",
    ],
)
def test_a_note_that_charges_apply_per_component_makes_the_fee_uncomputable(note: str) -> None:
    text = (
        "CANCELLATIONS\n  BEFORE DEPARTURE\n    CHARGE USD 40 FOR CANCEL/REFUND.\n"
        f"      NOTE - {note}\n"
    )
    assert that(text, Kind.FEE_BASIS).uncomputable is not None
    result = decide(text)
    assert (result.decision, result.penalty) == (Decision.MANUAL, None)
    assert "fare component" in result.reasoning


def test_a_per_component_note_alone_is_no_fee() -> None:
    # Without a fee it says nothing about this refund: the free refund stands.
    text = (
        "CANCELLATIONS\n  BEFORE DEPARTURE\n    REFUNDABLE WITHOUT CHARGE.\n"
        "      NOTE - CHARGES APPLY PER FARE COMPONENT.\n"
    )
    assert decide(text).decision is Decision.ALLOWED


# --- free, permitted, non-refundable ---------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "TICKET IS NON-REFUNDABLE.",
        "non refundable",
        "Fare NONREF.",
        "CANCEL/REFUND NOT PERMITTED.",
        "Refunds are not permitted.",
        "Tickets are not refundable.",
        "NO REFUNDS.",
        "THE TICKET WILL BE FORFEITED.",
        "TICKET HAS NO VALUE.",
    ],
)
def test_non_refundable_shapes(text: str) -> None:
    assert only(text).kind is Kind.NON_REFUNDABLE


@pytest.mark.parametrize(
    "text",
    ["Tarifa no reembolsable.", "Billet non remboursable.", "Ticket nicht erstattbar."],
)
def test_non_refundable_in_other_languages_is_read(text: str) -> None:
    assert only(text).kind is Kind.NON_REFUNDABLE


@pytest.mark.parametrize(
    "text",
    [
        "REFUNDABLE WITHOUT CHARGE.",
        "Fully refundable.",
        "cancellation/refund: free of charge",
        "CANCELLATION/REFUND PERMITTED WITHOUT PENALTY.",
        "CANCELLATIONS PENALTY: NIL",
        "CHARGE USD 0 FOR CANCEL/REFUND.",
        "Refunds: no cancellation fee applies.",
        "100% REFUNDABLE",
        "CANCELLATION FEE: NONE",
    ],
)
def test_free_shapes(text: str) -> None:
    assert only(text).kind is Kind.FREE


@pytest.mark.parametrize(
    ("text", "conditional"),
    [
        ("FREE CANCELLATION WITHIN 24 HOURS.", True),
        ("REFUNDABLE FREE OF CHARGE FOR ELITE MEMBERS.", True),
        ("FREE CANCELLATION WITHIN 24 HOURS OF DEPARTURE.", False),
        ("REFUNDABLE WITHOUT CHARGE.", False),
        ("NO PENALTY UNLESS OTHERWISE SPECIFIED.", False),
    ],
)
def test_free_refund_conditions(text: str, conditional: bool) -> None:
    assert only(text).conditional is conditional


@pytest.mark.parametrize(
    "text",
    [
        "CANCELLATIONS PERMITTED.",
        "REFUND PERMITTED.",
        "CANCELLATIONS PERMITTED ANY TIME.",
        "CHANGES/CANCELLATIONS PERMITTED BEFORE DEPARTURE.",
        "REFUNDS ALLOWED WITHIN TICKET VALIDITY.",
    ],
)
def test_permitted_shapes(text: str) -> None:
    assert only(text).kind is Kind.PERMITTED


def test_a_permitted_cancellation_with_no_charge_anywhere_is_a_free_refund() -> None:
    text = "CANCELLATIONS\n  BEFORE DEPARTURE\n    CANCELLATIONS PERMITTED.\n"
    result = decide(text)
    assert (result.decision, result.step) == (Decision.ALLOWED, 5)


@pytest.mark.parametrize(
    ("elsewhere", "quoted"),
    [
        ("    WAIVED FOR DEATH OF PASSENGER.\n", "WAIVED FOR DEATH"),
        ("  AFTER DEPARTURE\n    CHARGE USD 200 FOR CANCEL/REFUND.\n", "USD 200"),
        ("  NO-SHOW\n    CHARGE USD 90.\n", "USD 90"),
        ("    SURCHARGES ARE NOT REFUNDABLE.\n", "SURCHARGES"),
    ],
)
def test_a_permitted_cancellation_next_to_a_charge_or_waiver_elsewhere_is_manual(
    elsewhere: str, quoted: str
) -> None:
    text = f"CANCELLATIONS\n  BEFORE DEPARTURE\n    CANCELLATIONS PERMITTED.\n{elsewhere}"
    result = decide(text)
    assert result.decision is Decision.MANUAL
    assert quoted in result.reasoning


def test_permitted_for_a_fee_is_a_fee() -> None:
    fee = only("CANCELLATIONS PERMITTED FOR A CHARGE OF USD 100.")
    assert (fee.kind, fee.amount) == (Kind.FEE, Decimal(100))


# --- taxes, surcharges, flown parts ----------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("TICKET IS NON-REFUNDABLE EXCEPT TAXES.", Kind.TAXES_ONLY),
        ("ONLY UNUSED TAXES ARE REFUNDABLE.", Kind.TAXES_ONLY),
        ("NON-REFUNDABLE EXCEPT AIRPORT CHARGES.", Kind.TAXES_ONLY),
        ("YQ SURCHARGE IS NOT REFUNDABLE.", Kind.RETAINED),
        ("THE SERVICE FEE WILL BE RETAINED.", Kind.RETAINED),
        ("CHARGE USD 50 FOR CANCEL/REFUND PLUS APPLICABLE TAXES.", Kind.FEE_BASIS),
        ("PARTIALLY USED TICKETS - DEDUCT THE ONE WAY FARE FOR THE FLOWN PORTION.", Kind.FEE_BASIS),
        ("UNUSED TAXES ARE REFUNDABLE.", Kind.NEUTRAL),
    ],
)
def test_taxes_and_parts_of_the_price(text: str, kind: Kind) -> None:
    assert kind in kinds(text)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("TICKET IS NON-REFUNDABLE EXCEPT TAXES.", "Only taxes or charges are refunded"),
        ("CHARGE USD 50 FOR CANCEL/REFUND. YQ SURCHARGE IS NOT REFUNDABLE.", "not refunded"),
    ],
)
def test_taxes_only_and_retained_parts_are_for_an_operator(text: str, words: str) -> None:
    result = decide(f"CANCELLATIONS\n  ANY TIME\n    {text}\n")
    assert result.decision is Decision.MANUAL
    assert words in result.reasoning


def test_refunded_taxes_change_nothing() -> None:
    text = "CANCELLATIONS\n  ANY TIME\n    CHARGE USD 50 FOR REFUND. UNUSED TAXES ARE REFUNDABLE.\n"
    assert decide(text).penalty == Decimal(50)


# --- vouchers --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "UNUSED TICKET CAN BE CONVERTED INTO A TRAVEL VOUCHER.",
        "REFUND AS A CREDIT SHELL VALID 12 MONTHS.",
        "The value is kept as a travel credit for a future trip.",
        "REFUND IN THE FORM OF A MCO ONLY.",
    ],
)
def test_vouchers_and_credits(text: str) -> None:
    assert Kind.VOUCHER in kinds(text)


def test_a_free_cancellation_paid_as_a_credit_is_not_a_refund() -> None:
    text = (
        "Our flexible ticket lets you cancel for free. "
        "The value is kept as a credit for a future trip."
    )
    result = decide(text)
    assert result.decision is Decision.MANUAL
    assert "voucher or credit" in result.reasoning


def test_a_refund_issued_as_an_emd_for_future_travel_is_a_voucher() -> None:
    text = (
        "CANCELLATIONS\n  BEFORE DEPARTURE\n    CANCELLATIONS PERMITTED.\n"
        "    UNUSED VALUE IS ISSUED AS AN EMD FOR FUTURE TRAVEL.\n"
    )
    assert Kind.VOUCHER in kinds(text)
    assert decide(text).decision is Decision.MANUAL


# --- waivers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("PENALTY WAIVED IN CASE OF DEATH OF PASSENGER.", Reason.DEATH),
        ("WAIVED ON DEATH OF THE PASSENGER OR A FAMILY MEMBER.", Reason.DEATH),
        ("PENALTY WAIVED IN CASE OF HOSPITALISATION.", Reason.ILLNESS),
        ("MEDICAL CERTIFICATE REQUIRED.", Reason.ILLNESS),
        ("FEES WAIVED IF VISA IS REFUSED.", Reason.VISA),
        ("FULL REFUND IN CASE OF SCHEDULE CHANGE BY THE CARRIER.", Reason.INVOLUNTARY),
        ("CHARGES WAIVED FOR MILITARY ORDERS.", Reason.OTHER),
    ],
)
def test_waivers_and_their_reasons(text: str, reason: Reason) -> None:
    assert that(text, Kind.WAIVER).reason is reason


# --- references ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "SEE FARE RULE FOR CANCELLATION CONDITIONS.",
        "SEE GENERAL RULE.",
        "RULE AB12 IN IPRG APPLIES.",
        "CONTACT CARRIER FOR REFUND CONDITIONS.",
        "REFUND SUBJECT TO CARRIER APPROVAL.",
        "PLS REFER TO CATEGORY 33.",
    ],
)
def test_references_to_rules_not_shown(text: str) -> None:
    assert that(text, Kind.REFERENCE).about == "provisions that are not shown"


@pytest.mark.parametrize(
    "reference",
    ["SEE FARE RULE FOR CANCELLATION CONDITIONS.", "RULE AB12 IN IPRG APPLIES.",
     "CONTACT CARRIER FOR REFUND CONDITIONS."],
)  # fmt: skip
def test_a_reference_next_to_a_fee_is_for_an_operator(reference: str) -> None:
    text = f"CANCELLATIONS\n  ANY TIME\n    CHARGE USD 120 FOR CANCEL/REFUND.\n    {reference}\n"
    result = decide(text)
    assert (result.decision, result.penalty) == (Decision.MANUAL, None)
    assert "provisions that are not shown" in result.reasoning


def test_a_reference_for_no_shows_does_not_stop_a_refund_before_departure() -> None:
    text = (
        "CANCELLATIONS\n  ANY TIME\n    CHARGE USD 120 FOR CANCEL/REFUND.\n"
        "    SEE FARE RULE FOR NO-SHOW PENALTY.\n"
    )
    assert decide(text).penalty == Decimal(120)
    assert "not shown" in no_show(text).reasoning


# --- boilerplate -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "about"),
    [
        (f"{NOT_VALIDATED}.", "a note on automated pricing"),
        ("CHILD/INFANT DISCOUNTS APPLY.", "child and infant terms"),
        ("INFANT WITHOUT A SEAT - NO CHARGE.", "child and infant terms"),
        ("WHEN COMBINING FARES THE MOST RESTRICTIVE CONDITIONS APPLY.", "combining fares"),
        ("THE HIGHEST PENALTY OF ALL CANCELLED FARE COMPONENTS APPLIES.", "combining fares"),
        ("REPRICING MUST BE DONE USING HISTORICAL FARES.", "repricing"),
        ("TICKET IS NOT TRANSFERABLE.", "ticket handling"),
        ("REFUND TO BE MADE THROUGH THE ISSUING OFFICE.", "how and when a refund is processed"),
        ("CHARGES APPLY PER TRANSACTION.", "once per transaction"),
        ("CHARGE USD 50 FOR LOST TICKET.", "another service"),
        ("REFUND PERMITTED WITHIN 24 HOURS OF TICKETING.", "24-hour rule"),
        ("CHARGE USD 75 FOR REISSUE.", "rule for changes"),
        ("BAGGAGE: 1 PIECE INCLUDED.", "ancillary services"),
        ("SEAT SELECTION IS CHARGED USD 20.", "ancillary services"),
        ("MINIMUM STAY SATURDAY NIGHT.", "other fare conditions"),
    ],
)
def test_boilerplate_is_neutral_and_says_what_it_is(text: str, about: str) -> None:
    statement = only(text)
    assert statement.kind is Kind.NEUTRAL
    assert statement.about is not None and about in statement.about


def test_combining_repricing_and_child_boilerplate_leave_the_fee_alone() -> None:
    text = (
        "CANCELLATIONS\n  BEFORE DEPARTURE\n    CHARGE USD 100 FOR CANCEL/REFUND.\n"
        "    WHEN COMBINING FARES THE MOST RESTRICTIVE CONDITIONS APPLY.\n"
        "    REPRICING MUST BE DONE USING HISTORICAL FARES.\n"
        "    CHILD/INFANT DISCOUNTS APPLY.\n"
        "    INFANT WITHOUT A SEAT - NO CHARGE.\n"
    )
    result = decide(text)
    assert (result.decision, result.penalty) == (Decision.WITH_PENALTY, Decimal(100))


def test_a_child_discount_never_makes_an_adult_ticket_free() -> None:
    text = "CANCELLATIONS\n  ANY TIME\n    NON-REFUNDABLE.\n    CHILD DISCOUNT: NO CHARGE.\n"
    assert decide(text).step == 7


def test_change_fees_taxes_and_waivers_are_not_refund_statements() -> None:
    reading = read(
        "CHANGES\n  CHARGE USD 75 FOR REISSUE.\n"
        "CANCELLATIONS\n  CHARGE USD 200 FOR CANCEL/REFUND.\n"
        "  UNUSED TAXES ARE REFUNDABLE.\n"
        "  PENALTY WAIVED IN CASE OF DEATH OF PASSENGER.\n"
        "  FREE CANCELLATION WITHIN 24 HOURS OF PURCHASE.\n"
    )
    decisive = [(s.kind, s.amount) for s in reading.statements if s.kind in DECISIVE]
    assert decisive == [(Kind.FEE, Decimal("200"))]
    assert [s.kind for s in reading.statements] == [
        Kind.NEUTRAL, Kind.FEE, Kind.NEUTRAL, Kind.WAIVER, Kind.NEUTRAL,
    ]  # fmt: skip


# --- scopes, windows and clauses -------------------------------------------------------------
def test_scopes_inline_and_from_atpco_headings() -> None:
    reading = read(
        "CANCELLATIONS\n  BEFORE DEPARTURE\n    CHARGE USD 150.00 FOR CANCEL/REFUND.\n"
        "  AFTER DEPARTURE\n    TICKET IS NON-REFUNDABLE.\n"
        "NO-SHOW: CHARGE USD 250.\nCANCELLATION ANY TIME: USD 20."
    )
    assert [(s.kind, s.scope) for s in reading.statements] == [
        (Kind.FEE, Scope.BEFORE_DEPARTURE),
        (Kind.NON_REFUNDABLE, Scope.AFTER_DEPARTURE),
        (Kind.FEE, Scope.NO_SHOW),
        (Kind.FEE, Scope.ANY_TIME),
    ]


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("MORE THAN 7 DAYS BEFORE DEPARTURE: USD 50", Window(min_hours=168)),
        ("LESS THAN 7 DAYS BEFORE DEPARTURE: USD 150", Window(max_hours=168)),
        ("WITHIN 24 HOURS OF DEPARTURE CHARGE USD 90", Window(max_hours=24)),
        ("UP TO 72 HOURS BEFORE DEPARTURE CHARGE USD 40", Window(min_hours=72)),
        ("BETWEEN 2 AND 7 DAYS BEFORE DEPARTURE: USD 80", Window(48, 168)),
        ("14 DAYS OR MORE BEFORE DEPARTURE: FREE OF CHARGE", Window(min_hours=336)),
    ],
)
def test_timing_windows(text: str, window: Window) -> None:
    assert only(text).window == window


def test_an_otherwise_clause_takes_the_other_side_of_the_window() -> None:
    free, fee = read("CANCEL: FREE UNTIL 24H BEFORE DEPARTURE, THEN USD 80").statements
    assert (free.kind, free.window) == (Kind.FREE, Window(min_hours=24))
    assert (fee.kind, fee.window, fee.amount) == (Kind.FEE, Window(max_hours=24), Decimal(80))


def test_a_local_heading_before_a_colon_or_dash_scopes_its_line() -> None:
    assert only("CANCEL BEFORE DEPARTURE - USD 50").scope is Scope.BEFORE_DEPARTURE
    assert only("NO-SHOW: CHARGE USD 100").scope is Scope.NO_SHOW
    # A rule for both cancellations and no-shows is no no-show rule of its own.
    assert only("CANCEL/NO-SHOW: CHARGE USD 100").scope is Scope.UNSPECIFIED


def test_a_change_provision_is_never_a_refund_fee() -> None:
    (statement,) = classify(
        Sentence("CHARGE USD 80 FOR CANCEL/REFUND", Context(topic=Topic.CHANGE, headed=True))
    )
    assert statement.kind is Kind.NEUTRAL
    assert statement.about == "a change provision (not a refund rule)"


def test_change_fee_next_to_a_non_refundable_cancellation_never_decides_a_refund() -> None:
    text = (
        "CHANGES\n  ANY TIME\n    CHARGE GBP 120 FOR REISSUE.\n"
        "CANCELLATIONS\n  ANY TIME\n    TICKET IS NON-REFUNDABLE.\n"
    )
    result = decide(text, currency="GBP")
    assert (result.decision, result.step, result.penalty) == (Decision.MANUAL, 7, None)


def test_change_fee_next_to_a_cancellation_fee_charges_the_cancellation_fee() -> None:
    text = (
        "CHANGES\n  ANY TIME\n    CHARGE USD 80 FOR REISSUE.\n"
        "CANCELLATIONS\n  BEFORE DEPARTURE\n    CHARGE USD 120 FOR CANCEL/REFUND.\n"
    )
    assert decide(text).penalty == Decimal(120)


@pytest.mark.parametrize(
    "rules",
    [
        "CHANGES PERMITTED FOR A FEE OF USD 50. CANCELLATIONS PERMITTED.",
        "CHANGES/CANCELLATIONS\n  ANY TIME\n    CHARGE USD 80 FOR REISSUE.\n    REFUND PERMITTED.",
    ],
)
def test_a_change_fee_is_no_charge_on_a_permitted_cancellation(rules: str) -> None:
    # CONTRACT.md: a fee for changes or reissue is never a refund fee.
    result = decide(rules)
    assert (result.decision, result.penalty) == (Decision.ALLOWED, None)


def test_changes_cancellations_provision_is_a_refund_provision() -> None:
    text = "CHANGES/CANCELLATIONS\n  BEFORE DEPARTURE\n    CHARGE USD 90 FOR CANCEL/REFUND.\n"
    assert read(text).statements[0].context.topic is Topic.REFUND
    assert decide(text).penalty == Decimal(90)


def test_a_sentence_the_reader_does_not_understand_is_unread() -> None:
    statement = only("CANCELLATIONS\n  REFUND MUST BE ASKED FOR BY THE PASSENGER IN PERSON.\n")
    assert statement.kind is Kind.UNREAD
    result = decide("CANCELLATIONS\n  REFUND MUST BE ASKED FOR BY THE PASSENGER IN PERSON.\n")
    assert (result.decision, result.sure) == (Decision.MANUAL, False)


def test_the_reason_a_waiver_names_is_read_for_the_request() -> None:
    text = "CANCELLATIONS\n  ANY TIME\n    NON-REFUNDABLE. WAIVED IN CASE OF DEATH OF PASSENGER.\n"
    assert decide(text, refund_reason=RefundReason.BEREAVEMENT).decision is Decision.MANUAL


def test_a_surcharge_kept_is_read_even_below_the_change_rules() -> None:
    rules = (
        "CANCELLATIONS\n  CHARGE USD 100.00 FOR CANCEL/REFUND.\n"
        "CHANGES\n  CHARGE USD 50.00 FOR REISSUE.\n"
        "  THE SECURITY SURCHARGE COLLECTED ON THE TICKET IS NOT REFUNDABLE.\n"
    )
    kept = that(rules, Kind.RETAINED)
    assert kept.context.topic is Topic.REFUND
    assert decide(rules).decision is Decision.MANUAL


@pytest.mark.parametrize(
    "line",
    ["IN CASE OF NO-SHOW CHARGE USD 80.", "NO-SHOW FEE: USD 80.", "CHARGE USD 80 FOR NO-SHOW."],
)
def test_a_no_show_fee_below_a_before_departure_band_is_not_in_that_band(line: str) -> None:
    rules = (
        "CANCELLATIONS\n  7 DAYS OR LESS BEFORE DEPARTURE\n    CANCEL/REFUND FREE OF CHARGE.\n"
        f"  {line}\n"
    )
    assert no_show(rules).penalty == Decimal(80)


def test_what_is_kept_of_non_refundable_tickets_only_does_not_touch_a_fee() -> None:
    rules = (
        "CANCELLATIONS\n  ANY TIME CHARGE USD 90.00 FOR CANCEL/REFUND.\n"
        "  FOR NON REFUNDABLE TICKETS THE YR SURCHARGE WILL NOT BE REFUNDED.\n"
    )
    assert decide(rules).penalty == Decimal(90)
    assert decide(rules.replace("FOR NON REFUNDABLE TICKETS ", "")).decision is Decision.MANUAL
