"""Rules-reader benchmark: `read_fare_rules` + `decide_by_text` on every real fare-rule text of
../shared/fare-rules/real-texts.jsonl (a voluntary refund asked 23 days before departure).
Prints cases per second, p50/p95/max per case, and p95 on the texts of 5,000+ characters, in
wall-clock time and in CPU time of this process (steadier on a machine others share).

    make bench-reader
    .venv/bin/python benchmarks/reader.py --rounds 50
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from llm_worker.refund.policy import decide_by_text  # noqa: E402
from llm_worker.refund.reading import read_fare_rules  # noqa: E402
from tests.refund_cases import CORPUS, refund_case  # noqa: E402

TEXTS = CORPUS / "real-texts.jsonl"
LONG = 5000  # characters: a multi-page GDS display


@dataclass(frozen=True)
class Text:
    id: str
    text: str


def load(path: Path) -> list[Text]:
    lines = path.read_text(encoding="utf-8").splitlines()
    items = [json.loads(line) for line in lines if line.strip()]
    return [Text(str(item["id"]), str(item["text"])) for item in items]


@dataclass(frozen=True)
class Took:
    wall: float
    cpu: float


def time_case(text: Text) -> Took:
    """Seconds (wall clock and CPU) to read one text and decide the refund from it."""
    case = refund_case(text.text)
    wall, cpu = time.perf_counter(), time.process_time()
    decide_by_text(case, read_fare_rules(case.fare_rules))
    return Took(time.perf_counter() - wall, time.process_time() - cpu)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description="Rules-reader benchmark on the real corpus.")
    parser.add_argument("--rounds", type=int, default=30, help="passes over the corpus (30)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not TEXTS.is_file():
        print(f"skipped: the real fare-rule corpus is not here ({TEXTS} is absent)")
        return 0
    texts = load(TEXTS)
    for text in texts:  # warm up: compiled patterns, caches
        time_case(text)
    per_case: list[Took] = []
    long_cases: list[Took] = []
    started = time.perf_counter()
    for _ in range(args.rounds):
        for text in texts:
            took = time_case(text)
            per_case.append(took)
            if len(text.text) >= LONG:
                long_cases.append(took)
    wall = time.perf_counter() - started
    longest = max(texts, key=lambda t: len(t.text))
    longest_times = [time_case(longest) for _ in range(args.rounds)]
    n_long = sum(len(t.text) >= LONG for t in texts)
    cpu_total = sum(t.cpu for t in per_case)
    print(f"texts: {len(texts)} real fare-rule texts from {TEXTS}")
    print(f"cases: {len(per_case)} ({args.rounds} rounds), read_fare_rules + decide_by_text")
    print(
        f"cases per second: {len(per_case) / wall:.0f} wall clock, "
        f"{len(per_case) / cpu_total:.0f} per CPU second"
    )
    for clock in ("wall", "cpu"):
        times = [getattr(t, clock) for t in per_case]
        print(
            f"{clock:>4} per case: mean {ms(statistics.fmean(times))}  "
            f"p50 {ms(quantile(times, 0.5))}  p95 {ms(quantile(times, 0.95))}  max {ms(max(times))}"
        )
        long = [getattr(t, clock) for t in long_cases]
        print(
            f"{clock:>4} on the {n_long} texts of {LONG}+ characters: p50 {ms(quantile(long, 0.5))}"
            f"  p95 {ms(quantile(long, 0.95))}"
        )
        last = [getattr(t, clock) for t in longest_times]
        print(
            f"{clock:>4} on the longest ({longest.id}, {len(longest.text)} characters): "
            f"p50 {ms(quantile(last, 0.5))}  p95 {ms(quantile(last, 0.95))}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
