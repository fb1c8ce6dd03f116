"""`llm-worker eval` and `llm-worker decide` as real processes: the shipped dataset meets the
thresholds with the rules alone, and the same file evaluates an LLM endpoint."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, clean_env, run_cli
from tests.fakes.llm import Behaviour, FakeLLM, FirstNumberFee, Generous

pytestmark = pytest.mark.integration

DATASET = REPO_ROOT / "examples" / "fare_rules_eval.jsonl"


def run(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    # In an empty folder: the settings come from `env` alone, never from a developer's .env.
    with tempfile.TemporaryDirectory() as empty:
        return run_cli(*args, env=clean_env(**env), cwd=Path(empty), stdin=stdin, timeout=120)


def test_dataset_is_large_and_covers_every_policy_step() -> None:
    cases = [json.loads(line) for line in DATASET.read_text().splitlines() if line.strip()]
    assert len(cases) >= 60
    labels = {c["expected"] for c in cases}
    assert labels == {"ALLOWED", "WITH_PENALTY", "MANUAL"}
    prefixes = {c["note"].split()[0] for c in cases}
    assert {"1", "2", "3", "4", "5", "6", "7", "8", "inj", "input", "lang"} <= prefixes


def test_eval_with_the_rules_meets_the_thresholds() -> None:
    done = run("eval", str(DATASET), "--json", DECISION_STRATEGY="rules")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["strategy"] == "rules"
    assert summary["cases"] >= 60
    assert summary["accuracy"] >= 0.95, summary["mistakes"]
    assert summary["unsafe_approvals"] == 0, summary["unsafe_ids"]
    assert summary["llm_calls"] == 0 and summary["cost_usd"] == 0


def test_eval_against_an_llm_endpoint_counts_calls_tokens_and_cost() -> None:
    with FakeLLM() as llm:
        done = run(
            "eval", str(DATASET), "--json",
            DECISION_STRATEGY="hybrid", OPENAI_API_KEY="sk-test-eval", OPENAI_BASE_URL=llm.base_url,
        )  # fmt: skip
        asked = len(llm.chat_requests())
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["strategy"] == "hybrid" and summary["model"] == "gpt-4o-mini"
    assert summary["llm_calls"] == asked > 0
    assert summary["prompt_tokens"] > 0 and summary["cost_usd"] > 0
    assert summary["unsafe_approvals"] == 0
    answers = summary["llm"]
    assert answers["answered"] == asked
    assert answers["decided"] + answers["overrides"] <= asked
    assert answers["overrides"] == sum(answers["overrides_by_reason"].values())
    assert "sk-test-eval" not in done.stdout + done.stderr


def test_decide_reads_stdin_and_prints_the_output_variables() -> None:
    case = (REPO_ROOT / "examples" / "case.json").read_text()
    done = run("decide", "-", stdin=case)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["fareRuleCheck"] == "WITH_PENALTY" and out["penaltyAmount"] == 150.0
    assert out["refundAmount"] == 670.0 and out["decisionSource"] == "RULES"


def test_decide_user_mistake_is_one_line_without_traceback(tmp_path: Path) -> None:
    done = run("decide", str(tmp_path / "missing.json"))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "Traceback" not in done.stderr and "cannot read" in done.stderr


def test_api_key_never_printed_even_with_debug_logging() -> None:
    key = "sk-test-debug-leak-check-0042"
    case = (REPO_ROOT / "examples" / "case.json").read_text()
    with FakeLLM() as llm:
        done = run(
            "decide", "-", stdin=case,
            OPENAI_API_KEY=key, OPENAI_BASE_URL=llm.base_url, DECISION_STRATEGY="llm",
            LOG_LEVEL="DEBUG", LOG_FORMAT="json",
        )  # fmt: skip
        (request,) = llm.chat_requests()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["decisionSource"] == "LLM"
    assert request.headers["authorization"] == f"Bearer {key}"
    assert key not in done.stdout + done.stderr
    assert "refund decision" in done.stderr  # the audit line was written


@pytest.mark.parametrize(
    "model",
    [Generous(), FirstNumberFee("EUR"), FirstNumberFee("USD")],
    ids=["always-allowed", "first-number-fee-eur", "first-number-fee-usd"],
)
def test_a_careless_model_never_pays_out_wrongly_on_the_dataset(model: Behaviour) -> None:
    """With the LLM reading every case, the guardrails alone keep a bad model from paying:
    no unsafe approval, and every mistake is a MANUAL (an operator looks), never money."""
    with FakeLLM(behaviour=model) as llm:
        done = run(
            "eval", str(DATASET), "--json",
            DECISION_STRATEGY="llm", OPENAI_API_KEY="sk-test-eval", OPENAI_BASE_URL=llm.base_url,
            LLM_RATE_LIMIT_CALLS="100000",
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["llm_calls"] > 50
    assert summary["unsafe_approvals"] == 0, summary["unsafe_ids"]
    paid_wrongly = [m for m in summary["mistakes"] if m["decided"] != "MANUAL"]
    assert paid_wrongly == []
