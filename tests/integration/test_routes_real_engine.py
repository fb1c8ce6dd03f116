"""Every route of ticket-refund on the real Camunda 7.24 engine, end to end as a user runs it:
`llm-worker deploy --demo-users`, the real `llm-worker run` (rules alone, and an LLM behind the
fake OpenAI server), each case of docker/smoke started with `llm-worker start`, its user tasks
completed through the REST calls Tasklist makes, timers fired by the engine's own job executor,
each outcome read from the engine's history (what scripts/smoke.sh checks on the Docker stack);
then `reviews export` of that history and `eval` on the export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WorkerProcess, clean_env, deploy_demo_users, run_cli, worker_env
from tests.fakes.engine_rest import EngineRest
from tests.fakes.llm import Answer, FakeLLM
from tests.support import REPO_ROOT, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.real_engine]

SMOKE = sorted((REPO_ROOT / "docker" / "smoke").glob("*.json"))
CASE_TIMEOUT_S = 60.0


class Engine(EngineRest):
    """The REST calls an operator's Tasklist and Cockpit make, and the history reads."""

    def open_task(self, pid: str, key: str) -> str | None:
        found = self.get("/task", processInstanceId=pid, taskDefinitionKey=key)
        return str(found[0]["id"]) if found else None

    def complete(self, task_id: str, variables: dict[str, Any]) -> None:
        response = self.http.post(
            f"{self.url}/task/{task_id}/complete", json={"variables": variables}, timeout=30
        )
        assert response.status_code in (200, 204), response.text

    def state(self, pid: str) -> str:
        return str(self.get(f"/history/process-instance/{pid}")["state"])

    def variable(self, pid: str, name: str) -> Any:
        found = self.get("/history/variable-instance", processInstanceId=pid, variableName=name)
        return found[0]["value"] if found else None

    def hurry_payment_backoff(self, pid: str) -> None:
        """Time passes for the payment back-off (PT30S): its timer job falls due now, and the
        engine's job executor fires it."""
        for job in self.get("/job", processInstanceId=pid, activityId="Timer_PaymentBackoff"):
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
            response = self.http.put(
                f"{self.url}/job/{job['id']}/duedate", json={"duedate": now}, timeout=30
            )
            assert response.status_code == 204, response.text


