"""The Prometheus metrics of CONTRACT.md section 7, on the process-wide default registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# Nothing reads the `*_created` series; without them every counter costs one series, not two.
disable_created_metrics()  # type: ignore[no-untyped-call]

_TASK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_LLM_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60)

TASKS_PROCESSED = Counter(
    "llm_worker_tasks_processed_total",
    "External tasks handled, by outcome (completed, bpmn_error, failed).",
    ["topic", "outcome"],
)
TASK_DURATION = Histogram(
    "llm_worker_task_duration_seconds",
    "Time from start of handling to the engine's answer.",
    ["topic"],
    buckets=_TASK_BUCKETS,
)
TASKS_IN_FLIGHT = Gauge(
    "llm_worker_tasks_in_flight", "External tasks being handled right now.", ["topic"]
)
OPENAI_CALLS = Counter("llm_worker_openai_api_calls_total", "Calls to the LLM API.", ["model"])
OPENAI_ERRORS = Counter(
    "llm_worker_openai_api_errors_total",
    "Failed LLM calls by kind (timeout, rate_limit, server, connection, bad_answer, ...).",
    ["model", "kind"],
)
OPENAI_DURATION = Histogram(
    "llm_worker_openai_api_duration_seconds",
    "Latency of one LLM call.",
    ["model"],
    buckets=_LLM_BUCKETS,
)
OPENAI_TOKENS = Counter(
    "llm_worker_openai_tokens_total",
    "Tokens used, by kind (prompt, completion).",
    ["model", "kind"],
)
COST_USD = Counter("llm_worker_cost_usd_total", "Estimated LLM spend in US dollars.", ["model"])
REFUND_REQUESTS = Counter(
    "refund_requests_total", "Refund decisions by value and source.", ["decision", "source"]
)
GUARDRAIL_OVERRIDES = Counter(
    "llm_worker_guardrail_overrides_total", "LLM answers overridden by a guardrail.", ["reason"]
)
EXTERNAL_TASKS_PENDING = Gauge(
    "camunda_external_tasks_pending",
    "Unlocked external tasks with retries left waiting on the topic (read from the engine).",
    ["topic"],
)
REFUND_AUDITS = Counter(
    "refund_audits_total",
    "Completed audits of automatic refunds by verdict, read from the engine's history: the "
    "audits completed since this process started (every replica counts the same ones).",
    ["verdict"],
)
REFUND_AUDITS_EXPIRED = Counter(
    "refund_audits_expired_total",
    "Audits of automatic refunds nobody took within auditSla (ended as not audited), read from "
    "the engine's history: those ended since this process started (every replica counts them).",
)
ENGINE_ERRORS = Counter(
    "llm_worker_engine_errors_total", "Failed requests to the engine, by operation.", ["operation"]
)
LOCK_EXTENSIONS = Counter(
    "llm_worker_lock_extensions_total", "Locks extended for tasks still running.", ["topic"]
)
# Not in the contract's list: which gateway pays refunds, so that an alert sees a simulated
# gateway in a deployment labelled production (DEPLOYMENT_ENVIRONMENT). Set by the app when
# it takes process-refund-payment.
PAYMENT_GATEWAY = Gauge(
    "llm_worker_payment_gateway_info",
    "1 for the gateway that pays refunds: gateway is http (PAYMENT_GATEWAY_URL) or simulated "
    "(PAYMENT_SIMULATED=true, no money moves); environment is DEPLOYMENT_ENVIRONMENT.",
    ["gateway", "environment"],
)
# Not in the contract's list: readiness as a metric, so alerts and the dashboard see an engine
# outage per worker (the probe itself is only seen by Kubernetes). Bound to the process's
# Health by ObservabilityServer.
WORKER_READY = Gauge(
    "llm_worker_ready",
    "1 while /readyz answers 200 (the engine answered recently), else 0.",
)
# Not in the contract's list (issue 19): personal data replaced before a text went to an LLM,
# counted by kind, never by value; and the primary's and fallback's circuit breakers.
REDACTIONS = Counter(
    "llm_worker_redactions_total",
    "Personal data replaced by a placeholder before a text went to an LLM, by kind.",
    ["kind"],
)
LLM_CIRCUIT_STATE = Gauge(
    "llm_worker_llm_circuit_state",
    "Circuit breaker of an LLM when a fallback is configured: 0 closed (asked), 1 open "
    "(skipped after repeated failures), 2 half-open (one trial call).",
    ["model"],
)
