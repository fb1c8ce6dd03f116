"""The Grafana dashboard is generated code: committed JSON equals a fresh generation, and its
layout, data source and provisioning hold together."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "llm-worker.json"

REQUIRED_PANELS = {
    "Throughput by outcome",
    "Task latency p50 / p95 / p99",
    "In flight",
    "Backlog (pending in the engine)",
    "LLM latency p50 / p95 / p99",
    "LLM calls and errors by kind",
    "Fallback and guardrail-override rates",
    "Decisions by value and source",
    "Tokens per hour",
    "Cost per hour",
    "Engine errors by operation",
}


def generate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GRAFANA / "generate.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def test_committed_json_is_what_the_generator_makes() -> None:
    result = generate("--check")
    assert result.returncode == 0, result.stderr


def test_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "llm-worker.json"
    stale.write_text(DASHBOARD.read_text(encoding="utf-8").replace("Throughput", "Thruput"))
    result = generate("--check", "--output", str(stale))
    assert result.returncode == 1
    assert "out of date" in result.stderr
    assert generate("--output", str(stale)).returncode == 0
    assert stale.read_text(encoding="utf-8") == DASHBOARD.read_text(encoding="utf-8")


def test_every_required_panel_is_there() -> None:
    titles = {panel["title"] for panel in dashboard()["panels"]}
    assert titles >= REQUIRED_PANELS


def test_every_panel_an_alert_runbook_cites_is_on_the_dashboard() -> None:
    """A runbook names dashboard panels in double quotes; each must be a panel's title."""
    alerts = yaml.safe_load((ROOT / "docker" / "prometheus" / "alerts.yml").read_text())
    titles = {panel["title"] for panel in dashboard()["panels"]}
    cited = {
        (rule["alert"], " ".join(name.split()))
        for group in alerts["groups"]
        for rule in group["rules"]
        for name in re.findall(r'"([^"]+)"', rule["annotations"].get("runbook", ""))
    }
    assert len(cited) >= 5  # the runbooks do lead to the dashboard
    missing = sorted((alert, name) for alert, name in cited if name not in titles)
    assert not missing, f"runbooks cite panels the dashboard lacks: {missing}"


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    panels = dashboard()["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))


def test_every_query_uses_the_datasource_variable() -> None:
    board = dashboard()
    for panel in board["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert target["expr"].strip()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"


def test_provisioning_points_at_the_dashboard_and_the_datasource() -> None:
    datasources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text(encoding="utf-8")
    )
    [source] = datasources["datasources"]
    board = dashboard()
    default = next(v for v in board["templating"]["list"] if v["name"] == "datasource")
    assert source["uid"] == default["current"]["value"]
    assert source["type"] == "prometheus"

    providers = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "dashboards.yml").read_text(encoding="utf-8")
    )
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert board["uid"] == "llm-worker"
