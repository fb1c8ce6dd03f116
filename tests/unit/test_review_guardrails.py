"""Review: an absurd fee in an LLM answer is a fallback to MANUAL, never a failed task."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from llm_worker.config import DecisionStrategy
from llm_worker.refund.decider import Advice, Decider
from llm_worker.refund.inputs import PlainVariable
from llm_worker.refund.models import Decision, LlmAnswer, RefundCase, Source

NOW = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)
# Not read by the rules (French), so the LLM's fee is checked against the text alone.
UNREAD = "Billet remboursable avec frais d'annulation de 80 USD."


@dataclass
class OneAnswer:
    answer: LlmAnswer
    provider: str = "openai"
    model: str = "gpt-test"
    prompt_version: str = "v-test"

    def advise(self, case: RefundCase, deadline: float) -> Advice:
        return Advice(self.answer)


def _answer(**over: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "decision": "WITH_PENALTY",
        "penalty_amount": None,
        "penalty_percent": None,
        "penalty_currency": "USD",
        "reasoning": "A fee applies.",
        "rule_text": UNREAD,
    }
    fields.update(over)
    return fields


def _decide(answer: LlmAnswer, **variables: Any) -> Any:
    base: dict[str, Any] = {
        "bookingId": "B1",
        "fareRules": UNREAD,
        "ticketPrice": 620.0,
        "currency": "USD",
        "departureDate": "2026-03-15T09:00:00Z",
        "requestDate": "2026-02-20T12:00:00Z",
    }
    base.update(variables)
    decider = Decider(
        strategy=DecisionStrategy.LLM,
        threshold=Decimal(5000),
        advisor=OneAnswer(answer),
        clock=lambda: NOW,
    )
    plain = {k: PlainVariable(v) for k, v in base.items() if v is not None}
    return decider.decide(plain, time.monotonic() + 10)


@pytest.mark.parametrize("price", [620.0, None])
@pytest.mark.parametrize("amount", [1e30, 1.7e308])
def test_a_huge_fee_is_overridden_not_raised(amount: float, price: float | None) -> None:
    verdict = _decide(LlmAnswer(**_answer(penalty_amount=amount)), ticketPrice=price)
    assert (verdict.decision, verdict.source) == (Decision.MANUAL, Source.FALLBACK)
    assert verdict.guardrail is not None
    assert verdict.penalty is None and verdict.refund is None


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", ["penalty_amount", "penalty_percent"])
def test_a_non_finite_fee_is_not_an_answer(literal: str, field: str) -> None:
    # The JSON parser takes these literals; a fee that is not a number is a bad answer,
    # which the advisor turns into a fallback (AdviceError "bad_answer").
    text = json.dumps(_answer()).replace(f'"{field}": null', f'"{field}": {literal}')
    assert literal in text
    with pytest.raises(ValidationError):
        LlmAnswer.model_validate_json(text)


def test_a_fee_without_a_currency_is_not_taken_as_the_tickets() -> None:
    # The text says 80 EUR, the ticket is in USD: an answer leaving the currency out must not
    # turn the fee into 80 USD (policy step 6: a fee in another currency is MANUAL).
    rules = "Billet remboursable avec frais d'annulation de 80 EUR."
    verdict = _decide(
        LlmAnswer(**_answer(penalty_amount=80.0, penalty_currency=None, rule_text=rules)),
        fareRules=rules,
    )
    assert (verdict.decision, verdict.source) == (Decision.MANUAL, Source.FALLBACK)
    assert verdict.guardrail == "penalty_currency"
    assert "a currency the answer does not name, the ticket in USD" in verdict.reasoning


def test_a_fee_the_rules_read_may_leave_the_currency_out() -> None:
    # The rules are sure of "USD 100" (asked anyway under DECISION_STRATEGY=llm): the same
    # amount without a currency is that fee.
    rules = "CANCELLATIONS: ANY TIME CHARGE USD 100 FOR CANCEL/REFUND."
    verdict = _decide(
        LlmAnswer(**_answer(penalty_amount=100.0, penalty_currency=None, rule_text=rules)),
        fareRules=rules,
    )
    assert (verdict.decision, verdict.source) == (Decision.WITH_PENALTY, Source.LLM)
    assert (verdict.penalty, verdict.refund) == (Decimal("100.00"), Decimal("520.00"))


def test_an_amount_the_rules_write_only_as_a_percentage_is_overridden() -> None:
    # "25 %" of a 620 fare is 155; an answer of 25 (in the ticket's currency) would refund 595.
    rules = "Billet remboursable avec une retenue de 25 % du tarif."
    verdict = _decide(
        LlmAnswer(**_answer(penalty_amount=25.0, penalty_currency="USD", rule_text=rules)),
        fareRules=rules,
    )
    assert (verdict.decision, verdict.source) == (Decision.MANUAL, Source.FALLBACK)
    assert verdict.guardrail == "penalty_not_in_rules"
    assert "only as a percentage" in verdict.reasoning


@pytest.mark.parametrize(
    ("rules", "answer", "penalty"),
    [
        ("Billet remboursable avec une retenue de 25 % du tarif.", {"penalty_percent": 25.0},
         Decimal("155.00")),
        ("Billet remboursable avec des frais de 80 USD.",
         {"penalty_amount": 80.0, "penalty_currency": "USD"}, Decimal("80.00")),
    ],
)  # fmt: skip
def test_amounts_and_percentages_written_as_such_pass(
    rules: str, answer: dict[str, Any], penalty: Decimal
) -> None:
    verdict = _decide(LlmAnswer(**_answer(rule_text=rules, **answer)), fareRules=rules)
    assert (verdict.decision, verdict.source, verdict.penalty) == (
        Decision.WITH_PENALTY, Source.LLM, penalty,
    )  # fmt: skip


@pytest.mark.parametrize(
    "rules",
    [
        "Billet remboursable avec des frais d'annulation de 80 EUR.",
        "Erstattung gegen eine Gebühr von €80 möglich.",
    ],
)
def test_an_amount_the_rules_write_in_another_currency_is_overridden(rules: str) -> None:
    # A careless answer that puts the ticket's currency on a fee the text writes in EUR.
    verdict = _decide(
        LlmAnswer(**_answer(penalty_amount=80.0, penalty_currency="USD", rule_text=rules)),
        fareRules=rules,
    )
    assert (verdict.decision, verdict.source) == (Decision.MANUAL, Source.FALLBACK)
    assert verdict.guardrail == "penalty_currency"
    assert "write the fee 80 in EUR" in verdict.reasoning


def test_an_amount_written_in_both_currencies_passes() -> None:
    rules = "Billet remboursable avec des frais de 80 USD (75 EUR)."
    verdict = _decide(
        LlmAnswer(**_answer(penalty_amount=80.0, penalty_currency="USD", rule_text=rules)),
        fareRules=rules,
    )
    assert (verdict.decision, verdict.penalty) == (Decision.WITH_PENALTY, Decimal("80.00"))
