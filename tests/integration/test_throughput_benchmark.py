"""`make bench`'s real-engine mode runs: benchmarks/throughput.py against the session's real
engine with a handful of tasks (the numbers themselves are the benchmark's business, never
asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import clean_env
from tests.support import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.real_engine, pytest.mark.timeout(300)]


def test_the_benchmark_measures_the_worker_and_a_lean_client_on_the_real_engine(
    real_engine_url: str,
) -> None:
    bench = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "benchmarks" / "throughput.py"),
            "--engine=real",
            f"--engine-url={real_engine_url}",
            "--tasks=8",
            "--latency-tasks=4",
            "--arrival-rate=4",
            "--lean-tasks=20",
            "--lean-threads=2",
            "--latency-ms=50",
            "--json",
        ],
        env=clean_env(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert bench.returncode == 0, bench.stdout[-2000:] + bench.stderr[-3000:]
    table, _, as_json = bench.stdout.partition("\n[")
    assert "| Camunda 7.24" in table
    worker, lean = json.loads("[" + as_json)
    assert (worker["worker"], worker["tasks"]) == ("llm-worker run", 8)
    assert worker["engine"] == lean["engine"] and worker["engine"].startswith("Camunda 7.")
    assert worker["tasks_per_s"] > 0 and worker["pickup_p95_ms"] >= worker["pickup_p50_ms"] > 0
    assert lean["worker"].startswith("lean client") and lean["tasks"] == 20
