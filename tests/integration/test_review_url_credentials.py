"""Review: credentials written inside CAMUNDA_URL / OPENAI_BASE_URL never reach output or logs."""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from llm_worker.config import without_credentials
from llm_worker.observability.health import Health
from llm_worker.runtime.engine import EngineClient, EngineError
from tests.conftest import StartWorker, worker_env
from tests.fakes.engine import EngineEmulator

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-Pw-42"


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_credentials(url: str) -> str:
    return url.replace("http://", f"http://refund-admin:{PASSWORD}@", 1)


@pytest.fixture
def html_502() -> Iterator[str]:
    """A proxy in front of the engine answering 502 with an HTML page (no JSON)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = b"<html><body>502 Bad Gateway</body></html>"
            self.send_response(502)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/engine-rest"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_without_credentials() -> None:
    assert without_credentials("http://u:p@h:8080/engine-rest") == "http://h:8080/engine-rest"
    assert without_credentials("x for url: https://u@h/a?b=c@d") == "x for url: https://h/a?b=c@d"
    assert without_credentials("http://h:8080/engine-rest") == "http://h:8080/engine-rest"


def test_engine_errors_do_not_quote_the_password(html_502: str) -> None:
    client = EngineClient(
        base_url=_with_credentials(html_502),
        worker_id="w",
        health=Health(60.0, 60.0),
        lock_duration_ms=10_000,
        async_response_timeout_ms=0,
    )
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


def _check(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llm_worker", "check"],
        env=worker_env(**settings),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_does_not_print_the_password(tmp_path: Path) -> None:
    with EngineEmulator(auth=("refund-admin", PASSWORD)) as engine:
        ok = _check(tmp_path, CAMUNDA_URL=_with_credentials(engine.url))
    assert ok.returncode == 0, ok.stderr
    assert "engine: ok" in ok.stdout
    assert PASSWORD not in ok.stdout + ok.stderr

    down = _with_credentials(f"http://127.0.0.1:{_closed_port()}/engine-rest")
    failed = _check(tmp_path, CAMUNDA_URL=down)
    assert failed.returncode == 2 and "does not answer" in failed.stderr
    assert PASSWORD not in failed.stdout + failed.stderr


def test_check_does_not_print_the_llm_url_password(tmp_path: Path, engine: EngineEmulator) -> None:
    llm = _with_credentials(f"http://127.0.0.1:{_closed_port()}/v1")
    failed = _check(tmp_path, CAMUNDA_URL=engine.url, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=llm)
    assert failed.returncode == 2 and "LLM at http://127.0.0.1:" in failed.stderr
    assert PASSWORD not in failed.stdout + failed.stderr


def test_run_does_not_log_the_password(start_worker: StartWorker, html_502: str) -> None:
    worker = start_worker(CAMUNDA_URL=_with_credentials(html_502), ASYNC_RESPONSE_TIMEOUT_MS=0)
    worker.wait_for_log(lambda e: e.get("event") == "starting", message="the starting line")
    worker.wait_for_log(
        lambda e: "502" in str(e), message="an engine error logged with the engine's answer"
    )
    worker.stop()
    assert PASSWORD not in worker.raw_log()
