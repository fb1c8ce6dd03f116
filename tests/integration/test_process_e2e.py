"""End to end without Camunda: `llm-worker deploy` and `start` (real processes) against the
engine emulator, the diagram executed by the BPMN runner behind the emulator, and the real
`llm-worker run` process answering both external-task topics over HTTP."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from llm_worker.process import FARE_RULES_TOPIC, PAYMENT_TOPIC
from tests.conftest import StartWorker, run_cli, worker_env
from tests.fakes.bpmn_runner import FakeClock, ProcessRun, fake_time
from tests.fakes.engine import EngineEmulator, ExternalTaskState, infer_variable
from tests.fakes.engine_admin import ProcessInstance, install_admin_routes

pytestmark = pytest.mark.integration

# Rule 1 of the policy (flight cancelled) decides without the LLM and without reading the text.
CANCELLED = {
    "bookingId": "PNR77",
    "fareRules": "NON-REFUNDABLE.",
    "flightStatus": "CANCELLED",
    "ticketPrice": 640.0,
    "currency": "EUR",
}
NO_RULES = {"bookingId": "PNR78", "ticketPrice": 300.0, "currency": "EUR"}


@dataclass
class Instance:
    run: ProcessRun
    typed: dict[str, dict[str, Any]]
    business_key: str | None
    open_task: str | None = None


class ProcessHost:
    """Plays the engine's part around the emulator: each started instance runs the diagram;
    its external tasks are offered on the emulator and the worker's answers advance it."""

    def __init__(self, engine: EngineEmulator, clock: FakeClock) -> None:
        self.engine = engine
        self.clock = clock
        self.instances: dict[str, Instance] = {}
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        install_admin_routes(engine).on_start.append(lambda i: self.events.put(("start", i)))
        engine.listeners.append(lambda event, task: self.events.put((event, task)))

    def pump(self, until: Any, timeout: float = 30.0) -> Instance:
        """Handle engine events until `until(instance)` holds for some instance."""
        deadline = time.monotonic() + timeout
        while True:
            for instance in self.instances.values():
                if until(instance):
                    return instance
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("timed out waiting for the process to get there")
            try:
                kind, payload = self.events.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            self._handle(kind, payload)

    def _handle(self, kind: str, payload: Any) -> None:
        if kind == "start":
            started: ProcessInstance = payload
            plain = {k: v["value"] for k, v in started.variables.items()}
            instance = Instance(ProcessRun(plain, self.clock), dict(started.variables), None)
            instance.business_key = started.business_key
            self.instances[started.id] = instance
            self.offer(started.id)
            return
        task: ExternalTaskState = payload
        instance = self.instances.get(task.process_instance_id)
        if instance is None or instance.open_task != task.id:
            return
        instance.open_task = None
        if kind == "complete":
            completion = self.engine.completion(task.id)
            assert completion is not None
            instance.typed.update(completion.variables)
            values = {k: v["value"] for k, v in completion.variables.items()}
            instance.run.complete_external(task.topic, **values)
        elif kind == "bpmn_error":
            report = self.engine.bpmn_error(task.id)
            assert report is not None
            instance.run.throw_bpmn_error(task.topic, report.error_code, report.error_message or "")
        self.offer(task.process_instance_id)

    def offer(self, instance_id: str) -> None:
        """Create the emulator task for the external task the instance waits at, if any."""
        instance = self.instances[instance_id]
        waiting = instance.run.waiting_external()
        if waiting is None or instance.open_task is not None:
            return
        variables = {
            name: typed
            if (typed := instance.typed.get(name)) is not None and typed["value"] == value
            else infer_variable(value)
            for name, value in waiting.variables.items()
        }
        instance.open_task = self.engine.create_task(
            waiting.topic,
            variables,
            business_key=instance.business_key,
            process_instance_id=instance_id,
            process_definition_key="ticket-refund",
            activity_id=waiting.id,
        )

    def advance(self, delta: timedelta) -> None:
        self.clock.now += delta
        for instance_id, instance in self.instances.items():
            instance.run.advance(timedelta(0))
            self.offer(instance_id)


@pytest.fixture
def host() -> Iterator[ProcessHost]:
    with fake_time() as clock, EngineEmulator() as engine:
        yield ProcessHost(engine, clock)


def cli(engine: EngineEmulator, *args: str, stdin: str | None = None) -> str:
    result = run_cli(*args, env=worker_env(CAMUNDA_URL=engine.url), stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


def start_case(host: ProcessHost, case: dict[str, Any], tmp_path: Path) -> str:
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case), encoding="utf-8")
    return str(json.loads(cli(host.engine, "start", str(path)))["processInstanceId"])


def test_a_cancelled_flight_is_decided_paid_and_refunded(
    host: ProcessHost, start_worker: StartWorker, tmp_path: Path
) -> None:
    assert "deployed ticket-refund version 1" in cli(host.engine, "deploy")
    start_worker(CAMUNDA_URL=host.engine.url, PAYMENT_FAILURE_RATE=0)
    instance_id = start_case(host, CANCELLED, tmp_path)
    done = host.pump(lambda i: i.run.ended)
    assert done is host.instances[instance_id]
    assert done.run.end_event == "Refunded"
    assert done.run.external_log == [FARE_RULES_TOPIC, PAYMENT_TOPIC]
    variables = done.run.variables
    assert variables["fareRuleCheck"] == "ALLOWED"
    assert variables["decisionSource"] == "RULES"
    assert variables["refundAmount"] == 640.0
    assert done.typed["refundAmount"]["type"] == "Double"
    assert variables["paymentStatus"] == "SUCCESS"
    assert str(variables["paymentId"]).startswith("SIM-")


def test_a_failing_gateway_is_retried_three_times_then_reaches_an_operator(
    host: ProcessHost, start_worker: StartWorker, tmp_path: Path
) -> None:
    cli(host.engine, "deploy")
    start_worker(CAMUNDA_URL=host.engine.url, PAYMENT_FAILURE_RATE=1)
    start_case(host, CANCELLED, tmp_path)
    for attempt in (1, 2):
        host.pump(lambda i, n=attempt: i.run.variables.get("apiErrorCount") == n)
        host.advance(timedelta(seconds=31))
    operator = host.pump(lambda i: bool(i.run.user_tasks()))
    (task,) = operator.run.user_tasks()
    assert task.name == "Resolve payment"
    assert task.variables["apiErrorCount"] == 3
    assert "PAYMENT_FAILURE_RATE=1" in task.variables["paymentError"]
    assert len(host.engine.bpmn_errors) == 3
    assert {e.error_code for e in host.engine.bpmn_errors} == {"PAYMENT_API_ERROR"}


def test_a_case_without_fare_rules_waits_for_manual_review(
    host: ProcessHost, start_worker: StartWorker, tmp_path: Path
) -> None:
    cli(host.engine, "deploy")
    start_worker(CAMUNDA_URL=host.engine.url)
    instance_id = start_case(host, NO_RULES, tmp_path)
    waiting = host.pump(lambda i: bool(i.run.user_tasks()))
    (task,) = waiting.run.user_tasks()
    assert (task.name, task.candidate_groups) == ("Manual review", ("refund-operators",))
    assert task.variables["fareRuleCheck"] == "MANUAL"
    assert task.variables["llmReasoning"]
    assert waiting.business_key == "PNR78"
    waiting.run.complete_user_task("Task_ManualReview", approved=True, refundAmount=250.0)
    host.offer(instance_id)
    done = host.pump(lambda i: i.run.ended)
    assert done.run.end_event == "Refunded"
    assert done.run.variables["paymentStatus"] == "SUCCESS"
