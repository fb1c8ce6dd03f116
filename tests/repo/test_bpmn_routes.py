"""The ticket-refund diagram's routes, executed as written (SpiffWorkflow + JUEL, see
tests/fakes/bpmn_runner.py), with the real payment handler answering the payment step."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from llm_worker.config import load_settings
from llm_worker.handlers.fare_rules import make_fare_rules_handler
from llm_worker.handlers.payment import make_payment_handler
from llm_worker.payment import PaymentGatewayError, PaymentReceipt, RefundPayment
from llm_worker.process import FARE_RULES_TOPIC, PAYMENT_TOPIC
from llm_worker.runtime.task import BpmnError, Complete, TypedValue
from tests.fakes.bpmn_runner import FakeClock, ProcessRun, fake_time
from tests.fakes.task import handler_task

CASE = {"bookingId": "PNR42", "ticketPrice": 820.0, "currency": "USD", "fareRules": "..."}


class ScriptedGateway:
    """Fails as often as told, then pays; records the idempotency keys it saw."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.keys: list[str] = []
        self.amounts: list[str] = []

    def pay(self, payment: RefundPayment) -> PaymentReceipt:
        self.keys.append(payment.idempotency_key)
        self.amounts.append(str(payment.amount))
        if self.failures > 0:
            self.failures -= 1
            raise PaymentGatewayError("payment gateway answered HTTP 503: maintenance")
        return PaymentReceipt("PAY-1")


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    with fake_time() as fake:
        yield fake


def start(clock: FakeClock, **variables: Any) -> ProcessRun:
    return ProcessRun({**CASE, **variables}, clock)


def decide(run: ProcessRun, decision: str, **outputs: Any) -> None:
    run.complete_external(
        FARE_RULES_TOPIC,
        fareRuleCheck=decision,
        decisionSource="RULES",
        llmReasoning="because",
        llmProvider="rules",
        **outputs,
    )


def pay(run: ProcessRun, gateway: ScriptedGateway) -> None:
    """Answer the waiting payment task with the real handler, as the worker would."""
    external = run.waiting_external()
    assert external is not None and external.topic == PAYMENT_TOPIC
    task = handler_task(PAYMENT_TOPIC, external.variables)
    outcome = make_payment_handler(load_settings(), gateway)(task)
    if isinstance(outcome, Complete):
        run.complete_external(PAYMENT_TOPIC, **outcome.variables)
    else:
        assert isinstance(outcome, BpmnError)
        run.throw_bpmn_error(PAYMENT_TOPIC, outcome.code, outcome.message)


def only_user_task(run: ProcessRun) -> Any:
    tasks = run.user_tasks()
    assert len(tasks) == 1, tasks
    return tasks[0]


# ----------------------------------------------------------------------------- refunded


@pytest.mark.parametrize(
    ("decision", "outputs"),
    [
        ("ALLOWED", {"refundAmount": 820.0}),
        ("WITH_PENALTY", {"penaltyAmount": 150.0, "refundAmount": 670.0}),
    ],
)
def test_refundable_cases_are_paid_and_end_refunded(
    clock: FakeClock, decision: str, outputs: dict[str, Any]
) -> None:
    run = start(clock)
    decide(run, decision, **outputs)
    gateway = ScriptedGateway()
    pay(run, gateway)
    assert run.end_event == "Refunded"
    assert run.external_log == [FARE_RULES_TOPIC, PAYMENT_TOPIC]
    assert run.variables["paymentStatus"] == "SUCCESS"
    assert run.variables["paymentId"] == "PAY-1"
    assert gateway.amounts == [f"{outputs['refundAmount']:g}"]


def test_refundable_without_a_known_amount_goes_to_review(clock: FakeClock) -> None:
    run = start(clock, ticketPrice=None)
    decide(run, "ALLOWED")
    assert only_user_task(run).name == "Manual review"


# ----------------------------------------------------------------------------- payment errors


def test_three_payment_failures_back_off_then_reach_an_operator(clock: FakeClock) -> None:
    run = start(clock)
    decide(run, "ALLOWED", refundAmount=820.0)
    gateway = ScriptedGateway(failures=3)
    for attempt in (1, 2):
        pay(run, gateway)
        assert run.variables["apiErrorCount"] == attempt
        assert run.waiting_external() is None, "no retry before the back-off timer"
        run.advance(timedelta(seconds=29))
        assert run.waiting_external() is None
        run.advance(timedelta(seconds=2))
        assert run.waiting_external() is not None
    pay(run, gateway)
    task = only_user_task(run)
    assert (task.name, task.candidate_groups) == ("Resolve payment", ("refund-operators",))
    assert task.form_ref == "ticket-refund-payment"
    assert task.variables["apiErrorCount"] == 3
    assert task.variables["paymentError"] == "payment gateway answered HTTP 503: maintenance"
    assert run.external_log.count(PAYMENT_TOPIC) == 3
    assert len(set(gateway.keys)) == 1, "every attempt carries the same idempotency key"

    assert task.variables["paymentErrorCode"] == "PAYMENT_API_ERROR"

    run.complete_user_task("Task_ResolvePayment", paymentResolution="RETRY")
    assert run.variables["apiErrorCount"] == 0
    pay(run, gateway)
    assert run.end_event == "Refunded"
    assert len(set(gateway.keys)) == 1


