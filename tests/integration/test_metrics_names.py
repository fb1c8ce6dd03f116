"""Every metric a dashboard panel or an alert rule reads is one the running worker exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import StartWorker, wait_until
from tests.fakes.engine import EngineEmulator

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "grafana" / "dashboards" / "llm-worker.json"
ALERTS = ROOT / "docker" / "prometheus" / "alerts.yml"

# Series Prometheus makes itself for every scrape target.
PROMETHEUS_SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
_SAMPLE_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
    "summary": ("_sum", "_count", ""),
    "info": ("_info",),
}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, labels and keywords left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "{}", text)
    text = re.sub(r"\[[^\]]*\]", "[]", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        name = match.group(0)
        if text[match.end() :].lstrip().startswith("(") or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


def dashboard_exprs() -> dict[str, str]:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = {
        f"panel {panel['title']!r} {target['refId']}": target["expr"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
    }
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", variable["query"])
            assert inner, variable["query"]
            exprs[f"variable {variable['name']}"] = inner.group(1)
    return exprs


def alert_exprs() -> dict[str, str]:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return {
        f"alert {rule['alert']}": rule["expr"]
        for group in rules["groups"]
        for rule in group["rules"]
    }


def exported_names(exposition: str) -> set[str]:
    """Series names Prometheus stores from a scrape, including families without samples yet."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.update(sample.name for sample in family.samples)
        names.update(family.name + suffix for suffix in _SAMPLE_SUFFIXES.get(family.type, ("",)))
    return names


def handled(exposition: str) -> list[float]:
    """Values of the completed fare-rule task counter in an exposition."""
    return [
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "llm_worker_tasks_processed_total"
        and sample.labels == {"topic": "analyze-fare-rules", "outcome": "completed"}
    ]


def test_metric_names_parser() -> None:
    expr = (
        'sum by (le, topic) (rate(a_bucket{instance=~"$instance",x="y(z)"}[$__rate_interval]))'
        " / ignoring (kind) scalar(b_total) > 0.2 and on (topic) c unless absent(up{job='j'})"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c", "up"}
    assert metric_names("max by (topic) (deriv(pending[15m:1m])) > bool 0") == {"pending"}


@pytest.mark.integration
def test_dashboards_and_alerts_read_only_exported_metrics(
    engine: EngineEmulator, start_worker: StartWorker
) -> None:
    worker = start_worker(
        CAMUNDA_URL=engine.url,
        WORKER_TOPICS="analyze-fare-rules",
        ASYNC_RESPONSE_TIMEOUT_MS=1000,
        BACKLOG_POLL_INTERVAL_S=1,
    )
    task_id = engine.create_task(
        "analyze-fare-rules",
        {"bookingId": "OBS-1", "flightStatus": "CANCELLED", "ticketPrice": 120.0},
    )
    engine.wait_for(lambda: engine.completion(task_id), message="the task's completion")

    # The worker counts the task once the engine has acknowledged the completion.
    def counted() -> str:
        text = worker.metrics()
        return text if handled(text) else ""

    exposition = wait_until(counted, message="the handled task in /metrics")
    exported = exported_names(exposition) | PROMETHEUS_SYNTHETIC

    used = {**dashboard_exprs(), **alert_exprs()}
    assert len(used) > 20
    missing = {
        where: sorted(metric_names(expr) - exported)
        for where, expr in used.items()
        if metric_names(expr) - exported
    }
    assert not missing, f"not exported by the worker: {missing}"
    # The check compares real names: the handled task shows up under its contract name.
    assert handled(exposition) == [1.0]
    assert {"llm_worker_task_duration_seconds_bucket", "refund_requests_total"} <= exported
