"""`llm-worker decide` in-process (llm_worker/commands/decide.py): output and user mistakes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from llm_worker.cli import main

CASE = {
    "bookingId": "PNR-9",
    "fareRules": "CHARGE USD 100 FOR CANCEL/REFUND.",
    "ticketPrice": {"value": "400.00", "type": "String"},
    "currency": "USD",
    "departureDate": "2030-03-01",
    "requestDate": "2030-02-01T10:00:00Z",
}


def test_decide_file_prints_the_output_variables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "case.json"
    path.write_text(json.dumps(CASE))
    assert main(["decide", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {
        "fareRuleCheck": "WITH_PENALTY",
        "decisionSource": "RULES",
        "llmReasoning": out["llmReasoning"],
        "llmProvider": "rules",
        "penaltyAmount": 100.0,
        "refundAmount": 300.0,
    }


def test_decide_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({**CASE, "noShow": "maybe"})))
    assert main(["decide", "-"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fareRuleCheck"] == "MANUAL"
    assert "noShow is not a boolean" in out["llmReasoning"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object of process variables"),
        ("{}", "holds no process variables (a case needs at least bookingId)"),
        ('{"variables": {}}', "holds no process variables"),
        ('{"variables": {"bookingId": "B"}, "processDefinitionKey": "x"}', "REST start body"),
        ('{"variables": {"bookingId": "B"}, "businessKey": 7}', "businessKey must be a string"),
    ],
)
def test_decide_user_mistakes_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "case.json"
    if content is not None:
        path.write_text(content)
    assert main(["decide", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("llm-worker decide: ") and message in err
    assert "\n" not in err and "Traceback" not in err


def test_a_binary_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "case.bin"
    path.write_bytes(b"\xff\xfe\x00{")
    assert main(["decide", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"llm-worker decide: {path} is not UTF-8 text"


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
        ('"a string"', "stdin must hold a JSON object of process variables"),
    ],
)
def test_decide_stdin_mistakes_name_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert main(["decide", "-"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"llm-worker decide: {message}") and "\n" not in err


def test_decide_reads_a_rest_start_body_as_start_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "case.json"
    plain.write_text(json.dumps(CASE))
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"businessKey": "PNR-9", "variables": CASE}))
    assert main(["decide", str(plain)]) == 0
    from_plain = json.loads(capsys.readouterr().out)
    assert main(["decide", str(body)]) == 0
    assert json.loads(capsys.readouterr().out) == from_plain
    assert from_plain["fareRuleCheck"] == "WITH_PENALTY"
