"""The real `llm-worker run` process over HTTP, against the emulator and the real Camunda 7.24
engine alike: concurrency, lock extension, SIGTERM drain and unlock, failure reporting down to
an incident; against the emulator alone what a real engine cannot be made to show or does not
record: long-poll pickup and idle pacing as seen in the requests, outages."""

from __future__ import annotations

import itertools
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.conftest import StartWorker, WorkerProcess, wait_until
from tests.fakes.engine import EngineEmulator, RecordedRequest
from tests.fakes.llm import FakeLLM
from tests.fakes.real_engine import EmulatorDriver, EngineDriver, TaskRef

pytestmark = pytest.mark.integration

TOPIC = "analyze-fare-rules"
_numbers = itertools.count(1)


def case() -> dict[str, Any]:
    """A voluntary refund the LLM must read (a distinct text each time, so nothing is cached)."""
    n = next(_numbers)
    return {
        "bookingId": f"RT{n:05d}",
        "fareRules": f"A cancellation fee of USD 50 applies. (ref {n})",
        "ticketPrice": 400.0,
        "currency": "USD",
        "refundReason": "VOLUNTARY",
    }


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM(latency_s=0.0) as fake:
        yield fake


def start(
    start_worker: StartWorker,
    driver: EngineDriver,
    llm: FakeLLM,
    argv: list[str] | None = None,
    **settings: str | int | float,
) -> WorkerProcess:
    base: dict[str, str | int | float] = {
        "CAMUNDA_URL": driver.url,
        "WORKER_ID": f"it-worker-{next(_numbers)}",
        "WORKER_TOPICS": TOPIC,
        "OPENAI_API_KEY": "sk-test-not-a-real-key",
        "OPENAI_BASE_URL": llm.base_url,
        "DECISION_STRATEGY": "llm",
        "LLM_RATE_LIMIT_CALLS": 10_000,
    }
    base.update(settings)
    return start_worker(argv=argv, **base)


def locked_count(driver: EngineDriver, refs: list[TaskRef]) -> int:
    infos = [driver.task_info(ref) for ref in refs]
    return sum(1 for info in infos if info is not None and info.locked)


def metric(worker: WorkerProcess, name: str, **labels: str) -> float:
    for line in worker.metrics().splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_handles_concurrency_tasks_at_once(
    start_worker: StartWorker, engine_driver: EngineDriver, llm: FakeLLM
) -> None:
    llm.latency_s = 1.5
    refs = [engine_driver.create_task(TOPIC, case()) for _ in range(8)]
    worker = start(start_worker, engine_driver, llm, WORKER_CONCURRENCY=4)
    peak = [0]

    def four_in_flight() -> bool:
        peak[0] = max(peak[0], locked_count(engine_driver, refs))
        return peak[0] >= 4

    engine_driver.wait_for(four_in_flight, timeout=20, message="4 tasks locked at once")
    engine_driver.wait_for(
        lambda: all(engine_driver.completed_variables(r) for r in refs),
        timeout=30,
        message="all 8 tasks completed",
    )
    done = engine_driver.completed_variables(refs[0])
    assert done is not None and done["fareRuleCheck"]["value"] == "WITH_PENALTY"
    assert done["penaltyAmount"]["type"] == "Double"
    # counted just after the engine took the result
    wait_until(
        lambda: (
            metric(worker, "llm_worker_tasks_processed_total", topic=TOPIC, outcome="completed")
            == 8
        ),
        message="8 completed tasks in /metrics",
    )
    if isinstance(engine_driver, EmulatorDriver):
        engine = engine_driver.engine
        assert all(r.body["maxTasks"] <= 4 for r in engine.fetch_requests())
        assert max(len(engine.fetch_requests()), 1) <= 8  # batches, not a request per task
    assert worker.stop() == 0


