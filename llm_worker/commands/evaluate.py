"""`llm-worker eval FILE.jsonl [--json]`: decides labelled cases and reports how well it did."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from llm_worker.commands import UserError, count
from llm_worker.commands.decide import task_budget_s, to_variables
from llm_worker.config import Settings, load_settings
from llm_worker.handlers.fare_rules import build_decider
from llm_worker.logs import LogLevel, configure_logging
from llm_worker.refund.inputs import PlainVariable
from llm_worker.refund.models import Decision, Source, Verdict

_DECISIONS = [d.value for d in Decision]
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class LabelledCase:
    id: str
    variables: dict[str, PlainVariable]
    expected: Decision
    expected_penalty: Decimal | None = None
    debatable: bool = False


@dataclass
class Summary:
    strategy: str
    model: str | None
    prompt_version: str | None
    cases: int = 0
    correct: int = 0
    unsafe: list[str] = field(default_factory=list)
    # ALLOWED or WITH_PENALTY where the label differs (or the fee, by more than a cent):
    # money paid wrongly. Those on cases the labellers called debatable are counted apart.
    wrong_automatic: list[str] = field(default_factory=list)
    wrong_automatic_debatable: list[str] = field(default_factory=list)
    automatic_labelled: int = 0
    automatic_correct: int = 0
    confusion: dict[str, dict[str, int]] = field(
        default_factory=lambda: {e: dict.fromkeys(_DECISIONS, 0) for e in _DECISIONS}
    )
    sources: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in Source})
    llm_calls: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latencies: list[float] = field(default_factory=list)
    mistakes: list[dict[str, Any]] = field(default_factory=list)
    # What the LLM's own answers came to: decided automatically (and rightly), or overridden
    # by a guardrail; an override of a correct answer is a defect too (a cheaper one).
    llm_answered: int = 0
    llm_decided: int = 0
    llm_decided_right: int = 0
    overrides: dict[str, int] = field(default_factory=dict)
    overrides_of_correct: list[str] = field(default_factory=list)

    def add(self, case: LabelledCase, verdict: Verdict, latency_s: float) -> None:
        self.cases += 1
        decided = verdict.decision
        self.confusion[case.expected.value][decided.value] += 1
        self.sources[verdict.source.value] += 1
        right = decided is case.expected and (
            case.expected_penalty is None
            or decided is not Decision.WITH_PENALTY
            or (
                verdict.penalty is not None
                and abs(verdict.penalty - case.expected_penalty) <= _CENT
            )
        )
        if case.expected is not Decision.MANUAL:
            self.automatic_labelled += 1
            self.automatic_correct += int(right)
        if decided is not Decision.MANUAL and not right:
            (self.wrong_automatic_debatable if case.debatable else self.wrong_automatic).append(
                case.id
            )
        if right:
            self.correct += 1
        else:
            self.mistakes.append(
                {
                    "id": case.id,
                    "expected": case.expected.value,
                    "expected_penalty": _num(case.expected_penalty),
                    "debatable": case.debatable,
                    "decided": decided.value,
                    "penalty": _num(verdict.penalty),
                    "source": verdict.source.value,
                    "reasoning": verdict.reasoning,
                }
            )
        if decided is Decision.ALLOWED and case.expected is not Decision.ALLOWED:
            self.unsafe.append(case.id)
        if verdict.llm_decision is not None:
            self._add_llm(case, verdict, right)
        usage = verdict.usage
        self.llm_calls += usage.calls
        self.cached += int(usage.cached)
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.cost_usd += usage.cost_usd
        self.latencies.append(latency_s)

    def _add_llm(self, case: LabelledCase, verdict: Verdict, right: bool) -> None:
        self.llm_answered += 1
        if verdict.source is Source.LLM and verdict.decision is not Decision.MANUAL:
            self.llm_decided += 1
            self.llm_decided_right += int(right)
        if verdict.guardrail is None:
            return
        self.overrides[verdict.guardrail] = self.overrides.get(verdict.guardrail, 0) + 1
        answered = verdict.llm_decision
        fee_right = (
            answered != Decision.WITH_PENALTY.value
            or case.expected_penalty is None
            or (
                verdict.llm_penalty is not None
                and abs(verdict.llm_penalty - case.expected_penalty) <= _CENT
            )
        )
        if answered == case.expected.value and fee_right:
            self.overrides_of_correct.append(case.id)

    def as_dict(self) -> dict[str, Any]:
        lat = sorted(self.latencies) or [0.0]
        return {
            "strategy": self.strategy,
            "model": self.model,
            "prompt_version": self.prompt_version,
            "cases": self.cases,
            "correct": self.correct,
            "accuracy": round(self.correct / self.cases, 4) if self.cases else 0.0,
            "unsafe_approvals": len(self.unsafe),
            "unsafe_ids": self.unsafe,
            "wrong_automatic": len(self.wrong_automatic),
            "wrong_automatic_ids": self.wrong_automatic,
            "wrong_automatic_debatable": len(self.wrong_automatic_debatable),
            "wrong_automatic_debatable_ids": self.wrong_automatic_debatable,
            "automatic_labelled": self.automatic_labelled,
            "automatic_correct": self.automatic_correct,
            "automation_rate": (
                round(self.automatic_correct / self.automatic_labelled, 4)
                if self.automatic_labelled
                else 0.0
            ),
            "confusion": self.confusion,
            "sources": self.sources,
            "llm_calls": self.llm_calls,
            "llm_cached": self.cached,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "cost_per_decision_usd": round(self.cost_usd / self.cases, 8) if self.cases else 0.0,
            "latency_s": {
                "mean": round(statistics.fmean(lat), 4),
                "p50": round(_quantile(lat, 0.5), 4),
                "p95": round(_quantile(lat, 0.95), 4),
                "max": round(lat[-1], 4),
            },
            "mistakes": self.mistakes,
            "llm": {
                "answered": self.llm_answered,
                "decided": self.llm_decided,
                "decided_right": self.llm_decided_right,
                "overrides": sum(self.overrides.values()),
                "overrides_by_reason": dict(sorted(self.overrides.items())),
                "overrides_of_correct": len(self.overrides_of_correct),
                "overrides_of_correct_ids": self.overrides_of_correct,
            },
        }


def load_cases(path: str, unlabelled: list[int] | None = None) -> list[LabelledCase]:
    """The labelled cases of a JSONL file; lines with `"expected": null` (an exported case no
    one labelled) are skipped, their line numbers appended to `unlabelled`."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text") from None
    cases: list[LabelledCase] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        where = f"{path} line {number}"
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise UserError(f"{where} is not valid JSON: {exc}") from None
        if not isinstance(item, dict) or "variables" not in item or "expected" not in item:
            raise UserError(f"{where} needs an object with 'variables' and 'expected'")
        if item["expected"] is None:
            if unlabelled is not None:
                unlabelled.append(number)
            continue
        try:
            expected = Decision(str(item["expected"]).upper())
        except ValueError:
            raise UserError(f"{where}: expected must be one of {', '.join(_DECISIONS)}") from None
        # `expected_penalty` (CONTRACT.md section 5); `expectedPenalty` is read too.
        penalty = item.get("expected_penalty", item.get("expectedPenalty"))
        try:
            expected_penalty = None if penalty is None else Decimal(str(penalty))
        except InvalidOperation:
            raise UserError(f"{where}: expected_penalty is not a number") from None
        cases.append(
            LabelledCase(
                id=str(item.get("id", f"line-{number}")),
                variables=to_variables(_object(item["variables"], f"{where} 'variables'")),
                expected=expected,
                expected_penalty=expected_penalty,
                debatable=item.get("debatable") is True,
            )
        )
    if not cases:
        none = f" with a label ({len(unlabelled)} with expected: null)" if unlabelled else ""
        raise UserError(f"{path} has no cases{none}")
    return cases


