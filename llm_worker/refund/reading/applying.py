"""Which statements of a reading apply to one refund request, and what makes the reading doubtful.

Only refund provisions decide (a change fee never does), only for this request's timing, only
in blocks whose validity covers the ticket, and the general rule only where the fare rule says
nothing itself. A doubt is one of the contract's readings that send a case to an operator.
"""

from __future__ import annotations

from dataclasses import dataclass

from llm_worker.refund.models import RefundCase, RefundReason
from llm_worker.refund.reading.model import (
    DECISIVE,
    Kind,
    Reading,
    Reason,
    Scope,
    Statement,
    Topic,
)

_REASON_OF = {RefundReason.BEREAVEMENT: Reason.DEATH, RefundReason.MEDICAL: Reason.ILLNESS}
_BEFORE_SCOPES = (Scope.UNSPECIFIED, Scope.ANY_TIME, Scope.BEFORE_DEPARTURE)


@dataclass(frozen=True)
class Doubt:
    """A reason the case must go to an operator, in words an operator understands."""

    why: str
    statement: Statement | None = None


@dataclass(frozen=True)
class Applicable:
    """The statements that apply to this request, and what stands in the way of deciding."""

    statements: tuple[Statement, ...]
    doubts: tuple[Doubt, ...]
    unread: tuple[Statement, ...]
    # Refund statements of the fare rule at any timing (for "no charge stated anywhere").
    provisions: tuple[Statement, ...]

    @property
    def decisive(self) -> tuple[Statement, ...]:
        return tuple(s for s in self.statements if s.kind in DECISIVE)

    def evidence(self) -> str:
        """The text of what applies: an LLM's fee or quote must come from here."""
        return "\n".join(s.text for s in self.statements if s.kind is not Kind.NEUTRAL)


def select(reading: Reading, case: RefundCase) -> Applicable:
    refund = [s for s in reading.statements if s.context.topic is Topic.REFUND]
    specific = [s for s in refund if not s.context.general]
    if any(s.kind in DECISIVE for s in specific):
        refund = specific  # the general rule applies "unless otherwise specified"
    doubts: list[Doubt] = []
    if reading.qualifiers:
        listed = "; ".join(reading.qualifiers[:3])
        doubts.append(
            Doubt(
                "the fare rules hold different rules for several fares or directions "
                f"({listed}) and the case cannot be matched to one"
            )
        )
    kept: list[Statement] = []
    for statement in refund:
        validity = statement.context.validity
        if validity is not None:
            if case.purchase_date is None:
                doubts.append(Doubt(f'the rules hold only for some tickets ("{validity.text}") and '
                                    "the purchase date is not known", statement))  # fmt: skip
                continue
            if not validity.covers(case.purchase_date.date()):
                continue
        kept.append(statement)
    if refund and not kept and not doubts:
        doubts.append(Doubt("the refund rules shown are for tickets issued at another time"))
    applying = [s for s in kept if _applies(s, case, doubts)]
    unread = [s for s in applying if s.kind is Kind.UNREAD]
    doubts.extend(_doubts(applying, kept, case))
    return Applicable(tuple(applying), tuple(_unique(doubts)), tuple(unread), tuple(kept))


def _applies(statement: Statement, case: RefundCase, doubts: list[Doubt]) -> bool:
    if case.after_departure:
        if statement.window is not None or statement.scope is Scope.BEFORE_DEPARTURE:
            return False
        return case.no_show or statement.scope is not Scope.NO_SHOW
    if statement.scope not in _BEFORE_SCOPES:
        return False
    if statement.window is None:
        return True
    hours = case.hours_before_departure
    if hours is None:
        doubts.append(Doubt("the fee depends on how long before departure the refund is asked, "
                            "and the departure date is not known", statement))  # fmt: skip
        return False
    return statement.window.contains(hours)


def _doubts(
    applying: list[Statement], provisions: list[Statement], case: RefundCase
) -> list[Doubt]:
    found: list[Doubt] = []
    reason = _REASON_OF.get(case.refund_reason)
    has_fee = any(s.kind is Kind.FEE for s in applying)
    for s in applying:
        if s.kind is Kind.REFERENCE:
            found.append(
                Doubt(f'the rules refer to provisions that are not shown ("{quote(s)}")', s)
            )
        elif s.kind is Kind.VOUCHER:
            found.append(Doubt(f'the refund is given as a voucher or credit ("{quote(s)}")', s))
        elif s.kind is Kind.TAXES_ONLY:
            found.append(Doubt(f'only taxes or charges are refunded ("{quote(s)}")', s))
        elif s.kind is Kind.WAIVER and _matches(s, reason, case.refund_reason):
            found.append(Doubt(
                f"the rules waive or except charges for {s.about}, which matches the refund "
                f'reason {case.refund_reason.value}, and need a document an operator checks '
                f'("{quote(s)}")', s,
            ))  # fmt: skip
        elif s.kind is Kind.RETAINED:
            found.append(Doubt(f'a part of the price is not refunded ("{quote(s)}")', s))
        elif (s.kind is Kind.FEE_BASIS and (has_fee or case.after_departure)) or (
            s.kind is Kind.FEE and s.uncomputable
        ):
            found.append(Doubt(f'{s.uncomputable} ("{quote(s)}")', s))
        elif s.kind is Kind.FREE and s.conditional:
            found.append(Doubt(f"the rules refund without charge only under a condition an "
                               f'operator must check ("{quote(s)}")', s))  # fmt: skip
    if any(s.kind is Kind.PERMITTED for s in applying) and not any(
        s.kind in (Kind.FEE, Kind.FREE, Kind.NON_REFUNDABLE) for s in applying
    ):
        charged = [
            s
            for s in provisions
            if s.kind in (Kind.FEE, Kind.FEE_BASIS, Kind.WAIVER, Kind.RETAINED)
        ]
        if charged:
            found.append(Doubt(
                "cancellation is permitted without a charge named for it, but the cancellation "
                f'rules speak of charges elsewhere ("{quote(charged[0])}")', charged[0],
            ))  # fmt: skip
    return found


def _matches(waiver: Statement, reason: Reason | None, asked: RefundReason) -> bool:
    if waiver.reason is Reason.INVOLUNTARY:
        return False  # policy step 1 has decided those already
    if asked is RefundReason.OTHER:
        return True  # an unnamed reason may be the one the waiver names
    return reason is not None and reason.value in (waiver.about or "")


def _unique(doubts: list[Doubt]) -> list[Doubt]:
    return list({d.why: d for d in doubts}.values())


def quote(statement: Statement) -> str:
    text = " ".join(statement.text.split())
    return text if len(text) <= 160 else text[:157] + "..."
