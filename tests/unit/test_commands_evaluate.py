"""`llm-worker eval` in-process (commands/evaluate.py): summary, report, user mistakes."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from llm_worker.cli import main
from llm_worker.commands import count
from llm_worker.commands.evaluate import LabelledCase, Summary
from llm_worker.refund.models import Decision, Source, Verdict

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


def test_eval_counts_what_became_of_the_llms_answers() -> None:
    summary = Summary(strategy="hybrid", model="m", prompt_version="v")
    fee = LabelledCase("fee", {}, Decision.WITH_PENALTY, Decimal(100))
    manual = LabelledCase("manual", {}, Decision.MANUAL)

    def llm(decision: Decision, answered: str, penalty: str | None, **over: object) -> Verdict:
        fields: dict[str, object] = {
            "booking_id": "B", "decision": decision, "reasoning": "r", "provider": "openai",
            "source": Source.LLM if decision is not Decision.MANUAL else Source.FALLBACK,
            "penalty": Decimal(penalty) if decision is Decision.WITH_PENALTY and penalty else None,
            "llm_decision": answered, "llm_penalty": Decimal(penalty) if penalty else None,
        }  # fmt: skip
        fields.update(over)
        return Verdict(**fields)  # type: ignore[arg-type]

    summary.add(fee, llm(Decision.WITH_PENALTY, "WITH_PENALTY", "100"), 0.1)  # right
    summary.add(fee, llm(Decision.WITH_PENALTY, "WITH_PENALTY", "90"), 0.1)  # wrong fee
    summary.add(fee, llm(Decision.MANUAL, "WITH_PENALTY", "100", guardrail="g1"), 0.1)
    summary.add(fee, llm(Decision.MANUAL, "WITH_PENALTY", "90", guardrail="g1"), 0.1)
    summary.add(manual, llm(Decision.MANUAL, "ALLOWED", None, guardrail="g2"), 0.1)
    summary.add(manual, Verdict("B", Decision.MANUAL, Source.RULES, "r", "rules"), 0.1)
    assert summary.as_dict()["llm"] == {
        "answered": 5, "decided": 2, "decided_right": 1, "overrides": 3,
        "overrides_by_reason": {"g1": 2, "g2": 1},
        "overrides_of_correct": 1, "overrides_of_correct_ids": ["fee"],
    }  # fmt: skip
