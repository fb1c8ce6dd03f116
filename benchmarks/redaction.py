"""Redaction benchmark: the time `redact()` adds to a case asked of the LLM, on every real
fare-rule text of ../shared/fare-rules/real-texts.jsonl (when present) and on the invented
e-ticket and booking page of the tests (personal data in every line). Prints p50/p95/max per
case in wall-clock and CPU time of this process (steadier on a machine others share), and how
many real texts redaction changed at all.

    make bench-redaction
    .venv/bin/python benchmarks/redaction.py --rounds 50
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from llm_worker.privacy.redaction import redact  # noqa: E402
from tests.refund_cases import CORPUS  # noqa: E402
from tests.unit.test_privacy_redaction import BOOKING_PAGE, E_TICKET  # noqa: E402

TEXTS = CORPUS / "real-texts.jsonl"


@dataclass(frozen=True)
class Took:
    wall: float
    cpu: float


def time_one(text: str) -> Took:
    wall, cpu = time.perf_counter(), time.process_time()
    redact(text)
    return Took(time.perf_counter() - wall, time.process_time() - cpu)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(name: str, texts: list[str], rounds: int) -> None:
    took = [time_one(text) for _ in range(rounds) for text in texts]
    chars = sum(len(t) for t in texts) / len(texts)
    for clock in ("wall", "cpu"):
        values = [getattr(t, clock) * 1000 for t in took]
        print(
            f"{name:<34} {clock:>4}: p50 {quantile(values, 0.5):7.3f} ms  "
            f"p95 {quantile(values, 0.95):7.3f} ms  max {max(values):7.3f} ms  "
            f"({len(texts)} texts x {rounds} rounds, {chars:,.0f} chars on average)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    redact(E_TICKET)  # load phonenumbers' metadata once, as the first case of a worker does
    report("invented e-ticket + booking page", [E_TICKET, BOOKING_PAGE], args.rounds)
    if not TEXTS.exists():
        print(f"real fare-rule corpus not found ({TEXTS}): skipped")
        return 0
    real = [
        str(json.loads(line)["text"])
        for line in TEXTS.read_text("utf-8").splitlines()
        if line.strip()
    ]
    report("real fare rules", real, args.rounds)
    long = [text for text in real if len(text) >= 5000]
    if long:
        report("real fare rules of 5,000+ chars", long, args.rounds)
    changed = sum(redact(text).changed for text in real)
    print(f"real fare rules changed by redaction: {changed} of {len(real)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
