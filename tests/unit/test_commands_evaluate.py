"""`llm-worker eval` in-process (commands/evaluate.py): summary, report, user mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_worker.cli import main
from llm_worker.commands import count

REPO = Path(__file__).resolve().parents[2]
CASE = {
    "bookingId": "PNR-9",
    "fareRules": "CHARGE USD 100 FOR CANCEL/REFUND.",
    "ticketPrice": {"value": "400.00", "type": "String"},
    "currency": "USD",
    "departureDate": "2030-03-01",
    "requestDate": "2030-02-01T10:00:00Z",
}


def test_eval_json_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cases.jsonl"
    lines = [
        {"id": "a", "variables": CASE, "expected": "WITH_PENALTY", "expectedPenalty": 100},
        {"id": "b", "variables": {**CASE, "fareRules": "Fully refundable."}, "expected": "MANUAL"},
        {"id": "c", "variables": {**CASE, "fareRules": "NON-REFUNDABLE"}, "expected": "manual"},
        {"id": "d", "variables": CASE, "expected": "WITH_PENALTY", "expectedPenalty": 90},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    assert main(["eval", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["cases"], summary["correct"], summary["accuracy"]) == (4, 2, 0.5)
    assert summary["unsafe_approvals"] == 1 and summary["unsafe_ids"] == ["b"]
    assert summary["confusion"]["MANUAL"] == {"ALLOWED": 1, "WITH_PENALTY": 0, "MANUAL": 1}
    assert summary["confusion"]["WITH_PENALTY"]["WITH_PENALTY"] == 2
    assert [m["id"] for m in summary["mistakes"]] == ["b", "d"]
    assert summary["llm_calls"] == 0 and summary["strategy"] == "rules"
    assert set(summary["latency_s"]) == {"mean", "p50", "p95", "max"}


def test_eval_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(REPO / "examples" / "fare_rules_eval.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "accuracy:" in out and "confusion matrix" in out and "unsafe approvals: 0" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "has no cases"),
        ('{"variables": {}}', "needs an object with 'variables' and 'expected'"),
        ('{"variables": {}, "expected": "MAYBE"}', "expected must be one of"),
        ('{"variables": [], "expected": "MANUAL"}', "must be a JSON object"),
        ("nope", "line 1 is not valid JSON"),
    ],
)
def test_eval_user_mistakes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text(content)
    assert main(["eval", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_a_binary_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cases.bin"
    path.write_bytes(b"\xff\xfe\x00{")
    assert main(["eval", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"llm-worker eval: {path} is not UTF-8 text"


def test_counts_are_said_in_singular_and_plural() -> None:
    assert [count(n, "case") for n in (0, 1, 2)] == ["0 cases", "1 case", "2 cases"]
    assert count(1, "manual review") == "1 manual review"
    assert count(2, "person", "people") == "2 people"


def test_one_skipped_case_is_singular(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cases.jsonl"
    lines = [
        {"id": "a", "variables": CASE, "expected": "WITH_PENALTY", "expectedPenalty": 100},
        {"id": "b", "variables": CASE, "expected": None},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    assert main(["eval", str(path)]) == 0
    captured = capsys.readouterr()
    assert "skipped 1 case without a label (expected: null)" in captured.err
    assert "automation: 1 of 1 case labelled" in captured.out