def test_a_new_task_is_taken_by_the_waiting_long_poll(
    start_worker: StartWorker, emulator_driver: EmulatorDriver, llm: FakeLLM
) -> None:
    engine = emulator_driver.engine
    start(start_worker, emulator_driver, llm, ASYNC_RESPONSE_TIMEOUT_MS=30_000)
    engine.wait_for(lambda: engine.waiting_fetches == 1, message="a waiting long poll")
    before = len(engine.fetch_requests())
    created_at = time.monotonic()
    ref = emulator_driver.create_task(TOPIC, case())
    engine.wait_for(lambda: engine.completion(ref.id), message="completion")
    delivered = [
        r
        for r in engine.fetch_requests()[before:]
        if r.received_at < created_at < r.answered_at and r.status == 200
    ]
    # The poll that was already waiting answered with the task: no new request was needed.
    assert len(delivered) == 1


def test_an_idle_worker_waits_in_long_polls_without_logging_each(
    start_worker: StartWorker, emulator_driver: EmulatorDriver, llm: FakeLLM
) -> None:
    engine = emulator_driver.engine
    worker = start(start_worker, emulator_driver, llm, ASYNC_RESPONSE_TIMEOUT_MS=500)
    engine.wait_for(lambda: len(engine.fetch_requests()) >= 6, message="6 empty polls")
    polls = engine.fetch_requests()
    assert all(r.body["asyncResponseTimeout"] == 500 for r in polls)
    assert all(r.answered_at - r.received_at >= 0.45 for r in polls[1:])  # each one was held
    assert len({r.client_port for r in polls}) == 1  # one connection, kept alive
    assert engine.waiting_fetches <= 1  # one poll per process
    chatter = [
        e for e in worker.logs() if e.get("level") == "info" and "poll" in str(e.get("event"))
    ]
    assert chatter == []
    assert worker.stop() == 0


@pytest.mark.parametrize("mode", ["refuse", "503"])
def test_recovers_by_itself_after_an_engine_outage(
    start_worker: StartWorker, emulator_driver: EmulatorDriver, llm: FakeLLM, mode: str
) -> None:
    engine = emulator_driver.engine
    worker = start(start_worker, emulator_driver, llm, ASYNC_RESPONSE_TIMEOUT_MS=1_000)
    engine.wait_for(lambda: engine.fetch_requests(), message="a first poll")
    engine.outage(mode)  # type: ignore[arg-type]
    worker.wait_for_log(lambda e: e.get("event") == "engine fetch failed; backing off")
    ready = requests.get(f"{worker.metrics_url}/readyz", timeout=5).status_code
    assert ready == 503
    if mode == "503":
        engine.wait_for(
            lambda: sum(r.status == 503 for r in engine.fetch_requests()) >= 4,
            message="polls answered 503",
        )
        failed = [r for r in engine.fetch_requests() if r.status == 503]
        assert all(b.received_at - a.received_at >= 0.04 for a, b in itertools.pairwise(failed))
    engine.recover()
    ref = emulator_driver.create_task(TOPIC, case())
    engine.wait_for(lambda: engine.completion(ref.id), timeout=20, message="completion")
    worker.wait_for_log(lambda e: e.get("event") == "engine reachable again")
    assert metric(worker, "llm_worker_engine_errors_total", operation="fetch_and_lock") >= 1
    assert requests.get(f"{worker.metrics_url}/readyz", timeout=5).status_code == 200
    assert worker.stop() == 0


def test_extends_the_lock_of_a_task_still_running(
    start_worker: StartWorker, engine_driver: EngineDriver, llm: FakeLLM
) -> None:
    llm.latency_s = 4.0  # longer than half the 5 s lock, within the handler's deadline
    worker = start(start_worker, engine_driver, llm, LOCK_DURATION_MS=5_000)
    ref = engine_driver.create_task(TOPIC, case())
    first = engine_driver.wait_for(
        lambda: (info := engine_driver.task_info(ref)) and info.locked and info,
        message="the task locked",
    )
    engine_driver.wait_for(
        lambda: (
            (info := engine_driver.task_info(ref)) is None
            or info.lock_expiration != first.lock_expiration
        ),
        timeout=10,
        message="a lock extension",
    )
    engine_driver.wait_for(
        lambda: engine_driver.completed_variables(ref), timeout=20, message="completion"
    )
    assert metric(worker, "llm_worker_lock_extensions_total", topic=TOPIC) >= 1
    if isinstance(engine_driver, EmulatorDriver):
        engine = engine_driver.engine
        assert engine.task(ref.id).times_locked == 1  # never handed to anyone else
        assert engine.lock_extensions and engine.lock_extensions[0].new_duration_ms == 5_000
    assert worker.stop() == 0


