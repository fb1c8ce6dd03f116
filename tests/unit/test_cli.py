"""The command line: user mistakes give one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llm_worker.cli import build_parser, main
from tests.conftest import worker_env


def test_every_contract_command_is_known() -> None:
    parser = build_parser()
    for argv in (
        ["run"],
        ["check"],
        ["decide", "-"],
        ["eval", "x.jsonl"],
        ["deploy"],
        ["start", "f"],
    ):
        assert parser.parse_args(argv).command == argv[0]


def test_unknown_command_exits_non_zero() -> None:
    with pytest.raises(SystemExit) as info:
        main(["fly"])
    assert info.value.code != 0


def test_bad_setting_prints_one_line_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "llm_worker", "check"],
        env={"PATH": "/usr/bin:/bin", "WORKER_CONCURRENCY": "0", "OPENAI_API_KEY": "sk-secret-1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "WORKER_CONCURRENCY" in lines[0]
    assert "Traceback" not in proc.stderr
    assert "sk-secret-1" not in proc.stderr + proc.stdout


# `llm-worker eval ... | head` ends quietly when the reader goes away, no traceback.
@pytest.mark.integration
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