def test_a_second_pass_through_resolve_payment_starts_without_the_last_resolution(
    clock: FakeClock,
) -> None:
    """Tasklist pre-fills a form from the variables: a RETRY left from the first pass would
    make one click retry again."""
    run = start(clock, currency=None)
    decide(run, "ALLOWED", refundAmount=820.0)
    gateway = ScriptedGateway()
    pay(run, gateway)
    run.complete_user_task(
        "Task_ResolvePayment", paymentResolution="RETRY", paymentComment="fixed the amount"
    )
    pay(run, gateway)
    task = only_user_task(run)
    assert task.name == "Resolve payment"
    assert "paymentResolution" not in task.variables
    assert "paymentComment" not in task.variables
    assert task.variables["refundAmount"] == 820.0, "what the operator corrects stays filled"


def test_a_retry_that_succeeds_needs_no_operator(clock: FakeClock) -> None:
    run = start(clock)
    decide(run, "ALLOWED", refundAmount=820.0)
    gateway = ScriptedGateway(failures=2)
    for _ in range(2):
        pay(run, gateway)
        run.advance(timedelta(seconds=31))
    pay(run, gateway)
    assert run.end_event == "Refunded"
    assert run.variables["apiErrorCount"] == 2


def test_operator_closes_an_unpayable_case_as_payment_escalated(clock: FakeClock) -> None:
    run = start(clock)
    decide(run, "ALLOWED", refundAmount=820.0)
    gateway = ScriptedGateway(failures=3)
    for _ in range(2):
        pay(run, gateway)
        run.advance(timedelta(seconds=31))
    pay(run, gateway)
    run.complete_user_task(
        "Task_ResolvePayment", paymentResolution="RESOLVED_OUTSIDE", paymentComment="paid by hand"
    )
    assert run.end_event == "Payment escalated"


def test_an_invalid_payment_request_goes_to_the_operator_without_retries(
    clock: FakeClock,
) -> None:
    run = start(clock, currency=None)
    decide(run, "ALLOWED", refundAmount=820.0)
    gateway = ScriptedGateway()
    pay(run, gateway)
    task = only_user_task(run)
    assert task.name == "Resolve payment"
    assert "currency is missing" in task.variables["paymentError"]
    assert task.variables["paymentErrorCode"] == "PAYMENT_INVALID_REQUEST"
    assert task.variables["apiErrorCount"] == 0
    assert gateway.keys == []

    run.complete_user_task("Task_ResolvePayment", paymentResolution="RETRY", currency="EUR")
    pay(run, gateway)
    assert run.end_event == "Refunded"


# ----------------------------------------------------------------------------- manual review


def test_manual_review_approved_with_an_amount_is_paid(clock: FakeClock) -> None:
    run = start(clock)
    decide(run, "MANUAL")
    task = only_user_task(run)
    assert (task.name, task.candidate_groups) == ("Manual review", ("refund-operators",))
    assert task.form_ref == "ticket-refund-review"
    run.complete_user_task(
        "Task_ManualReview", approved=True, refundAmount=500.0, reviewComment="goodwill"
    )
    gateway = ScriptedGateway()
    pay(run, gateway)
    assert run.end_event == "Refunded"
    assert gateway.amounts == ["500"]


@pytest.mark.parametrize("price", [820.0, None])
def test_manual_approval_without_an_amount_never_pays_the_ticket_price(
    clock: FakeClock, price: float | None
) -> None:
    """The review form requires the amount; an approval sent without one (a REST client) is
    not turned into a full refund but reaches an operator at payment."""
    run = start(clock, ticketPrice=price)
    decide(run, "MANUAL")
    run.complete_user_task("Task_ManualReview", approved=True)
    gateway = ScriptedGateway()
    pay(run, gateway)
    task = only_user_task(run)
    assert task.name == "Resolve payment"
    assert "refundAmount is missing" in task.variables["paymentError"]
    assert task.variables["paymentErrorCode"] == "PAYMENT_INVALID_REQUEST"
    assert gateway.keys == []


def test_manual_approval_never_pays_the_full_price_when_a_penalty_was_found(
    clock: FakeClock,
) -> None:
    run = start(clock, ticketPrice=None)
    decide(run, "WITH_PENALTY", penaltyAmount=100.0)
    assert only_user_task(run).name == "Manual review"
    run.complete_user_task("Task_ManualReview", approved=True)
    gateway = ScriptedGateway()
    pay(run, gateway)
    assert only_user_task(run).name == "Resolve payment"
    assert gateway.keys == []


@pytest.mark.parametrize("form", [{"approved": False}, {}, {"approved": None}])
def test_manual_review_rejected_ends_rejected(clock: FakeClock, form: dict[str, Any]) -> None:
    run = start(clock)
    decide(run, "MANUAL")
    run.complete_user_task("Task_ManualReview", **form)
    assert run.end_event == "Rejected"
    assert run.external_log == [FARE_RULES_TOPIC]


