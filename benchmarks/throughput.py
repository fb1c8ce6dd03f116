"""Throughput benchmark: the real `llm-worker run` process (WORKER_CONCURRENCY slots, a fake LLM
of fixed latency, strategy llm) against the engine emulator and against the real Camunda 7.24
engine, the real engine's own ceiling measured by a lean client (fetch and lock, complete,
nothing else), and a naive sequential worker for comparison.

For each engine and worker:
- tasks/s: a backlog of --tasks tasks is created first, then the worker starts; the rate is the
  tasks over the time from the first pickup to the last completion;
- pickup latency (task created -> locked by the worker, p50/p95): with the worker idle on its
  long poll, --latency-tasks tasks arrive one by one at --arrival-rate per second (well below
  the capacity, so no task queues behind another).
The lean client (fetchAndLock maxTasks 16 without variables, then a complete per task) runs
with 4 threads and with 16 (the worker's 16 completes at once), over a backlog each.
A pickup is when the worker's slot received the locked task (its "task done" log line minus the
task's duration); a creation is when the benchmark asked the engine for the task (the process
start on the real engine: the task is created inside that request).

    make bench
    .venv/bin/python benchmarks/throughput.py --concurrency 16 --latency-ms 250 --tasks 960
    .venv/bin/python benchmarks/throughput.py --engine real --engine-url http://127.0.0.1:8080/engine-rest
    .venv/bin/python benchmarks/throughput.py --engine emulator --traces   # also traced over OTLP
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.fakes.camunda_engine import CamundaEngine, build  # noqa: E402
from tests.fakes.engine import EngineEmulator  # noqa: E402
from tests.fakes.otlp import OtlpReceiver  # noqa: E402
from tests.support import free_port, wait_until  # noqa: E402

TOPIC = "analyze-fare-rules"
BENCH_PROCESS = "llmWorkerBench"
_CLK_TCK = os.sysconf("SC_CLK_TCK")
# One external task between start and end: what is measured is fetch, lock and complete.
_BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="bench" targetNamespace="http://bench">
  <bpmn:process id="{BENCH_PROCESS}" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="check" camunda:type="external" camunda:topic="{TOPIC}">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check" />
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


@dataclass(frozen=True)
class Result:
    engine: str
    worker: str
    concurrency: int
    tasks: int
    seconds: float
    tasks_per_s: float
    percent_of_ideal: float | None
    pickup_p50_ms: float | None
    pickup_p95_ms: float | None
    cpu_ms_per_task: float | None
    peak_rss_mib: float | None


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


class Engine(Protocol):
    """Where the benchmark's tasks live."""

    name: str
    url: str

    def create(self, n: int) -> float:
        """Create task `n` (business key bench-n); the wall-clock time it was asked for."""
        ...

    def done(self) -> int:
        """How many of the benchmark's tasks are completed."""
        ...


class Emulated:
    name = "emulator"

    def __init__(self, emulator: EngineEmulator) -> None:
        self.emulator = emulator
        self.url = emulator.url

    def create(self, n: int) -> float:
        asked = time.time()
        self.emulator.create_task(
            TOPIC, case(n), business_key=f"bench-{n}", process_definition_key=BENCH_PROCESS
        )
        return asked

    def done(self) -> int:
        return len(self.emulator.completions)


