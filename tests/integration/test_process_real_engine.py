"""The ticket-refund process on the real Camunda 7.24 engine (the session's, or CAMUNDA_TEST_URL):
what the runner and the emulator cannot prove, namely that the engine deploys the diagram and
forms, evaluates its JUEL, fills errorMessageVariable, fires the SLA timer and routes each case
to the expected end event."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from llm_worker.admin.engine import EngineAdmin, deployment_resources
from llm_worker.commands.start import typed_variables
from llm_worker.config import load_settings
from llm_worker.handlers.fare_rules import make_fare_rules_handler
from llm_worker.handlers.payment import make_payment_handler
from llm_worker.process import FARE_RULES_TOPIC, PAYMENT_TOPIC
from llm_worker.runtime.task import BpmnError, Complete, Handler, Task
from llm_worker.runtime.variables import decode_variables, encode_variables
from tests.conftest import REPO_ROOT
from tests.support import wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.real_engine,
]
WORKER = "llm-worker-process-test"


class RealEngine:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.admin = EngineAdmin(self.url)
        self.instances: list[str] = []
        settings = load_settings(
            decision_strategy="rules", payment_simulated=True, payment_failure_rate=0.0
        )
        self.handlers: dict[str, Handler] = {
            FARE_RULES_TOPIC: make_fare_rules_handler(settings),
            PAYMENT_TOPIC: make_payment_handler(settings),
        }

    def close(self) -> None:
        for pid in self.instances:
            self.http.delete(f"{self.url}/process-instance/{pid}", timeout=30)
        self.http.close()
        self.admin.close()

    def start(self, **variables: Any) -> str:
        variables.setdefault("bookingId", f"T{uuid.uuid4().hex[:10].upper()}")
        started = self.admin.start(typed_variables(variables))
        self.instances.append(started.id)
        return started.id

    def work(self, pid: str, topic: str) -> Task:
        """Lock the instance's task on `topic` and answer it with the real handler."""

        def fetch() -> list[dict[str, Any]]:
            body = {
                "workerId": WORKER,
                "maxTasks": 1,
                "topics": [{"topicName": topic, "lockDuration": 30000, "processInstanceId": pid}],
            }
            found: list[dict[str, Any]] = self.http.post(
                f"{self.url}/external-task/fetchAndLock", json=body, timeout=30
            ).json()
            return found

        (raw,) = wait_until(fetch, 30, 0.25, f"an external task on {topic}")
        task = Task(
            id=raw["id"],
            topic=topic,
            worker_id=WORKER,
            process_instance_id=raw["processInstanceId"],
            business_key=raw.get("businessKey"),
            retries=raw.get("retries"),
            variables=decode_variables(raw.get("variables")),
            deadline=time.monotonic() + 25,
        )
        outcome = self.handlers[topic](task)
        if isinstance(outcome, Complete):
            body = {"workerId": WORKER, "variables": encode_variables(outcome.variables)}
            path = "complete"
        else:
            assert isinstance(outcome, BpmnError)
            body = {
                "workerId": WORKER,
                "errorCode": outcome.code,
                "errorMessage": outcome.message,
                "variables": encode_variables(outcome.variables),
            }
            path = "bpmnError"
        response = self.http.post(
            f"{self.url}/external-task/{task.id}/{path}", json=body, timeout=30
        )
        assert response.status_code == 204, response.text
        return task

    def user_task(self, pid: str, key: str, timeout: float = 30) -> dict[str, Any]:
        def find() -> list[dict[str, Any]]:
            tasks: list[dict[str, Any]] = self.http.get(
                f"{self.url}/task",
                params={"processInstanceId": pid, "taskDefinitionKey": key},
                timeout=30,
            ).json()
            return tasks

        (task,) = wait_until(find, timeout, 0.25, f"user task {key}")
        return task

    def candidate_groups(self, task_id: str) -> set[str]:
        links = self.http.get(f"{self.url}/task/{task_id}/identity-links", timeout=30).json()
        return {link["groupId"] for link in links if link["type"] == "candidate"}

    def complete(self, task_id: str, **variables: Any) -> None:
        response = self.http.post(
            f"{self.url}/task/{task_id}/complete",
            json={"variables": typed_variables(variables)},
            timeout=30,
        )
        assert response.status_code in (200, 204), response.text

    def deployed_form(self, task_id: str) -> Any:
        response = self.http.get(f"{self.url}/task/{task_id}/deployed-form", timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def end_event(self, pid: str) -> str:
        def ended() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = self.http.get(
                f"{self.url}/history/activity-instance",
                params={"processInstanceId": pid, "activityType": "noneEndEvent"},
                timeout=30,
            ).json()
            return found

        (end,) = wait_until(ended, 30, 0.25, "the end event")
        return str(end["activityId"])

    def variable(self, pid: str, name: str) -> Any:
        found = self.http.get(
            f"{self.url}/history/variable-instance",
            params={"processInstanceId": pid, "variableName": name},
            timeout=30,
        ).json()
        return found[0]["value"] if found else None


@pytest.fixture(scope="module")
def engine(real_engine_url: str) -> Iterator[RealEngine]:
    real = RealEngine(real_engine_url)
    real.admin.deploy(deployment_resources(REPO_ROOT / "bpmn"))
    yield real
    real.close()


CANCELLED = {"flightStatus": "CANCELLED", "fareRules": "NON-REFUNDABLE.", "ticketPrice": 500.0}


def test_an_unchanged_redeploy_is_no_new_version(engine: RealEngine) -> None:
    again = engine.admin.deploy(deployment_resources(REPO_ROOT / "bpmn"))
    assert not again.changed


def test_a_cancelled_flight_is_refunded(engine: RealEngine) -> None:
    pid = engine.start(currency="USD", **CANCELLED)
    engine.work(pid, FARE_RULES_TOPIC)
    engine.work(pid, PAYMENT_TOPIC)
    assert engine.end_event(pid) == "End_Refunded"
    assert engine.variable(pid, "paymentStatus") == "SUCCESS"
    assert engine.variable(pid, "apiErrorCount") == 0


def test_an_invalid_payment_reaches_the_operator_with_the_message(engine: RealEngine) -> None:
    pid = engine.start(**CANCELLED)
    engine.work(pid, FARE_RULES_TOPIC)
    engine.work(pid, PAYMENT_TOPIC)
    task = engine.user_task(pid, "Task_ResolvePayment")
    assert engine.candidate_groups(task["id"]) == {"refund-operators"}
    assert "currency is missing" in str(engine.variable(pid, "paymentError"))
    engine.complete(task["id"], paymentResolution="RESOLVED_OUTSIDE")
    assert engine.end_event(pid) == "End_PaymentEscalated"


def test_manual_approval_pays_the_amount_the_operator_entered(engine: RealEngine) -> None:
    pid = engine.start(ticketPrice=275.0, currency="EUR")
    engine.work(pid, FARE_RULES_TOPIC)
    task = engine.user_task(pid, "Task_ManualReview")
    assert engine.candidate_groups(task["id"]) == {"refund-operators"}
    assert engine.variable(pid, "reviewSla") == "PT2H"
    engine.complete(task["id"], approved=True, refundAmount=200.5)
    engine.work(pid, PAYMENT_TOPIC)
    assert engine.end_event(pid) == "End_Refunded"
    assert engine.variable(pid, "refundAmount") == 200.5


def test_an_approval_without_an_amount_is_not_paid_in_full(engine: RealEngine) -> None:
    pid = engine.start(ticketPrice=275.0, currency="EUR")
    engine.work(pid, FARE_RULES_TOPIC)
    engine.complete(engine.user_task(pid, "Task_ManualReview")["id"], approved=True)
    engine.work(pid, PAYMENT_TOPIC)
    engine.user_task(pid, "Task_ResolvePayment")
    assert engine.variable(pid, "paymentErrorCode") == "PAYMENT_INVALID_REQUEST"
    assert "refundAmount is missing" in str(engine.variable(pid, "paymentError"))


def test_tasklist_serves_the_deployed_forms(engine: RealEngine) -> None:
    """Tasklist renders what /task/{id}/deployed-form answers: the forms in bpmn/, as deployed
    with the diagram (formRefBinding="deployment")."""
    pid = engine.start(ticketPrice=275.0, currency="EUR")
    engine.work(pid, FARE_RULES_TOPIC)
    review = engine.user_task(pid, "Task_ManualReview")
    assert engine.deployed_form(review["id"]) == form_schema("ticket-refund-review.form")
    engine.complete(review["id"], approved=True)
    engine.work(pid, PAYMENT_TOPIC)
    payment = engine.user_task(pid, "Task_ResolvePayment")
    assert engine.deployed_form(payment["id"]) == form_schema("ticket-refund-payment.form")


def form_schema(name: str) -> Any:
    return json.loads((REPO_ROOT / "bpmn" / name).read_text(encoding="utf-8"))


def test_the_review_sla_escalates_to_a_manager(engine: RealEngine) -> None:
    pid = engine.start(ticketPrice=90.0, currency="EUR", reviewSla="PT1S")
    engine.work(pid, FARE_RULES_TOPIC)
    # The job executor picks the timer up within its acquisition back-off.
    task = engine.user_task(pid, "Task_EscalatedReview", timeout=120)
    assert engine.candidate_groups(task["id"]) == {"refund-managers"}
    engine.complete(task["id"], approved=False)
    assert engine.end_event(pid) == "End_Rejected"