def test_sigterm_lets_in_flight_tasks_finish_and_exits_0(
    start_worker: StartWorker, engine_driver: EngineDriver, llm: FakeLLM
) -> None:
    llm.latency_s = 2.0
    worker = start(start_worker, engine_driver, llm, WORKER_CONCURRENCY=2, SHUTDOWN_GRACE_S=20)
    refs = [engine_driver.create_task(TOPIC, case()) for _ in range(2)]
    wait_until(lambda: len(llm.chat_requests()) == 2, timeout=20, message="both tasks running")
    signalled_at = time.monotonic()
    worker.signal(signal.SIGTERM)
    worker.wait_for_log(lambda e: e.get("event") == "stopping")
    assert worker.wait_exit(timeout=30) == 0
    assert all(engine_driver.completed_variables(r) for r in refs)
    if isinstance(engine_driver, EmulatorDriver):
        engine = engine_driver.engine
        after = [r for r in engine.fetch_requests() if r.received_at > signalled_at]
        assert after == []  # fetching stopped at once
    events = [e.get("event") for e in worker.logs()]
    assert "draining in-flight tasks" in events
    assert events.index("stopping") < events.index("worker stopped")


def test_tasks_unfinished_at_the_end_of_the_grace_period_are_unlocked(
    start_worker: StartWorker, engine_driver: EngineDriver, llm: FakeLLM
) -> None:
    llm.latency_s = 15.0
    worker = start(start_worker, engine_driver, llm, SHUTDOWN_GRACE_S=0.5, LLM_TIMEOUT_S=30)
    ref = engine_driver.create_task(TOPIC, case())
    wait_until(lambda: llm.chat_requests(), timeout=20, message="the task running")
    started = time.monotonic()
    assert worker.stop(timeout=20) == 0
    assert time.monotonic() - started < 15  # did not wait for the LLM
    unlocked = [e for e in worker.logs() if e.get("event") == "task unlocked"]
    assert [e.get("task_id") for e in unlocked] == [ref.id]
    if isinstance(engine_driver, EmulatorDriver):
        engine = engine_driver.engine
        assert [u.task_id for u in engine.unlocks] == [ref.id]


def test_a_second_signal_exits_at_once(
    start_worker: StartWorker, engine_driver: EngineDriver, llm: FakeLLM
) -> None:
    llm.latency_s = 20.0
    # No long poll: a worker that exits at once leaves one pending in a real engine, which
    # would lock the next test's tasks in its name.
    worker = start(
        start_worker,
        engine_driver,
        llm,
        SHUTDOWN_GRACE_S=60,
        LLM_TIMEOUT_S=60,
        ASYNC_RESPONSE_TIMEOUT_MS=0,
    )
    engine_driver.create_task(TOPIC, case())
    wait_until(lambda: llm.chat_requests(), timeout=20, message="the task running")
    worker.signal(signal.SIGTERM)
    worker.wait_for_log(lambda e: e.get("event") == "draining in-flight tasks")
    worker.signal(signal.SIGTERM)
    assert worker.wait_exit(timeout=10) == 128 + signal.SIGTERM


_BUGGY_RUN = """
import llm_worker.app as app
real = app.HANDLER_FACTORIES["analyze-fare-rules"]
def factory(settings):
    handler = real(settings)
    def buggy(task):
        if task.value("bookingId") == "BUG":
            raise RuntimeError("handler bug for the test")
        return handler(task)
    return buggy
app.HANDLER_FACTORIES["analyze-fare-rules"] = factory
from llm_worker.cli import main
raise SystemExit(main(["run"]))
"""


