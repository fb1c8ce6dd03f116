"""Review: without a requestDate the 24-hour rule is checked with now, as the contract says."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from llm_worker.config import DecisionStrategy
from llm_worker.refund.decider import Decider
from llm_worker.refund.inputs import PlainVariable
from llm_worker.refund.models import Decision, Source

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _decide(purchase: datetime, departure: datetime) -> tuple[Decision, Source, str]:
    decider = Decider(strategy=DecisionStrategy.RULES, threshold=Decimal(5000), clock=lambda: NOW)
    variables = {
        "bookingId": PlainVariable("B1"),
        "fareRules": PlainVariable("TICKET IS NON-REFUNDABLE."),
        "ticketPrice": PlainVariable(620.0),
        "currency": PlainVariable("USD"),
        # Camunda's Date format, as the engine sends a Date variable
        "purchaseDate": PlainVariable(purchase.strftime("%Y-%m-%dT%H:%M:%S.000%z"), "Date"),
        "departureDate": PlainVariable(departure.isoformat(), "String"),
    }
    verdict = decider.decide(variables, time.monotonic() + 10)
    return verdict.decision, verdict.source, verdict.reasoning


def test_no_request_date_within_24_hours_of_purchase_is_allowed() -> None:
    decision, source, reasoning = _decide(NOW - timedelta(hours=3), NOW + timedelta(days=30))
    assert (decision, source) == (Decision.ALLOWED, Source.RULES)
    assert reasoning.startswith("24-hour rule: the refund (no requestDate given) is handled")


@pytest.mark.parametrize(
    ("purchase", "departure"),
    [
        (NOW - timedelta(hours=25), NOW + timedelta(days=30)),  # bought more than 24 h ago
        (NOW - timedelta(hours=3), NOW + timedelta(days=6)),  # departure < 7 days after purchase
    ],
)
def test_no_request_date_outside_the_rule_is_not_allowed(
    purchase: datetime, departure: datetime
) -> None:
    decision, _, reasoning = _decide(purchase, departure)
    assert decision is Decision.MANUAL and "non-refundable" in reasoning
