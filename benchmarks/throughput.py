"""Throughput benchmark: the real `llm-worker run` process against the engine emulator and a fake
LLM of fixed latency, next to the ideal (concurrency / latency) and a naive sequential worker
(the library's plain ExternalTaskClient, maxTasks 1, one task at a time, like the old proof of
concept). Prints tasks per second, CPU time per task and peak memory (RSS) of each worker.

    make bench
    .venv/bin/python benchmarks/throughput.py --concurrency 16 --latency-ms 250 --tasks 960
    .venv/bin/python benchmarks/throughput.py --traces   # also with traces sent over OTLP
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.fakes.engine import EngineEmulator  # noqa: E402
from tests.fakes.otlp import OtlpReceiver  # noqa: E402
from tests.support import free_port  # noqa: E402

TOPIC = "analyze-fare-rules"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Result:
    worker: str
    concurrency: int
    tasks: int
    seconds: float
    tasks_per_s: float
    percent_of_ideal: float
    cpu_ms_per_task: float
    peak_rss_mib: float


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its waited-for children) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / _CLK_TCK


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def case(n: int) -> dict[str, Any]:
    """A voluntary refund whose fare text the LLM must read (distinct, so nothing is cached)."""
    return {
        "bookingId": f"BENCH{n:06d}",
        "fareRules": f"PENALTIES: refundable; a cancellation fee of USD 50 applies. Ref {n}.",
        "ticketPrice": 400.0,
        "currency": "USD",
        "refundReason": "VOLUNTARY",
    }


def worker_env(engine_url: str, llm_url: str, concurrency: int) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CAMUNDA_", "OPENAI_", "OTEL_"))
    }
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "CAMUNDA_URL": engine_url,
            "WORKER_ID": "bench-worker",
            "WORKER_TOPICS": TOPIC,
            "WORKER_CONCURRENCY": str(concurrency),
            "OPENAI_API_KEY": "sk-bench-not-a-real-key",
            "OPENAI_BASE_URL": llm_url,
            "DECISION_STRATEGY": "llm",
            # The per-process LLM rate limit is a cost guard; lift it to measure the runtime.
            "LLM_RATE_LIMIT_CALLS": "1000000",
            "METRICS_PORT": str(free_port()),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
        }
    )
    return env


def measure(
    name: str,
    argv: list[str],
    env: dict[str, str],
    engine: EngineEmulator,
    tasks: int,
    concurrency: int,
    ideal: float,
    log: Path,
) -> Result:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=tempfile.gettempdir(), stdout=out, stderr=out)
        try:
            engine.wait_for(engine.fetch_requests, 60, f"{name} to poll the engine")
            cpu_before = cpu_seconds(proc.pid)
            done_before = len(engine.completions)
            started = time.monotonic()
            for n in range(tasks):
                engine.create_task(TOPIC, case(n), business_key=f"bench-{n}")
            engine.wait_for(
                lambda: len(engine.completions) - done_before >= tasks,
                timeout=tasks * 2 + 60,
                message=f"{tasks} completions by {name}",
            )
            seconds = time.monotonic() - started
            cpu = cpu_seconds(proc.pid) - cpu_before
            rss = peak_rss_mib(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    rate = tasks / seconds
    return Result(
        name,
        concurrency,
        tasks,
        round(seconds, 2),
        round(rate, 2),
        round(100 * rate / ideal, 1),
        round(1000 * cpu / tasks, 2),
        round(rss, 1),
    )


def naive_worker(engine_url: str, tasks: int) -> int:
    """The proof of concept's loop: the library's ExternalTaskClient, one task at a time."""
    from camunda.client.external_task_client import ExternalTaskClient

    from llm_worker.config import load_settings
    from llm_worker.handlers.fare_rules import make_fare_rules_handler
    from llm_worker.logs import configure_logging
    from llm_worker.runtime.task import Task
    from llm_worker.runtime.variables import decode_variables, encode_variables

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    handler = make_fare_rules_handler(settings)
    client = ExternalTaskClient(
        settings.worker_id,
        engine_url,
        {"maxTasks": 1, "lockDuration": settings.lock_duration_ms, "asyncResponseTimeout": 0},
    )
    done = 0
    while done < tasks:
        fetched = client.fetch_and_lock(TOPIC)
        if not fetched:
            time.sleep(0.05)  # the proof of concept slept 10 s here; it never idles in this run
            continue
        raw = fetched[0]
        task = Task(
            id=raw["id"],
            topic=raw["topicName"],
            worker_id=raw["workerId"],
            process_instance_id=raw.get("processInstanceId"),
            business_key=raw.get("businessKey"),
            retries=raw.get("retries"),
            variables=decode_variables(raw.get("variables")),
            deadline=time.monotonic() + settings.lock_duration_ms / 1000,
        )
        outcome = handler(task)
        client.complete(task.id, encode_variables(outcome.variables))
        done += 1
    while True:  # stay alive so the benchmark can read CPU and memory; it terminates us
        time.sleep(1)


def print_table(results: list[Result], ideal: float, concurrency: int, latency_ms: int) -> None:
    header = (
        "| worker | concurrency | tasks | seconds | tasks/s | % of ideal | CPU ms/task "
        "| peak RSS MiB |"
    )
    print(header)
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| ideal ({concurrency} / {latency_ms / 1000:g} s) | {concurrency} | | | "
        f"{ideal:.1f} | 100.0 | | |"
    )
    for r in results:
        print(
            f"| {r.worker} | {r.concurrency} | {r.tasks} | {r.seconds} | {r.tasks_per_s} "
            f"| {r.percent_of_ideal} | {r.cpu_ms_per_task} | {r.peak_rss_mib} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=int, default=250)
    parser.add_argument("--tasks", type=int, default=960, help="tasks for llm-worker")
    parser.add_argument("--naive-tasks", type=int, default=40, help="tasks for the naive worker")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument(
        "--traces",
        action="store_true",
        help="also run llm-worker with traces and GenAI metrics exported to an OTLP receiver",
    )
    parser.add_argument("--naive-worker", metavar="ENGINE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_worker:
        return naive_worker(args.naive_worker, args.naive_tasks)

    ideal = args.concurrency / (args.latency_ms / 1000)
    # The fake LLM in a process of its own, so that it takes no CPU from this one's emulator.
    llm = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.llm", "--latency-ms", str(args.latency_ms)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    results: list[Result] = []
    logs = Path(tempfile.mkdtemp(prefix="llm-worker-bench-"))
    try:
        assert llm.stdout is not None
        first = llm.stdout.readline()  # "fake LLM listening on http://127.0.0.1:PORT/v1"
        if "listening on " not in first:
            raise SystemExit(f"benchmark: the fake LLM did not start: {first}{llm.stdout.read()}")
        llm_url = first.split("listening on ", 1)[1].strip()
        # Request validation against the OpenAPI document is a test concern; it would only
        # take CPU from the worker being measured here.
        with EngineEmulator(strict=False) as engine:
            env = worker_env(engine.url, llm_url, args.concurrency)
            results.append(
                measure(
                    "llm-worker run",
                    [sys.executable, "-m", "llm_worker", "run"],
                    env,
                    engine,
                    args.tasks,
                    args.concurrency,
                    ideal,
                    logs / "worker.log",
                )
            )
        if args.traces:
            # The receiver decodes in this process: its CPU is not the worker's.
            with EngineEmulator(strict=False) as engine, OtlpReceiver() as otlp:
                env = worker_env(engine.url, llm_url, args.concurrency)
                env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.url
                results.append(
                    measure(
                        "llm-worker run, traces over OTLP",
                        [sys.executable, "-m", "llm_worker", "run"],
                        env,
                        engine,
                        args.tasks,
                        args.concurrency,
                        ideal,
                        logs / "worker-traces.log",
                    )
                )
                spans = len(otlp.spans())
            print(f"spans received from the traced worker: {spans}", file=sys.stderr)
        with EngineEmulator(strict=False) as engine:
            env = worker_env(engine.url, llm_url, 1)
            env["WORKER_ID"] = "bench-naive"
            results.append(
                measure(
                    "naive sequential (maxTasks 1)",
                    [
                        sys.executable,
                        str(Path(__file__).resolve()),
                        "--naive-worker",
                        engine.url,
                        "--naive-tasks",
                        str(args.naive_tasks),
                    ],
                    env,
                    engine,
                    args.naive_tasks,
                    1,
                    ideal,
                    logs / "naive.log",
                )
            )
    finally:
        llm.terminate()
        llm.wait(timeout=30)
    print(
        f"llm-worker throughput: fake LLM latency {args.latency_ms} ms, "
        f"{os.cpu_count()} CPUs, logs in {logs}"
    )
    print_table(results, ideal, args.concurrency, args.latency_ms)
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
