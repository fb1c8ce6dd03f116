"""A real Prometheus server scrapes the real worker: PromQL returns the worker's series and every
alert rule of docker/prometheus/alerts.yml evaluates without error on the live data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.conftest import StartWorker, free_port, wait_until
from tests.fakes.engine import EngineEmulator

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "docker" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "grafana" / "dashboards" / "llm-worker.json"
# What Grafana substitutes for the dashboard's variables before it sends a query.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$instance": ".*"}


class PrometheusServer:
    """The Debian `prometheus` binary on a loopback port, with a temporary config and storage."""

    def __init__(self, workdir: Path, targets: list[str]) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            message = "the prometheus binary is missing: `make setup` installs Debian's package"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ALERTS)],
            "scrape_configs": [
                {"job_name": "llm-worker", "static_configs": [{"targets": targets}]}
            ],
        }
        config_path = workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self._log = (workdir / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.log_path = workdir / "prometheus.log"

    def wait_ready(self, timeout: float = 30) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited: {self.log_path.read_text()[-2000:]}")
            try:
                return requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_until(ready, timeout, interval=0.2, message="prometheus /-/ready")

    def api(self, path: str, **params: str) -> Any:
        response = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=5)
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        data = self.api("query", query=promql)
        assert data["resultType"] == "vector"
        result: list[dict[str, Any]] = data["result"]
        return result

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture
def scraped_worker(
    engine: EngineEmulator, start_worker: StartWorker, tmp_path: Path
) -> Iterator[PrometheusServer]:
    worker = start_worker(
        CAMUNDA_URL=engine.url,
        WORKER_TOPICS="analyze-fare-rules",
        ASYNC_RESPONSE_TIMEOUT_MS=1000,
        BACKLOG_POLL_INTERVAL_S=1,
    )
    server = PrometheusServer(tmp_path, [f"127.0.0.1:{worker.metrics_port}"])
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.mark.integration
def test_prometheus_scrapes_the_worker(
    engine: EngineEmulator, scraped_worker: PrometheusServer
) -> None:
    prometheus = scraped_worker
    task_id = engine.create_task(
        "analyze-fare-rules",
        {"bookingId": "PROM-1", "flightStatus": "CANCELLED", "ticketPrice": 250.0},
    )
    engine.wait_for(lambda: engine.completion(task_id), message="the task's completion")

    completed = wait_until(
        lambda: prometheus.query(
            'llm_worker_tasks_processed_total{job="llm-worker",'
            'topic="analyze-fare-rules",outcome="completed"}'
        ),
        timeout=30,
        interval=0.5,
        message="the completed task in Prometheus",
    )
    assert [float(series["value"][1]) for series in completed] == [1.0]

    decisions = prometheus.query("sum by (decision, source) (refund_requests_total)")
    assert [(s["metric"], float(s["value"][1])) for s in decisions] == [
        ({"decision": "ALLOWED", "source": "RULES"}, 1.0)
    ]
    [up] = prometheus.query('up{job="llm-worker"}')
    assert up["value"][1] == "1"
    backlog = prometheus.query("max by (topic) (camunda_external_tasks_pending)")
    assert [s["metric"] for s in backlog] == [{"topic": "analyze-fare-rules"}]
    [ready] = prometheus.query("llm_worker_ready")
    assert ready["value"][1] == "1"


@pytest.mark.integration
def test_every_alert_rule_evaluates_on_live_data(scraped_worker: PrometheusServer) -> None:
    prometheus = scraped_worker
    expected = {
        rule["alert"]
        for group in yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
    }

    def evaluated_rules() -> list[dict[str, Any]]:
        groups = prometheus.api("rules", type="alert")["groups"]
        rules: list[dict[str, Any]] = [rule for group in groups for rule in group["rules"]]
        done = all(not rule["lastEvaluation"].startswith("0001-") for rule in rules)
        return rules if done else []

    rules = wait_until(evaluated_rules, timeout=30, interval=0.5, message="rule evaluation")
    assert {rule["name"] for rule in rules} == expected
    broken = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert not broken
    # A healthy worker that just started raises nothing that is already firing.
    firing = [alert for rule in rules for alert in rule["alerts"] if alert["state"] == "firing"]
    assert not firing


@pytest.mark.integration
def test_every_dashboard_query_runs(
    engine: EngineEmulator, scraped_worker: PrometheusServer
) -> None:
    prometheus = scraped_worker
    task_id = engine.create_task("analyze-fare-rules", {"bookingId": "PROM-2", "noShow": True})
    engine.wait_for(lambda: engine.completion(task_id), message="the task's completion")
    wait_until(
        lambda: prometheus.query("llm_worker_task_duration_seconds_count"),
        timeout=30,
        interval=0.5,
        message="the task's duration in Prometheus",
    )
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    answers = {}
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            # A PromQL error is a 400 here, so every panel's query is at least valid.
            answers[(panel["title"], target["refId"])] = prometheus.query(expr)
    assert len(answers) > 20
    assert answers[("Workers ready", "A")][0]["value"][1] == "1"
    assert answers[("In flight", "A")][0]["metric"] == {"topic": "analyze-fare-rules"}
    assert answers[("Backlog", "A")][0]["metric"] == {"topic": "analyze-fare-rules"}
