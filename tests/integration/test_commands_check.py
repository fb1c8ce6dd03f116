"""`llm-worker check` as a real process: settings, engine ping, LLM ping, one-line errors."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from llm_worker.process import FARE_RULES_TOPIC
from tests.conftest import StartWorker, free_port, run_cli, worker_env
from tests.fakes.engine import EngineEmulator
from tests.fakes.llm import FakeLLM

pytestmark = pytest.mark.integration


def check(tmp_path: Path, **settings: str | int) -> subprocess.CompletedProcess[str]:
    return run_cli("check", env=worker_env(**settings), cwd=tmp_path)


def test_reports_engine_and_backlog(tmp_path: Path, engine: EngineEmulator) -> None:
    engine.create_task("analyze-fare-rules", {"bookingId": "B1"})
    result = check(tmp_path, CAMUNDA_URL=engine.url)
    assert result.returncode == 0, result.stderr
    assert "settings: ok" in result.stdout
    assert "engine: ok, Camunda 7.24.0" in result.stdout
    assert "analyze-fare-rules 1" in result.stdout
    assert "llm:" not in result.stdout  # no key, rules only


def test_pings_the_llm_when_a_key_is_set(tmp_path: Path, engine: EngineEmulator) -> None:
    with FakeLLM() as llm:
        result = check(
            tmp_path,
            CAMUNDA_URL=engine.url,
            OPENAI_API_KEY="sk-check-secret",
            OPENAI_BASE_URL=llm.base_url,
        )
        assert llm.requests, "the LLM was not asked"
    assert result.returncode == 0, result.stderr
    assert "llm: ok, gpt-4o-mini" in result.stdout
    assert "sk-check-secret" not in result.stdout + result.stderr


def test_an_unreachable_engine_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/engine-rest"
    result = check(tmp_path, CAMUNDA_URL=url)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "does not answer" in lines[0] and url in lines[0]


def test_a_bad_setting_names_the_variable(tmp_path: Path) -> None:
    result = check(tmp_path, WORKER_CONCURRENCY=0)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "WORKER_CONCURRENCY" in result.stderr


def test_wrong_credentials_are_reported_without_the_password(tmp_path: Path) -> None:
    with EngineEmulator(auth=("demo", "right")) as engine:
        result = check(
            tmp_path, CAMUNDA_URL=engine.url, CAMUNDA_USERNAME="demo", CAMUNDA_PASSWORD="wrong-pw"
        )
    assert result.returncode == 2
    assert "401" in result.stderr
    assert "wrong-pw" not in result.stderr + result.stdout


def test_run_with_the_metrics_port_taken_is_one_line(
    tmp_path: Path, engine: EngineEmulator
) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        env = worker_env(CAMUNDA_URL=engine.url, METRICS_PORT=taken.getsockname()[1])
        result = run_cli("run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("llm-worker run:") and "METRICS_PORT" in last
    assert "Traceback" not in result.stderr


def test_a_bad_price_override_is_reported(tmp_path: Path) -> None:
    # The engine is never asked: the settings are checked first.
    result = check(
        tmp_path,
        CAMUNDA_URL="http://127.0.0.1:9/engine-rest",
        LLM_PRICE_OVERRIDES="gpt-4o-mini=cheap",
    )
    assert result.returncode == 2
    assert "settings: ok" not in result.stdout
    assert result.stderr.strip() == (
        "llm-worker check: invalid setting LLM_PRICE_OVERRIDES: 'gpt-4o-mini=cheap' is not "
        "model=PROMPT/COMPLETION in USD per million tokens (e.g. gpt-4o-mini=0.15/0.60)"
    )


# Credentials written inside CAMUNDA_URL / OPENAI_BASE_URL never reach the output.
PASSWORD = "s3cret-Pw-42"


def _with_credentials(url: str) -> str:
    return url.replace("http://", f"http://refund-admin:{PASSWORD}@", 1)


def test_check_does_not_print_the_password(tmp_path: Path) -> None:
    with EngineEmulator(auth=("refund-admin", PASSWORD)) as engine:
        ok = check(tmp_path, CAMUNDA_URL=_with_credentials(engine.url))
    assert ok.returncode == 0, ok.stderr
    assert "engine: ok" in ok.stdout
    assert PASSWORD not in ok.stdout + ok.stderr

    down = _with_credentials(f"http://127.0.0.1:{free_port()}/engine-rest")
    failed = check(tmp_path, CAMUNDA_URL=down)
    assert failed.returncode == 2 and "does not answer" in failed.stderr
    assert PASSWORD not in failed.stdout + failed.stderr


def test_check_does_not_print_the_llm_url_password(tmp_path: Path, engine: EngineEmulator) -> None:
    llm = _with_credentials(f"http://127.0.0.1:{free_port()}/v1")
    failed = check(tmp_path, CAMUNDA_URL=engine.url, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=llm)
    assert failed.returncode == 2 and "LLM at http://127.0.0.1:" in failed.stderr
    assert PASSWORD not in failed.stdout + failed.stderr


def test_shows_the_review_threshold_and_payment_ceiling_by_currency(
    tmp_path: Path, engine: EngineEmulator
) -> None:
    result = check(
        tmp_path,
        CAMUNDA_URL=engine.url,
        MANUAL_REVIEW_THRESHOLDS="EUR=4600,XOF=3000000",
        PAYMENT_MAX_AMOUNT=10000,
    )
    assert result.returncode == 0, result.stderr
    lines = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in result.stdout.splitlines()}
    review, ceiling = lines["review threshold"], lines["payment ceiling"]
    assert review.startswith("USD 5000.00, EUR 4600.00 (set), GBP 3645.00*, ")
    assert "JPY 720000.00*, " in review and "INR 428500.00*, " in review
    assert review.endswith(
        ", XOF 3000000.00 (set) (* 5000.00 USD converted at the reference exchange rates of "
        "2025-06-30; without a currency 5000.00)"
    )
    assert ceiling.startswith("USD 10000.00, EUR 8530.00*, GBP 7290.00*, ")
    assert ceiling.endswith(
        "(* 10000.00 USD converted at the reference exchange rates of 2025-06-30)"
    )


# ---- which gateway pays -----------------------------------------------------------------------

NO_GATEWAY = (
    "invalid setting: process-refund-payment needs PAYMENT_GATEWAY_URL (the real payment "
    "gateway) or PAYMENT_SIMULATED=true (demo: no money moves), and neither is set; or leave "
    "process-refund-payment out of WORKER_TOPICS"
)


def test_check_says_which_gateway_pays(tmp_path: Path, engine: EngineEmulator) -> None:
    # worker_env asks for the simulated gateway, as the demo stack does.
    simulated = check(tmp_path, CAMUNDA_URL=engine.url)
    assert simulated.returncode == 0, simulated.stderr
    assert "payments: simulated: no money moves (PAYMENT_SIMULATED=true)\n" in simulated.stdout
    real = check(
        tmp_path,
        CAMUNDA_URL=engine.url,
        PAYMENT_SIMULATED="false",
        PAYMENT_GATEWAY_URL=f"http://pay:{PASSWORD}@127.0.0.1:9/refunds",
    )
    assert real.returncode == 0, real.stderr
    assert (
        "payments: real payments through PAYMENT_GATEWAY_URL (http://127.0.0.1:9/refunds)\n"
        in real.stdout
    )
    assert PASSWORD not in real.stdout + real.stderr
    rules_only = check(
        tmp_path, CAMUNDA_URL=engine.url, PAYMENT_SIMULATED="false", WORKER_TOPICS=FARE_RULES_TOPIC
    )
    assert rules_only.returncode == 0, rules_only.stderr
    assert "payments: none (process-refund-payment not in WORKER_TOPICS)\n" in rules_only.stdout


@pytest.mark.parametrize("command", ["check", "run"])
def test_taking_payments_without_a_gateway_does_not_start(
    tmp_path: Path, engine: EngineEmulator, command: str
) -> None:
    env = worker_env(CAMUNDA_URL=engine.url, PAYMENT_SIMULATED="false")
    result = run_cli(command, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"llm-worker {command}: {NO_GATEWAY}"
    assert "settings: ok" not in result.stdout
    assert not engine.fetch_requests()


def test_the_start_log_and_a_metric_say_a_simulated_gateway_pays(
    engine: EngineEmulator, start_worker: StartWorker
) -> None:
    worker = start_worker(CAMUNDA_URL=engine.url, DEPLOYMENT_ENVIRONMENT="production")
    starting = worker.wait_for_log(lambda e: e.get("event") == "starting")
    assert starting["payments"] == "simulated: no money moves (PAYMENT_SIMULATED=true)"
    warning = worker.wait_for_log(
        lambda e: str(e.get("event")).startswith("payments are simulated")
    )
    assert warning["level"] == "warning" and warning["environment"] == "production"
    assert (
        'llm_worker_payment_gateway_info{environment="production",gateway="simulated"} 1.0'
        in worker.metrics()
    )


def test_a_camunda_url_without_engine_rest_gets_the_hint(
    tmp_path: Path, engine: EngineEmulator
) -> None:
    root = engine.url.removesuffix("/engine-rest")
    assert root != engine.url
    result = check(tmp_path, CAMUNDA_URL=root)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "404" in line
    assert line.endswith(
        "; CAMUNDA_URL must be the engine's REST base, which ends in /engine-rest, "
        "e.g. http://localhost:8080/engine-rest)"
    )
    start = run_cli(
        "start", "-", env=worker_env(CAMUNDA_URL=root), cwd=tmp_path, stdin='{"bookingId": "X1"}'
    )
    assert start.returncode != 0
    assert "ends in /engine-rest" in start.stderr
