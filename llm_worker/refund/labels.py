"""Eval labels from what people decided on a case: only where the label follows without doubt.

An operator's approval of a refund the worker sent to review is a decision (often a waiver of a
non-refundable fare), not proof of which automatic answer was right, so a review never labels a
case. An audit of an automatic refund does where its verdict says enough: `correct` confirms
the worker's decision and fee; `wrong_amount` with the fee the auditor found gives WITH_PENALTY
with that fee (or ALLOWED for a fee of zero, which the contract reads as refundable without
charge). Everything else (`wrong_decision`, a wrong amount without the right fee, a fee above
the ticket price) stays unlabelled for a refund-team lead to settle.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from llm_worker.refund.models import Decision

# The contract's section 2 input variables: the only ones an exported case carries.
INPUT_VARIABLES = (
    "bookingId",
    "fareRules",
    "ticketClass",
    "fareBasis",
    "ticketPrice",
    "currency",
    "purchaseDate",
    "departureDate",
    "requestDate",
    "refundReason",
    "flightStatus",
    "noShow",
    "passengerCount",
)


class AuditVerdict(StrEnum):
    CORRECT = "correct"
    WRONG_DECISION = "wrong_decision"
    WRONG_AMOUNT = "wrong_amount"


@dataclass(frozen=True)
class Label:
    expected: Decision
    expected_penalty: Decimal | None = None


def audit_label(
    decision: str | None,
    penalty: Decimal | None,
    verdict: AuditVerdict,
    corrected_penalty: Decimal | None,
    ticket_price: Decimal | None,
) -> Label | None:
    """The label an audit verdict gives the worker's automatic decision, or None."""
    try:
        decided = Decision(decision) if decision is not None else None
    except ValueError:
        return None
    if decided not in (Decision.ALLOWED, Decision.WITH_PENALTY):
        return None  # only automatic decisions are audited; anything else is not one
    if verdict is AuditVerdict.CORRECT:
        if decided is Decision.WITH_PENALTY:
            return None if penalty is None else Label(decided, penalty)
        return Label(decided)
    if verdict is AuditVerdict.WRONG_AMOUNT and corrected_penalty is not None:
        if corrected_penalty < 0 or (ticket_price is not None and corrected_penalty > ticket_price):
            return None
        if corrected_penalty == 0:
            return Label(Decision.ALLOWED)
        return Label(Decision.WITH_PENALTY, corrected_penalty)
    return None
