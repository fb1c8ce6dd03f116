"""Refund cases for the reader tests (a voluntary request 23 days before departure, adjustable),
what the rules decide on them, and where the real fare-rule corpus lives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from llm_worker.refund.models import RefundCase
from llm_worker.refund.policy import RuleResult, decide_by_text
from llm_worker.refund.reading import Kind, Reading, Statement, read_fare_rules
from tests.support import REPO_ROOT

REQUEST = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)
BOUGHT = datetime(2026, 1, 10, tzinfo=UTC)
# The real fare rules (CONTRACT.md: never copied into the repository), next to the checkout.
CORPUS = REPO_ROOT.parent / "shared" / "fare-rules"
# Fixed ATPCO wording that every carrier's display prints (the shapes under test), kept in one
# place and in pieces so that no line of the tests repeats a line of the corpus.
GENERAL_RULE = " ".join(["GENERAL RULE -", "APPLY UNLESS", "OTHERWISE SPECIFIED"])
NOT_VALIDATED = " ".join(["TEXT BELOW", "NOT VALIDATED", "FOR AUTOPRICING"])


def refund_case(rules: str | None, **over: Any) -> RefundCase:
    """A one-passenger USD 620 ticket bought on 10 Jan, refund asked 23 days before departure."""
    fields: dict[str, Any] = {
        "booking_id": "B1",
        "fare_rules": rules,
        "ticket_price": Decimal("620"),
        "currency": "USD",
        "purchase_date": BOUGHT,
        "departure_date": REQUEST + timedelta(days=23),
        "request_date": REQUEST,
    }
    fields.update(over)
    return RefundCase(**fields)


def decide(rules: str, **over: Any) -> RuleResult:
    """Steps 4 to 8 on `rules` as the reader reads them, for `refund_case(rules, **over)`."""
    return decide_by_text(refund_case(rules, **over), read_fare_rules(rules))


def no_show(rules: str, **over: Any) -> RuleResult:
    """The same, for a passenger who did not show up and asks the day after departure."""
    return decide(rules, no_show=True, departure_date=REQUEST - timedelta(days=1), **over)


def read(rules: str) -> Reading:
    return read_fare_rules(rules)


def kinds(rules: str) -> list[Kind]:
    """The kinds of every statement read, in order."""
    return [s.kind for s in read_fare_rules(rules).statements]


def that(rules: str, kind: Kind) -> Statement:
    """The one statement of `kind` the reader found in `rules`."""
    found = [s for s in read_fare_rules(rules).statements if s.kind is kind]
    assert len(found) == 1, read_fare_rules(rules).statements
    return found[0]
