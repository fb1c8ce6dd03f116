"""The fake LLM as a process (`python -m tests.fakes.llm`), as the benchmark starts it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port, wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_fake_llm_process_serves_models_and_chat_with_latency() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.llm", "--port", str(port), "--latency-ms", "200"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}/v1"

        def up() -> bool:
            try:
                return requests.get(f"{base}/models", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_until(up, timeout=15, message="the fake LLM process")
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
        assert proc.wait(timeout=10) == 0
        assert proc.stdout is not None
        assert f"listening on http://127.0.0.1:{port}/v1" in proc.stdout.read()