class Workers:
    """One `llm-worker run` at a time, restarted when a case needs another payment failure
    rate (as smoke.sh recreates the stack's workers)."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self.folder = folder
        self.current: WorkerProcess | None = None
        self.rate: float | None = None
        self.started: list[WorkerProcess] = []

    def with_failure_rate(self, rate: float) -> WorkerProcess:
        if self.current is not None and self.rate == rate:
            return self.current
        self.stop()
        env = worker_env(
            CAMUNDA_URL=self.url,
            DECISION_STRATEGY="rules",
            PAYMENT_SIMULATED="true",
            PAYMENT_FAILURE_RATE=rate,
            AUDIT_POLL_INTERVAL_S=1,
            ASYNC_RESPONSE_TIMEOUT_MS=5_000,
        )
        worker = WorkerProcess(env, self.folder / f"worker-{len(self.started)}.log", self.folder)
        self.started.append(worker)
        worker.wait_started()
        self.current, self.rate = worker, rate
        return worker

    def stop(self) -> None:
        if self.current is not None:
            assert self.current.stop() == 0, self.current.raw_log()[-3000:]
            self.current = None

    def close(self) -> None:
        for worker in self.started:
            worker.kill()


@pytest.fixture(scope="module")
def began() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=1)


@pytest.fixture(scope="module")
def engine(real_engine_url: str, began: datetime) -> Iterator[Engine]:
    """The engine after `llm-worker deploy --demo-users`, as the README tells users."""
    deploy_demo_users(real_engine_url)
    real = Engine(real_engine_url)
    yield real
    real.http.close()


@pytest.fixture(scope="module")
def workers(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    running = Workers(engine.url, tmp_path_factory.mktemp("route-workers"))
    yield running
    running.stop()
    running.close()


def test_deploy_created_the_demo_users_groups_and_the_tasklist_filter(engine: Engine) -> None:
    groups = {g["id"] for g in engine.get("/group")}
    assert {"refund-operators", "refund-managers", "refund-auditors"} <= groups
    for user, group in [
        ("demo-operator", "refund-operators"),
        ("demo-manager", "refund-managers"),
        ("demo-auditor", "refund-auditors"),
    ]:
        assert [u["id"] for u in engine.get("/user", memberOfGroup=group)] == [user]
    filters = {f["name"] for f in engine.get("/filter", resourceType="Task")}
    assert {"All tasks", "Refund cases"} <= filters  # Run's own and the one deploy adds
    (definition,) = engine.get("/process-definition", key="ticket-refund", latestVersion="true")
    assert definition["historyTimeToLive"] == 180


@pytest.mark.parametrize(
    "path",
    sorted(SMOKE, key=lambda p: json.loads(p.read_text()).get("paymentFailureRate", 0)),
    ids=lambda p: p.stem,
)
def test_the_route_of_every_smoke_case(
    engine: Engine, workers: Workers, path: Path, tmp_path: Path
) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    worker = workers.with_failure_rate(float(case.get("paymentFailureRate", 0.0)))
    variables = tmp_path / "variables.json"
    variables.write_text(json.dumps(case["start"]["variables"]), encoding="utf-8")
    # The case's own key, as smoke.sh sends it: the audit sample is drawn from the key's hash,
    # and these keys fall where each case expects (in the sample only at auditRate 1).
    key = case["start"]["businessKey"]
    started = run_cli(
        "start", str(variables), "--business-key", key, env=clean_env(CAMUNDA_URL=engine.url)
    )
    assert started.returncode == 0, started.stderr
    pid = json.loads(started.stdout)["processInstanceId"]
    assert json.loads(started.stdout)["businessKey"] == key

    for step in case["complete"]:
        task_id = wait_until(
            lambda step=step: (
                engine.hurry_payment_backoff(pid) or engine.open_task(pid, step["task"])
            ),
            CASE_TIMEOUT_S,
            0.25,
            f"{path.stem}: user task {step['task']}",
        )
        for before in step.get("reachedBefore", []):
            assert engine.visited(pid, before, finished=True), f"{before} not reached first"
        engine.complete(task_id, step["variables"])

    wait_until(
        lambda: engine.hurry_payment_backoff(pid) or engine.state(pid) == "COMPLETED",
        CASE_TIMEOUT_S,
        0.25,
        f"{path.stem}: the instance ended",
    )
    expect = case["expect"]
    assert engine.ends(pid) == sorted([expect["endEvent"], *expect.get("alsoEnded", [])])
    for activity in expect["visits"]:
        assert engine.visited(pid, activity), f"never passed {activity}"
    for name, value in expect["variables"].items():
        assert engine.variable(pid, name) == value, name
    for series, minimum in expect.get("metricsAtLeast", {}).items():
        wait_until(
            lambda series=series, minimum=minimum: metric(worker, series) >= minimum,
            30,
            0.25,
            f"{series} >= {minimum} on the worker",
        )


def metric(worker: WorkerProcess, series: str) -> float:
    for line in worker.metrics().splitlines():
        name, _, value = line.rpartition(" ")
        if name == series:
            return float(value)
    return 0.0


def test_an_llm_decision_takes_its_route_on_the_real_engine(
    engine: Engine, workers: Workers, tmp_path: Path
) -> None:
    """The LLM reads every case (strategy llm, the fake OpenAI server): its decision reaches
    the engine typed as the gateway and the payment need it."""
    workers.stop()
    with FakeLLM(latency_s=0.0) as llm:
        llm.script(Answer(decision="WITH_PENALTY", penalty_amount=150.0, penalty_currency="USD"))
        env = worker_env(
            CAMUNDA_URL=engine.url,
            DECISION_STRATEGY="llm",
            OPENAI_API_KEY="sk-test-not-a-real-key",
            OPENAI_BASE_URL=llm.base_url,
            PAYMENT_SIMULATED="true",
            PAYMENT_FAILURE_RATE=0,
            ASYNC_RESPONSE_TIMEOUT_MS=5_000,
        )
        worker = WorkerProcess(env, tmp_path / "llm-worker.log", tmp_path)
        try:
            worker.wait_started()
            case = json.loads((REPO_ROOT / "docker/smoke/penalty-refunded.json").read_text())
            variables = {k: v["value"] for k, v in case["start"]["variables"].items()}
            variables["bookingId"] = "LLMROUTE1"
            started = run_cli(
                "start", "-", stdin=json.dumps(variables), env=clean_env(CAMUNDA_URL=engine.url)
            )
            assert started.returncode == 0, started.stderr
            pid = json.loads(started.stdout)["processInstanceId"]
            wait_until(
                lambda: engine.state(pid) == "COMPLETED", CASE_TIMEOUT_S, 0.25, "the instance"
            )
            assert worker.stop() == 0
        finally:
            worker.kill()
        assert len(llm.chat_requests()) == 1
    assert engine.ends(pid) == ["End_Refunded"]
    assert engine.variable(pid, "decisionSource") == "LLM"
    assert engine.variable(pid, "fareRuleCheck") == "WITH_PENALTY"
    assert (engine.variable(pid, "penaltyAmount"), engine.variable(pid, "refundAmount")) == (
        150.0,
        470.0,
    )
    assert engine.variable(pid, "paymentStatus") == "SUCCESS"


def test_reviews_export_from_the_real_history_then_eval(
    engine: Engine, began: datetime, tmp_path: Path
) -> None:
    """Runs after the routes: their reviews and audit are in the engine's history."""
    out = tmp_path / "reviews.jsonl"
    env = clean_env(CAMUNDA_URL=engine.url)
    exported = run_cli(
        "reviews", "export", "--out", str(out), "--since", began.isoformat(), env=env
    )
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    by_booking = {line["variables"]["bookingId"]: line for line in lines}
    # The manual reviews (approved, rejected, escalated) and the audit; never the audit
    # nobody took (no verdict) nor the automatic refunds nobody reviewed.
    smoke = {
        v["start"]["variables"]["bookingId"]["value"]: v
        for v in (json.loads(p.read_text()) for p in SMOKE)
    }
    reviewed = {
        b
        for b, c in smoke.items()
        if any(s["task"] != "Task_ResolvePayment" for s in c["complete"])
    }
    assert reviewed <= set(by_booking)
    assert "SMOKEAUD2" not in by_booking and "SMOKEPEN1" not in by_booking
    assert by_booking["SMOKEAUD1"]["expected"] == "WITH_PENALTY"
    evaluated = run_cli("eval", str(out), "--json", env=clean_env(DECISION_STRATEGY="rules"))
    assert evaluated.returncode == 0, evaluated.stderr
    summary = json.loads(evaluated.stdout)
    # eval scores the labelled lines (a rejection or an approval at another amount has none)
    assert summary["cases"] == sum(line["expected"] is not None for line in lines) >= 1
