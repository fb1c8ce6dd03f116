"""OpenTelemetry traces and GenAI metrics: set up from the OTEL_* settings (off unless given), and
the spans the runtime and the LLM client open. No span carries a prompt, a fare-rule text, an
answer's wording or a process variable other than the ids below.

A task's span (`process <topic>`, kind CONSUMER) is the root of its trace and links to the
engine fetch that delivered it; engine calls made for the task (complete, failure, bpmnError,
extendLock) and the LLM call (`chat <model>`, GenAI semantic conventions) are its children.
Spans use the global tracer provider, as the metrics use the process-wide Prometheus registry:
without a configured provider they cost next to nothing and go nowhere.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode

from llm_worker import __version__
from llm_worker.config import Settings, without_credentials

INSTRUMENTATION = "llm_worker"
_tracer = trace.get_tracer(INSTRUMENTATION, __version__)
_meter = metrics.get_meter(INSTRUMENTATION, __version__)

# The buckets the GenAI semantic conventions give for their two client histograms.
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48)
USAGE_METRIC = "gen_ai.client.token.usage"
DURATION_METRIC = "gen_ai.client.operation.duration"
_token_usage = _meter.create_histogram(
    USAGE_METRIC, unit="{token}", description="Number of input and output tokens used."
)
_operation_duration = _meter.create_histogram(
    DURATION_METRIC, unit="s", description="GenAI operation duration."
)


# ----------------------------------------------------------------------------- setup


@dataclass
class Telemetry:
    """The providers set up for this process; shutdown() exports what is still buffered."""

    tracer_provider: Any
    meter_provider: Any | None
    traces_endpoint: str
    metrics_endpoint: str | None

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()  # flushes the batch processor
        if self.meter_provider is not None:
            self.meter_provider.shutdown()  # a last export of the histograms


def describe(settings: Settings) -> str:
    """What `check` and the start log say about tracing."""
    traces = settings.otlp_traces_endpoint
    if traces is None:
        return "off (set OTEL_EXPORTER_OTLP_ENDPOINT to send traces)"
    text = f"on, OTLP/HTTP to {without_credentials(traces)} as {settings.otel_service_name}"
    gen_ai = settings.otlp_metrics_endpoint
    if gen_ai is not None:
        text += f"; GenAI metrics to {without_credentials(gen_ai)}"
    return text


def configure(settings: Settings) -> Telemetry | None:
    """Install the tracer (and meter) provider for the process, or nothing when tracing is off."""
    traces_endpoint = settings.otlp_traces_endpoint
    if traces_endpoint is None:
        return None
    # Imported here: a worker without tracing never loads the SDK and the exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {
            **settings.otel_resource_attributes,
            SERVICE_NAME: settings.otel_service_name,
            SERVICE_VERSION: __version__,
        }
    )
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_endpoint))
    )
    trace.set_tracer_provider(tracer_provider)
    meter_provider = None
    metrics_endpoint = settings.otlp_metrics_endpoint
    if metrics_endpoint is not None:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View

        meter_provider = MeterProvider(
            resource=resource,
            metric_readers=[
                PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=metrics_endpoint))
            ],
            views=[
                View(
                    instrument_name=USAGE_METRIC,
                    aggregation=ExplicitBucketHistogramAggregation(TOKEN_BUCKETS),
                ),
                View(
                    instrument_name=DURATION_METRIC,
                    aggregation=ExplicitBucketHistogramAggregation(DURATION_BUCKETS),
                ),
            ],
        )
        metrics.set_meter_provider(meter_provider)
    return Telemetry(tracer_provider, meter_provider, traces_endpoint, metrics_endpoint)


# ----------------------------------------------------------------------------- tasks


@contextlib.contextmanager
def task_span(
    *,
    task_id: str,
    topic: str,
    worker_id: str,
    process_instance_id: str | None,
    business_key: str | None,
    retries: int | None,
    fetched_by: SpanContext | None,
) -> Iterator[Span]:
    """The root span of one task's trace, current while the task is handled."""
    attributes: dict[str, Any] = {
        "messaging.system": "camunda",
        "messaging.operation.type": "process",
        "messaging.destination.name": topic,
        "camunda.external_task.id": task_id,
        "camunda.external_task.topic": topic,
        "camunda.worker.id": worker_id,
    }
    if process_instance_id:
        attributes["camunda.process_instance.id"] = process_instance_id
    if business_key:
        attributes["camunda.business_key"] = business_key
    if retries is not None:
        attributes["camunda.external_task.retries"] = retries
    links = (
        [Link(fetched_by)] if isinstance(fetched_by, SpanContext) and fetched_by.is_valid else []
    )
    with _tracer.start_as_current_span(
        f"process {topic}",
        context=otel_context.Context(),  # a new trace, whatever the thread carried
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        links=links,
        record_exception=False,  # an exception's text may quote a variable
        set_status_on_exception=False,
    ) as span:
        yield span