def test_a_handler_bug_is_reported_as_failure_with_retries_down_to_an_incident(
    start_worker: StartWorker, engine_driver: EngineDriver, llm: FakeLLM
) -> None:
    worker = start(
        start_worker,
        engine_driver,
        llm,
        argv=[sys.executable, "-c", _BUGGY_RUN],
        TASK_MAX_RETRIES=2,
        TASK_RETRY_TIMEOUT_MS=200,
        # A retry timeout that elapses does not answer a waiting long poll (Camunda notices
        # only new and unlocked tasks): each retry waits for the next poll.
        ASYNC_RESPONSE_TIMEOUT_MS=1_000,
    )
    bug = engine_driver.create_task(TOPIC, {**case(), "bookingId": "BUG"})
    engine_driver.wait_for(lambda: engine_driver.has_incident(bug), timeout=30, message="incident")
    info = engine_driver.task_info(bug)
    assert info is not None and info.retries == 0
    assert info.error_message == "RuntimeError: handler bug for the test"
    good = engine_driver.create_task(TOPIC, case())
    engine_driver.wait_for(
        lambda: engine_driver.completed_variables(good), message="the loop still works"
    )
    if isinstance(engine_driver, EmulatorDriver):
        engine = engine_driver.engine
        assert [f.retries for f in engine.failures_of(bug.id)] == [2, 1, 0]
        assert {f.retry_timeout_ms for f in engine.failures_of(bug.id)} == {200}
    wait_until(
        lambda: (
            metric(worker, "llm_worker_tasks_processed_total", topic=TOPIC, outcome="failed") == 3
        ),
        message="3 failed tasks in /metrics",
    )
    failure_logs = [
        e for e in worker.logs() if e.get("event") == "handler failed; reporting the failure"
    ]
    assert failure_logs and all(e.get("booking_id") == "BUG" for e in failure_logs)
    assert all(e.get("task_id") == bug.id for e in failure_logs)
    assert worker.stop() == 0


# With ASYNC_RESPONSE_TIMEOUT_MS=0 (allowed) an idle worker does not spin on the engine.
def test_empty_polls_without_long_polling_are_paced(
    start_worker: StartWorker, engine: EngineEmulator
) -> None:
    worker = start_worker(CAMUNDA_URL=engine.url, ASYNC_RESPONSE_TIMEOUT_MS=0)

    def four_fetches() -> list[RecordedRequest] | None:
        found = engine.fetch_requests()
        return found[:4] if len(found) >= 4 else None

    fetches = engine.wait_for(four_fetches, timeout=20, message="four empty fetches")
    gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(fetches)]
    # Unpaced, the next fetch follows within milliseconds (hundreds a second); paced, about 1 s.
    assert min(gaps) > 0.25, gaps
    # A task that arrives is still taken on the next poll.
    task_id = engine.create_task("process-refund-payment", {})
    engine.wait_for(
        lambda: engine.bpmn_error(task_id) or engine.completion(task_id),
        timeout=15,
        message="the task handled",
    )
    assert worker.stop() == 0


def test_run_does_not_log_the_password(start_worker: StartWorker, html_502: str) -> None:
    # Credentials written inside CAMUNDA_URL never reach the log (requests quotes the URL).
    password = "s3cret-Pw-42"
    url = html_502.replace("http://", f"http://refund-admin:{password}@", 1)
    worker = start_worker(CAMUNDA_URL=url, ASYNC_RESPONSE_TIMEOUT_MS=0)
    worker.wait_for_log(lambda e: e.get("event") == "starting", message="the starting line")
    worker.wait_for_log(
        lambda e: "502" in str(e), message="an engine error logged with the engine's answer"
    )
    worker.stop()
    assert password not in worker.raw_log()
