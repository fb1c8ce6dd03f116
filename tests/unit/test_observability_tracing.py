"""The spans the runtime and the LLM client open: names, parents, attributes, status; what
`check` says about tracing; nothing set up while it is off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from llm_worker.config import load_settings
from llm_worker.observability import tracing


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """The module's tracer on a provider of its own (the global one is set once per process)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer(tracing.INSTRUMENTATION))
    yield exporter
    provider.shutdown()


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    (span,) = [s for s in spans if s.name == name]
    return span


def task(**over: object) -> object:
    arguments: dict[str, object] = {
        "task_id": "t-1",
        "topic": "analyze-fare-rules",
        "worker_id": "w",
        "process_instance_id": "pi-1",
        "business_key": "BK1",
        "retries": None,
        "fetched_by": None,
    }
    arguments.update(over)
    return tracing.task_span(**arguments)  # type: ignore[arg-type]


def test_a_task_span_is_a_root_with_its_children(exported: InMemorySpanExporter) -> None:
    fetched_by = tracing.record_fetch(
        url="http://engine/engine-rest/external-task/fetchAndLock",
        started_ns=1,
        topics=["analyze-fare-rules"],
        max_tasks=4,
        tasks=1,
        status=200,
    )
    with task(fetched_by=fetched_by) as span:  # type: ignore[attr-defined]
        parent = tracing.current_context()
        with tracing.genai_chat(
            provider="openai", model="gpt-4o-mini", base_url="https://api.openai.com/v1"
        ) as call:
            call.response(model="gpt-4o-mini-2024-07-18", response_id="r1", finish_reasons=["stop"])
            call.usage(120, 30, attempts=1)
        url = "http://u:p@engine:8080/engine-rest/external-task/t-1/complete"
        with tracing.engine_span("complete", "POST", url, "/external-task/{id}/complete") as http:
            tracing.http_result(http, 204)
        tracing.task_outcome(span, "completed")
    with (
        tracing.child_of(parent),
        tracing.engine_span(
            "extend_lock", "POST", "http://engine/x", "/external-task/{id}/extendLock"
        ) as later,
    ):
        tracing.http_result(later, 500)
    spans = exported.get_finished_spans()
    root = by_name(spans, "process analyze-fare-rules")
    assert root.parent is None and root.kind is SpanKind.CONSUMER
    assert root.attributes is not None
    assert root.attributes["camunda.business_key"] == "BK1"
    assert root.attributes["llm_worker.task.outcome"] == "completed"
    fetch = by_name(spans, "POST /external-task/fetchAndLock")
    assert [link.context.span_id for link in root.links] == [fetch.context.span_id]
    chat = by_name(spans, "chat gpt-4o-mini")
    assert chat.parent is not None and chat.parent.span_id == root.context.span_id
    assert chat.kind is SpanKind.CLIENT and chat.attributes is not None
    assert chat.attributes["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert chat.attributes["gen_ai.usage.input_tokens"] == 120
    assert chat.attributes["server.address"] == "api.openai.com"
    assert chat.attributes["server.port"] == 443
    complete = by_name(spans, "POST /external-task/{id}/complete")
    assert complete.attributes is not None
    assert (
        complete.attributes["url.full"]
        == "http://engine:8080/engine-rest/external-task/t-1/complete"
    )
    extend = by_name(spans, "POST /external-task/{id}/extendLock")
    assert extend.parent is not None and extend.parent.span_id == root.context.span_id
    assert extend.status.status_code is StatusCode.ERROR
    assert extend.attributes is not None and extend.attributes["error.type"] == "500"


def test_engine_calls_outside_a_task_make_no_span(exported: InMemorySpanExporter) -> None:
    with tracing.engine_span("count", "GET", "http://engine/x", "/external-task/count") as span:
        assert span is None
    assert exported.get_finished_spans() == ()


def test_failures_mark_the_spans(exported: InMemorySpanExporter) -> None:
    with task() as span:  # type: ignore[attr-defined]
        with tracing.genai_chat(
            provider="openai", model="m", base_url="http://127.0.0.1:8000/v1"
        ) as call:
            call.failed("timeout")
        tracing.task_outcome(span, "failed", "KeyError")
    spans = exported.get_finished_spans()
    root = by_name(spans, "process analyze-fare-rules")
    assert root.status.status_code is StatusCode.ERROR
    assert root.attributes is not None and root.attributes["error.type"] == "KeyError"
    chat = by_name(spans, "chat m")
    assert chat.status.status_code is StatusCode.ERROR
    assert chat.attributes is not None and chat.attributes["error.type"] == "timeout"


def test_describe_and_no_setup_while_off(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert tracing.configure(settings) is None
    assert tracing.describe(settings).startswith("off")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://user:secret@collector:4318")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "refunds")
    text = tracing.describe(load_settings())
    assert text == (
        "on, OTLP/HTTP to http://collector:4318/v1/traces as refunds; GenAI metrics to "
        "http://collector:4318/v1/metrics"
    )
