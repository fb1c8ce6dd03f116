"""scripts/eval_local_llm.py's report: what the LLM decided and what the guardrails overrode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scripts.eval_local_llm import row, table


def _summary() -> dict[str, Any]:
    confusion = {e: {"ALLOWED": 0, "WITH_PENALTY": 0, "MANUAL": 0} for e in
                 ("ALLOWED", "WITH_PENALTY", "MANUAL")}  # fmt: skip
    confusion["WITH_PENALTY"]["WITH_PENALTY"] = 2
    confusion["MANUAL"]["MANUAL"] = 1
    confusion["MANUAL"]["WITH_PENALTY"] = 1
    return {
        "cases": 4, "confusion": confusion, "llm_calls": 3, "sources": {"LLM": 2},
        "latency_s": {"mean": 1.0, "p95": 2.0}, "prompt_tokens": 3000, "completion_tokens": 150,
        "mistakes": [{"id": "b", "expected": "MANUAL", "expected_penalty": None,
                      "decided": "WITH_PENALTY", "penalty": 50.0, "source": "LLM",
                      "reasoning": "r"}],
        "llm": {"answered": 3, "decided": 2, "decided_right": 1, "overrides": 1,
                "overrides_by_reason": {"quote_not_applicable": 1}, "overrides_of_correct": 1,
                "overrides_of_correct_ids": ["c"]},
    }  # fmt: skip


def test_a_row_reports_the_llms_decisions_and_the_overrides(tmp_path: Path) -> None:
    labelled = tmp_path / "cases.jsonl"
    labelled.write_text(json.dumps({"id": "b", "debatable": False}) + "\n")
    r = row(labelled, "hybrid", _summary())
    assert (r["wrong_automatic"], r["wrong_ids"]) == (1, ["b"])
    assert (r["llm_decided"], r["llm_decided_right"]) == (2, 1)
    assert (r["overrides"], r["overrides_of_correct"], r["overrides_of_correct_ids"]) == (
        1, 1, ["c"],
    )  # fmt: skip
    assert (r["prompt_tokens_per_call"], r["completion_tokens_per_call"]) == (1000, 50)
    line = table([r]).splitlines()[-1]
    assert "| 2 (1) | 1 (1) |" in line and "| 1000 + 50 |" in line
