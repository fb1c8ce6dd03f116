"""The real worker's /readyz follows the engine: 503 while it is unreachable, 200 again after;
/healthz stays 200 meanwhile, so Kubernetes does not restart pods for an engine outage."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.conftest import StartWorker, wait_until
from tests.fakes.engine import EngineEmulator, OutageMode


def probe(url: str) -> tuple[int, dict[str, Any]]:
    response = requests.get(url, timeout=5)
    body: dict[str, Any] = response.json()
    return response.status_code, body


def sample(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["refuse", "503"])
def test_readyz_follows_an_engine_outage(
    engine: EngineEmulator, start_worker: StartWorker, mode: OutageMode
) -> None:
    worker = start_worker(
        CAMUNDA_URL=engine.url,
        WORKER_TOPICS="analyze-fare-rules",
        ASYNC_RESPONSE_TIMEOUT_MS=500,
        BACKLOG_POLL_INTERVAL_S=1,
    )
    ready_url = f"{worker.metrics_url}/readyz"
    health_url = f"{worker.metrics_url}/healthz"
    wait_until(lambda: probe(ready_url)[0] == 200, timeout=20, message="ready before the outage")
    assert sample(worker.metrics(), "llm_worker_ready") == 1

    engine.outage(mode)
    try:
        wait_until(
            lambda: probe(ready_url)[0] == 503, timeout=20, message="/readyz 503 in the outage"
        )
        _, body = probe(ready_url)
        assert body == {"status": "not ready", "reason": "engine unreachable"}
        assert probe(health_url)[0] == 200
        metrics = worker.metrics()
        assert sample(metrics, "llm_worker_ready") == 0
        assert "llm_worker_engine_errors_total{operation=" in metrics
    finally:
        engine.recover()

    wait_until(lambda: probe(ready_url)[0] == 200, timeout=20, message="ready after recovery")
    assert sample(worker.metrics(), "llm_worker_ready") == 1
    assert probe(health_url)[0] == 200
    task_id = engine.create_task("analyze-fare-rules", {"bookingId": "AFTER-1"})
    engine.wait_for(lambda: engine.completion(task_id), message="work resumes after the outage")


@pytest.mark.integration
def test_the_engine_is_said_reachable_again_when_readyz_is_back(
    engine: EngineEmulator, start_worker: StartWorker
) -> None:
    # The default 20 s long poll: the line must not wait for the next poll to return.
    worker = start_worker(
        CAMUNDA_URL=engine.url, WORKER_TOPICS="analyze-fare-rules", BACKLOG_POLL_INTERVAL_S=1
    )
    ready_url = f"{worker.metrics_url}/readyz"
    wait_until(lambda: probe(ready_url)[0] == 200, timeout=20, message="ready before the outage")
    engine.outage("refuse")
    try:
        wait_until(lambda: probe(ready_url)[0] == 503, timeout=20, message="503 in the outage")
    finally:
        engine.recover()
    wait_until(lambda: probe(ready_url)[0] == 200, timeout=20, message="ready after recovery")
    # Well under the 20 s long poll that used to hold the line back.
    worker.wait_for_log(
        lambda e: e.get("event") == "engine reachable again", timeout=5, message="the line"
    )
    assert worker.stop() == 0