class Real:
    """A real Camunda 7 over REST: each task is the external task of a bench process instance."""

    def __init__(self, url: str, version: str) -> None:
        self.name = f"Camunda {version}"
        self.url = url.rstrip("/")
        self._local = threading.local()
        self._baseline = 0
        response = self._http().post(
            f"{self.url}/deployment/create",
            data={"deployment-name": BENCH_PROCESS, "enable-duplicate-filtering": "true"},
            files={f"{BENCH_PROCESS}.bpmn": (f"{BENCH_PROCESS}.bpmn", _BPMN, "application/xml")},
            timeout=60,
        )
        response.raise_for_status()
        self._baseline = self._finished()

    def _http(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def create(self, n: int) -> float:
        variables = {
            name: {"value": value, "type": "Double" if isinstance(value, float) else "String"}
            for name, value in case(n).items()
        }
        asked = time.time()
        response = self._http().post(
            f"{self.url}/process-definition/key/{BENCH_PROCESS}/start",
            json={"variables": variables, "businessKey": f"bench-{n}"},
            timeout=60,
        )
        response.raise_for_status()
        return asked

    def _finished(self) -> int:
        response = self._http().get(
            f"{self.url}/history/process-instance/count",
            params={"processDefinitionKey": BENCH_PROCESS, "finished": "true"},
            timeout=60,
        )
        response.raise_for_status()
        return int(response.json()["count"])

    def done(self) -> int:
        return self._finished() - self._baseline


def create_backlog(engine: Engine, first: int, count: int) -> dict[str, float]:
    """Tasks first .. first+count-1, created by 4 threads (a real engine's start is a request)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        times = list(pool.map(engine.create, range(first, first + count)))
    return {f"bench-{first + i}": t for i, t in enumerate(times)}


def worker_env(engine_url: str, llm_url: str, concurrency: int, worker_id: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CAMUNDA_", "OPENAI_", "OTEL_"))
    }
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "CAMUNDA_URL": engine_url,
            "WORKER_ID": worker_id,
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


def pickups(log: Path) -> dict[str, tuple[float, float]]:
    """(pickup, done) wall-clock times by business key, from the worker's "task done" lines."""
    found: dict[str, tuple[float, float]] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("event") != "task done":
            continue
        done = datetime.fromisoformat(str(entry["timestamp"]).replace("Z", "+00:00")).timestamp()
        found[str(entry.get("business_key"))] = (done - float(entry["duration_s"]), done)
    return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[q - 1]


@contextmanager
def running(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=tempfile.gettempdir(), stdout=out, stderr=out)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_ready(proc: subprocess.Popen[bytes], env: dict[str, str], log: Path) -> None:
    """Until the worker's /healthz answers (its loop has polled the engine)."""
    url = f"http://127.0.0.1:{env['METRICS_PORT']}/healthz"

    def healthy() -> bool:
        if proc.poll() is not None:
            raise SystemExit(f"benchmark: the worker exited:\n{log.read_text()[-3000:]}")
        try:
            return requests.get(url, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_until(healthy, 120, 0.1, "the worker's /healthz")


def measure_worker(
    engine: Engine,
    name: str,
    argv: list[str],
    env: dict[str, str],
    args: argparse.Namespace,
    tasks: int,
    concurrency: int,
    log: Path,
    latency_phase: bool = True,
) -> Result:
    """Backlog then throughput; then paced arrivals for the pickup latency."""
    created = create_backlog(engine, 0, tasks)
    before = engine.done()
    with running(argv, env, log) as proc:
        if latency_phase:
            wait_ready(proc, env, log)
        else:  # the naive worker serves no /healthz: its CPU is counted from its first task
            wait_until(lambda: engine.done() > before, 120, 0.05, f"{name}'s first task")
        cpu_before = cpu_seconds(proc.pid)
        wait_until(
            lambda: engine.done() - before >= tasks,
            tasks * 2 + 120,
            0.2,
            f"{tasks} completions by {name} on the {engine.name}",
        )
        cpu = cpu_seconds(proc.pid) - cpu_before
        arrivals: dict[str, float] = {}
        if latency_phase:
            gap = 1 / args.arrival_rate
            began = time.monotonic()
            for i in range(args.latency_tasks):
                # On the schedule, not after the last create: the arrival rate stays fixed.
                time.sleep(max(0.0, began + i * gap - time.monotonic()))
                n = tasks + i
                arrivals[f"bench-{n}"] = engine.create(n)
            wait_until(
                lambda: engine.done() - before >= tasks + args.latency_tasks,
                args.latency_tasks * 2 + 120,
                0.2,
                f"the paced tasks done by {name} on the {engine.name}",
            )
        # The last "task done" line is written after the completion is acknowledged.
        wait_until(lambda: len(pickups(log)) >= tasks + len(arrivals), 30, 0.1, "the log")
        rss = peak_rss_mib(proc.pid)
    seen = pickups(log)
    backlog = [seen[key] for key in created if key in seen]
    if len(backlog) < tasks:
        raise SystemExit(f"benchmark: {name} logged {len(backlog)} of {tasks} tasks ({log})")
    seconds = max(done for _, done in backlog) - min(pickup for pickup, _ in backlog)
    rate = tasks / seconds
    ideal = args.concurrency / (args.latency_ms / 1000)
    latencies = [1000 * (seen[key][0] - asked) for key, asked in arrivals.items()]
    return Result(
        engine.name,
        name,
        concurrency,
        tasks,
        round(seconds, 2),
        round(rate, 2),
        round(100 * rate / ideal, 1),
        round(percentile(latencies, 50), 1) if latencies else None,
        round(percentile(latencies, 95), 1) if latencies else None,
        round(1000 * cpu / tasks, 2),
        round(rss, 1),
    )


def lean_client(engine: Engine, tasks: int, threads: int, max_tasks: int) -> Result:
    """The engine's own ceiling: `threads` loops of fetchAndLock (maxTasks `max_tasks`, no
    variables) and a complete per task, nothing else, over a backlog of `tasks`."""
    create_backlog(engine, 0, tasks)
    before = engine.done()
    remaining = [tasks]
    lock = threading.Lock()

    def loop(index: int) -> int:
        http = requests.Session()
        worker = f"bench-lean-{index}"
        completed = 0
        while True:
            with lock:
                if remaining[0] <= 0:
                    return completed
            body = {
                "workerId": worker,
                "maxTasks": max_tasks,
                "topics": [
                    {
                        "topicName": TOPIC,
                        "lockDuration": 60000,
                        "variables": [],
                        # Only the benchmark's tasks, on an engine that may hold others.
                        "processDefinitionKey": BENCH_PROCESS,
                    }
                ],
            }
            fetched = http.post(f"{engine.url}/external-task/fetchAndLock", json=body, timeout=60)
            fetched.raise_for_status()
            for task in fetched.json():
                response = http.post(
                    f"{engine.url}/external-task/{task['id']}/complete",
                    json={"workerId": worker},
                    timeout=60,
                )
                response.raise_for_status()
                completed += 1
                with lock:
                    remaining[0] -= 1

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        total = sum(pool.map(loop, range(threads)))
    seconds = time.monotonic() - began
    wait_until(lambda: engine.done() - before >= tasks, 60, 0.2, "the lean completions")
    return Result(
        engine.name,
        f"lean client ({threads} threads, maxTasks {max_tasks})",
        threads,
        total,
        round(seconds, 2),
        round(total / seconds, 2),
        None,
        None,
        None,
        None,
        None,
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
        started = time.monotonic()
        outcome = handler(task)
        client.complete(task.id, encode_variables(outcome.variables))
        # The line the benchmark reads pickups from, as `llm-worker run` writes it.
        print(
            json.dumps(
                {
                    "event": "task done",
                    "business_key": task.business_key,
                    "duration_s": round(time.monotonic() - started, 3),
                    "timestamp": datetime.now().astimezone().isoformat(),
                }
            ),
            flush=True,
        )
        done += 1
    while True:  # stay alive so the benchmark can read CPU and memory; it terminates us
        time.sleep(1)


@contextmanager
def real_engine(args: argparse.Namespace, folder: Path) -> Iterator[Real]:
    """The real engine at --engine-url, or one built from tests/camunda-engine on a fresh H2."""
    if args.engine_url:
        version = requests.get(f"{args.engine_url.rstrip('/')}/version", timeout=30).json()
        yield Real(args.engine_url, str(version["version"]))
        return
    engine = CamundaEngine(build(), folder / "camunda")
    engine.start()
    try:
        yield Real(engine.url, engine.version)
    finally:
        engine.stop()


def fake_llm(latency_ms: int) -> tuple[subprocess.Popen[str], str]:
    """The fake LLM in a process of its own, so that it takes no CPU from this one's emulator."""
    llm = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.llm", "--latency-ms", str(latency_ms)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert llm.stdout is not None
    first = llm.stdout.readline()  # "fake LLM listening on http://127.0.0.1:PORT/v1"
    if "listening on " not in first:
        llm.kill()
        raise SystemExit(f"benchmark: the fake LLM did not start: {first}{llm.stdout.read()}")
    return llm, first.split("listening on ", 1)[1].strip()


def run_all(args: argparse.Namespace, llm_url: str, logs: Path) -> list[Result]:
    worker_argv = [sys.executable, "-m", "llm_worker", "run"]
    results: list[Result] = []

    def llm_worker(engine: Engine, suffix: str, otlp_url: str | None = None) -> None:
        env = worker_env(engine.url, llm_url, args.concurrency, f"bench-worker-{suffix}")
        if otlp_url:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp_url
        results.append(
            measure_worker(
                engine,
                "llm-worker run, traces over OTLP" if otlp_url else "llm-worker run",
                worker_argv,
                env,
                args,
                args.tasks,
                args.concurrency,
                logs / f"worker-{suffix}.log",
            )
        )

    def naive(engine: Engine, suffix: str) -> None:
        env = worker_env(engine.url, llm_url, 1, f"bench-naive-{suffix}")
        argv = [sys.executable, str(Path(__file__).resolve()), "--naive-worker", engine.url]
        argv += ["--naive-tasks", str(args.naive_tasks)]
        results.append(
            measure_worker(
                engine,
                "naive sequential (maxTasks 1)",
                argv,
                env,
                args,
                args.naive_tasks,
                1,
                logs / f"naive-{suffix}.log",
                latency_phase=False,
            )
        )

    if args.engine in ("emulator", "both"):
        # Request validation against the OpenAPI document is a test concern; it would only
        # take CPU from the worker being measured here.
        with EngineEmulator(strict=False) as emulator:
            llm_worker(Emulated(emulator), "emulator")
        if args.traces:
            # The receiver decodes in this process: its CPU is not the worker's.
            with EngineEmulator(strict=False) as emulator, OtlpReceiver() as otlp:
                llm_worker(Emulated(emulator), "emulator-traces", otlp.url)
                spans = len(otlp.spans())
            print(f"spans received from the traced worker: {spans}", file=sys.stderr)
        if args.naive_tasks:
            with EngineEmulator(strict=False) as emulator:
                naive(Emulated(emulator), "emulator")
        for threads in args.lean_threads:
            with EngineEmulator(strict=False) as emulator:
                results.append(lean_client(Emulated(emulator), args.lean_tasks, threads, 16))
    if args.engine in ("real", "both"):
        with real_engine(args, logs) as real:
            llm_worker(real, "real")
            for threads in args.lean_threads:
                results.append(lean_client(real, args.lean_tasks, threads, 16))
    return results


def print_table(results: list[Result], args: argparse.Namespace) -> None:
    ideal = args.concurrency / (args.latency_ms / 1000)
    print(
        "| engine | worker | slots | tasks | seconds | tasks/s | % of ideal "
        "| pickup p50 ms | pickup p95 ms | CPU ms/task | peak RSS MiB |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| | ideal ({args.concurrency} / {args.latency_ms / 1000:g} s) | {args.concurrency} "
        f"| | | {ideal:.1f} | 100.0 | | | | |"
    )

    def cell(value: float | None) -> str:
        return "" if value is None else f"{value:g}"

    for r in results:
        print(
            f"| {r.engine} | {r.worker} | {r.concurrency} | {r.tasks} | {r.seconds:g} "
            f"| {r.tasks_per_s:g} | {cell(r.percent_of_ideal)} | {cell(r.pickup_p50_ms)} "
            f"| {cell(r.pickup_p95_ms)} | {cell(r.cpu_ms_per_task)} | {cell(r.peak_rss_mib)} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["emulator", "real", "both"], default="both")
    parser.add_argument(
        "--engine-url", help="a running real engine's REST API (default: start one)"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=int, default=250)
    parser.add_argument("--tasks", type=int, default=960, help="backlog for llm-worker run")
    parser.add_argument("--latency-tasks", type=int, default=80, help="paced tasks")
    parser.add_argument("--arrival-rate", type=float, default=8.0, help="paced tasks a second")
    parser.add_argument("--lean-tasks", type=int, default=1000, help="backlog of each lean run")
    parser.add_argument(
        "--lean-threads",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[4, 16],
        help="lean client runs, by thread count (comma list): 16 completes at once as the worker",
    )
    parser.add_argument("--naive-tasks", type=int, default=40, help="tasks for the naive worker")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument(
        "--traces",
        action="store_true",
        help="also run llm-worker on the emulator with traces and GenAI metrics sent over OTLP",
    )
    parser.add_argument("--naive-worker", metavar="ENGINE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_worker:
        return naive_worker(args.naive_worker, args.naive_tasks)

    logs = Path(tempfile.mkdtemp(prefix="llm-worker-bench-"))
    load_before = os.getloadavg()
    llm, llm_url = fake_llm(args.latency_ms)
    try:
        results = run_all(args, llm_url, logs)
    finally:
        llm.terminate()
        llm.wait(timeout=30)
    load_after = os.getloadavg()
    print(
        f"llm-worker throughput: fake LLM latency {args.latency_ms} ms, {os.cpu_count()} CPUs, "
        f"load average {load_before[0]:.1f} before and {load_after[0]:.1f} after, logs in {logs}"
    )
    print_table(results, args)
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
