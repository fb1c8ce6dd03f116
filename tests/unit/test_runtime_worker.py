"""The worker loop in-process against the emulator: outcomes, failure retries, slots, lock
extension, log context and shutdown."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
import structlog

from llm_worker.observability.health import Health
from llm_worker.runtime.engine import EngineClient
from llm_worker.runtime.registry import TopicRegistry
from llm_worker.runtime.task import BpmnError, Complete, Handler, Task, TaskOutcome, TypedValue
from llm_worker.runtime.worker import Worker, WorkerOptions, failure_retries, log_context
from tests.fakes.engine import EngineEmulator, EngineRequest

TOPIC = "analyze-fare-rules"
OPTIONS = WorkerOptions(
    worker_id="unit-worker",
    topics=(TOPIC,),
    concurrency=4,
    lock_duration_ms=10_000,
    shutdown_grace_s=5.0,
    max_retries=3,
    retry_timeout_ms=50,
    poll_timeout_ms=500,
)


@contextmanager
def running(
    engine: EngineEmulator, handler: Handler, options: WorkerOptions = OPTIONS
) -> Iterator[Worker]:
    health = Health(60, 60)
    client = EngineClient(
        base_url=engine.url,
        worker_id=options.worker_id,
        health=health,
        lock_duration_ms=options.lock_duration_ms,
        async_response_timeout_ms=options.poll_timeout_ms,
    )
    registry = TopicRegistry()
    registry.register(TOPIC, handler)
    worker = Worker(client, registry, options, health)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=15)
        client.close()
        assert not thread.is_alive(), "worker did not stop"


def test_outputs_reach_the_engine_with_camunda_types(engine: EngineEmulator) -> None:
    def handler(task: Task) -> TaskOutcome:
        return Complete(
            {
                "fareRuleCheck": "WITH_PENALTY",
                "penaltyAmount": 100.0,
                "refundAmount": 350.5,
                "passengers": 2,
                "approved": False,
                "llmError": None,
                "explicit": TypedValue(7, "Long"),
            }
        )

    task_id = engine.create_task(TOPIC, {"bookingId": "B1"})
    with running(engine, handler):
        done = engine.wait_for(lambda: engine.completion(task_id), message="completion")
    types = {name: var["type"] for name, var in done.variables.items()}
    assert types == {
        "fareRuleCheck": "String",
        "penaltyAmount": "Double",
        "refundAmount": "Double",
        "passengers": "Integer",
        "approved": "Boolean",
        "llmError": "Null",
        "explicit": "Long",
    }
    assert done.value("penaltyAmount") == 100.0


def test_bpmn_error_is_reported_with_code_message_and_variables(engine: EngineEmulator) -> None:
    def handler(task: Task) -> TaskOutcome:
        return BpmnError("PAYMENT_API_ERROR", "gateway said no", {"paymentStatus": "FAILED"})

    task_id = engine.create_task(TOPIC, {})
    with running(engine, handler):
        report = engine.wait_for(lambda: engine.bpmn_error(task_id), message="bpmn error")
    assert report.error_code == "PAYMENT_API_ERROR"
    assert report.error_message == "gateway said no"
    assert report.variables["paymentStatus"]["type"] == "String"


def test_handler_bug_counts_retries_down_to_an_incident_and_the_loop_goes_on(
    engine: EngineEmulator,
) -> None:
    def handler(task: Task) -> TaskOutcome:
        if task.value("explode"):
            raise RuntimeError("bad day")
        return Complete({"ok": True})

    broken = engine.create_task(TOPIC, {"explode": True})
    with running(engine, handler):
        engine.wait_for(lambda: engine.incident(broken), message="an incident")
        healthy = engine.create_task(TOPIC, {"explode": False})
        engine.wait_for(lambda: engine.completion(healthy), message="the next task")
    failures = engine.failures_of(broken)
    assert [f.retries for f in failures] == [3, 2, 1, 0]
    assert {f.retry_timeout_ms for f in failures} == {50}
    assert failures[0].error_message == "RuntimeError: bad day"
    assert failures[0].error_details and "RuntimeError" in failures[0].error_details
    incident = engine.incident(broken)
    assert incident is not None and incident.message == "RuntimeError: bad day"


def test_a_handler_returning_nonsense_is_a_failure(engine: EngineEmulator) -> None:
    task_id = engine.create_task(TOPIC, {})
    with running(engine, lambda task: "ALLOWED"):  # type: ignore[arg-type,return-value]
        failure = engine.wait_for(lambda: engine.failures_of(task_id), message="a failure")
    assert "TypeError" in (failure[0].error_message or "")


def test_an_unencodable_output_is_a_failure_not_a_crash(engine: EngineEmulator) -> None:
    task_id = engine.create_task(TOPIC, {})
    with running(engine, lambda task: Complete({"bad": object()})):
        failure = engine.wait_for(lambda: engine.failures_of(task_id), message="a failure")
    assert "cannot send a object" in (failure[0].error_message or "")


def test_failure_retries_rule() -> None:
    assert failure_retries({"id": "t", "retries": None}, 3) == 3
    assert failure_retries({"id": "t", "retries": 3}, 3) == 2
    assert failure_retries({"id": "t", "retries": 1}, 5) == 0


def test_never_more_tasks_than_slots(engine: EngineEmulator) -> None:
    release = threading.Event()
    active: list[int] = []
    peak = [0]
    lock = threading.Lock()

    def handler(task: Task) -> TaskOutcome:
        with lock:
            active.append(1)
            peak[0] = max(peak[0], len(active))
        release.wait(10)
        with lock:
            active.pop()
        return Complete({})

    ids = [engine.create_task(TOPIC, {}) for _ in range(10)]
    with running(engine, handler) as worker:
        engine.wait_for(lambda: len(active) == 4, message="4 handlers running")
        assert worker.in_flight() == 4
        locked = [t.id for t in engine.tasks() if engine.is_locked(t.id)]
        assert len(locked) == 4, f"locked: {locked}"
        release.set()
        engine.wait_for(lambda: all(engine.completion(i) for i in ids), message="all done")
    assert peak[0] == 4
    asked = [r.body["maxTasks"] for r in engine.fetch_requests()]
    assert all(n <= 4 for n in asked), f"maxTasks asked: {asked}"


def test_a_long_running_task_keeps_its_lock(engine: EngineEmulator) -> None:
    options = replace(OPTIONS, lock_duration_ms=1_000)
    release = threading.Event()

    def handler(task: Task) -> TaskOutcome:
        release.wait(10)
        return Complete({})

    task_id = engine.create_task(TOPIC, {})
    with running(engine, handler, options):
        engine.wait_for(lambda: len(engine.lock_extensions) >= 2, message="two extensions")
        release.set()
        engine.wait_for(lambda: engine.completion(task_id), message="completion")
    assert engine.task(task_id).times_locked == 1
    assert {e.new_duration_ms for e in engine.lock_extensions} == {1_000}


def test_stop_lets_running_tasks_finish_and_returns(engine: EngineEmulator) -> None:
    started = threading.Event()
    release = threading.Event()

    def handler(task: Task) -> TaskOutcome:
        started.set()
        release.wait(10)
        return Complete({"done": True})

    task_id = engine.create_task(TOPIC, {})
    health = Health(60, 60)
    client = EngineClient(
        base_url=engine.url,
        worker_id="unit-worker",
        health=health,
        lock_duration_ms=10_000,
        async_response_timeout_ms=20_000,
    )
    registry = TopicRegistry()
    registry.register(TOPIC, handler)
    worker = Worker(client, registry, OPTIONS, health)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    assert started.wait(10)
    engine.wait_for(lambda: engine.waiting_fetches == 1, message="the next long poll")
    worker.stop()
    assert thread.is_alive()  # still draining
    release.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert engine.completion(task_id) is not None
    assert worker.stragglers == []
    client.close()


def test_tasks_still_running_after_the_grace_period_are_unlocked(engine: EngineEmulator) -> None:
    options = replace(OPTIONS, shutdown_grace_s=0.2)
    started = threading.Event()
    release = threading.Event()

    def handler(task: Task) -> TaskOutcome:
        started.set()
        release.wait(10)
        return Complete({})

    task_id = engine.create_task(TOPIC, {})
    try:
        with running(engine, handler, options) as worker:
            assert started.wait(10), "the handler did not start"
        assert worker.stragglers == [task_id]
        # Only the unlock itself is checked: the long poll cut at stop() may still be pending
        # in the engine and lock the task again for this worker id, as on a real engine.
        assert [(u.task_id, u.previous_worker_id) for u in engine.unlocks] == [
            (task_id, "unit-worker")
        ]
    finally:
        release.set()


def test_log_lines_during_a_task_carry_its_context(engine: EngineEmulator) -> None:
    seen: list[dict[str, object]] = []

    def handler(task: Task) -> TaskOutcome:
        seen.append(dict(structlog.contextvars.get_contextvars()))
        logging.getLogger("some.library").warning("inside")
        return Complete({})

    task_id = engine.create_task(TOPIC, {"bookingId": "AB12\n{evil}"}, business_key="bk-1")
    with running(engine, handler):
        engine.wait_for(lambda: engine.completion(task_id), message="completion")
    context = seen[0]
    assert context["task_id"] == task_id
    assert context["topic"] == TOPIC
    assert context["business_key"] == "bk-1"
    assert context["process_instance_id"] == engine.task(task_id).process_instance_id
    assert context["booking_id"] == "AB12evil"
    assert "bookingId" not in context  # one booking field, the key the handlers' lines use


def test_log_context_without_a_booking_id() -> None:
    task = Task("t", TOPIC, "w", None, None, None, {}, 0.0)
    assert log_context(task)["booking_id"] is None


@pytest.mark.parametrize("status", ["refuse", "503"])
def test_the_loop_backs_off_and_recovers_after_an_outage(
    engine: EngineEmulator, status: str
) -> None:
    done: Callable[[str], object] = engine.completion
    with running(engine, lambda task: Complete({})):
        engine.wait_for(lambda: engine.fetch_requests(), message="a first fetch")
        engine.outage(status)  # type: ignore[arg-type]
        if status == "503":
            engine.wait_for(
                lambda: sum(1 for r in engine.fetch_requests() if r.status == 503) >= 3,
                message="fetches answered 503",
            )
            failed = [r for r in engine.fetch_requests() if r.status == 503]
            gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(failed)]
            assert all(gap >= 0.04 for gap in gaps)  # backed off, no tight loop
        engine.recover()
        task_id = engine.create_task(TOPIC, {})
        engine.wait_for(lambda: done(task_id), timeout=20, message="completion after recovery")


def test_tasks_locked_for_us_but_never_received_are_unlocked_at_stop(
    engine: EngineEmulator,
) -> None:
    # A fetch answer cut off by the stop: the engine locked the task, the worker never saw it.
    orphan = engine.create_task("process-refund-payment", {})
    cut_off = EngineClient(
        base_url=engine.url,
        worker_id="unit-worker",
        health=Health(60, 60),
        lock_duration_ms=60_000,
        async_response_timeout_ms=0,
    )
    cut_off.fetch_and_lock(["process-refund-payment"], 1)
    cut_off.close()
    assert engine.locked_by(orphan) == "unit-worker"
    with running(engine, lambda task: Complete({})):
        pass
    assert [u.task_id for u in engine.unlocks] == [orphan]
    assert engine.locked_by(orphan) is None


def test_a_task_the_cut_long_poll_locks_after_the_stop_is_unlocked(
    engine: EngineEmulator,
) -> None:
    # As on Camunda 7, the engine keeps the poll stop() cut until it times out and locks a task
    # for it meanwhile; the stop outlasts the poll, then gives that task back.
    options = replace(OPTIONS, poll_timeout_ms=1_500)
    with running(engine, lambda task: Complete({}), options) as worker:
        engine.wait_for(lambda: engine.waiting_fetches == 1, message="a waiting long poll")
        worker.stop()
        late = engine.create_task(TOPIC, {})
        engine.wait_for(lambda: engine.locked_by(late), message="the cut poll locking the task")
    assert engine.locked_by(late) is None
    assert [u.task_id for u in engine.unlocks] == [late]
    assert engine.completion(late) is None
    # The sweep for tasks locked in this worker's name came after the poll had expired.
    (poll,) = engine.fetch_requests()
    (sweep,) = engine.requests_to("GET", "/external-task")
    assert sweep.received_at >= poll.received_at + 1.5


def test_a_garbled_engine_answer_does_not_stop_the_loop(engine: EngineEmulator) -> None:
    from tests.fakes.engine import _fetch_and_lock

    garble = threading.Event()
    garble.set()

    def fetch_route(emulator: EngineEmulator, request: EngineRequest) -> tuple[int, object]:
        if garble.is_set():
            return 200, b"<html>proxy error</html>"
        return _fetch_and_lock(emulator, request)

    engine.add_route("POST", "/external-task/fetchAndLock", fetch_route)
    with running(engine, lambda task: Complete({})):
        engine.wait_for(
            lambda: len(engine.fetch_requests()) >= 2, message="fetches answered with garbage"
        )
        garble.clear()
        task_id = engine.create_task(TOPIC, {})
        engine.wait_for(lambda: engine.completion(task_id), message="completion afterwards")
