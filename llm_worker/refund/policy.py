"""The decision policy of CONTRACT.md section 2, steps 1 to 8, in order, as plain Python."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from llm_worker.refund.currency import CurrencyLimits, plain
from llm_worker.refund.models import Decision, RefundCase
from llm_worker.refund.reading import Kind, Per, Reading, Scope, Statement
from llm_worker.refund.reading.applying import quote, select

_CENT = Decimal("0.01")


@dataclass(frozen=True)
class RuleResult:
    """What the rules concluded, and whether they are sure of it.

    `sure` is False only where the text was not understood (nothing recognised, another
    language, nothing that applies to this timing): there the LLM may read it. `blocks_allowed`
    says the text and facts plainly rule out a full refund (a fee, a non-refundable fare,
    after departure, ...), which the guardrails hold the LLM to.
    """

    decision: Decision
    step: int
    reasoning: str
    sure: bool = True
    penalty: Decimal | None = None
    blocks_allowed: bool = False
    # One of the contract's doubtful readings holds (a voucher, a reference to rules not
    # shown, a waiver for this reason, a fee that cannot be computed): no automatic decision.
    doubtful: bool = False
    # The text of the statements that apply to this request, which an LLM's answer must rest on.
    evidence: str = ""


def decide_by_facts(case: RefundCase, thresholds: CurrencyLimits) -> RuleResult | None:
    """Steps 1 to 3: decided from the facts alone, in every strategy; `thresholds` are the
    manual-review thresholds by currency."""
    if case.involuntary:
        why = (
            "the flight was cancelled"
            if case.flight_status.value == "CANCELLED"
            else f"the refund reason is {case.refund_reason.value}"
        )
        return RuleResult(
            Decision.ALLOWED,
            1,
            f"Involuntary refund: {why}, so the full fare is refunded whatever the fare rules say.",
        )
    # Without a requestDate it is now (CONTRACT.md section 2). Now is never earlier than the
    # request itself, so a request handled within 24 hours was also asked within them.
    if (
        case.purchase_date is not None
        and case.departure_date is not None
        and timedelta(0) <= case.request_date - case.purchase_date <= timedelta(hours=24)
        and case.departure_date - case.purchase_date >= timedelta(days=7)
    ):
        asked = (
            "the refund was asked"
            if case.request_date_given
            else "the refund (no requestDate given) is handled"
        )
        return RuleResult(
            Decision.ALLOWED,
            2,
            f"24-hour rule: {asked} within 24 hours of purchase and departure is at least "
            "7 days after purchase, so the full fare is refunded.",
        )
    if case.passenger_count is not None and case.passenger_count >= 10:
        return RuleResult(
            Decision.MANUAL,
            3,
            f"Group booking of {case.passenger_count} passengers: group refunds are reviewed "
            "by an operator.",
            blocks_allowed=True,
        )
    if case.ticket_price is not None:
        threshold = thresholds.in_currency(case.currency)
        if threshold is None:
            return RuleResult(
                Decision.MANUAL,
                3,
                "The ticket price cannot be checked: there is no review threshold for currency "
                f"{case.currency} (neither MANUAL_REVIEW_THRESHOLDS nor the reference exchange "
                "rates name it).",
                blocks_allowed=True,
            )
        if case.ticket_price > threshold.amount:
            return RuleResult(
                Decision.MANUAL,
                3,
                f"Ticket price {_money(case.ticket_price, case.currency)} is above the "
                f"manual-review threshold of {threshold.describe(thresholds)}.",
                blocks_allowed=True,
            )
    if case.fare_rules is None or not case.fare_rules.strip():
        return RuleResult(
            Decision.MANUAL,
            3,
            "No fare rules were given, so the refund conditions cannot be checked.",
            blocks_allowed=True,
        )
    return None


def decide_by_text(case: RefundCase, reading: Reading) -> RuleResult:
    """Steps 4 to 8 from the fare-rule text as the reader understood it."""
    if reading.injection is not None:
        return RuleResult(
            Decision.MANUAL,
            8,
            "The fare rules contain text addressed to the decision system "
            f'("{reading.injection[:60]}"); tampered rules are reviewed by an operator.',
            blocks_allowed=True,
        )
    if reading.foreign:
        return RuleResult(
            Decision.MANUAL,
            8,
            "The fare rules are not in English and the rules engine cannot read them.",
            sure=False,
        )
    applicable = select(reading, case)
    step = 4 if case.after_departure else 8
    if applicable.doubts:
        why = applicable.doubts[0].why
        return RuleResult(
            Decision.MANUAL, step, f"{why[:1].upper()}{why[1:]}.", blocks_allowed=True,
            doubtful=True, evidence=applicable.evidence(),
        )  # fmt: skip
    decisive = applicable.decisive
    nonref = [s for s in decisive if s.kind is Kind.NON_REFUNDABLE]
    if nonref:
        what = " after departure or a no-show" if case.after_departure else ""
        # "NON-REFUNDABLE EXCEPT ...": the exception is not read, so the rules are not sure
        # (hybrid asks the LLM); a full refund stays ruled out whatever the exception says.
        excepted = next((s for s in nonref if s.conditional), None)
        exception = " with an exception the rules reader does not read" if excepted else ""
        then = "" if excepted else " on a waiver or a tax-only refund"
        return RuleResult(
            Decision.MANUAL, 4 if case.after_departure else 7,
            f"Refund asked{what} on a fare the rules call non-refundable{exception} "
            f"(\"{quote(excepted or nonref[0])}\"); an operator decides{then}.",
            sure=excepted is None, blocks_allowed=True, evidence=applicable.evidence(),
        )  # fmt: skip
    if applicable.unread:
        return RuleResult(
            Decision.MANUAL, step,
            "The rules reader did not understand every sentence that applies to this request "
            f'(e.g. "{quote(applicable.unread[0])}").',
            sure=False, blocks_allowed=any(s.kind is Kind.FEE for s in decisive),
            evidence=applicable.evidence(),
        )  # fmt: skip
    if not decisive:
        return RuleResult(
            Decision.MANUAL, step,
            "The fare rules state no refund or cancellation condition that applies to this "
            "request.",
            blocks_allowed=case.after_departure, evidence=applicable.evidence(),
        )  # fmt: skip
    result = (
        _after_departure(case, decisive)
        if case.after_departure
        else _before_departure(case, decisive)
    )
    return replace(result, evidence=applicable.evidence())


def _after_departure(case: RefundCase, statements: tuple[Statement, ...]) -> RuleResult:
    """Step 4: only a no-show or after-departure fee stated in the rules allows a refund."""
    what = "after a no-show" if case.no_show else "after departure"
    fee = "no-show fee" if case.no_show else "after-departure fee"
    stated = [s for s in statements if s.scope in (Scope.NO_SHOW, Scope.AFTER_DEPARTURE)]
    other = [s for s in statements if s not in stated]
    if not stated:
        return RuleResult(
            Decision.MANUAL, 4,
            f"Refund asked {what}, and the fare rules state no {fee} (a rule for \"any time\" "
            "is not one).",
            blocks_allowed=True,
        )  # fmt: skip
    kinds = {s.kind for s in stated}
    if kinds != {Kind.FEE}:
        return RuleResult(
            Decision.MANUAL, 4,
            f"Refund asked {what}; the rules state no {fee} (\"{quote(stated[0])}\"), so an "
            "operator decides.",
            blocks_allowed=True,
        )  # fmt: skip
    if any(s.kind is Kind.FEE for s in other):
        return RuleResult(
            Decision.MANUAL, 4,
            f"The {fee} (\"{quote(stated[0])}\") may add to another cancellation charge "
            f"(\"{quote(next(s for s in other if s.kind is Kind.FEE))}\"), and the rules do not "
            "say which total applies.",
            blocks_allowed=True,
        )  # fmt: skip
    return _fee_result(case, stated, step=4, context=fee)


def _before_departure(case: RefundCase, statements: tuple[Statement, ...]) -> RuleResult:
    """Steps 5 to 8 for a refund asked before departure."""
    # The most specific statements win: a timing window over "before departure" over general.
    timed = [s for s in statements if s.window is not None]
    untimed = [s for s in statements if s.window is None]
    group = timed or [s for s in untimed if s.scope is Scope.BEFORE_DEPARTURE] or untimed
    if any(s.kind is Kind.FEE for s in group):
        # "REFUND PERMITTED" next to a stated charge is permitted for that charge.
        group = [s for s in group if s.kind is not Kind.PERMITTED]
    kinds = {Kind.FREE if s.kind is Kind.PERMITTED else s.kind for s in group}
    if kinds == {Kind.FREE}:
        others = [s for s in statements if s.kind not in (Kind.FREE, Kind.PERMITTED)]
        if others:
            return _contradiction([group[0], others[0]], 8)
        return RuleResult(
            Decision.ALLOWED,
            5,
            f'The fare rules allow a refund without charge: "{quote(group[0])}".',
        )
    if kinds == {Kind.FEE}:
        return _fee_result(case, group, step=6, context="cancellation fee")
    return _contradiction(group, 8)


def _fee_result(case: RefundCase, fees: list[Statement], *, step: int, context: str) -> RuleResult:
    """Step 6 (or 4): one fee, in the ticket's currency and not above its price."""
    options: set[Decimal] = set()
    foreign: list[str] = []
    missing_price = False
    for fee in fees:
        amount, problem = _fee_amount(case, fee)
        if amount is not None:
            options.add(amount)
        elif problem == "price":
            missing_price = True
        elif problem:
            foreign.append(problem)
    if len(options) > 1:
        listed = ", ".join(_money(o, case.currency) for o in sorted(options))
        return RuleResult(
            Decision.MANUAL, 8,
            f"The fare rules state different {context}s that could apply ({listed}).",
            blocks_allowed=True,
        )  # fmt: skip
    if not options:
        if missing_price:
            why = "a percentage of the fare, and the ticket price is not known"
        elif "per coupon, sector or direction" in foreign:
            why = "charged per coupon, sector or direction, and their number is not known"
        elif case.currency is None:
            why = "in a currency, and the ticket's currency is not known"
        else:
            why = f"in {', '.join(sorted(set(foreign)))}, not in {case.currency}"
        return RuleResult(
            Decision.MANUAL, step,
            f"The {context} is {why} (\"{quote(fees[0])}\").",
            blocks_allowed=True,
        )  # fmt: skip
    penalty = options.pop()
    if case.ticket_price is not None and penalty > case.ticket_price:
        return RuleResult(
            Decision.MANUAL, step,
            f"The {context} {_money(penalty, case.currency)} is above the ticket price "
            f"{_money(case.ticket_price, case.currency)}.",
            blocks_allowed=True,
        )  # fmt: skip
    passengers = case.passenger_count or 1
    each = (
        f" ({passengers} passengers)"
        if passengers > 1 and any(f.amount is not None and f.per is Per.PASSENGER for f in fees)
        else ""
    )
    return RuleResult(
        Decision.WITH_PENALTY, step,
        f"The fare rules allow a refund for {_article(context)} {context} of "
        f"{_money(penalty, case.currency)}{each}: \"{quote(fees[0])}\".",
        penalty=penalty, blocks_allowed=True,
    )  # fmt: skip


