"""`llm-worker deploy` and `llm-worker start` as real processes against the engine emulator."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_worker.admin.engine import (
    ID_PATTERN_VARIABLE,
    ID_PATTERN_WITH_HYPHENS,
    EngineAdmin,
    EngineUnreachableError,
)
from tests.conftest import REPO_ROOT, free_port, run_cli, worker_env
from tests.fakes.engine import EngineEmulator
from tests.fakes.engine_admin import AdminState, install_admin_routes

pytestmark = pytest.mark.integration


@pytest.fixture
def admin_engine() -> Iterator[tuple[EngineEmulator, AdminState]]:
    with EngineEmulator(auth=("admin", "s3cret")) as engine:
        yield engine, install_admin_routes(engine)


def cli(
    engine: EngineEmulator | str, *args: str, stdin: str | None = None, cwd: Path = REPO_ROOT
) -> subprocess.CompletedProcess[str]:
    url = engine if isinstance(engine, str) else engine.url
    env = worker_env(CAMUNDA_URL=url, CAMUNDA_USERNAME="admin", CAMUNDA_PASSWORD="s3cret")
    return run_cli(*args, env=env, cwd=cwd, stdin=stdin)


def test_deploy_sends_the_diagram_and_forms_as_one_deployment(
    admin_engine: tuple[EngineEmulator, AdminState],
) -> None:
    engine, state = admin_engine
    result = cli(engine, "deploy")
    assert result.returncode == 0, result.stderr
    assert "deployed ticket-refund version 1" in result.stdout
    (deployment,) = state.deployments
    assert sorted(deployment.resources) == [
        "ticket-refund-audit.form",
        "ticket-refund-payment.form",
        "ticket-refund-review.form",
        "ticket-refund.bpmn",
    ]
    assert (
        deployment.resources["ticket-refund.bpmn"]
        == (REPO_ROOT / "bpmn" / "ticket-refund.bpmn").read_bytes()
    )
    assert deployment.name == "ticket-refund"


def test_unchanged_redeploy_creates_no_new_version_and_a_change_redeploys_everything(
    admin_engine: tuple[EngineEmulator, AdminState], tmp_path: Path
) -> None:
    engine, state = admin_engine
    assert cli(engine, "deploy").returncode == 0
    again = cli(engine, "deploy")
    assert again.returncode == 0, again.stderr
    assert "unchanged" in again.stdout
    assert len(state.deployments) == 1
    assert [d["version"] for d in state.definitions] == [1]

    changed = tmp_path / "bpmn"
    changed.mkdir()
    for source in (REPO_ROOT / "bpmn").iterdir():
        (changed / source.name).write_bytes(source.read_bytes())
    diagram = changed / "ticket-refund.bpmn"
    diagram.write_text(
        diagram.read_text(encoding="utf-8").replace('name="Ticket refund"', 'name="Refund"'),
        encoding="utf-8",
    )
    third = cli(engine, "deploy", "--bpmn-dir", str(changed))
    assert third.returncode == 0, third.stderr
    assert "ticket-refund version 2" in third.stdout
    # The forms travel with the changed diagram: formRefBinding="deployment" needs them there.
    assert len(state.deployments[-1].resources) == 4


def test_demo_users_are_created_once_and_grant_tasklist_access(
    admin_engine: tuple[EngineEmulator, AdminState],
) -> None:
    engine, state = admin_engine
    state.id_pattern = ID_PATTERN_WITH_HYPHENS  # as the compose stack configures Camunda Run
    first = cli(engine, "deploy", "--demo-users")
    assert first.returncode == 0, first.stderr
    assert "demo users: created" in first.stdout
    assert set(state.groups) == {"refund-operators", "refund-managers", "refund-auditors"}
    assert state.memberships == {
        ("refund-operators", "demo-operator"),
        ("refund-managers", "demo-manager"),
        ("refund-auditors", "demo-auditor"),
    }
    grants = {(a["groupId"], a["resourceType"], a["resourceId"]) for a in state.authorizations}
    (task_filter,) = state.filters
    for group in ("refund-operators", "refund-managers", "refund-auditors"):
        assert (group, 0, "tasklist") in grants
        assert (group, 6, "ticket-refund") in grants
        assert (group, 5, task_filter["id"]) in grants
    assert task_filter["query"]["candidateGroupsExpression"] == "${currentUserGroups()}"

    second = cli(engine, "deploy", "--demo-users")
    assert second.returncode == 0, second.stderr
    assert "demo users: already in place" in second.stdout
    assert len(state.authorizations) == 9
    assert len(state.filters) == 1


def test_demo_users_on_an_engine_that_refuses_hyphens_say_what_to_set(
    admin_engine: tuple[EngineEmulator, AdminState],
) -> None:
    engine, state = admin_engine  # Camunda's default generalResourceWhitelistPattern
    result = cli(engine, "deploy", "--demo-users")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "'refund-operators' is not a valid resource identifier" in result.stderr
    assert ID_PATTERN_VARIABLE in result.stderr
    assert state.groups == {}


def test_start_sends_typed_variables_and_the_booking_as_business_key(
    admin_engine: tuple[EngineEmulator, AdminState], tmp_path: Path
) -> None:
    engine, state = admin_engine
    assert cli(engine, "deploy").returncode == 0
    case = {
        "bookingId": "PNR123",
        "fareRules": "Refundable before departure. Cancellation fee USD 150.",
        "ticketPrice": 820.0,
        "currency": "USD",
        "noShow": False,
        "passengerCount": 1,
        "departureDate": {"value": "2026-12-01T08:00:00.000+0000", "type": "Date"},
    }
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case), encoding="utf-8")
    result = cli(engine, "start", str(path))
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    (instance,) = state.instances
    assert printed["processInstanceId"] == instance.id
    assert instance.business_key == "PNR123"
    assert instance.variables["ticketPrice"]["type"] == "Double"
    assert instance.variables["noShow"] == {"type": "Boolean", "value": False, "valueInfo": {}}
    assert instance.variables["passengerCount"]["type"] == "Integer"
    assert instance.variables["departureDate"]["type"] == "Date"


def test_start_reads_stdin_and_takes_an_explicit_business_key(
    admin_engine: tuple[EngineEmulator, AdminState],
) -> None:
    engine, state = admin_engine
    assert cli(engine, "deploy").returncode == 0
    result = cli(engine, "start", "-", "--business-key", "case-9", stdin='{"bookingId": "X1"}')
    assert result.returncode == 0, result.stderr
    assert state.instances[0].business_key == "case-9"


def test_start_reads_a_rest_start_body_as_decide_does(
    admin_engine: tuple[EngineEmulator, AdminState],
) -> None:
    engine, state = admin_engine
    assert cli(engine, "deploy").returncode == 0
    body = {"businessKey": "case-7", "variables": {"bookingId": "X1", "ticketPrice": 200.5}}
    result = cli(engine, "start", "-", stdin=json.dumps(body))
    assert result.returncode == 0, result.stderr
    (instance,) = state.instances
    assert instance.business_key == "case-7"
    assert set(instance.variables) == {"bookingId", "ticketPrice"}
    assert instance.variables["ticketPrice"]["type"] == "Double"


def test_start_before_deploy_says_what_to_do(
    admin_engine: tuple[EngineEmulator, AdminState],
) -> None:
    engine, _ = admin_engine
    result = cli(engine, "start", "-", stdin='{"bookingId": "X1"}')
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "llm-worker start: process 'ticket-refund' is not deployed on the engine; "
        "run `llm-worker deploy` first"
    ]


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("{not json", "stdin is not valid JSON: Expecting property name"),
        ("[1, 2]", "stdin must hold a JSON object of process variables"),
        ("{}", "stdin holds no process variables (a case needs at least bookingId)"),
        ('{"variables": {"bookingId": "B"}, "processDefinitionKey": "x"}', "REST start body"),
        ('{"fareRules": {"text": "x"}}', "variable fareRules: an object must be a typed value"),
        ('{"legs": [1, 2]}', "variable legs: lists are not process variables"),
    ],
)
def test_start_mistakes_print_one_line(
    admin_engine: tuple[EngineEmulator, AdminState], stdin: str, message: str
) -> None:
    engine, state = admin_engine
    result = cli(engine, "start", "-", stdin=stdin)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("llm-worker start: ")
    assert message in line
    assert state.instances == []


def test_start_missing_file_is_one_line(admin_engine: tuple[EngineEmulator, AdminState]) -> None:
    engine, _ = admin_engine
    result = cli(engine, "start", "/nonexistent/case.json")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "llm-worker start: cannot read /nonexistent/case.json: No such file or directory"
    )


def test_engine_rejection_of_a_variable_is_one_line(
    admin_engine: tuple[EngineEmulator, AdminState],
) -> None:
    engine, _ = admin_engine
    assert cli(engine, "deploy").returncode == 0
    bad = '{"ticketPrice": {"value": "lots", "type": "Double"}}'
    result = cli(engine, "start", "-", stdin=bad)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("llm-worker start: the engine could not start the process: HTTP 400")


def test_unreachable_engine_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}/engine-rest"
    for args in (("deploy",), ("start", "-")):
        result = cli(url, *args, stdin='{"bookingId": "X1"}')
        assert result.returncode == 1
        assert result.stderr.strip() == (
            f"llm-worker {args[0]}: cannot reach the engine at {url} (ConnectionError)"
        )


def test_wrong_credentials_are_named(admin_engine: tuple[EngineEmulator, AdminState]) -> None:
    engine, _ = admin_engine
    env = worker_env(CAMUNDA_URL=engine.url, CAMUNDA_USERNAME="admin", CAMUNDA_PASSWORD="nope")
    result = run_cli("deploy", env=env)
    assert result.returncode == 1
    assert "refused the credentials" in result.stderr
    assert "nope" not in result.stderr


def test_deploy_of_a_folder_without_resources_is_a_user_error(
    admin_engine: tuple[EngineEmulator, AdminState], tmp_path: Path
) -> None:
    engine, _ = admin_engine
    result = cli(engine, "deploy", "--bpmn-dir", str(tmp_path))
    assert result.returncode == 2
    assert "holds no .bpmn, .dmn or .form file" in result.stderr
    missing = cli(engine, "deploy", "--bpmn-dir", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "no such folder" in missing.stderr


def test_a_diagram_the_engine_rejects_is_reported(
    admin_engine: tuple[EngineEmulator, AdminState], tmp_path: Path
) -> None:
    engine, state = admin_engine
    source = (REPO_ROOT / "bpmn" / "ticket-refund.bpmn").read_text(encoding="utf-8")
    (tmp_path / "ticket-refund.bpmn").write_text(
        source.replace(' camunda:historyTimeToLive="180"', ""), encoding="utf-8"
    )
    result = cli(engine, "deploy", "--bpmn-dir", str(tmp_path))
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "the engine could not deploy: HTTP 400: ENGINE-12018" in line
    assert state.deployments == []


def test_credentials_in_the_engine_url_never_reach_a_message() -> None:
    port = free_port()
    admin = EngineAdmin(f"http://ops:hunter2@127.0.0.1:{port}/engine-rest", timeout_s=2)
    with pytest.raises(EngineUnreachableError) as caught:
        admin.deploy([REPO_ROOT / "bpmn" / "ticket-refund.bpmn"])
    assert "hunter2" not in str(caught.value)
    assert f"127.0.0.1:{port}/engine-rest" in str(caught.value)
