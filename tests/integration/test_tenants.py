"""CAMUNDA_TENANT_ID: the real worker fetches and counts only its tenant's tasks (on the emulator,
or a real Camunda 7 when CAMUNDA_TEST_URL is set), `deploy` and `start` put the process and its
instances in the tenant, and the history reads (`reviews export`, the audit count) see only the
tenant's instances."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from llm_worker.observability.health import Health
from llm_worker.runtime.engine import EngineClient
from tests.conftest import StartWorker, run_cli, wait_until, worker_env
from tests.fakes.bpmn_runner import fake_time
from tests.fakes.engine import EngineEmulator
from tests.fakes.engine_admin import AdminState, install_admin_routes
from tests.fakes.engine_history import install_history_routes
from tests.fakes.real_engine import EmulatorDriver, EngineDriver
from tests.integration.test_commands_reviews import SINCE, UNTIL, Cases

pytestmark = pytest.mark.integration

TOPIC = "analyze-fare-rules"
MINE, THEIRS = "tenant-a", "tenant-b"
_numbers = itertools.count(1)


def case() -> dict[str, Any]:
    """A cancelled flight: decided from the facts, no LLM needed."""
    n = next(_numbers)
    return {
        "bookingId": f"TN{n:04d}",
        "fareRules": "NON-REFUNDABLE.",
        "ticketPrice": 300.0,
        "currency": "USD",
        "flightStatus": "CANCELLED",
    }


def pending(metrics: str, topic: str) -> float | None:
    for line in metrics.splitlines():
        if line.startswith(f'camunda_external_tasks_pending{{topic="{topic}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.mark.real_engine
def test_a_tenants_worker_takes_and_counts_only_that_tenants_tasks(
    start_worker: StartWorker, engine_driver: EngineDriver
) -> None:
    mine = engine_driver.create_task(TOPIC, case(), tenant_id=MINE)
    theirs = engine_driver.create_task(TOPIC, case(), tenant_id=THEIRS)
    untenanted = engine_driver.create_task(TOPIC, case())
    worker = start_worker(
        CAMUNDA_URL=engine_driver.url,
        CAMUNDA_TENANT_ID=MINE,
        WORKER_ID=f"tenant-worker-{next(_numbers)}",
        WORKER_TOPICS=TOPIC,
        BACKLOG_POLL_INTERVAL_S=1,
    )
    done = engine_driver.wait_for(
        lambda: engine_driver.completed_variables(mine), 30, "the tenant's task completed"
    )
    assert done["fareRuleCheck"]["value"] == "ALLOWED"
    # The backlog is the tenant's: 0 once its task is done, while two others still wait.
    wait_until(
        lambda: pending(worker.metrics(), TOPIC) == 0,
        20,
        message="camunda_external_tasks_pending of the tenant at 0",
    )
    for other in (theirs, untenanted):
        info = engine_driver.task_info(other)
        assert info is not None, "another tenant's task (or one without a tenant) was handled"
        assert not info.locked and info.worker_id is None
    assert worker.stop() == 0
    if isinstance(engine_driver, EmulatorDriver):  # the requests a worker sent
        engine = engine_driver.engine
        fetches = engine.fetch_requests()
        assert fetches and all(
            topic["tenantIdIn"] == [MINE] for r in fetches for topic in r.body["topics"]
        )
        counts = engine.requests_to("GET", "/external-task/count")
        assert counts and all(r.query["tenantIdIn"] == [MINE] for r in counts)


@pytest.fixture
def admin_engine() -> Iterator[tuple[EngineEmulator, AdminState]]:
    with EngineEmulator() as engine:
        yield engine, install_admin_routes(engine)


def cli(url: str, *args: str, **settings: str) -> Any:
    return run_cli(*args, env=worker_env(CAMUNDA_URL=url, **settings))


def test_deploy_and_start_belong_to_the_tenant(
    admin_engine: tuple[EngineEmulator, AdminState], tmp_path: Path
) -> None:
    engine, state = admin_engine
    deployed = cli(engine.url, "deploy", CAMUNDA_TENANT_ID=MINE)
    assert deployed.returncode == 0, deployed.stderr
    assert "deployed ticket-refund version 1" in deployed.stdout
    (deployment,) = state.deployments
    assert deployment.tenant_id == MINE
    # Another tenant's deployment of the same diagram is a version 1 of its own.
    other = cli(engine.url, "deploy", CAMUNDA_TENANT_ID=THEIRS)
    assert "deployed ticket-refund version 1" in other.stdout
    variables = tmp_path / "case.json"
    variables.write_text(json.dumps(case()), encoding="utf-8")
    # By key alone the engine cannot choose between the two tenants' definitions.
    assert cli(engine.url, "start", str(variables)).returncode == 1
    started = cli(engine.url, "start", str(variables), CAMUNDA_TENANT_ID=MINE)
    assert started.returncode == 0, started.stderr
    instance = json.loads(started.stdout)
    (created,) = state.instances
    assert (created.id, created.tenant_id) == (instance["processInstanceId"], MINE)
    assert instance["definitionId"] == deployment.definitions[0]["id"]
    # A tenant without the process: the message names the tenant.
    missing = cli(engine.url, "start", str(variables), CAMUNDA_TENANT_ID="tenant-c")
    assert missing.returncode == 1
    assert "not deployed on the engine for tenant tenant-c" in missing.stderr


def test_reviews_export_and_the_audit_count_read_only_the_tenants_history(
    tmp_path: Path,
) -> None:
    with fake_time() as clock, EngineEmulator() as engine:
        history = install_history_routes(engine)
        cases = Cases(clock, history)
        for key, tenant in (("R-MINE", MINE), ("R-THEIRS", THEIRS), ("R-NONE", None)):
            run = cases.reviewed(key, approved=False)
            history.tenants[run.id] = tenant
        out = tmp_path / "reviews.jsonl"
        result = run_cli(
            "reviews",
            "export",
            "--out",
            str(out),
            "--since",
            SINCE,
            "--until",
            UNTIL,
            env=worker_env(CAMUNDA_URL=engine.url, CAMUNDA_TENANT_ID=MINE),
        )
        assert result.returncode == 0, result.stderr
        exported = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert [line["id"] for line in exported] == ["R-MINE"]
        (count,) = engine.requests_to("GET", "/history/process-instance/count")
        assert count.query["tenantIdIn"] == [MINE]

        # The audit poller's count (POST /history/process-instance/count) likewise.
        query = {"processDefinitionKey": "ticket-refund", "finished": True}
        for tenant, expected in ((MINE, 1), (None, 3)):
            client = EngineClient(
                base_url=engine.url,
                worker_id="tenant-test",
                health=Health(60, 60),
                lock_duration_ms=10_000,
                async_response_timeout_ms=0,
                tenant_id=tenant,
            )
            try:
                assert client.count_history(query) == expected
            finally:
                client.close()


@pytest.mark.real_engine
def test_deploy_and_start_with_a_tenant_on_a_real_engine(
    tmp_path: Path, real_engine_url: str
) -> None:
    url = real_engine_url.rstrip("/")
    tenant = f"llmworker-it-{next(_numbers)}"
    deployed = cli(url, "deploy", CAMUNDA_TENANT_ID=tenant)
    assert deployed.returncode == 0, deployed.stderr
    variables = tmp_path / "case.json"
    variables.write_text(json.dumps(case()), encoding="utf-8")
    started = cli(url, "start", str(variables), CAMUNDA_TENANT_ID=tenant)
    assert started.returncode == 0, started.stderr
    instance_id = json.loads(started.stdout)["processInstanceId"]
    try:
        found = requests.get(f"{url}/process-instance/{instance_id}", timeout=30).json()
        assert found["tenantId"] == tenant
        tasks = requests.get(
            f"{url}/external-task", params={"processInstanceId": instance_id}, timeout=30
        ).json()
        assert tasks and all(t["tenantId"] == tenant for t in tasks)
    finally:
        requests.delete(f"{url}/process-instance/{instance_id}", timeout=30)
