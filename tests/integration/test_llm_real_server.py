"""The product against a real OpenAI-compatible server: llama.cpp's `llama-server` with
SmolLM2-135M-Instruct (tests/fakes/llama_server.py), the real `llm-worker run`, `decide`,
`eval` and `check`, the engine emulator. A 135M model reads fare rules badly: these tests hold
the plumbing (structured output, the token cap, usage, locks, shutdown, failures) and that
whatever it answers ends as a completed task with the contract's variables."""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from llm_worker.config import Settings
from llm_worker.llm.advisor import build_advisor
from llm_worker.llm.prompt import SYSTEM_PROMPT, answer_token_cap, response_format, user_message
from llm_worker.refund.inputs import PlainVariable, read_case
from llm_worker.refund.models import RefundCase
from tests.conftest import StartWorker, WorkerProcess, clean_env, run_cli
from tests.fakes.engine import Completion, EngineEmulator
from tests.fakes.llama_server import (
    SMOLLM2,
    LlamaServer,
    binary_path,
    fetch_model,
    missing_build_tools,
)
from tests.fakes.llm import FakeLLM
from tests.support import wait_until

pytestmark = pytest.mark.integration

TOPIC = "analyze-fare-rules"
KEY = "sk-test-llama-5b1e0c"
MODEL = "gpt-4o-mini"  # the alias the server answers under
DECISIONS = {"ALLOWED", "WITH_PENALTY", "MANUAL"}
_numbers = itertools.count(1)

RULES = (
    "16. PENALTIES\n"
    "  CANCELLATIONS\n"
    "    BEFORE DEPARTURE\n"
    "      CHARGE USD 150.00 FOR CANCEL/REFUND.\n"
    "    AFTER DEPARTURE\n"
    "      TICKET IS NON-REFUNDABLE.\n"
)


