"""The decider: strategies, when the LLM is asked, fallbacks, and the verdict's amounts."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from llm_worker.refund.currency import CurrencyLimits
from llm_worker.refund.decider import Advice, AdviceError, Decider
from llm_worker.refund.inputs import PlainVariable
from llm_worker.refund.models import (
    Decision,
    DecisionStrategy,
    LlmAnswer,
    RefundCase,
    Source,
    Usage,
)

NOW = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)


@dataclass
class ScriptedAdvisor:
    """An Advisor that answers from a script and records the cases it was asked about."""

    answers: list[LlmAnswer | Exception] = field(default_factory=list)
    asked: list[RefundCase] = field(default_factory=list)
    provider: str = "openai"
    model: str = "gpt-test"
    prompt_version: str = "v-test"

    def advise(self, case: RefundCase, deadline: float) -> Advice:
        self.asked.append(case)
        item = self.answers.pop(0)
        if isinstance(item, Exception):
            raise item
        return Advice(item, Usage(prompt_tokens=100, completion_tokens=20, cost_usd=0.001, calls=1))


def llm(decision: str, **over: Any) -> LlmAnswer:
    fields: dict[str, Any] = {
        "decision": decision,
        "penalty_amount": None,
        "penalty_percent": None,
        "penalty_currency": None,
        "reasoning": "The rules say so.",
        "rule_text": "some rule",
    }
    fields.update(over)
    return LlmAnswer(**fields)


def variables(**over: Any) -> dict[str, PlainVariable]:
    base: dict[str, Any] = {
        "bookingId": "B1",
        "fareRules": "CHARGE USD 100 FOR CANCEL/REFUND.",
        "ticketPrice": 620.0,
        "currency": "USD",
        "departureDate": "2026-03-15T09:00:00Z",
        "requestDate": "2026-02-20T12:00:00Z",
    }
    base.update(over)
    return {k: PlainVariable(v) for k, v in base.items() if v is not None}


def decider(strategy: DecisionStrategy, advisor: ScriptedAdvisor | None = None) -> Decider:
    return Decider(
        strategy=strategy,
        threshold=CurrencyLimits(Decimal(5000), "USD"),
        advisor=advisor,
        clock=lambda: NOW,
    )


def deadline() -> float:
    return time.monotonic() + 10


def test_rules_strategy_decides_alone_with_amounts() -> None:
    verdict = decider(DecisionStrategy.RULES).decide(variables(), deadline())
    assert (verdict.decision, verdict.source, verdict.provider) == (
        Decision.WITH_PENALTY, Source.RULES, "rules",
    )  # fmt: skip
    assert (verdict.penalty, verdict.refund) == (Decimal(100), Decimal(520))
    assert verdict.model is None
    assert verdict.fare_rules_sha256 is not None and len(verdict.fare_rules_sha256) == 64


def test_strategy_that_asks_needs_an_advisor() -> None:
    with pytest.raises(ValueError, match="needs an LLM advisor"):
        decider(DecisionStrategy.HYBRID)


def test_hybrid_asks_only_where_the_rules_are_unsure() -> None:
    advisor = ScriptedAdvisor([llm("ALLOWED", rule_text="remboursable sans frais")])
    d = decider(DecisionStrategy.HYBRID, advisor)
    sure = d.decide(variables(), deadline())
    unsure = d.decide(variables(fareRules="Billet remboursable sans frais."), deadline())
    assert sure.source is Source.RULES
    assert (unsure.decision, unsure.source, unsure.model) == (
        Decision.ALLOWED, Source.LLM, "gpt-test",
    )  # fmt: skip
    assert unsure.refund == Decimal(620)
    assert len(advisor.asked) == 1


@pytest.mark.parametrize(
    "over",
    [
        {"flightStatus": "CANCELLED"},
        {"passengerCount": 12},
        {"ticketPrice": 9000.0},
        {"fareRules": None},
        {"ticketPrice": "abc"},
        {"bookingId": None},
    ],
)
def test_steps_1_to_3_and_input_problems_never_ask_the_llm(over: dict[str, Any]) -> None:
    advisor = ScriptedAdvisor()
    verdict = decider(DecisionStrategy.LLM, advisor).decide(variables(**over), deadline())
    assert verdict.source is Source.RULES
    assert advisor.asked == []


def test_llm_strategy_asks_every_time_and_passes_a_good_answer() -> None:
    advisor = ScriptedAdvisor([llm("WITH_PENALTY", penalty_amount=100, penalty_currency="USD")])
    verdict = decider(DecisionStrategy.LLM, advisor).decide(variables(), deadline())
    assert (verdict.decision, verdict.source) == (Decision.WITH_PENALTY, Source.LLM)
    assert (verdict.penalty, verdict.refund) == (Decimal("100.00"), Decimal("520.00"))
    assert verdict.usage.prompt_tokens == 100
    assert 'rule relied on: "some rule"' in verdict.reasoning


def test_llm_failure_is_manual_fallback_with_error() -> None:
    advisor = ScriptedAdvisor([AdviceError("timeout", "the LLM did not answer within 2.0s")])
    verdict = decider(DecisionStrategy.LLM, advisor).decide(variables(), deadline())
    assert (verdict.decision, verdict.source) == (Decision.MANUAL, Source.FALLBACK)
    assert verdict.error == "the LLM did not answer within 2.0s"
    assert "could not be used" in verdict.reasoning
    assert verdict.refund is None and verdict.penalty is None


def test_guardrail_override_is_manual_fallback_with_reason() -> None:
    advisor = ScriptedAdvisor([llm("ALLOWED")])
    verdict = decider(DecisionStrategy.LLM, advisor).decide(
        variables(fareRules="TICKET IS NON-REFUNDABLE."), deadline()
    )
    assert (verdict.decision, verdict.source, verdict.guardrail) == (
        Decision.MANUAL, Source.FALLBACK, "contradicts_rules",
    )  # fmt: skip
    assert verdict.reasoning.startswith("Guardrail contradicts_rules")
    assert verdict.error is None


def test_refund_is_never_below_zero_and_reasoning_is_clipped() -> None:
    advisor = ScriptedAdvisor(
        [
            llm(
                "WITH_PENALTY",
                penalty_percent=100,
                reasoning="x " * 2000,
                rule_text="Erstattung gegen 100 % Gebühr",
            )
        ]
    )
    verdict = decider(DecisionStrategy.LLM, advisor).decide(
        variables(fareRules="Erstattung gegen 100 % Gebühr."), deadline()
    )
    assert verdict.refund == Decimal(0)
    assert len(verdict.reasoning) <= 1000


def test_input_problems_are_named_in_the_reasoning() -> None:
    verdict = decider(DecisionStrategy.RULES).decide(
        variables(ticketPrice="12a", departureDate="soon"), deadline()
    )
    assert verdict.decision is Decision.MANUAL
    assert "ticketPrice is not a decimal amount: '12a'" in verdict.reasoning
    assert "departureDate is not an ISO 8601 date: 'soon'" in verdict.reasoning


def test_any_unexpected_llm_client_error_is_still_a_manual_fallback() -> None:
    advisor = ScriptedAdvisor([RuntimeError("boom with secret sk-abc")])
    verdict = decider(DecisionStrategy.LLM, advisor).decide(variables(), deadline())
    assert (verdict.decision, verdict.source) == (Decision.MANUAL, Source.FALLBACK)
    assert verdict.error == "unexpected LLM client error (RuntimeError)"
