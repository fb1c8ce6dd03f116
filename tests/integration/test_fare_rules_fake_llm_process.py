"""The fake LLM as a process (`python -m tests.fakes.llm`), as the benchmark starts it."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time

import pytest
import requests

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration


def test_fake_llm_process_serves_models_and_chat_with_latency() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.llm", "--latency-ms", "200"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        try:
            first = lines.get(timeout=15)
        except queue.Empty:
            raise AssertionError("the fake LLM did not say where it listens within 15 s") from None
        # It listens on a port of its own choosing (--port 0) and says which.
        assert first.startswith("fake LLM listening on http://127.0.0.1:"), first
        base = first.removeprefix("fake LLM listening on ").strip()
        assert requests.get(f"{base}/models", timeout=5).status_code == 200
        started = time.monotonic()
        answer = requests.post(
            f"{base}/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "NON-REFUNDABLE"}]},
            timeout=5,
        )
        assert time.monotonic() - started >= 0.2
        body = answer.json()
        assert body["usage"]["total_tokens"] > 0
        assert '"decision": "MANUAL"' in body["choices"][0]["message"]["content"]
    finally:
        proc.terminate()
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            raise
    assert code == 0, "the fake LLM did not stop cleanly on SIGTERM"
