"""`make eval-local-llm`: `llm-worker eval` with a local model behind llama.cpp's server
(Qwen2.5-Coder-1.5B-Instruct from PyPI wheels, tests/fakes/llama_server.py), per strategy and
labelled file, and a Markdown table of what the guardrails let through.

A 1.5B model on a CPU measures the guardrails and the plumbing, not GPT-4o-mini's accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.llama_server import (
    MODELS,
    BuildError,
    LlamaServer,
    build_server,
    fetch_model,
)
from tests.support import REPO_ROOT

AUTOMATIC = {"ALLOWED", "WITH_PENALTY"}
# The team's set and the real corpus (CONTRACT.md: tests read it from ../shared/fare-rules).
DEFAULT_FILES = ("examples/fare_rules_eval.jsonl", "../shared/fare-rules/real-dev.jsonl")


def labels(path: Path) -> dict[str, dict[str, Any]]:
    """id -> the labelled line (its `debatable` flag, expected decision)."""
    out = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("//"):
            item = json.loads(line)
            out[str(item.get("id", f"line-{number}"))] = item
    return out


def row(path: Path, strategy: str, summary: dict[str, Any]) -> dict[str, Any]:
    cases = labels(path)
    wrong = [m for m in summary["mistakes"] if m["decided"] in AUTOMATIC]
    debatable = [m for m in wrong if cases.get(m["id"], {}).get("debatable")]
    confusion = summary["confusion"]
    fee_wrong = sum(1 for m in wrong if m["expected"] == m["decided"])
    correct_automatic = (
        confusion["ALLOWED"]["ALLOWED"] + confusion["WITH_PENALTY"]["WITH_PENALTY"] - fee_wrong
    )
    labelled_automatic = sum(confusion[e][d] for e in AUTOMATIC for d in confusion[e])
    n = summary["cases"]
    return {
        "file": str(path),
        "strategy": strategy,
        "cases": n,
        "wrong_automatic": len(wrong) - len(debatable),
        "wrong_automatic_debatable": len(debatable),
        "wrong_ids": [m["id"] for m in wrong if m not in debatable],
        "automated": correct_automatic,
        "labelled_automatic": labelled_automatic,
        "llm_calls": summary["llm_calls"],
        "sources": summary["sources"],
        "latency_mean_s": summary["latency_s"]["mean"],
        "latency_p95_s": summary["latency_s"]["p95"],
        "tokens_per_case": round((summary["prompt_tokens"] + summary["completion_tokens"]) / n),
        "completion_tokens_per_call": round(summary["completion_tokens"] / summary["llm_calls"])
        if summary["llm_calls"]
        else 0,
        "llm_decided": summary["llm"]["decided"],
        "llm_decided_right": summary["llm"]["decided_right"],
        "overrides": summary["llm"]["overrides"],
        "overrides_by_reason": summary["llm"]["overrides_by_reason"],
        "overrides_of_correct": summary["llm"]["overrides_of_correct"],
        "overrides_of_correct_ids": summary["llm"]["overrides_of_correct_ids"],
        "prompt_tokens_per_call": round(summary["prompt_tokens"] / summary["llm_calls"])
        if summary["llm_calls"]
        else 0,
        "wrong": wrong,
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| file | strategy | cases | wrong automatic (debatable apart) | automated | LLM calls "
        "| LLM decided (right) | overridden (of correct answers) | mean / p95 latency "
        "| prompt + completion tokens a call |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {Path(r['file']).name} | {r['strategy']} | {r['cases']} "
            f"| {r['wrong_automatic']} (+{r['wrong_automatic_debatable']} debatable) "
            f"| {r['automated']} of {r['labelled_automatic']} | {r['llm_calls']} "
            f"| {r['llm_decided']} ({r['llm_decided_right']}) "
            f"| {r['overrides']} ({r['overrides_of_correct']}) "
            f"| {r['latency_mean_s']:.1f} s / {r['latency_p95_s']:.1f} s "
            f"| {r['prompt_tokens_per_call']} + {r['completion_tokens_per_call']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("files", nargs="*", default=list(DEFAULT_FILES))
    parser.add_argument("--strategies", default="hybrid,llm")
    parser.add_argument("--model", choices=sorted(MODELS), default="qwen2.5-coder-1.5b")
    parser.add_argument("--out", default="eval-local-llm.json", help="JSON of every row")
    parser.add_argument("--timeout-s", type=float, default=180.0, help="LLM_TIMEOUT_S")
    args = parser.parse_args(argv)
    files = []
    for name in args.files:
        path = (REPO_ROOT / name).resolve()
        if path.exists():
            files.append(path)
        else:
            print(f"skipping {name}: not found", file=sys.stderr)
    model = MODELS[args.model]
    key = f"sk-local-{secrets.token_hex(8)}"
    alias = model.name.lower()
    try:
        binary = build_server()
        fetch_model(model)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    rows = []
    with LlamaServer(binary, model, api_key=key, alias=alias) as server:
        print(f"{model.name} on llama-server {server.base_url}", file=sys.stderr)
        for path in files:
            for strategy in args.strategies.split(","):
                env = {
                    k: v
                    for k, v in os.environ.items()
                    if not k.startswith(("OPENAI_", "LLM_", "DECISION_"))
                }
                env.update(
                    OPENAI_API_KEY=key,
                    OPENAI_BASE_URL=server.base_url,
                    OPENAI_MODEL=alias,
                    DECISION_STRATEGY=strategy,
                    LLM_TIMEOUT_S=str(args.timeout_s),
                    LLM_MAX_RETRIES="1",
                    LOCK_DURATION_MS=str(int(args.timeout_s * 2 * 1000)),
                    LOG_LEVEL="WARNING",
                )
                done = subprocess.run(
                    [sys.executable, "-m", "llm_worker", "eval", str(path), "--json"],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if done.returncode != 0:
                    print(f"eval failed for {path} {strategy}: {done.stderr}", file=sys.stderr)
                    return 1
                rows.append(row(path, strategy, json.loads(done.stdout)))
                print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
                Path(args.out).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    print(table(rows))
    for r in rows:
        for m in r["wrong"]:
            print(
                f"wrong automatic ({Path(r['file']).name}, {r['strategy']}): {m['id']} expected "
                f"{m['expected']} {m['expected_penalty'] or ''}, decided {m['decided']} "
                f"{m['penalty'] or ''} from {m['source']}: {m['reasoning']}"
            )
        for case_id in r["overrides_of_correct_ids"]:
            print(f"correct answer overridden ({Path(r['file']).name}, {r['strategy']}): {case_id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