def task_outcome(span: Span, outcome: str, error_type: str | None = None) -> None:
    """How the task ended (completed, bpmn_error, failed); a failure marks the span an error."""
    span.set_attribute("llm_worker.task.outcome", outcome)
    if error_type is not None:
        span.set_attribute("error.type", error_type)
    if outcome == "failed":
        span.set_status(Status(StatusCode.ERROR, error_type or "failed"))


def annotate(attributes: Mapping[str, str | int | float | bool | None]) -> None:
    """Add attributes to the current span (a handler's result: decision, source, ...)."""
    span = trace.get_current_span()
    for name, value in attributes.items():
        if value is not None:
            span.set_attribute(name, value)


def current_context() -> SpanContext | None:
    """The current span's context, to make later work (a lock extension) its child."""
    found = trace.get_current_span().get_span_context()
    return found if found.is_valid else None


@contextlib.contextmanager
def child_of(parent: SpanContext | None) -> Iterator[None]:
    """Run a block (in any thread) as part of the trace of `parent`."""
    if parent is None:
        yield
        return
    token = otel_context.attach(trace.set_span_in_context(trace.NonRecordingSpan(parent)))
    try:
        yield
    finally:
        otel_context.detach(token)


# ----------------------------------------------------------------------------- engine calls


def _http_attributes(operation: str, method: str, url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    attributes: dict[str, Any] = {
        "http.request.method": method,
        "url.full": without_credentials(url.split("?", 1)[0]),
        "server.address": parts.hostname or "",
        "camunda.operation": operation,
    }
    port = parts.port or (443 if parts.scheme == "https" else 80)
    attributes["server.port"] = port
    return attributes


@contextlib.contextmanager
def engine_span(operation: str, method: str, url: str, template: str) -> Iterator[Span | None]:
    """An HTTP client span for an engine call made inside a task's trace; None outside one (the
    pollers and the shutdown unlocks would otherwise make a trace each)."""
    if not trace.get_current_span().get_span_context().is_valid:
        yield None
        return
    with _tracer.start_as_current_span(
        f"{method} {template}",
        kind=SpanKind.CLIENT,
        attributes=_http_attributes(operation, method, url),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def http_result(span: Span | None, status: int | None, error_type: str | None = None) -> None:
    """Record an engine call's answer: its status, or why there was none."""
    if span is None:
        return
    if status is not None:
        span.set_attribute("http.response.status_code", status)
    if error_type is None and status is not None and status >= 400:
        error_type = str(status)
    if error_type is not None:
        span.set_attribute("error.type", error_type)
        span.set_status(Status(StatusCode.ERROR))


def record_fetch(
    *,
    url: str,
    started_ns: int,
    topics: Sequence[str],
    max_tasks: int,
    tasks: int,
    status: int | None,
    error_type: str | None = None,
) -> SpanContext | None:
    """The span of a fetchAndLock that delivered tasks or failed, written once it answered (an
    empty long poll makes no span: it would be a trace every ASYNC_RESPONSE_TIMEOUT_MS)."""
    template = "/external-task/fetchAndLock"
    span = _tracer.start_span(
        f"POST {template}",
        context=otel_context.Context(),
        kind=SpanKind.CLIENT,
        attributes={
            **_http_attributes("fetch_and_lock", "POST", url),
            "camunda.external_task.topics": list(topics),
            "camunda.fetch.max_tasks": max_tasks,
            "camunda.fetch.tasks": tasks,
        },
        start_time=started_ns,
    )
    http_result(span, status, error_type)
    span.end()
    found = span.get_span_context()
    return found if found.is_valid else None


# ----------------------------------------------------------------------------- LLM calls


class GenAICall:
    """One GenAI `chat` operation (with the client's retries inside it), as a span and the
    two GenAI client metrics."""

    def __init__(self, span: Span, attributes: Mapping[str, Any]) -> None:
        self.span = span
        self._attributes = dict(attributes)
        self._response_model: str | None = None
        self._error: str | None = None
        self._started = time.monotonic()

    def response(
        self,
        *,
        model: str | None,
        response_id: str | None,
        finish_reasons: Sequence[str],
    ) -> None:
        """What one completion said about itself (never its content)."""
        if model:
            self._response_model = model
            self.span.set_attribute("gen_ai.response.model", model)
        if response_id:
            self.span.set_attribute("gen_ai.response.id", response_id)
        if finish_reasons:
            self.span.set_attribute("gen_ai.response.finish_reasons", list(finish_reasons))

    def usage(self, input_tokens: int, output_tokens: int, attempts: int) -> None:
        """Tokens of the whole operation (every attempt), on the span and the histogram."""
        self.span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
        self.span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
        self.span.set_attribute("llm_worker.llm.attempts", attempts)
        metric = self._metric_attributes()
        if attempts:
            _token_usage.record(input_tokens, {**metric, "gen_ai.token.type": "input"})
            _token_usage.record(output_tokens, {**metric, "gen_ai.token.type": "output"})

    def failed(self, kind: str) -> None:
        self._error = kind
        self.span.set_attribute("error.type", kind)
        self.span.set_status(Status(StatusCode.ERROR, kind))

    def _metric_attributes(self) -> dict[str, Any]:
        metric = {
            name: value
            for name, value in self._attributes.items()
            if name
            in (
                "gen_ai.operation.name",
                "gen_ai.provider.name",
                "gen_ai.system",
                "gen_ai.request.model",
                "server.address",
                "server.port",
            )
        }
        if self._response_model:
            metric["gen_ai.response.model"] = self._response_model
        return metric

    def end(self) -> None:
        metric = self._metric_attributes()
        if self._error is not None:
            metric["error.type"] = self._error
        _operation_duration.record(time.monotonic() - self._started, metric)


@contextlib.contextmanager
def genai_chat(
    *,
    provider: str,
    model: str,
    base_url: str,
    max_tokens: int | None = None,
    temperature: float | None = None,
) -> Iterator[GenAICall]:
    """A `chat {model}` client span (GenAI semantic conventions) around one LLM operation."""
    parts = urlsplit(base_url)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,  # the name before semantic conventions 1.37
        "gen_ai.request.model": model,
        "gen_ai.output.type": "json",
        "server.address": parts.hostname or "",
        "server.port": parts.port or (443 if parts.scheme == "https" else 80),
    }
    if max_tokens is not None:
        attributes["gen_ai.request.max_tokens"] = max_tokens
    if temperature is not None:
        attributes["gen_ai.request.temperature"] = temperature
    with _tracer.start_as_current_span(
        f"chat {model}",
        kind=SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        call = GenAICall(span, attributes)
        try:
            yield call
        finally:
            call.end()
