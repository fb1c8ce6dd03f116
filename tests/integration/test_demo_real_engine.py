"""`make demo` (scripts/demo.py) as a newcomer runs it: the real engine, the deploy with the demo
users and a worker start; Tasklist and Cockpit answer where it says; a case started as it
says is decided; Ctrl-C stops the worker and the engine."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import clean_env, run_cli
from tests.support import REPO_ROOT, free_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.real_engine]


def test_make_demo_runs_the_product_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    port, metrics_port = free_port(), free_port()
    env = clean_env(DEMO_PORT=port, DEMO_METRICS_PORT=metrics_port, DEMO_DB_DIR=tmp_path / "db")
    env["PYTHONUNBUFFERED"] = "1"
    with log.open("wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "scripts/demo.py"], cwd=REPO_ROOT, env=env, stdout=out, stderr=out
        )
    try:

        def ready() -> bool:
            assert demo.poll() is None, log.read_text()
            return "demo ready" in log.read_text()

        wait_until(ready, 300, 0.5, "the demo ready")
        text = log.read_text()
        tasklist = re.search(r"^ +Tasklist +(http\S+)", text, re.M)
        cockpit = re.search(r"^ +Cockpit +(http\S+)", text, re.M)
        assert tasklist and cockpit
        for url in (tasklist.group(1), cockpit.group(1)):
            assert requests.get(url, timeout=30).status_code == 200, url
        assert "demo-operator/demo-operator (refund-operators)" in text
        engine = f"http://127.0.0.1:{port}/engine-rest"
        started = run_cli("start", "examples/case.json", env=clean_env(CAMUNDA_URL=engine))
        assert started.returncode == 0, started.stderr
        pid = started.stdout.split('"processInstanceId": "')[1].split('"')[0]

        def decided() -> bool:
            found = requests.get(
                f"{engine}/history/variable-instance",
                params={"processInstanceId": pid, "variableName": "fareRuleCheck"},
                timeout=30,
            ).json()
            return bool(found)

        wait_until(decided, 60, 0.5, "the case decided by the demo's worker")
        assert requests.get(f"http://127.0.0.1:{metrics_port}/healthz", timeout=5).ok

        demo.send_signal(signal.SIGINT)  # Ctrl-C
        assert demo.wait(timeout=120) == 0, log.read_text()[-3000:]
        for url in (f"{engine}/version", f"http://127.0.0.1:{metrics_port}/healthz"):
            with pytest.raises(requests.ConnectionError):
                requests.get(url, timeout=5)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
