"""One audit log line and the decision metrics per decided case (never the text or a secret)."""

from __future__ import annotations

from llm_worker.logs import get_logger
from llm_worker.metrics import GUARDRAIL_OVERRIDES, REDACTIONS, REFUND_REQUESTS
from llm_worker.refund.currency import plain
from llm_worker.refund.models import Source, Verdict

_log = get_logger("llm_worker.audit")


def record(verdict: Verdict, latency_s: float) -> None:
    """Count the decision and write its audit line."""
    REFUND_REQUESTS.labels(decision=verdict.decision.value, source=verdict.source.value).inc()
    if verdict.guardrail is not None:
        GUARDRAIL_OVERRIDES.labels(reason=verdict.guardrail).inc()
    for kind, count in verdict.redactions.items():
        REDACTIONS.labels(kind=kind).inc(count)
    usage = verdict.usage
    _log.info(
        "refund decision",
        booking_id=verdict.booking_id,
        decision=verdict.decision.value,
        source=verdict.source.value,
        provider=verdict.provider,
        model=verdict.model,
        prompt_version=verdict.prompt_version,
        penalty=None if verdict.penalty is None else plain(verdict.penalty),
        refund=None if verdict.refund is None else plain(verdict.refund),
        currency=verdict.currency,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost_usd=round(usage.cost_usd, 8),
        llm_calls=usage.calls,
        llm_cached=usage.cached,
        llm_latency_s=round(usage.latency_s, 4),
        latency_s=round(latency_s, 4),
        guardrail=_guardrail_outcome(verdict),
        llm_error=verdict.error,
        llm_attempts=list(verdict.llm_attempts) or None,
        redactions=dict(verdict.redactions) or None,
        fare_rules_sha256=verdict.fare_rules_sha256,
    )


def _guardrail_outcome(verdict: Verdict) -> str:
    if verdict.model is None:
        return "not_asked"
    if verdict.guardrail is not None:
        return verdict.guardrail
    # With a fallback, `error` says what failed of the primary even when the fallback answered.
    return "passed" if verdict.source is Source.LLM else "no_answer"
