"""The real Camunda 7.24 Tasklist in headless Chromium, on the session's real engine: deployed
with `llm-worker deploy --demo-users`, cases started with `llm-worker start` and decided and
paid by the real `llm-worker run` (rules alone, simulated gateway); each demo user logs in on
Tasklist's own login page, opens the task from the "All tasks" filter, reads the form Tasklist
renders from the deployed .form, claims, decides and completes it; the outcome is read from the
engine's history. Screenshots go to build/tasklist-screenshots/."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WorkerProcess, clean_env, deploy_demo_users, run_cli, worker_env
from tests.fakes.engine_rest import EngineRest
from tests.fakes.tasklist_browser import TasklistBrowser, Write
from tests.support import REPO_ROOT, wait_until

# A browser, an engine timer and a worker on 2 shared cores: more than the default 120 s.
pytestmark = [pytest.mark.integration, pytest.mark.real_engine, pytest.mark.timeout(400)]

SCREENSHOTS = REPO_ROOT / "build" / "tasklist-screenshots"
CASE_TIMEOUT_S = 60.0
# Past the engine's timer: its job executor fires a due timer within about a second here, and
# a CPU shared with the rest of the suite may hold it up.
SLA_TIMEOUT_S = 120.0

MANUAL_CASE = {
    "fareRules": "FARE IS NON-REFUNDABLE. NO REFUND PERMITTED AFTER TICKETING.",
    "ticketPrice": 275.0,
    "currency": "EUR",
    "refundReason": "VOLUNTARY",
}
# The fee the rules read is charged and the refund paid at once; auditRate 1 samples it.
AUDITED_CASE = {
    "fareRules": "CANCELLATIONS: ANY TIME CHARGE USD 150.00 FOR CANCEL/REFUND.",
    "fareBasis": "MFLEXUS",
    "ticketPrice": 620.0,
    "currency": "USD",
    "purchaseDate": "2030-01-05",
    "departureDate": "2030-06-01",
    "requestDate": "2030-02-01T10:00:00Z",
    "refundReason": "VOLUNTARY",
    "auditRate": 1.0,
}


class History(EngineRest):
    """The engine's REST API, for what the test reads besides Tasklist."""

    def open_task(self, pid: str, key: str) -> dict[str, Any] | None:
        found = self.get("/task", processInstanceId=pid, taskDefinitionKey=key)
        return dict(found[0]) if found else None

    def ended(self, pid: str) -> bool:
        return bool(self.get(f"/history/process-instance/{pid}")["state"] == "COMPLETED")

    def variable(self, pid: str, name: str) -> tuple[str, Any]:
        (found,) = self.get("/history/variable-instance", processInstanceId=pid, variableName=name)
        return str(found["type"]), found["value"]

    def assignee(self, task_id: str) -> str:
        (task,) = self.get("/history/task", taskId=task_id)
        return str(task["assignee"])


@pytest.fixture(scope="module")
def history(real_engine_url: str) -> Iterator[History]:
    """The engine after `llm-worker deploy --demo-users`, as the README tells users."""
    deploy_demo_users(real_engine_url)
    engine = History(real_engine_url)
    yield engine
    engine.http.close()


