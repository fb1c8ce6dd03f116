"""EngineClient against the emulator over HTTP: pooling, maxTasks, extend/unlock/count, errors,
health and metrics reporting, auth, and the abortable long poll."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import REGISTRY

from llm_worker.observability.health import Health
from llm_worker.runtime.engine import EngineClient, EngineError, FetchAbortedError
from tests.fakes.engine import EngineEmulator

TOPIC = "analyze-fare-rules"


def make_client(url: str, health: Health | None = None, **kwargs: object) -> EngineClient:
    options: dict[str, object] = {
        "base_url": url,
        "worker_id": "unit-worker",
        "health": health or Health(60, 60),
        "lock_duration_ms": 10_000,
        "async_response_timeout_ms": 0,
    }
    options.update(kwargs)
    return EngineClient(**options)  # type: ignore[arg-type]


@pytest.fixture
def client(engine: EngineEmulator) -> Iterator[EngineClient]:
    c = make_client(engine.url)
    yield c
    c.close()


def engine_errors(operation: str) -> float:
    value = REGISTRY.get_sample_value("llm_worker_engine_errors_total", {"operation": operation})
    return value or 0.0


def test_fetch_asks_for_the_given_number_of_tasks(
    engine: EngineEmulator, client: EngineClient
) -> None:
    for n in range(5):
        engine.create_task(TOPIC, {"bookingId": f"B{n}"})
    tasks = client.fetch_and_lock([TOPIC], 3)
    assert len(tasks) == 3
    assert engine.fetch_requests()[-1].body["maxTasks"] == 3
    assert {t["workerId"] for t in tasks} == {"unit-worker"}
    assert tasks[0]["variables"]["bookingId"]["type"] == "String"


def test_calls_share_one_connection(engine: EngineEmulator, client: EngineClient) -> None:
    ids = [engine.create_task(TOPIC, {}) for _ in range(4)]
    client.fetch_and_lock([TOPIC], 4)
    for task_id in ids:
        client.complete(task_id, {"x": {"value": 1.5, "type": "Double"}})
    ports = {r.client_port for r in engine.requests if r.path.endswith("/complete")}
    assert len(ports) == 1
    assert all(engine.completion(i) for i in ids)


def test_extend_lock_unlock_and_count(engine: EngineEmulator, client: EngineClient) -> None:
    first = engine.create_task(TOPIC, {})
    engine.create_task(TOPIC, {})
    engine.create_task(TOPIC, {}, retries=0)  # an incident: not waiting for a worker
    assert client.count(TOPIC) == 2
    client.fetch_and_lock([TOPIC], 1)
    assert client.count(TOPIC) == 1
    client.extend_lock(first, 60_000)
    assert engine.lock_extensions[-1].new_duration_ms == 60_000
    client.unlock(first)
    assert engine.locked_by(first) is None
    assert client.count(TOPIC) == 2


def test_a_lock_held_by_another_worker_is_a_non_transient_error(
    engine: EngineEmulator, client: EngineClient
) -> None:
    task_id = engine.create_task(TOPIC, {})
    other = make_client(engine.url, worker_id="other-worker")
    other.fetch_and_lock([TOPIC], 1)
    before = engine_errors("complete")
    with pytest.raises(EngineError) as caught:
        client.complete(task_id, {})
    assert caught.value.status == 400
    assert caught.value.task_gone and not caught.value.transient
    assert "locked by worker 'other-worker'" in str(caught.value)
    assert engine_errors("complete") == before + 1
    other.close()


def test_an_unreachable_engine_is_transient_and_marks_health(engine: EngineEmulator) -> None:
    health = Health(60, 60)
    client = make_client(engine.url, health)
    client.version()
    assert health.is_ready()
    before = engine_errors("fetch_and_lock")
    with engine.down("refuse"):
        with pytest.raises(EngineError) as caught:
            client.fetch_and_lock([TOPIC], 1)
        assert caught.value.transient and caught.value.status is None
        assert not health.is_ready()
    assert engine_errors("fetch_and_lock") == before + 1
    assert client.fetch_and_lock([TOPIC], 1) == []
    assert health.is_ready()
    client.close()


def test_a_503_is_transient(engine: EngineEmulator, client: EngineClient) -> None:
    with engine.down("503"), pytest.raises(EngineError) as caught:
        client.count(TOPIC)
    assert caught.value.status == 503 and caught.value.transient


def test_basic_auth() -> None:
    with EngineEmulator(auth=("demo", "s3cret")) as engine:
        good = make_client(engine.url, username="demo", password="s3cret")
        assert good.version() == "7.24.0"
        health = Health(60, 60)
        bad = make_client(engine.url, health, username="demo", password="wrong")
        with pytest.raises(EngineError) as caught:
            bad.version()
        assert caught.value.status == 401
        assert "wrong" not in str(caught.value)
        assert not health.is_ready()  # a worker the engine refuses cannot work
        good.close()
        bad.close()


def test_abort_cuts_a_long_poll(engine: EngineEmulator) -> None:
    client = make_client(engine.url, async_response_timeout_ms=30_000)
    outcome: list[object] = []

    def poll() -> None:
        try:
            outcome.append(client.fetch_and_lock([TOPIC], 1))
        except FetchAbortedError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=poll)
    thread.start()
    engine.wait_for(lambda: engine.waiting_fetches == 1, message="the long poll to wait")
    started = time.monotonic()
    client.abort_fetch()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert isinstance(outcome[0], FetchAbortedError)
    assert time.monotonic() - started < 10
    with pytest.raises(FetchAbortedError):
        client.fetch_and_lock([TOPIC], 1)
    client.close()


PASSWORD = "s3cret-Pw-42"


def test_engine_errors_do_not_quote_the_password(html_502: str) -> None:
    # Credentials written inside CAMUNDA_URL: requests quotes the URL in its errors.
    client = make_client(html_502.replace("http://", f"http://refund-admin:{PASSWORD}@", 1))
    calls: list[Callable[[], object]] = [
        client.version,
        lambda: client.count("analyze-fare-rules"),
        lambda: client.fetch_and_lock(["analyze-fare-rules"], 1),
        lambda: client.complete("t1", {}),
    ]
    try:
        for call in calls:
            with pytest.raises(EngineError) as raised:
                call()
            assert "502" in str(raised.value)
            assert PASSWORD not in str(raised.value)
    finally:
        client.close()
