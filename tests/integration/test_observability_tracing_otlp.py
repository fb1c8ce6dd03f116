"""Traces of the real `llm-worker run` process, received by a real OTLP/HTTP receiver: one root
span per task, the engine calls and the GenAI `chat` call as its children, the fetch linked, the
GenAI metrics, everything flushed on SIGTERM, and no fare-rule text or personal data in any of
the exported bytes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import StartWorker
from tests.fakes.engine import EngineEmulator
from tests.fakes.llm import Answer, FakeLLM, ServerError, Slow
from tests.fakes.otlp import KIND_CLIENT, KIND_CONSUMER, STATUS_ERROR, OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.integration

FARE_TOPIC = "analyze-fare-rules"
PAYMENT_TOPIC = "process-refund-payment"
KEY = "sk-test-tracing-5d1e"
# Invented for this test: text that must reach the LLM and never the traces.
PASSENGER = "MR QUENTIN ZABRISKIE"
FARE_RULES = (
    f"PASSENGER {PASSENGER} TKT 0161234567890\n"
    "CANCELLATIONS: ANY TIME CHARGE USD 150 FOR CANCEL/REFUND. VOIDED UNUSED ZXQJ."
)
REASONING = "The fee for a refund is stated as a flat charge per ticket (marker KWYVB)."


def fare_case() -> dict[str, object]:
    return {
        "bookingId": "TRACE1",
        "fareRules": FARE_RULES,
        "ticketClass": "Economy",
        "ticketPrice": {"value": 820.0, "type": "Double"},
        "currency": "USD",
        "purchaseDate": "2026-01-10T09:30:00Z",
        "departureDate": "2030-12-15T09:00:00Z",
        "requestDate": "2030-11-20T12:00:00Z",
        "refundReason": "VOLUNTARY",
        "passengerCount": 1,
    }


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


def named(spans: list[ReceivedSpan], name: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.name == name]


def test_task_traces_reach_an_otlp_receiver_without_fare_text(
    start_worker: StartWorker, engine: EngineEmulator, otlp: OtlpReceiver
) -> None:
    with FakeLLM() as llm:
        # A 500 first (retried inside the one GenAI operation), then a slow answer, so that
        # the lock keeper extends the task's lock from its own thread meanwhile.
        llm.script(ServerError(), Slow(3.5, Answer(reasoning=REASONING)))
        worker = start_worker(
            CAMUNDA_URL=engine.url,
            WORKER_ID="trace-worker",
            OPENAI_API_KEY=KEY,
            OPENAI_BASE_URL=llm.base_url,
            DECISION_STRATEGY="llm",
            # The passenger's name reaches the model here, so that its absence from the spans
            # is the tracing's doing, not redaction's.
            LLM_REDACT="false",
            LLM_MAX_RETRIES=2,
            LOCK_DURATION_MS=5000,
            OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url,
            OTEL_SERVICE_NAME="refund-worker-test",
            OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=test",
            # Nothing leaves before the shutdown: what arrives proves the flush on SIGTERM.
            OTEL_BSP_SCHEDULE_DELAY=600_000,
            OTEL_METRIC_EXPORT_INTERVAL=600_000,
        )
        fare_task = engine.create_task(FARE_TOPIC, fare_case(), business_key="BK-TRACE-1")
        # A payment without an amount: the handler throws the BPMN error PAYMENT_INVALID_REQUEST.
        pay_task = engine.create_task(
            PAYMENT_TOPIC, {"bookingId": "TRACE2", "currency": "USD"}, business_key="BK-TRACE-2"
        )
        done = engine.wait_for(lambda: engine.completion(fare_task), 30, "the fare task")
        engine.wait_for(lambda: engine.bpmn_error(pay_task), 30, "the payment's BPMN error")
        assert done.value("llmModel") == "gpt-4o-mini"  # the LLM was asked
        assert engine.lock_extensions, "the slow answer should have needed a lock extension"
        assert [r.content("user") for r in llm.chat_requests() if PASSENGER in r.content("user")]
        assert otlp.spans() == [], "spans left before the shutdown (OTEL_BSP_SCHEDULE_DELAY)"
        assert worker.stop() == 0

    spans = otlp.wait_for_spans(lambda found: len(named(found, "process analyze-fare-rules")) > 0)
    (root,) = named(spans, "process analyze-fare-rules")
    assert root.parent_span_id == "" and root.kind == KIND_CONSUMER
    fare_pid = engine.task(fare_task).process_instance_id
    assert root.attributes["camunda.external_task.topic"] == FARE_TOPIC
    assert root.attributes["camunda.external_task.id"] == fare_task
    assert root.attributes["camunda.process_instance.id"] == fare_pid
    assert root.attributes["camunda.business_key"] == "BK-TRACE-1"
    assert root.attributes["llm_worker.task.outcome"] == "completed"
    assert root.attributes["refund.decision"] == done.value("fareRuleCheck")
    assert root.attributes["refund.decision_source"] == done.value("decisionSource")
    assert root.resource["service.name"] == "refund-worker-test"
    assert root.resource["deployment.environment.name"] == "test"
    assert root.scope == "llm_worker"

    def children(name: str) -> list[ReceivedSpan]:
        return [
            s
            for s in named(spans, name)
            if s.trace_id == root.trace_id and s.parent_span_id == root.span_id
        ]

    (chat,) = children("chat gpt-4o-mini")
    assert chat.kind == KIND_CLIENT
    gen_ai = {k: v for k, v in chat.attributes.items() if k.startswith("gen_ai.")}
    assert gen_ai["gen_ai.operation.name"] == "chat"
    assert gen_ai["gen_ai.provider.name"] == gen_ai["gen_ai.system"] == "openai"
    assert gen_ai["gen_ai.request.model"] == gen_ai["gen_ai.response.model"] == "gpt-4o-mini"
    assert gen_ai["gen_ai.usage.input_tokens"] > 0 and gen_ai["gen_ai.usage.output_tokens"] > 0
    assert gen_ai["gen_ai.response.finish_reasons"] == ["stop"]
    assert gen_ai["gen_ai.response.id"].startswith("chatcmpl-")
    assert chat.attributes["server.address"] == "127.0.0.1"
    assert chat.attributes["server.port"] == llm.port
    assert chat.attributes["llm_worker.llm.attempts"] == 2  # the 500 and the answer

    (complete,) = children("POST /external-task/{id}/complete")
    assert complete.kind == KIND_CLIENT
    assert complete.attributes["http.response.status_code"] == 204
    assert complete.attributes["url.full"] == f"{engine.url}/external-task/{fare_task}/complete"
    assert complete.attributes["camunda.operation"] == "complete"
    extensions = children("POST /external-task/{id}/extendLock")
    assert extensions, "the lock extension is not in the task's trace"
    assert all(s.attributes["http.response.status_code"] == 204 for s in extensions)

    # The fetch that delivered the task is a trace of its own, linked from the task's span.
    fetches = named(spans, "POST /external-task/fetchAndLock")
    assert any((f.trace_id, f.span_id) in root.links for f in fetches)
    assert all(f.parent_span_id == "" and f.attributes["camunda.fetch.tasks"] >= 1 for f in fetches)

    (payment,) = named(spans, "process process-refund-payment")
    assert payment.parent_span_id == "" and payment.trace_id != root.trace_id
    assert payment.attributes["llm_worker.task.outcome"] == "bpmn_error"
    assert payment.attributes["camunda.business_key"] == "BK-TRACE-2"
    (thrown,) = [
        s
        for s in named(spans, "POST /external-task/{id}/bpmnError")
        if s.parent_span_id == payment.span_id
    ]
    assert thrown.attributes["http.response.status_code"] == 204
    assert thrown.status_code != STATUS_ERROR

    # The GenAI client metrics, exported by the last collection at shutdown.
    usage = otlp.wait_for_metric("gen_ai.client.token.usage")
    assert usage.unit == "{token}"
    kinds = {p[0]["gen_ai.token.type"]: p for p in usage.points}
    assert set(kinds) == {"input", "output"}
    assert kinds["input"][2] == gen_ai["gen_ai.usage.input_tokens"]
    assert all(p[0]["gen_ai.request.model"] == "gpt-4o-mini" for p in usage.points)
    duration = otlp.wait_for_metric("gen_ai.client.operation.duration")
    assert duration.unit == "s" and duration.points[0][1] == 1 and duration.points[0][2] >= 3.5

    exported = otlp.raw()
    reasoning = str(done.value("llmReasoning"))
    for secret in (PASSENGER, "0161234567890", "CANCEL/REFUND", "ZXQJ", "KWYVB", KEY, reasoning):
        assert secret.encode() not in exported, f"{secret!r} was exported"
