"""The fallback model for real: the fake LLM failing as the primary (HTTP 503 on every call)
and llama.cpp's `llama-server` with SmolLM2-135M as the fallback, the real `llm-worker run`
against the engine emulator and the real `llm-worker check`. The primary's circuit opens after
its failing case (LLM_CIRCUIT_FAILURES=1), and the next case goes straight to the fallback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StartWorker, clean_env, run_cli
from tests.fakes.engine import EngineEmulator
from tests.fakes.llama_server import SMOLLM2, LlamaServer, fetch_model
from tests.fakes.llm import FakeLLM, ServerError
from tests.integration.test_llm_real_server import (
    completed,
    llama_binary,  # noqa: F401  (the fixture, shared)
    sample,
    variables,
)

pytestmark = pytest.mark.integration

TOPIC = "analyze-fare-rules"
PRIMARY_KEY = "sk-test-primary-0b7e"
FALLBACK_KEY = "sk-test-llama-fallback-4d2a"
PRIMARY = "gpt-4o-mini"
FALLBACK = "smollm2-135m-fallback"

RULES = (
    "ELECTRONIC TICKET RECEIPT  NAME: DOE/JANE MS  ETKT 220 2345678901\n"
    "16. PENALTIES\n"
    "  CANCELLATIONS\n"
    "    BEFORE DEPARTURE\n"
    "      CHARGE USD {fee}.00 FOR CANCEL/REFUND.\n"
    "    AFTER DEPARTURE\n"
    "      TICKET IS NON-REFUNDABLE.\n"
)


@pytest.fixture(scope="module")
def fallback_server(
    llama_binary: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LlamaServer]:
    fetch_model(SMOLLM2)
    log = tmp_path_factory.mktemp("llama-fallback") / "server.log"
    with LlamaServer(
        llama_binary, SMOLLM2, api_key=FALLBACK_KEY, alias=FALLBACK, log_path=log
    ) as running:
        yield running


@pytest.fixture
def failing_primary() -> Iterator[FakeLLM]:
    with FakeLLM(behaviour=ServerError(503)) as fake:
        yield fake


def settings(primary: FakeLLM, fallback: LlamaServer) -> dict[str, Any]:
    return {
        "OPENAI_API_KEY": PRIMARY_KEY,
        "OPENAI_BASE_URL": primary.base_url,
        "OPENAI_MODEL": PRIMARY,
        "LLM_FALLBACK_BASE_URL": fallback.base_url,
        "LLM_FALLBACK_MODEL": FALLBACK,
        "LLM_FALLBACK_API_KEY": FALLBACK_KEY,
        "DECISION_STRATEGY": "llm",
        "LLM_TIMEOUT_S": 240,
        "LLM_MAX_RETRIES": 0,
        "LLM_CIRCUIT_FAILURES": 1,
        "LLM_CIRCUIT_OPEN_S": 3600,
    }


# An answer of a 135M model on two cores shared with other work can take minutes.
@pytest.mark.timeout(900)
def test_a_failing_primary_is_answered_by_the_fallback_then_skipped(
    start_worker: StartWorker,
    engine: EngineEmulator,
    failing_primary: FakeLLM,
    fallback_server: LlamaServer,
) -> None:
    worker = start_worker(
        CAMUNDA_URL=engine.url,
        WORKER_ID="fallback-it",
        WORKER_TOPICS=TOPIC,
        WORKER_CONCURRENCY=1,  # one case after another: the breaker's count is exact
        LOCK_DURATION_MS=600_000,
        **settings(failing_primary, fallback_server),
    )
    outputs = []
    for fee in (150, 160):
        task_id = engine.create_task(TOPIC, variables(RULES.format(fee=fee)))
        outputs.append(completed(engine, task_id, timeout=400))
    for done in outputs:
        # Whatever the small model read, it answered: its name is on the decision, and the
        # primary's failure (or its being skipped) is in llmError.
        assert (done.value("llmProvider"), done.value("llmModel")) == ("openai", FALLBACK)
        assert done.value("decisionSource") in {"LLM", "FALLBACK"}
        assert done.value("llmError").startswith(f"primary {PRIMARY} ")
    assert "failed: the LLM API failed (HTTP 503)" in outputs[0].value("llmError")
    assert "skipped: it kept failing (circuit open)" in outputs[1].value("llmError")
    # The first case asked the primary; the second did not (its circuit was open).
    assert len(failing_primary.chat_requests()) == 1
    metrics = worker.metrics()
    assert sample(metrics, "llm_worker_llm_circuit_state", model=PRIMARY) == 1
    assert sample(metrics, "llm_worker_llm_circuit_state", model=FALLBACK) == 0
    assert sample(metrics, "llm_worker_openai_api_calls_total", model=FALLBACK) == 2
    assert sample(metrics, "llm_worker_openai_api_errors_total", model=PRIMARY, kind="server") == 1
    assert sample(metrics, "llm_worker_openai_tokens_total", model=FALLBACK, kind="prompt") > 0
    assert sample(metrics, "llm_worker_redactions_total", kind="NAME") == 2
    assert sample(metrics, "llm_worker_redactions_total", kind="TICKET") == 2
    audits = [entry for entry in worker.logs() if entry.get("event") == "refund decision"]
    assert [a["llm_attempts"] for a in audits] == [
        [f"{PRIMARY}:server", f"{FALLBACK}:answered"],
        [f"{PRIMARY}:circuit_open", f"{FALLBACK}:answered"],
    ]
    assert all(a["model"] == FALLBACK for a in audits)
    log = worker.raw_log()
    assert PRIMARY_KEY not in log and FALLBACK_KEY not in log
    assert "DOE" not in log and "2345678901" not in log
    assert worker.stop() == 0


def test_check_reports_the_fallback_and_asks_it(
    failing_primary: FakeLLM, fallback_server: LlamaServer, engine: EngineEmulator
) -> None:
    env = clean_env(
        CAMUNDA_URL=engine.url,
        WORKER_TOPICS="analyze-fare-rules",  # payments are not what this check is about
        **settings(failing_primary, fallback_server),
    )
    # The fake primary lists its models, so `check` finds it without a chat completion.
    result = run_cli("check", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "redaction: on (LLM_REDACT)" in out
    assert f"fallback: {FALLBACK} at {fallback_server.base_url}" in out
    assert f"fallback llm: ok, {FALLBACK} at {fallback_server.base_url}" in out
    assert f"cost: no price known for {FALLBACK}" in out
    assert PRIMARY_KEY not in out + result.stderr and FALLBACK_KEY not in out + result.stderr
