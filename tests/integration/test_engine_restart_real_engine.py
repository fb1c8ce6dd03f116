"""A restart of the real Camunda 7.24 engine (its H2 file database kept) while the real
`llm-worker run` has tasks in flight: the worker recovers by itself, every external task is
completed exactly once in the engine's history, and no refund is paid twice (a gateway over
HTTP that honours the Idempotency-Key, as a real one does, counts the payments)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from llm_worker.admin.engine import EngineAdmin
from llm_worker.commands.start import typed_variables
from tests.conftest import WorkerProcess, clean_env, run_cli, worker_env
from tests.fakes.camunda_engine import CamundaEngine, build
from tests.fakes.llm import Answer, FakeLLM
from tests.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.real_engine]

INSTANCES = 8
CASE = {
    "ticketPrice": 620.0,
    "currency": "USD",
    "departureDate": "2030-06-01",
    "fareRules": "CANCELLATIONS: ANY TIME CHARGE USD 150.00 FOR CANCEL/REFUND.",
    "auditRate": 0,
}


class IdempotentGateway:
    """A payment gateway on 127.0.0.1: the first request with a key pays, a repeat of the key
    answers the same payment; every request and every payment is recorded."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.paid: dict[str, str] = {}
        lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = self.headers["Idempotency-Key"]
                with lock:
                    gateway.requests.append(key)
                    payment = gateway.paid.setdefault(key, f"PAY-{len(gateway.paid) + 1}")
                body = json.dumps({"paymentId": payment}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/refunds"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def own_engine(tmp_path: Path) -> Iterator[CamundaEngine]:
    """An engine of the test's own: the session's is not restarted under the other tests."""
    engine = CamundaEngine(build(), tmp_path / "engine")
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()


def test_an_engine_restart_with_tasks_in_flight(own_engine: CamundaEngine, tmp_path: Path) -> None:
    engine = own_engine
    deployed = run_cli("deploy", env=clean_env(CAMUNDA_URL=engine.url))
    assert deployed.returncode == 0, deployed.stderr
    gateway = IdempotentGateway()
    answer = Answer(decision="WITH_PENALTY", penalty_amount=150.0, penalty_currency="USD")
    with FakeLLM(latency_s=1.5, behaviour=answer) as llm:
        env = worker_env(
            CAMUNDA_URL=engine.url,
            DECISION_STRATEGY="llm",
            OPENAI_API_KEY="sk-test-not-a-real-key",
            OPENAI_BASE_URL=llm.base_url,
            PAYMENT_GATEWAY_URL=gateway.url,
            PAYMENT_SIMULATED="false",  # the idempotent HTTP gateway pays, not the simulated one
            WORKER_CONCURRENCY=4,
            LOCK_DURATION_MS=10_000,
            ASYNC_RESPONSE_TIMEOUT_MS=2_000,
        )
        worker = WorkerProcess(env, tmp_path / "worker.log", tmp_path)
        admin = EngineAdmin(engine.url)
        try:
            worker.wait_started()
            pids = [
                admin.start(
                    typed_variables({**CASE, "bookingId": f"RESTART{n}"}),
                    business_key=f"RESTART-{n}",
                ).id
                for n in range(INSTANCES)
            ]
            wait_until(lambda: len(llm.chat_requests()) >= 2, 30, 0.05, "tasks in flight")

            engine.stop()  # SIGTERM: the database is closed cleanly, as `docker stop` does
            worker.wait_for_log(
                lambda e: e.get("event") == "engine fetch failed; backing off",
                timeout=30,
                message="the worker noticing the engine is gone",
            )
            engine.start()  # same port, same database

            history = requests.Session()

            def finished() -> bool:
                found = history.get(
                    f"{engine.url}/history/process-instance",
                    params={"processDefinitionKey": "ticket-refund", "finished": "true"},
                    timeout=30,
                ).json()
                return len(found) == INSTANCES

            wait_until(finished, 180, 0.5, f"all {INSTANCES} instances finished")
            worker.wait_for_log(lambda e: e.get("event") == "engine reachable again", 10)
            assert requests.get(f"{worker.metrics_url}/readyz", timeout=5).status_code == 200

            for pid in pids:
                ends = history.get(
                    f"{engine.url}/history/activity-instance",
                    params={"processInstanceId": pid, "activityType": "noneEndEvent"},
                    timeout=30,
                ).json()
                assert [e["activityId"] for e in ends] == ["End_Refunded"], pid
                # Each external task completed once: one success in its log per activity.
                successes = history.get(
                    f"{engine.url}/history/external-task-log",
                    params={"processInstanceId": pid, "successLog": "true"},
                    timeout=30,
                ).json()
                assert sorted(s["activityId"] for s in successes) == [
                    "Task_CheckFareRules",
                    "Task_ProcessPayment",
                ], pid
                paid = history.get(
                    f"{engine.url}/history/variable-instance",
                    params={"processInstanceId": pid, "variableName": "paymentId"},
                    timeout=30,
                ).json()
                assert len(paid) == 1 and paid[0]["value"] in gateway.paid.values(), pid
            history.close()
            # One payment per refund, whatever was retried.
            assert len(gateway.paid) == INSTANCES
            assert set(Counter(gateway.paid.values()).values()) == {1}
            assert worker.stop() == 0
        finally:
            admin.close()
            worker.kill()
            gateway.close()
