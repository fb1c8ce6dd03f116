"""ObservabilityServer over real HTTP on an ephemeral loopback port."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
import requests
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from llm_worker import metrics
from llm_worker.observability.health import Health
from llm_worker.observability.server import ObservabilityServer

CONTRACT_FAMILIES = {
    "llm_worker_tasks_processed": "counter",
    "llm_worker_task_duration_seconds": "histogram",
    "llm_worker_tasks_in_flight": "gauge",
    "llm_worker_openai_api_calls": "counter",
    "llm_worker_openai_api_errors": "counter",
    "llm_worker_openai_api_duration_seconds": "histogram",
    "llm_worker_openai_tokens": "counter",
    "llm_worker_cost_usd": "counter",
    "refund_requests": "counter",
    "llm_worker_guardrail_overrides": "counter",
    "camunda_external_tasks_pending": "gauge",
    "llm_worker_engine_errors": "counter",
    "llm_worker_ready": "gauge",
}


def get(url: str, method: str = "GET") -> tuple[int, str, bytes]:
    response = requests.request(method, url, timeout=5)
    return response.status_code, response.headers.get("Content-Type", ""), response.content


@pytest.fixture
def health() -> Health:
    return Health(liveness_window_s=60, readiness_window_s=60)


@pytest.fixture
def server(health: Health) -> Iterator[ObservabilityServer]:
    with ObservabilityServer(0, health, host="127.0.0.1") as srv:
        yield srv


def test_ephemeral_port_is_bound(server: ObservabilityServer) -> None:
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"


def test_metrics_exposes_every_contract_metric(server: ObservabilityServer) -> None:
    metrics.TASKS_PROCESSED.labels(topic="analyze-fare-rules", outcome="completed").inc()
    status, content_type, body = get(server.url + "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    families = {f.name: f.type for f in text_string_to_metric_families(body.decode())}
    for name, kind in CONTRACT_FAMILIES.items():
        assert families.get(name) == kind, name
    assert "llm_worker_tasks_processed_total{" in body.decode()


def test_metrics_speaks_openmetrics_when_asked(server: ObservabilityServer) -> None:
    response = requests.get(
        server.url + "/metrics", headers={"Accept": "application/openmetrics-text"}, timeout=5
    )
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.rstrip().endswith(b"# EOF")


def test_custom_registry_is_served(health: Health) -> None:
    registry = CollectorRegistry()
    Counter("only_here", "A metric of a private registry.", registry=registry).inc()
    with ObservabilityServer(0, health, registry=registry, host="127.0.0.1") as srv:
        _, _, body = get(srv.url + "/metrics")
    assert b"only_here_total 1.0" in body
    assert b"llm_worker_tasks_processed" not in body


def test_healthz_follows_the_worker_loop(server: ObservabilityServer, health: Health) -> None:
    status, content_type, body = get(server.url + "/healthz")
    assert (status, json.loads(body)["status"]) == (503, "not alive")
    assert content_type == "application/json"
    assert json.loads(body)["reason"] == "worker loop not started"

    health.beat()
    status, _, body = get(server.url + "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "alive"})

    health.stopped()
    status, _, body = get(server.url + "/healthz")
    assert (status, json.loads(body)["reason"]) == (503, "worker stopped")


def test_healthz_fails_when_the_loop_goes_silent() -> None:
    health = Health(liveness_window_s=-1, readiness_window_s=60)
    health.beat()
    with ObservabilityServer(0, health, host="127.0.0.1") as srv:
        # A negative window: any beat is already too old when the probe reads it.
        status, _, body = get(srv.url + "/healthz")
    assert status == 503
    assert json.loads(body)["reason"].startswith("worker loop silent for")


def test_readyz_follows_the_engine(server: ObservabilityServer, health: Health) -> None:
    status, _, body = get(server.url + "/readyz")
    assert (status, json.loads(body)) == (
        503,
        {"status": "not ready", "reason": "engine has not answered yet"},
    )
    health.engine_ok()
    status, _, body = get(server.url + "/readyz")
    assert (status, json.loads(body)) == (200, {"status": "ready"})
    health.engine_failed()
    status, _, body = get(server.url + "/readyz")
    assert (status, json.loads(body)["reason"]) == (503, "engine unreachable")
    health.engine_ok()
    assert get(server.url + "/readyz")[0] == 200
    health.stopped()
    assert get(server.url + "/readyz")[0] == 503


def test_head_has_status_without_body(server: ObservabilityServer, health: Health) -> None:
    health.engine_ok()
    status, _, body = get(server.url + "/readyz", method="HEAD")
    assert (status, body) == (200, b"")


def test_unknown_path_and_method(server: ObservabilityServer) -> None:
    status, _, body = get(server.url + "/nope")
    assert status == 404
    assert json.loads(body)["endpoints"] == ["/metrics", "/healthz", "/readyz"]
    status, _, _ = get(server.url + "/metrics", method="POST")
    assert status == 405


def test_stop_frees_the_port_and_is_idempotent(health: Health) -> None:
    srv = ObservabilityServer(0, health, host="127.0.0.1")
    srv.stop()
    srv.start()
    port = srv.port
    srv.stop()
    srv.stop()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_port_in_use_names_the_setting(health: Health) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        srv = ObservabilityServer(busy, health, host="127.0.0.1")
        with pytest.raises(OSError, match="METRICS_PORT"):
            srv.start()


def test_ready_gauge_follows_readiness(server: ObservabilityServer, health: Health) -> None:
    def ready_sample() -> float:
        _, _, body = get(server.url + "/metrics")
        for family in text_string_to_metric_families(body.decode()):
            if family.name == "llm_worker_ready":
                return float(family.samples[0].value)
        raise AssertionError("llm_worker_ready not exported")

    assert ready_sample() == 0
    health.engine_ok()
    assert ready_sample() == 1
    health.engine_failed()
    assert ready_sample() == 0