def _fee_amount(case: RefundCase, fee: Statement) -> tuple[Decimal | None, str | None]:
    """The fee in the ticket's currency, or what stops it ("price" or the other currency)."""
    first = _single_amount(case, fee)
    if fee.alternative is None:
        return first
    second = _single_amount(case, fee.alternative)
    if first[0] is not None and second[0] is not None and fee.pick is not None:
        pick = max if fee.pick == "max" else min
        return pick(first[0], second[0]), None
    if first[0] is not None and second[0] is None and fee.pick is None:
        return first  # the same fee quoted in two currencies: take the ticket's
    if second[0] is not None and first[0] is None and fee.pick is None:
        return second
    if first[0] is not None and second[0] is not None and first[0] == second[0]:
        return first
    return None, first[1] or second[1] or "an unclear combination"


def _single_amount(case: RefundCase, fee: Statement) -> tuple[Decimal | None, str | None]:
    if fee.percent is not None:
        if case.ticket_price is None:
            return None, "price"
        return (case.ticket_price * fee.percent / 100).quantize(_CENT, ROUND_HALF_UP), None
    if fee.amount is None:
        return None, "an unknown amount"
    if case.currency is None or fee.currency != case.currency:
        return None, fee.currency or "an unknown currency"
    if fee.per is Per.UNIT:
        return None, "per coupon, sector or direction"
    if fee.per is Per.PASSENGER and (case.passenger_count or 1) > 1:
        return fee.amount * (case.passenger_count or 1), None
    return fee.amount, None


def _contradiction(group: list[Statement], step: int) -> RuleResult:
    quoted = " / ".join(f'"{quote(s)}"' for s in group[:3])
    return RuleResult(
        Decision.MANUAL,
        step,
        f"The fare rules contradict each other for this request: {quoted}.",
        blocks_allowed=True,
    )


def _money(amount: Decimal, currency: str | None) -> str:
    return f"{plain(amount)} {currency}" if currency else plain(amount)


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"
