"""`make demo`: the whole product without Docker. Starts the real Camunda 7.24 engine (built
from tests/camunda-engine, its H2 database kept in build/demo-engine), deploys the process with
the demo users, runs one `llm-worker run` with the simulated payment gateway (rules alone
unless OPENAI_API_KEY is set), prints where Tasklist and Cockpit are and the logins, and stops
everything on Ctrl-C.

DEMO_PORT (default 8080) and DEMO_METRICS_PORT (default 9464) move the two ports,
DEMO_DB_DIR (default build/demo-engine) the engine's database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from llm_worker.admin.engine import DEMO_USERS  # noqa: E402
from tests.fakes.camunda_engine import CamundaEngine, EngineBuildError, build  # noqa: E402


def main() -> int:
    port = int(os.environ.get("DEMO_PORT", "8080"))
    metrics_port = int(os.environ.get("DEMO_METRICS_PORT", "9464"))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stop.set())

    print("demo: the Camunda 7.24 engine (built once; about 2 minutes the first time)")
    try:
        jar = build()
    except EngineBuildError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    db_dir = Path(os.environ.get("DEMO_DB_DIR") or REPO_ROOT / "build" / "demo-engine")
    engine = CamundaEngine(jar, db_dir.resolve(), port)
    worker: subprocess.Popen[bytes] | None = None
    try:
        print(f"demo: starting the engine on port {port} (log: {engine.log_path})")
        engine.start()
        env = {**os.environ, "CAMUNDA_URL": engine.url}
        deployed = subprocess.run(
            [sys.executable, "-m", "llm_worker", "deploy", "--demo-users"], env=env, check=False
        )
        if deployed.returncode != 0:
            return deployed.returncode
        worker_env = {
            **env,
            "PAYMENT_SIMULATED": "true",
            "METRICS_PORT": str(metrics_port),
            "LOG_FORMAT": os.environ.get("LOG_FORMAT", "console"),
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "llm_worker", "run"],
            env=worker_env,
            start_new_session=True,  # stopped by us, after the engine's last answers
        )
        strategy = "the LLM (OPENAI_API_KEY)" if os.environ.get("OPENAI_API_KEY") else "rules alone"
        logins = ", ".join(f"{u.id}/{u.id} ({u.group})" for u in DEMO_USERS)
        print(
            "\n"
            f"demo ready: Camunda {engine.version}, one worker deciding with {strategy}\n"
            f"  Tasklist   {engine.root_url}/camunda/app/tasklist/\n"
            f"  Cockpit    {engine.root_url}/camunda/app/cockpit/\n"
            f"  Admin      {engine.root_url}/camunda/app/admin/\n"
            f"  logins     demo/demo (admin), {logins}\n"
            f"  REST API   {engine.url}\n"
            f"  metrics    http://localhost:{metrics_port}/metrics\n"
            f"  a case     CAMUNDA_URL={engine.url} .venv/bin/llm-worker start examples/case.json\n"
            "Ctrl-C stops the worker and the engine.\n",
            flush=True,
        )
        while not stop.is_set():
            if worker.poll() is not None:
                print(f"demo: the worker exited with {worker.returncode}", file=sys.stderr)
                return 1
            if engine.proc is None or engine.proc.poll() is not None:
                print(f"demo: the engine stopped:\n{engine.log_tail()}", file=sys.stderr)
                return 1
            stop.wait(0.5)
        print("demo: stopping")
        return 0
    except EngineBuildError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        engine.stop()


if __name__ == "__main__":
    sys.exit(main())