@pytest.mark.parametrize("outputs", [{"fareRuleCheck": "MAYBE"}, {}])
def test_an_unexpected_or_missing_decision_goes_to_review(
    clock: FakeClock, outputs: dict[str, Any]
) -> None:
    run = start(clock)
    run.complete_external(FARE_RULES_TOPIC, **outputs)
    assert only_user_task(run).name == "Manual review"


# ----------------------------------------------------------------------------- SLA


def test_sla_breach_escalates_to_a_manager_who_approves(clock: FakeClock) -> None:
    run = start(clock)
    decide(run, "MANUAL")
    run.advance(timedelta(hours=1, minutes=59))
    assert only_user_task(run).name == "Manual review"
    run.advance(timedelta(minutes=2))
    task = only_user_task(run)
    assert (task.name, task.candidate_groups) == ("Escalated review", ("refund-managers",))
    assert task.form_ref == "ticket-refund-review"
    run.complete_user_task("Task_EscalatedReview", approved=True, refundAmount=300.0)
    gateway = ScriptedGateway()
    pay(run, gateway)
    assert run.end_event == "Refunded"
    assert gateway.amounts == ["300"]


def test_sla_breach_then_manager_rejects(clock: FakeClock) -> None:
    run = start(clock)
    decide(run, "MANUAL")
    run.advance(timedelta(hours=2, seconds=1))
    run.complete_user_task("Task_EscalatedReview", approved=False)
    assert run.end_event == "Rejected"


def test_review_sla_is_overridable_per_instance(clock: FakeClock) -> None:
    run = start(clock, reviewSla="PT30M")
    decide(run, "MANUAL")
    run.advance(timedelta(minutes=31))
    assert only_user_task(run).name == "Escalated review"


@pytest.mark.parametrize("sla", ["2 hours", "", 7200, "P", "PT"])
def test_an_unusable_review_sla_falls_back_to_two_hours(clock: FakeClock, sla: Any) -> None:
    run = start(clock, reviewSla=sla)
    assert run.variables["reviewSla"] == "PT2H"
    decide(run, "MANUAL")
    run.advance(timedelta(hours=1, minutes=59))
    assert only_user_task(run).name == "Manual review"
    run.advance(timedelta(minutes=2))
    assert only_user_task(run).name == "Escalated review"


def test_review_completed_in_time_cancels_the_escalation(clock: FakeClock) -> None:
    run = start(clock)
    decide(run, "MANUAL")
    run.complete_user_task("Task_ManualReview", approved=False)
    run.advance(timedelta(hours=3))
    assert run.end_event == "Rejected"
    assert run.user_tasks() == []


# ----------------------------------------------------------------------------- smoke cases

SMOKE_CASES = sorted((Path(__file__).resolve().parents[2] / "docker" / "smoke").glob("*.json"))


@pytest.mark.parametrize("path", SMOKE_CASES, ids=lambda p: p.stem)
def test_the_local_stacks_smoke_cases_take_the_route_they_expect(
    clock: FakeClock, path: Path
) -> None:
    """scripts/smoke.sh runs these on a real engine; here they run on the diagram itself, with
    the real decision and payment handlers, so a diagram change that breaks them shows now."""
    case = json.loads(path.read_text(encoding="utf-8"))
    start_variables = {k: v["value"] for k, v in case["start"]["variables"].items()}
    run = ProcessRun(start_variables, clock)
    settings = load_settings(
        decision_strategy="rules",
        payment_simulated=True,
        payment_failure_rate=case.get("paymentFailureRate", 0.0),
    )
    handlers = {
        FARE_RULES_TOPIC: make_fare_rules_handler(settings),
        PAYMENT_TOPIC: make_payment_handler(settings),
    }
    steps = list(case["complete"])
    for _ in range(20):
        if run.ended:
            break
        external = run.waiting_external()
        if external is not None:
            outcome = handlers[external.topic](handler_task(external.topic, external.variables))
            if isinstance(outcome, Complete):
                run.complete_external(external.topic, **_plain(outcome.variables))
            else:
                assert isinstance(outcome, BpmnError)
                run.throw_bpmn_error(external.topic, outcome.code, outcome.message)
            continue
        if steps and steps[0]["task"] in {t.id for t in run.user_tasks()}:
            step = steps.pop(0)
            run.complete_user_task(step["task"], **_plain(step["variables"]))
            continue
        # Nobody acts: time passes (back-off timers, the review SLA).
        run.advance(timedelta(hours=3))
    assert run.ended
    # An audited refund reaches two ends (Refunded, then Audited): the case lists both.
    assert run.end_event_ids == {case["expect"]["endEvent"], *case["expect"].get("alsoEnded", [])}
    assert set(case["expect"]["visits"]) <= run.visited()
    for name, value in case["expect"]["variables"].items():
        assert run.variables.get(name) == value, name
    assert steps == []


def _plain(variables: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: v.value if isinstance(v, TypedValue) else v["value"] if isinstance(v, dict) else v
        for k, v in variables.items()
    }
