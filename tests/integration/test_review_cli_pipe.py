"""Review: `llm-worker eval ... | head` ends quietly when the reader goes away, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import worker_env

pytestmark = pytest.mark.integration


def test_a_closed_stdout_is_not_a_traceback(tmp_path: Path) -> None:
    case = {"bookingId": "B1", "fareRules": "NON-REFUNDABLE", "ticketPrice": 100, "currency": "USD"}
    # Every case a mistake: the report lists them all, far more than a pipe buffer holds, so
    # the writer is still writing when the reader closes the pipe.
    lines = [
        json.dumps({"id": f"case-{n}", "variables": case, "expected": "ALLOWED"})
        for n in range(3000)
    ]
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llm_worker", "eval", str(cases), "--json"],
        env=worker_env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().strip() == b"{"
    proc.stdout.close()
    try:
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert code == 141