@pytest.fixture(scope="module")
def worker(history: History, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    folder = tmp_path_factory.mktemp("tasklist-worker")
    env = worker_env(
        CAMUNDA_URL=history.url,
        DECISION_STRATEGY="rules",
        PAYMENT_SIMULATED="true",
        PAYMENT_FAILURE_RATE=0,
        AUDIT_POLL_INTERVAL_S=1,
        ASYNC_RESPONSE_TIMEOUT_MS=5_000,
    )
    running = WorkerProcess(env, folder / "worker.log", folder)
    try:
        running.wait_started()
        yield running
        assert running.stop() == 0, running.raw_log()[-3000:]
    finally:
        running.kill()


@pytest.fixture(scope="module")
def tasklist(real_engine_url: str) -> Iterator[TasklistBrowser]:
    browser = TasklistBrowser(real_engine_url.removesuffix("/engine-rest"))
    yield browser
    browser.close()


def start(history: History, case: dict[str, Any], tmp_path: Path, **extra: Any) -> str:
    """`llm-worker start FILE`, with a booking id of its own; the instance id."""
    variables = {"bookingId": f"TL{uuid.uuid4().hex[:10].upper()}", **case, **extra}
    path = tmp_path / "case.json"
    path.write_text(json.dumps(variables), encoding="utf-8")
    started = run_cli("start", str(path), env=clean_env(CAMUNDA_URL=history.url))
    assert started.returncode == 0, started.stderr
    return str(json.loads(started.stdout)["processInstanceId"])


def open_in_tasklist(
    tasklist: TasklistBrowser, user: str, task: dict[str, Any], groups: str
) -> None:
    """Log in as `user`, open the task from "All tasks", see Tasklist render its form."""
    tasklist.login(user, user)  # `deploy --demo-users`: a demo user's password is its id
    assert "All tasks" in tasklist.filters()
    tasklist.open_filter("All tasks")
    card = wait_until(
        lambda: next((c for c in tasklist.tasks() if c.id == task["id"]), None),
        30,
        0.25,
        f"the card of task {task['id']} in All tasks",
    )
    assert (card.name, card.process) == (task["name"], "Ticket refund")
    pane = tasklist.open_task(task["id"])
    assert pane == {"name": task["name"], "groups": groups}
    assert tasklist.claim() == f"Demo {user.removeprefix('demo-').capitalize()}"


def submitted(writes: list[Write], task_id: str) -> dict[str, Any]:
    """The variables of Tasklist's submit-form request, as it sent them."""
    (submit,) = [w for w in writes if w.path.endswith(f"/task/{task_id}/submit-form")]
    assert submit.method == "POST" and submit.status == 204, submit
    variables: dict[str, Any] = submit.json()["variables"]
    return variables


def test_an_operator_approves_a_manual_review_in_tasklist(
    history: History, worker: WorkerProcess, tasklist: TasklistBrowser, tmp_path: Path
) -> None:
    pid = start(history, MANUAL_CASE, tmp_path)
    task = wait_until(
        lambda: history.open_task(pid, "Task_ManualReview"), CASE_TIMEOUT_S, 0.25, "the review"
    )
    # The diagram's form reference, which Tasklist resolves in the deployment.
    assert task["camundaFormRef"] == {
        "key": "ticket-refund-review",
        "binding": "deployment",
        "version": None,
    }
    open_in_tasklist(tasklist, "demo-operator", task, "Refund operators")
    text = tasklist.form_text()
    booking = history.variable(pid, "bookingId")[1]
    assert "Refund review" in text and booking in text and "NON-REFUNDABLE" in text
    assert tasklist.clipped() == []
    fields = {f.label: f for f in tasklist.fields() if f.label}
    assert fields["Approve or reject"].type == "radio" and fields["Approve or reject"].required
    assert fields["Approve or reject"].value is None  # no default: an explicit decision
    assert "Refund amount to pay" not in fields  # shown once the refund is approved

    # Tasklist's Complete refuses an undecided form and sends nothing.
    errors, writes = tasklist.complete(task["id"])
    assert "Approve or reject" in errors
    assert not [w for w in writes if "submit-form" in w.path]

    tasklist.choose("Approve or reject", "Approve the refund")
    assert tasklist.fill("Refund amount to pay", "200.50") == "200.50"
    tasklist.fill("Comment", "Goodwill refund approved in Tasklist")
    tasklist.screenshot(SCREENSHOTS / "manual-review-approved.png")
    errors, writes = tasklist.complete(task["id"])
    assert errors == {}
    # Tasklist sends values without types: the engine types them (Boolean, Double, String).
    assert submitted(writes, task["id"]) == {
        "approved": {"value": True},
        "refundAmount": {"value": 200.5},
        "reviewComment": {"value": "Goodwill refund approved in Tasklist"},
    }
    tasklist.screenshot(SCREENSHOTS / "manual-review-completed.png")

    wait_until(lambda: history.ended(pid), CASE_TIMEOUT_S, 0.25, "the refund")
    assert history.ends(pid) == ["End_Refunded"]
    assert history.visited(pid, "Task_ProcessPayment")
    assert history.assignee(task["id"]) == "demo-operator"
    assert history.variable(pid, "approved") == ("Boolean", True)
    assert history.variable(pid, "refundAmount") == ("Double", 200.5)
    assert history.variable(pid, "paymentStatus") == ("String", "SUCCESS")
    assert tasklist.problems() == []


def test_a_manager_approves_the_escalated_review_in_tasklist(
    history: History, worker: WorkerProcess, tasklist: TasklistBrowser, tmp_path: Path
) -> None:
    pid = start(history, MANUAL_CASE, tmp_path, reviewSla="PT1S")
    # The engine's own job executor fires the review's SLA timer.
    task = wait_until(
        lambda: history.open_task(pid, "Task_EscalatedReview"),
        SLA_TIMEOUT_S,
        0.25,
        "the escalated review",
    )
    assert history.open_task(pid, "Task_ManualReview") is None
    open_in_tasklist(tasklist, "demo-manager", task, "Refund managers")
    assert "Refund review" in tasklist.form_text()
    tasklist.choose("Approve or reject", "Approve the refund")
    # A whole amount: form-js submits the number 180, which the engine makes an Integer.
    assert tasklist.fill("Refund amount to pay", "180") == "180"
    tasklist.screenshot(SCREENSHOTS / "escalated-review-approved.png")
    errors, writes = tasklist.complete(task["id"])
    assert errors == {}
    assert submitted(writes, task["id"])["refundAmount"] == {"value": 180}

    wait_until(lambda: history.ended(pid), CASE_TIMEOUT_S, 0.25, "the refund")
    assert history.ends(pid) == ["End_Refunded"]
    assert history.visited(pid, "Task_ManualReview")
    assert history.assignee(task["id"]) == "demo-manager"
    assert history.variable(pid, "refundAmount") == ("Integer", 180)
    assert history.variable(pid, "paymentStatus") == ("String", "SUCCESS")
    assert tasklist.problems() == []


def test_an_auditor_audits_an_automatic_refund_in_tasklist(
    history: History, worker: WorkerProcess, tasklist: TasklistBrowser, tmp_path: Path
) -> None:
    pid = start(history, AUDITED_CASE, tmp_path)
    task = wait_until(
        lambda: history.open_task(pid, "Task_AuditRefund"), CASE_TIMEOUT_S, 0.25, "the audit"
    )
    # Not held up by the audit: refunded before anyone looked.
    assert history.visited(pid, "End_Refunded")
    open_in_tasklist(tasklist, "demo-auditor", task, "Refund auditors")
    text = tasklist.form_text()
    assert "150" in text and "470" in text  # the fee the rules read and the refund paid
    # Tasklist does not wrap an option's label: a long one is cut off at the pane's edge.
    assert tasklist.clipped() == []
    tasklist.choose("Was the automatic decision right?", "Correct: decision and amount are right")
    tasklist.fill("Comment", "The 150 USD fee is what the rules charge")
    tasklist.screenshot(SCREENSHOTS / "audit-correct.png")
    errors, writes = tasklist.complete(task["id"])
    assert errors == {}
    assert submitted(writes, task["id"]) == {
        "auditVerdict": {"value": "correct"},
        "auditComment": {"value": "The 150 USD fee is what the rules charge"},
    }

    wait_until(lambda: history.ended(pid), CASE_TIMEOUT_S, 0.25, "the audit's end")
    assert history.ends(pid) == ["End_Audited", "End_Refunded"]
    assert history.assignee(task["id"]) == "demo-auditor"
    assert history.variable(pid, "auditVerdict") == ("String", "correct")
    assert history.variable(pid, "refundAmount") == ("Double", 470.0)
    assert tasklist.problems() == []
    wait_until(lambda: audits_counted(worker) >= 1, 30, 0.25, "the audit counted on the worker")


def audits_counted(worker: WorkerProcess) -> float:
    for line in worker.metrics().splitlines():
        if line.startswith('refund_audits_total{verdict="correct"} '):
            return float(line.rpartition(" ")[2])
    return 0.0
