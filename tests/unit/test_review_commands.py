"""Review: `decide` and `eval` answer a file that is not UTF-8 text (or bad stdin) in one line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from llm_worker.cli import main


@pytest.mark.parametrize("command", ["decide", "eval"])
def test_a_binary_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = tmp_path / "case.bin"
    path.write_bytes(b"\xff\xfe\x00{")
    assert main([command, str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"llm-worker {command}: {path} is not UTF-8 text"


class _BadStdin(io.StringIO):
    def read(self, size: int | None = -1) -> str:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")


def test_decide_stdin_not_utf8(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", _BadStdin())
    assert main(["decide", "-"]) == 2
    assert capsys.readouterr().err.strip() == "llm-worker decide: stdin is not UTF-8 text"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "stdin is not valid JSON: Expecting value"),
        ('"a string"', "stdin must be a JSON object of process variables"),
    ],
)
def test_decide_stdin_mistakes_name_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert main(["decide", "-"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"llm-worker decide: {message}") and "\n" not in err