@pytest.fixture(scope="module")
def llama_binary() -> Path:
    path = binary_path()
    if path.exists():
        return path
    message = (
        f"llama-server is not built ({path}): `make llama-server` builds it once "
        "(needs cmake and a C++ compiler; .ci/run installs them)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    if missing_build_tools():
        pytest.skip(f"{message}; missing here: {', '.join(missing_build_tools())}")
    pytest.fail(message)


@pytest.fixture(scope="module")
def server(llama_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """One server for the tests that do not stop, slow down or cut it."""
    fetch_model(SMOLLM2)
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with LlamaServer(llama_binary, SMOLLM2, api_key=KEY, alias=MODEL, log_path=log) as running:
        yield running


def own_server(llama_binary: Path, tmp_path: Path, **options: Any) -> LlamaServer:
    fetch_model(SMOLLM2)
    return LlamaServer(
        llama_binary, SMOLLM2, api_key=KEY, alias=MODEL, log_path=tmp_path / "own.log", **options
    )


def variables(rules: str = RULES, **over: Any) -> dict[str, Any]:
    n = next(_numbers)
    base: dict[str, Any] = {
        "bookingId": f"LL{n:04d}",
        "fareRules": rules,
        "ticketClass": "Economy",
        "fareBasis": "YLOWUS",
        "ticketPrice": {"value": 820.0, "type": "Double"},
        "currency": "USD",
        "purchaseDate": "2026-01-10T09:30:00Z",
        "departureDate": "2030-12-15T09:00:00Z",
        "requestDate": "2030-11-20T12:00:00Z",
        "refundReason": "VOLUNTARY",
        "passengerCount": 1,
    }
    base.update(over)
    return base


def start(
    start_worker: StartWorker, engine: EngineEmulator, base_url: str, **settings: str | int | float
) -> WorkerProcess:
    base: dict[str, str | int | float] = {
        "CAMUNDA_URL": engine.url,
        "WORKER_ID": f"llama-it-{next(_numbers)}",
        "WORKER_TOPICS": TOPIC,
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": base_url,
        "OPENAI_MODEL": MODEL,
        "DECISION_STRATEGY": "llm",
        "LLM_TIMEOUT_S": 60,
        "LLM_MAX_RETRIES": 1,
        "LOCK_DURATION_MS": 90_000,
    }
    base.update(settings)
    return start_worker(**base)


def completed(engine: EngineEmulator, task_id: str, timeout: float = 90) -> Completion:
    done = engine.wait_for(lambda: engine.completion(task_id), timeout, "the task's completion")
    assert engine.failures_of(task_id) == []
    assert engine.incident(task_id) is None
    return done


def check_contract(done: Completion) -> None:
    """Whatever the model said: the contract's output variables, with their types."""
    decision, source = done.value("fareRuleCheck"), done.value("decisionSource")
    assert decision in DECISIONS and source in {"LLM", "FALLBACK"}
    if source == "LLM":
        assert decision != "MANUAL" or "llmError" not in done.variables
    assert 0 < len(done.value("llmReasoning")) <= 1000
    assert (done.value("llmProvider"), done.value("llmModel")) == ("openai", MODEL)
    if decision == "MANUAL":
        assert "penaltyAmount" not in done.variables and "refundAmount" not in done.variables
    else:
        assert done.type_of("refundAmount") == "Double"


def refund_case(vars_: dict[str, Any]) -> RefundCase:
    """The case the worker reads from these variables (typed ones given as value and type)."""
    raw = {
        name: PlainVariable(v["value"], v["type"]) if isinstance(v, dict) else PlainVariable(v)
        for name, v in vars_.items()
    }
    case = read_case(raw, datetime.now(UTC))
    assert isinstance(case, RefundCase), case
    return case


def sample(metrics: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def decision_log(worker: WorkerProcess) -> dict[str, Any]:
    return worker.wait_for_log(lambda e: e.get("event") == "refund decision", timeout=30)


def test_run_gets_a_structured_answer_end_to_end(
    start_worker: StartWorker, engine: EngineEmulator, server: LlamaServer
) -> None:
    worker = start(start_worker, engine, server.base_url)
    done = completed(engine, engine.create_task(TOPIC, variables()))
    check_contract(done)
    # The server enforced the strict json_schema (its grammar): the answer parsed, nothing
    # fell back to the prompt, nothing was cut off.
    assert "llmError" not in done.variables
    log = worker.raw_log()
    assert "rejects json_schema" not in log and "capping answers with" not in log
    audit = decision_log(worker)
    assert audit["prompt_tokens"] > 0 and 0 < audit["completion_tokens"] <= answer_token_cap()
    metrics = worker.metrics()
    assert sample(
        metrics, "llm_worker_openai_tokens_total", model=MODEL, kind="completion"
    ) == pytest.approx(audit["completion_tokens"])
    assert sample(metrics, "llm_worker_openai_api_calls_total", model=MODEL) == 1
    assert KEY not in worker.raw_log()
    assert worker.stop() == 0


def test_decide_and_eval_against_the_real_server(server: LlamaServer, tmp_path: Path) -> None:
    env = clean_env(
        OPENAI_API_KEY=KEY,
        OPENAI_BASE_URL=server.base_url,
        OPENAI_MODEL=MODEL,
        DECISION_STRATEGY="llm",
        LLM_TIMEOUT_S=60,
        LOG_LEVEL="WARNING",
    )
    case = tmp_path / "case.json"
    case.write_text(json.dumps(variables()), encoding="utf-8")
    decided = run_cli("decide", str(case), env=env, timeout=100)
    assert decided.returncode == 0, decided.stderr
    out = json.loads(decided.stdout)
    assert out["fareRuleCheck"] in DECISIONS and out["decisionSource"] in {"LLM", "FALLBACK"}
    assert "llmError" not in out and out["llmModel"] == MODEL

    cases = tmp_path / "cases.jsonl"
    labelled = [
        {"id": "fee", "variables": variables(), "expected": "WITH_PENALTY", "expectedPenalty": 150},
        {
            "id": "nonref",
            "variables": variables("TICKET IS NON-REFUNDABLE. NO REFUND FOR CANCELLATION."),
            "expected": "MANUAL",
        },
        {
            "id": "cancelled",
            "variables": variables(flightStatus="CANCELLED"),
            "expected": "ALLOWED",
        },
    ]
    cases.write_text("\n".join(json.dumps(c) for c in labelled) + "\n", encoding="utf-8")
    evaluated = run_cli("eval", str(cases), "--json", env=env, timeout=200)
    assert evaluated.returncode == 0, evaluated.stderr
    summary = json.loads(evaluated.stdout)
    assert summary["cases"] == 3 and summary["model"] == MODEL
    # The cancelled flight is decided from the facts; the other two are the model's to read.
    assert summary["llm_calls"] == 2
    assert summary["prompt_tokens"] > 0 and summary["completion_tokens"] > 0
    assert summary["completion_tokens"] <= 2 * answer_token_cap()
    assert summary["latency_s"]["max"] > 0
    # Whatever the 135M model read, a non-refundable fare is never paid automatically.
    assert all(m["id"] != "nonref" for m in summary["mistakes"])


def test_check_against_the_real_server(
    server: LlamaServer, engine: EngineEmulator, tmp_path: Path
) -> None:
    # A worker that decides only: `check` then asks for no payment gateway.
    base = {
        "CAMUNDA_URL": engine.url,
        "WORKER_TOPICS": TOPIC,
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": server.base_url,
    }
    listed = run_cli("check", env=clean_env(**base, OPENAI_MODEL=MODEL), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert f"llm: ok, {MODEL} at {server.base_url}" in listed.stdout
    # llama-server answers for any model name, while its list names only its alias.
    other = run_cli("check", env=clean_env(**base, OPENAI_MODEL="local-model"), cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    assert "llm: ok, local-model" in other.stdout and "does not list it" in other.stdout
    wrong = run_cli("check", env=clean_env(**{**base, "OPENAI_API_KEY": "sk-wrong"}), cwd=tmp_path)
    assert wrong.returncode != 0
    assert wrong.stderr.strip().splitlines() == [
        f"llm-worker check: LLM at {server.base_url} refused the key (OPENAI_API_KEY)"
    ]


def test_check_passes_against_a_server_without_a_model_list(
    engine: EngineEmulator, tmp_path: Path
) -> None:
    with FakeLLM(models=False, token_parameters=("max_tokens",)) as llm:
        env = clean_env(
            CAMUNDA_URL=engine.url,
            WORKER_TOPICS=TOPIC,
            OPENAI_API_KEY=KEY,
            OPENAI_BASE_URL=llm.base_url,
        )
        done = run_cli("check", env=env, cwd=tmp_path)
        chats = llm.chat_requests()
    assert done.returncode == 0, done.stderr
    assert "answers chat completions; the server lists no models" in done.stdout
    assert chats[-1].body.get("max_tokens") == 1


def test_slow_real_answer_near_the_lock_extends_it_and_completes(
    start_worker: StartWorker, engine: EngineEmulator, llama_binary: Path, tmp_path: Path
) -> None:
    # One thread and no prompt cache: the same request takes the same work every time.
    with own_server(llama_binary, tmp_path, threads=1, cache_prompt=False) as slow:
        vars_ = variables(RULES * 6)
        settings = Settings(
            openai_api_key=KEY,  # type: ignore[arg-type]
            openai_base_url=slow.base_url,  # type: ignore[arg-type]
            openai_model=MODEL,
            llm_timeout_s=120,
        )
        started = time.monotonic()
        build_advisor(settings).advise(refund_case(vars_), started + 120)
        took = time.monotonic() - started
        # The lock's half (when it is extended) comes well before the answer is expected,
        # its end (the call's deadline) well after.
        lock_ms = max(5_000, int(took * 1.6 * 1000))
        worker = start(start_worker, engine, slow.base_url, LOCK_DURATION_MS=lock_ms)
        task_id = engine.create_task(TOPIC, vars_)
        done = completed(engine, task_id, timeout=lock_ms / 1000 * 3)
    check_contract(done)
    assert "llmError" not in done.variables, (took, lock_ms, done.value("llmError"))
    assert engine.lock_extensions, (took, lock_ms)
    assert engine.task(task_id).times_locked == 1
    assert worker.stop() == 0


def test_sigterm_while_a_real_call_is_in_flight_lets_it_finish(
    start_worker: StartWorker, engine: EngineEmulator, server: LlamaServer
) -> None:
    worker = start(start_worker, engine, server.base_url, SHUTDOWN_GRACE_S=90)
    task_id = engine.create_task(TOPIC, variables(RULES * 3))
    wait_until(lambda: server.requests_in_flight() > 0, timeout=30, message="the call under way")
    worker.signal(signal.SIGTERM)
    assert worker.wait_exit(timeout=120) == 0
    done = completed(engine, task_id, timeout=5)
    check_contract(done)
    assert "llmError" not in done.variables
    events = [e.get("event") for e in worker.logs()]
    assert events.index("stopping") < events.index("refund decision")


def prompt_tokens(server: LlamaServer, vars_: dict[str, Any]) -> int:
    """The prompt tokens of the worker's request for this case, as the server counts them."""
    client = openai.OpenAI(api_key=KEY, base_url=server.base_url, max_retries=0)
    with client:
        completion = client.chat.completions.create(
            model=MODEL,
            messages=[
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": user_message(refund_case(vars_))},
            ],
            response_format=response_format(),  # type: ignore[arg-type]
            max_tokens=1,
            timeout=60,
        )
    assert completion.usage is not None
    return completion.usage.prompt_tokens


def test_cut_off_real_answer_falls_back_with_its_tokens_counted(
    start_worker: StartWorker,
    engine: EngineEmulator,
    server: LlamaServer,
    llama_binary: Path,
    tmp_path: Path,
) -> None:
    # The server's context (a multiple of 256 tokens) leaves the answer room for only a few
    # tokens: the server ends it there (finish_reason length), as a cap would. The case is
    # padded with a note so that the prompt fills the context up to that room.
    note = "NOTE - THE ABOVE APPLIES TO ALL FARES OF THIS RULE.\n"
    bare = prompt_tokens(server, variables())
    per_note = (prompt_tokens(server, variables(RULES + note * 10)) - bare) / 10
    context = -(-(bare + 40) // 256) * 256
    vars_ = variables(RULES + note * int((context - 16 - bare) / per_note))
    room = context - prompt_tokens(server, vars_)
    assert 4 <= room <= 40, (bare, per_note, context, room)
    with own_server(llama_binary, tmp_path, ctx_size=context) as short:
        worker = start(start_worker, engine, short.base_url)
        done = completed(engine, engine.create_task(TOPIC, vars_))
        metrics = worker.metrics()
    assert (done.value("fareRuleCheck"), done.value("decisionSource")) == ("MANUAL", "FALLBACK")
    assert "cut off" in done.value("llmError") and "finish_reason length" in done.value("llmError")
    completion = sample(metrics, "llm_worker_openai_tokens_total", model=MODEL, kind="completion")
    assert 0 < completion <= room
    assert sample(metrics, "llm_worker_openai_tokens_total", model=MODEL, kind="prompt") > 0
    assert sample(metrics, "llm_worker_openai_api_errors_total", model=MODEL, kind="cut_off") == 1
    assert sample(metrics, "llm_worker_openai_api_calls_total", model=MODEL) == 1  # not re-asked
    assert worker.stop() == 0


def test_server_going_away_mid_call_falls_back(
    start_worker: StartWorker, engine: EngineEmulator, llama_binary: Path, tmp_path: Path
) -> None:
    with own_server(llama_binary, tmp_path, threads=1) as doomed:
        worker = start(start_worker, engine, doomed.base_url, LLM_MAX_RETRIES=1)
        task_id = engine.create_task(TOPIC, variables(RULES * 6))
        wait_until(
            lambda: doomed.requests_in_flight() > 0, timeout=30, message="the call under way"
        )
        doomed.kill()
        done = completed(engine, task_id, timeout=60)
    assert (done.value("fareRuleCheck"), done.value("decisionSource")) == ("MANUAL", "FALLBACK")
    assert "could not be reached (after 2 attempts)" in done.value("llmError")
    metrics = worker.metrics()
    assert (
        sample(metrics, "llm_worker_openai_api_errors_total", model=MODEL, kind="connection") == 2
    )
    assert worker.stop() == 0
