"""`llm-worker eval` as a real process on the real fare-rule corpus (../shared/fare-rules/, never
copied into the repository) with the rules alone: no wrong automatic decision outside the
debatable cases, and most cases whose right answer is automatic decided automatically."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import clean_env, run_cli
from tests.refund_cases import CORPUS

pytestmark = pytest.mark.integration

REAL_DEV = CORPUS / "real-dev.jsonl"
# CONTRACT.md / issue 14 targets on real-dev.jsonl with DECISION_STRATEGY=rules.
MIN_AUTOMATIC_CORRECT = 7


def labelled() -> list[dict[str, Any]]:
    return [json.loads(line) for line in REAL_DEV.read_text().splitlines() if line.strip()]


def automatic_ids(cases: list[dict[str, Any]]) -> set[str]:
    return {c["id"] for c in cases if c["expected"] != "MANUAL"}


def money(summary: dict[str, Any], cases: list[dict[str, Any]]) -> tuple[list[str], int]:
    """Wrong automatic decisions outside the debatable cases, and how many of the cases labelled
    ALLOWED or WITH_PENALTY were decided right: from eval's own keys where it prints them, else
    from its `mistakes` (which then list every case decided otherwise than labelled)."""
    if "wrong_automatic_ids" in summary and "automatic_correct" in summary:
        return list(summary["wrong_automatic_ids"]), int(summary["automatic_correct"])
    debatable = {c["id"] for c in cases if c.get("debatable") is True}
    wrong = [
        m["id"]
        for m in summary["mistakes"]
        if m["decided"] != "MANUAL" and m["id"] not in debatable
    ]
    missed = {m["id"] for m in summary["mistakes"]} & automatic_ids(cases)
    return wrong, len(automatic_ids(cases) - missed)


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    if not REAL_DEV.is_file():
        pytest.skip(f"the real fare-rule corpus is not here ({REAL_DEV} is absent)")
    # In an empty folder: the settings come from the environment given alone, never a .env.
    with tempfile.TemporaryDirectory() as empty:
        done = run_cli(
            "eval", str(REAL_DEV), "--json",
            env=clean_env(DECISION_STRATEGY="rules"), cwd=Path(empty), timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_every_real_case_is_decided_by_the_rules_alone(summary: dict[str, Any]) -> None:
    cases = labelled()
    assert summary["strategy"] == "rules"
    assert summary["cases"] == len(cases) >= 50
    assert summary["llm_calls"] == 0 and summary["cost_usd"] == 0
    assert summary["sources"]["LLM"] == 0


def test_no_wrong_automatic_decision_outside_the_debatable_cases(summary: dict[str, Any]) -> None:
    wrong, _ = money(summary, labelled())
    assert wrong == [], [m for m in summary["mistakes"] if m["id"] in wrong] or wrong
    assert summary["unsafe_approvals"] == 0 or set(summary["unsafe_ids"]) <= {
        c["id"] for c in labelled() if c.get("debatable") is True
    }


def test_most_cases_with_an_automatic_answer_are_decided_automatically(
    summary: dict[str, Any],
) -> None:
    cases = labelled()
    assert len(automatic_ids(cases)) == 9
    _, right = money(summary, cases)
    assert right >= MIN_AUTOMATIC_CORRECT, summary["mistakes"]


def test_evals_money_keys_agree_with_its_confusion_matrix(summary: dict[str, Any]) -> None:
    """Where eval prints its money keys, they add up with the decisions it counted."""
    if "wrong_automatic" not in summary:
        pytest.skip("this eval prints no wrong_automatic keys; the tests above used `mistakes`")
    cases = labelled()
    confusion = summary["confusion"]
    decided_automatically = sum(
        row[d] for row in confusion.values() for d in ("ALLOWED", "WITH_PENALTY")
    )
    wrong_total = summary["wrong_automatic"] + summary["wrong_automatic_debatable"]
    assert summary["automatic_correct"] + wrong_total == decided_automatically
    assert summary["automatic_labelled"] == len(automatic_ids(cases))
    assert summary["automation_rate"] == round(
        summary["automatic_correct"] / summary["automatic_labelled"], 4
    )


def test_money_is_computed_from_mistakes_for_an_eval_without_the_money_keys() -> None:
    cases = [
        {"id": "a", "expected": "ALLOWED"},
        {"id": "b", "expected": "WITH_PENALTY"},
        {"id": "c", "expected": "MANUAL", "debatable": True},
        {"id": "d", "expected": "MANUAL"},
    ]
    older = {
        "mistakes": [
            {"id": "b", "decided": "MANUAL"},
            {"id": "c", "decided": "ALLOWED"},
            {"id": "d", "decided": "WITH_PENALTY"},
        ]
    }
    assert money(older, cases) == (["d"], 1)
