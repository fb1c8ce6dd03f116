"""TLS to the engine and to the LLM with a CA made in the test (trustme): the engine emulator and
the fake LLM serve https on loopback; `check`, `deploy` and the real worker trust them through
CAMUNDA_CA_BUNDLE / LLM_CA_BUNDLE or the standard SSL_CERT_FILE / REQUESTS_CA_BUNDLE, and
without the CA refuse them with one clear line."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from tests.conftest import StartWorker, run_cli, worker_env
from tests.fakes.engine import EngineEmulator
from tests.fakes.engine_admin import install_admin_routes
from tests.fakes.llm import FakeLLM

pytestmark = pytest.mark.integration

KEY = "sk-test-tls-0b7c"


@dataclass(frozen=True)
class Pki:
    server: ssl.SSLContext  # what the loopback servers present
    ca: Path  # the CA that signed it, as a PEM file
    other_ca: Path  # a CA that signed nothing here


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    authority = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    ca = tmp_path / "company-ca.pem"
    authority.cert_pem.write_to_path(str(ca))
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    return Pki(server, ca, other)


@pytest.fixture
def tls_engine(pki: Pki) -> Iterator[EngineEmulator]:
    with EngineEmulator(tls=pki.server) as engine:
        install_admin_routes(engine)
        yield engine


@pytest.fixture
def tls_llm(pki: Pki) -> Iterator[FakeLLM]:
    with FakeLLM(tls=pki.server) as llm:
        yield llm


def check(tmp_path: Path, **settings: str | int) -> subprocess.CompletedProcess[str]:
    return run_cli("check", env=worker_env(**settings), cwd=tmp_path)


def test_check_trusts_the_engine_and_the_llm_through_their_ca_settings(
    tmp_path: Path, pki: Pki, tls_engine: EngineEmulator, tls_llm: FakeLLM
) -> None:
    assert tls_engine.url.startswith("https://") and tls_llm.base_url.startswith("https://")
    result = check(
        tmp_path,
        CAMUNDA_URL=tls_engine.url,
        CAMUNDA_CA_BUNDLE=str(pki.ca),
        OPENAI_API_KEY=KEY,
        OPENAI_BASE_URL=tls_llm.base_url,
        LLM_CA_BUNDLE=str(pki.ca),
    )
    assert result.returncode == 0, result.stderr
    assert f"engine: ok, Camunda 7.24.0 at {tls_engine.url}" in result.stdout
    assert "llm: ok, gpt-4o-mini" in result.stdout
    assert tls_llm.requests


def test_without_the_ca_check_refuses_the_engine_in_one_line(
    tmp_path: Path, tls_engine: EngineEmulator
) -> None:
    result = check(tmp_path, CAMUNDA_URL=tls_engine.url)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "certificate not trusted" in lines[0] and "CAMUNDA_CA_BUNDLE" in lines[0]
    assert "Traceback" not in result.stderr


def test_without_the_ca_check_refuses_the_llm_in_one_line(
    tmp_path: Path, pki: Pki, tls_engine: EngineEmulator, tls_llm: FakeLLM
) -> None:
    result = check(
        tmp_path,
        CAMUNDA_URL=tls_engine.url,
        CAMUNDA_CA_BUNDLE=str(pki.ca),
        OPENAI_API_KEY=KEY,
        OPENAI_BASE_URL=tls_llm.base_url,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "certificate not trusted" in lines[0] and "LLM_CA_BUNDLE" in lines[0]
    assert tls_llm.chat_requests() == [], "nothing may be sent to an untrusted endpoint"


def test_the_standard_ssl_cert_file_serves_the_engine_and_the_llm(
    tmp_path: Path, pki: Pki, tls_engine: EngineEmulator, tls_llm: FakeLLM
) -> None:
    result = check(
        tmp_path,
        CAMUNDA_URL=tls_engine.url,
        OPENAI_API_KEY=KEY,
        OPENAI_BASE_URL=tls_llm.base_url,
        SSL_CERT_FILE=str(pki.ca),
    )
    assert result.returncode == 0, result.stderr
    assert "engine: ok" in result.stdout and "llm: ok" in result.stdout


def test_camunda_ca_bundle_wins_over_a_requests_ca_bundle_of_another_ca(
    tmp_path: Path, pki: Pki, tls_engine: EngineEmulator
) -> None:
    # requests lets REQUESTS_CA_BUNDLE override a session's own CA; the worker's must win.
    assert (
        check(tmp_path, CAMUNDA_URL=tls_engine.url, REQUESTS_CA_BUNDLE=str(pki.other_ca)).returncode
        == 2
    )
    result = check(
        tmp_path,
        CAMUNDA_URL=tls_engine.url,
        REQUESTS_CA_BUNDLE=str(pki.other_ca),
        CAMUNDA_CA_BUNDLE=str(pki.ca),
    )
    assert result.returncode == 0, result.stderr
    assert (
        check(tmp_path, CAMUNDA_URL=tls_engine.url, REQUESTS_CA_BUNDLE=str(pki.ca)).returncode == 0
    )


def test_deploy_over_tls(tmp_path: Path, pki: Pki, tls_engine: EngineEmulator) -> None:
    refused = run_cli("deploy", env=worker_env(CAMUNDA_URL=tls_engine.url))
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert "certificate not trusted" in refused.stderr and "CAMUNDA_CA_BUNDLE" in refused.stderr
    done = run_cli(
        "deploy", env=worker_env(CAMUNDA_URL=tls_engine.url, CAMUNDA_CA_BUNDLE=str(pki.ca))
    )
    assert done.returncode == 0, done.stderr
    assert "deployed ticket-refund version 1" in done.stdout


def test_a_ca_bundle_that_does_not_exist_is_a_bad_setting(tmp_path: Path) -> None:
    result = check(tmp_path, CAMUNDA_CA_BUNDLE=str(tmp_path / "missing.pem"))
    assert result.returncode == 2
    assert "CAMUNDA_CA_BUNDLE" in result.stderr and result.stderr.count("\n") == 1


def test_the_worker_decides_over_tls_to_the_engine_and_the_llm(
    start_worker: StartWorker, pki: Pki, tls_engine: EngineEmulator, tls_llm: FakeLLM
) -> None:
    worker = start_worker(
        CAMUNDA_URL=tls_engine.url,
        CAMUNDA_CA_BUNDLE=str(pki.ca),
        WORKER_TOPICS="analyze-fare-rules",
        OPENAI_API_KEY=KEY,
        OPENAI_BASE_URL=tls_llm.base_url,
        LLM_CA_BUNDLE=str(pki.ca),
        DECISION_STRATEGY="llm",
    )
    task = tls_engine.create_task(
        "analyze-fare-rules",
        {
            "bookingId": "TLS1",
            "fareRules": "CANCELLATIONS: CHARGE USD 150 FOR CANCEL/REFUND.",
            "ticketPrice": {"value": 820.0, "type": "Double"},
            "currency": "USD",
            "departureDate": "2030-12-15T09:00:00Z",
            "requestDate": "2030-11-20T12:00:00Z",
        },
    )
    done = tls_engine.wait_for(lambda: tls_engine.completion(task), 30, "the task over TLS")
    assert done.value("llmModel") == "gpt-4o-mini"
    assert len(tls_llm.chat_requests()) == 1
    assert worker.stop() == 0
