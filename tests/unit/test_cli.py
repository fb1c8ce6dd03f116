"""The command line: user mistakes give one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from llm_worker.cli import build_parser, main


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