def evaluate(cases: list[LabelledCase], settings: Settings) -> Summary:
    decider = build_decider(settings)
    advisor = decider.advisor
    summary = Summary(
        strategy=settings.strategy.value,
        model=advisor.model if advisor else None,
        prompt_version=advisor.prompt_version if advisor else None,
    )
    for case in cases:
        started = time.monotonic()
        verdict = decider.decide(case.variables, deadline=started + task_budget_s(settings))
        summary.add(case, verdict, time.monotonic() - started)
    return summary


def render(summary: dict[str, Any]) -> str:
    lines = [
        f"strategy: {summary['strategy']}"
        + (
            f"  model: {summary['model']}  prompt: {summary['prompt_version']}"
            if summary["model"]
            else ""
        ),
        f"cases: {summary['cases']}  correct: {summary['correct']}  "
        f"accuracy: {summary['accuracy'] * 100:.1f}%  "
        f"unsafe approvals: {summary['unsafe_approvals']}",
        "confusion matrix (rows: expected, columns: decided):",
        f"  {'':14}" + "".join(f"{d:>14}" for d in _DECISIONS),
    ]
    for expected in _DECISIONS:
        row = summary["confusion"][expected]
        lines.append(f"  {expected:14}" + "".join(f"{row[d]:>14}" for d in _DECISIONS))
    lines.append("sources: " + "  ".join(f"{k} {v}" for k, v in summary["sources"].items()))
    lines.append(
        f"LLM calls: {summary['llm_calls']} (cached answers: {summary['llm_cached']})  "
        f"tokens: {summary['prompt_tokens']} prompt + {summary['completion_tokens']} completion  "
        f"cost: ${summary['cost_usd']:.6f} (${summary['cost_per_decision_usd']:.8f} a decision)"
    )
    lat = summary["latency_s"]
    lines.append(
        f"latency a decision: mean {lat['mean'] * 1000:.1f} ms  p50 {lat['p50'] * 1000:.1f} ms  "
        f"p95 {lat['p95'] * 1000:.1f} ms  max {lat['max'] * 1000:.1f} ms"
    )
    lines.append(
        f"wrong automatic decisions: {summary['wrong_automatic']}"
        + (f" ({', '.join(summary['wrong_automatic_ids'])})" if summary["wrong_automatic"] else "")
        + f"  on debatable cases: {summary['wrong_automatic_debatable']}"
        + (
            f" ({', '.join(summary['wrong_automatic_debatable_ids'])})"
            if summary["wrong_automatic_debatable"]
            else ""
        )
    )
    lines.append(
        f"automation: {summary['automatic_correct']} of "
        f"{count(summary['automatic_labelled'], 'case')} "
        f"labelled ALLOWED or WITH_PENALTY decided so ({summary['automation_rate'] * 100:.1f}%)"
    )
    llm = summary["llm"]
    if llm["answered"]:
        reasons = ", ".join(f"{k} {v}" for k, v in llm["overrides_by_reason"].items())
        lines.append(
            f"LLM answers: {llm['answered']}  decided automatically: {llm['decided']} "
            f"({llm['decided_right']} right)  overridden by guardrails: {llm['overrides']}"
            + (f" ({reasons})" if reasons else "")
            + f"  of them correct answers: {llm['overrides_of_correct']}"
            + (
                f" ({', '.join(llm['overrides_of_correct_ids'])})"
                if llm["overrides_of_correct"]
                else ""
            )
        )
    if summary["unsafe_ids"]:
        lines.append("unsafe approvals: " + ", ".join(summary["unsafe_ids"]))
    for m in summary["mistakes"]:
        penalty = f" {m['penalty']}" if m["penalty"] is not None else ""
        wanted = f" {m['expected_penalty']}" if m["expected_penalty"] is not None else ""
        debatable = " (debatable)" if m["debatable"] else ""
        lines.append(
            f"  wrong {m['id']}{debatable}: expected {m['expected']}{wanted}, "
            f"decided {m['decided']}{penalty} ({m['source']}): {m['reasoning'][:160]}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    unlabelled: list[int] = []
    cases = load_cases(args.file, unlabelled)
    if unlabelled:
        print(
            f"skipped {count(len(unlabelled), 'case')} without a label (expected: null)",
            file=sys.stderr,
        )
    settings = load_settings()
    # Per-decision audit lines would drown the report; warnings and errors still show.
    configure_logging(max(settings.log_level, LogLevel.WARNING, key=_rank), settings.log_format)
    summary = evaluate(cases, settings).as_dict()
    print(json.dumps(summary, indent=2) if args.json else render(summary))
    return 0


def _rank(level: LogLevel) -> int:
    return list(LogLevel).index(level)


def _quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UserError(f"{where} must be a JSON object of process variables")
    return value
