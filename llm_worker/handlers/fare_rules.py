"""The `analyze-fare-rules` handler: decides the case and sets CONTRACT.md section 2's outputs."""

from __future__ import annotations

import time
from typing import Any

from llm_worker.config import Settings
from llm_worker.observability import tracing
from llm_worker.privacy.redaction import redact
from llm_worker.refund.audit import record
from llm_worker.refund.decider import Decider
from llm_worker.refund.models import Decision, DecisionStrategy, Verdict
from llm_worker.runtime.task import Complete, Handler, Task, TypedValue


def build_decider(settings: Settings) -> Decider:
    """The decider for these settings, with one LLM client for the process when one is used."""
    strategy = settings.strategy
    advisor = None
    if strategy is not DecisionStrategy.RULES:
        # Imported here: a rules-only worker (no key) never loads the openai SDK.
        from llm_worker.llm.fallback import build_llm_advisor

        advisor = build_llm_advisor(settings)
    return Decider(
        strategy=strategy,
        threshold=settings.review_thresholds,
        advisor=advisor,
        redactor=redact if settings.llm_redact else None,
    )


def output_variables(verdict: Verdict) -> dict[str, Any]:
    """The process variables CONTRACT.md section 2 sets on completion."""
    out: dict[str, Any] = {
        "fareRuleCheck": verdict.decision.value,
        "decisionSource": verdict.source.value,
        "llmReasoning": verdict.reasoning,
        "llmProvider": verdict.provider,
    }
    if verdict.model is not None:
        out["llmModel"] = verdict.model
    if verdict.decision is Decision.WITH_PENALTY and verdict.penalty is not None:
        out["penaltyAmount"] = TypedValue(float(verdict.penalty), "Double")
    if verdict.refund is not None and verdict.decision is not Decision.MANUAL:
        out["refundAmount"] = TypedValue(float(verdict.refund), "Double")
    if verdict.error is not None:
        out["llmError"] = verdict.error
    return out


def make_fare_rules_handler(settings: Settings) -> Handler:
    """Build the handler once per process; it reuses one decider (and LLM client) for all tasks."""
    decider = build_decider(settings)

    def handle(task: Task) -> Complete:
        started = time.monotonic()
        verdict = decider.decide(task.variables, deadline=task.deadline)
        record(verdict, time.monotonic() - started)
        # The outcome only: never the reasoning, which quotes the fare rules.
        tracing.annotate(
            {
                "refund.decision": verdict.decision.value,
                "refund.decision_source": verdict.source.value,
                "refund.llm_provider": verdict.provider,
                "refund.llm_model": verdict.model,
                "refund.guardrail": verdict.guardrail,
            }
        )
        return Complete(output_variables(verdict))

    return handle
