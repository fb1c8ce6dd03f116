"""The review and payment forms as an operator meets them in Tasklist: rendered by form-js 1.8.7
(Tasklist 7.24's) in headless Chromium with the variables each route of the process gives the
task (the diagram run by tests/fakes/bpmn_runner.py with the real handlers), filled by label
with real key strokes and clicks, submitted, and the submitted data sent back through the
diagram to show where each case ends. Screenshots go to build/form-screenshots/."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from llm_worker.config import load_settings
from llm_worker.handlers.fare_rules import make_fare_rules_handler
from llm_worker.handlers.payment import make_payment_handler
from llm_worker.payment import PaymentReceipt, RefundPayment
from llm_worker.process import FARE_RULES_TOPIC, PAYMENT_TOPIC
from llm_worker.runtime.task import BpmnError, Complete, TypedValue
from tests.fakes.bpmn_runner import FakeClock, ProcessRun, fake_time
from tests.fakes.form_browser import FormBrowser, Submission
from tests.fakes.task import handler_task
from tests.support import REPO_ROOT

pytestmark = pytest.mark.integration

FORMS = REPO_ROOT / "bpmn"
REVIEW_FORM = FORMS / "ticket-refund-review.form"
PAYMENT_FORM = FORMS / "ticket-refund-payment.form"
AUDIT_FORM = FORMS / "ticket-refund-audit.form"
# Stable and git-ignored (build/), so that a reviewer can look at what the operator sees.
SCREENSHOTS = REPO_ROOT / "build" / "form-screenshots"

# An invented category-16 display in the shape GDS terminals print (columns matter).
FARE_RULES = """16. PENALTIES
  CANCELLATIONS
    BEFORE DEPARTURE
      CHARGE USD 150.00 FOR CANCEL/REFUND.
      NOTE - FEE WAIVED FOR DEATH OF PASSENGER OR
             IMMEDIATE FAMILY MEMBER.
    AFTER DEPARTURE
      TICKET IS NON-REFUNDABLE.
  CHANGES
    ANY TIME
      CHARGE USD 75.00 FOR REISSUE."""
CASE: dict[str, Any] = {
    "bookingId": "PNR7QK2LM",
    "fareBasis": "YLOWUS",
    "ticketClass": "Economy",
    "ticketPrice": 620.0,
    "currency": "USD",
    "purchaseDate": "2030-01-05",
    "departureDate": "2030-06-01",
    "requestDate": "2030-02-01T10:00:00Z",
    "refundReason": "VOLUNTARY",
    "flightStatus": "SCHEDULED",
    "passengerCount": 1,
    "fareRules": FARE_RULES,
}
GATEWAY_DOWN = "payment gateway answered HTTP 503: maintenance"


class PayingGateway:
    """A gateway that pays; records what it was asked to pay."""

    def __init__(self) -> None:
        self.amounts: list[str] = []

    def pay(self, payment: RefundPayment) -> PaymentReceipt:
        self.amounts.append(f"{payment.amount:.2f} {payment.currency}")
        return PaymentReceipt("PAY-1")


def plain(variables: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.value if isinstance(v, TypedValue) else v for k, v in variables.items()}


class Route:
    """One instance of the diagram, walked with the real handlers to a user task."""

    def __init__(self, clock: FakeClock, **variables: Any) -> None:
        self.run = ProcessRun({**CASE, **variables}, clock)
        self.gateway = PayingGateway()

    def decide_by_rules(self) -> None:
        handler = make_fare_rules_handler(load_settings(decision_strategy="rules"))
        outcome = handler(handler_task(FARE_RULES_TOPIC, self._waiting(FARE_RULES_TOPIC)))
        assert isinstance(outcome, Complete)
        self.run.complete_external(FARE_RULES_TOPIC, **plain(outcome.variables))

    def decide(self, **outputs: Any) -> None:
        """What the worker sets when the LLM was asked (no LLM runs here)."""
        self.run.complete_external(FARE_RULES_TOPIC, **outputs)

    def pay(self) -> None:
        handler = make_payment_handler(load_settings(), self.gateway)
        outcome = handler(handler_task(PAYMENT_TOPIC, self._waiting(PAYMENT_TOPIC)))
        if isinstance(outcome, Complete):
            self.run.complete_external(PAYMENT_TOPIC, **plain(outcome.variables))
        else:
            assert isinstance(outcome, BpmnError)
            self.run.throw_bpmn_error(PAYMENT_TOPIC, outcome.code, outcome.message)

    def gateway_fails_three_times(self) -> None:
        for attempt in range(3):
            self._waiting(PAYMENT_TOPIC)
            self.run.throw_bpmn_error(PAYMENT_TOPIC, "PAYMENT_API_ERROR", GATEWAY_DOWN)
            if attempt < 2:
                self.run.advance(timedelta(seconds=31))

    def task(self, name: str) -> dict[str, Any]:
        """The variables the user task `name` is opened with (what Tasklist gives the form)."""
        tasks = self.run.user_tasks()
        assert [t.name for t in tasks] == [name]
        return tasks[0].variables

    def complete(self, task_id: str, submission: Submission) -> None:
        assert submission.errors == {}, submission.errors
        self.run.complete_user_task(task_id, **submission.data)

    def _waiting(self, topic: str) -> dict[str, Any]:
        external = self.run.waiting_external()
        assert external is not None and external.topic == topic, self.run.user_tasks()
        return external.variables


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    with fake_time() as fake:
        yield fake


def open_form(browser: FormBrowser, form: Path, variables: Mapping[str, Any], shot: str) -> None:
    """Render as Tasklist does; no import warning, no console error; keep a screenshot."""
    assert browser.form_js_version == "1.8.7"
    assert browser.render(form, variables) == []
    path = browser.screenshot(SCREENSHOTS / f"{shot}.png")
    print(f"screenshot: {path}")
    assert browser.console_errors() == []


def manual_by_rules(clock: FakeClock, **variables: Any) -> Route:
    """Above the review threshold: MANUAL by the policy rules, with their reasoning."""
    route = Route(clock, **{"ticketPrice": 6200.0, **variables})
    route.decide_by_rules()
    return route


def manual_fallback(clock: FakeClock, reasoning: str, **error: str) -> Route:
    """MANUAL / FALLBACK at the usual price: the LLM's answer overridden, or the LLM failed."""
    route = Route(clock)
    route.decide(
        fareRuleCheck="MANUAL",
        decisionSource="FALLBACK",
        llmReasoning=reasoning,
        llmProvider="openai",
        llmModel="gpt-4o-mini",
        **error,
    )
    return route


def manual_after_guardrail(clock: FakeClock) -> Route:
    return manual_fallback(clock, "The model's fee of 75.00 is the change fee, not the refund fee.")


def manual_after_llm_error(clock: FakeClock) -> Route:
    return manual_fallback(
        clock,
        "The language model did not answer in time; a person must read the rules.",
        llmError="LLM call timed out after 20 s",
    )


# ----------------------------------------------------------------------------- review form


def test_the_review_form_shows_the_case_as_the_rules_left_it(
    form_browser: FormBrowser, clock: FakeClock
) -> None:
    variables = manual_by_rules(clock, noShow=False).task("Manual review")
    open_form(form_browser, REVIEW_FORM, variables, "review-manual-by-rules")
    text = form_browser.text()
    for shown in ("PNR7QK2LM", "YLOWUS", "Ticket price\t6200.00 USD", "Purchased\t2030-01-05"):
        assert shown in text
    # Readable labels and dates, not the codes and ISO timestamps the engine holds.
    assert "Refund requested\t2030-02-01 10:00 UTC" in text
    assert "Refund reason\tVoluntary" in text and "Flight status\tScheduled" in text
    assert "VOLUNTARY" not in text and "SCHEDULED" not in text and "T10:00" not in text
    assert variables["llmReasoning"] in text
    assert "MANUAL: the fare rules need a person" in text
    assert "the policy rules, without the language model" in text
    assert "Passenger did not show up\tno" in text
    # Nothing the case does not have is shown as an empty box.
    assert "Language model error" not in text
    assert "Fee the check read" not in text
    assert "Refund amount to pay" not in text, "the amount is asked only when approving"


def test_the_fare_rules_keep_their_columns_in_a_monospace_block(
    form_browser: FormBrowser, clock: FakeClock
) -> None:
    open_form(form_browser, REVIEW_FORM, manual_by_rules(clock).task("Manual review"), "rules")
    assert form_browser.element_text("pre") == FARE_RULES
    assert "monospace" in form_browser.style("pre", "font-family")
    assert form_browser.style("pre", "white-space") == "pre-wrap"


def test_markup_in_the_fare_rules_is_shown_as_text(
    form_browser: FormBrowser, clock: FakeClock
) -> None:
    rules = 'CANCELLATIONS <img src="x" onerror="alert(1)"> {{bookingId}} [link](http://x)'
    variables = manual_by_rules(clock, fareRules=rules).task("Manual review")
    open_form(form_browser, REVIEW_FORM, variables, "review-markup")
    assert form_browser.element_text("pre") == rules
    assert form_browser.count("pre *") == 0, "no element made of the text"
    assert form_browser.count("img") == 0


def test_a_model_error_and_a_missing_no_show_are_shown_as_such(
    form_browser: FormBrowser, clock: FakeClock
) -> None:
    open_form(
        form_browser, REVIEW_FORM, manual_after_llm_error(clock).task("Manual review"), "fallback"
    )
    text = form_browser.text()
    assert "Language model error" in text and "LLM call timed out after 20 s" in text
    assert "a fallback: the language model failed or a guardrail overrode its answer" in text
    assert "Passenger did not show up\tnot given" in text


def test_an_untouched_review_cannot_be_completed(
    form_browser: FormBrowser, clock: FakeClock
) -> None:
    open_form(form_browser, REVIEW_FORM, manual_by_rules(clock).task("Manual review"), "review")
    assert form_browser.field("Approve or reject").value is None, "no default decision"
    submission = form_browser.submit()
    assert submission.shown_errors == {"Approve or reject": ["Field is required."]}


def test_approving_asks_for_the_amount_and_refuses_a_wrong_one(
    form_browser: FormBrowser, clock: FakeClock
) -> None:
    open_form(
        form_browser, REVIEW_FORM, manual_after_guardrail(clock).task("Manual review"), "review"
    )
    form_browser.choose("Approve or reject", "Approve the refund")
    amount = form_browser.field("Refund amount to pay")
    assert amount.required and amount.value == ""
    assert "At most the ticket price, 620.00 USD" in amount.text
    assert form_browser.submit().shown_errors == {"Refund amount to pay": ["Field is required."]}

    refused = {
        "0": "Field must have minimum value of 0.01.",
        "620.01": "Field must have maximum value of 620.",
    }
    for typed, message in refused.items():
        form_browser.fill("Refund amount to pay", typed)
        assert form_browser.submit().shown_errors == {"Refund amount to pay": [message]}
    # A third decimal cannot be typed at all.
    assert form_browser.fill("Refund amount to pay", "470.505") == "470.50"


def test_a_valid_approval_submits_a_boolean_and_the_typed_amount_and_is_paid(
    form_browser: FormBrowser, clock: FakeClock
) -> None:
    route = manual_after_guardrail(clock)
    open_form(form_browser, REVIEW_FORM, route.task("Manual review"), "review")
    form_browser.choose("Approve or reject", "Approve the refund")
    form_browser.fill("Refund amount to pay", "470.00")
    form_browser.fill("Comment", "Fee of 150 before departure.")
    form_browser.screenshot(SCREENSHOTS / "review-approved.png")
    submission = form_browser.submit()
    assert submission.data == {
        "approved": True,
        "refundAmount": 470,
        "reviewComment": "Fee of 150 before departure.",
    }
    route.complete("Task_ManualReview", submission)
    route.pay()
    assert route.run.end_event == "Refunded"
    assert route.gateway.amounts == ["470.00 USD"]


def test_a_rejection_submits_no_amount_and_ends_rejected(
    form_browser: FormBrowser, clock: FakeClock
) -> None:
    route = manual_after_guardrail(clock)
    open_form(form_browser, REVIEW_FORM, route.task("Manual review"), "review")
    form_browser.choose("Approve or reject", "Approve the refund")
    form_browser.fill("Refund amount to pay", "470")
    form_browser.choose("Approve or reject", "Reject the refund")
    submission = form_browser.submit()
    assert submission.data == {"approved": False, "reviewComment": ""}
    route.complete("Task_ManualReview", submission)
    assert route.run.end_event == "Rejected"
    assert route.gateway.amounts == []


def test_a_fee_the_check_read_is_a_suggestion_never_a_default(
    form_browser: FormBrowser, clock: FakeClock
) -> None:
    route = Route(clock, ticketPrice=None)
    route.decide(
        fareRuleCheck="WITH_PENALTY",
        decisionSource="RULES",
        llmReasoning="Refund before departure less the USD 150.00 cancellation fee.",
        llmProvider="rules",
        penaltyAmount=150.0,
    )
    open_form(form_browser, REVIEW_FORM, route.task("Manual review"), "review-fee-no-price")
    text = form_browser.text()
    assert "the ticket price is not known" in text
    assert "Fee the check read\t150.00 USD" in text
    form_browser.choose("Approve or reject", "Approve the refund")
    assert "The check read a fee of 150.00 USD" in form_browser.text()
    amount = form_browser.field("Refund amount to pay")
    assert amount.value == "", "the operator types the amount"
    assert "The ticket price is not known" in amount.text
    form_browser.fill("Refund amount to pay", "300")
    route.complete("Task_ManualReview", form_browser.submit())
    route.pay()
    assert route.gateway.amounts == ["300.00 USD"]


def test_without_a_currency_the_amounts_and_their_help_are_still_shown(
    form_browser: FormBrowser, clock: FakeClock
) -> None:
    route = Route(
        clock,
        currency=None,
        refundReason="SCHEDULE_CHANGE",
        flightStatus=None,
        requestDate="2030-02-01T10:00:00.000+0100",
    )
    route.decide(
        fareRuleCheck="MANUAL",
        decisionSource="FALLBACK",
        llmReasoning="The fee's currency cannot be checked without the ticket's currency.",
        llmProvider="openai",
        llmModel="gpt-4o-mini",
        penaltyAmount=75.5,
    )
    open_form(form_browser, REVIEW_FORM, route.task("Manual review"), "review-no-currency")
    text = form_browser.text()
    assert "Ticket price\t620.00\n" in text + "\n"
    assert "Refund requested\t2030-02-01 10:00 UTC+01:00" in text
    assert "Refund reason\tSchedule change" in text
    assert "Flight status\tnot given (taken as scheduled)" in text
    form_browser.choose("Approve or reject", "Approve the refund")
    assert "The check read a fee of 75.50: the ticket price less that fee is 544.50." in (
        form_browser.text()
    )
    amount = form_browser.field("Refund amount to pay")
    assert "At most the ticket price, 620.00, less any fee the fare rules charge." in amount.text


def test_the_escalated_review_is_the_same_form_for_the_manager(
    form_browser: FormBrowser, clock: FakeClock
) -> None:
    route = manual_after_guardrail(clock)
    route.run.advance(timedelta(hours=2, seconds=1))
    open_form(form_browser, REVIEW_FORM, route.task("Escalated review"), "review-escalated")
    form_browser.choose("Approve or reject", "Reject the refund")
    route.complete("Task_EscalatedReview", form_browser.submit())
    assert route.run.end_event == "Rejected"


# ----------------------------------------------------------------------------- payment form


def test_after_three_gateway_failures_the_form_says_so_and_retries(
    form_browser: FormBrowser, clock: FakeClock
) -> None:
    route = Route(clock)
    route.decide_by_rules()
    route.gateway_fails_three_times()
    open_form(form_browser, PAYMENT_FORM, route.task("Resolve payment"), "payment-gateway-failed")
    text = form_browser.text()
    assert "The payment gateway failed 3 attempts in a row" in text
    assert GATEWAY_DOWN in text
    assert "Amount sent for payment\t470.00 USD" in text
    assert form_browser.field("Resolution").value is None
    assert form_browser.submit().shown_errors == {"Resolution": ["Field is required."]}
    form_browser.choose("Resolution", "Retry the payment now")
    assert form_browser.field("Refund amount to pay").value == "470"
    assert form_browser.field("Currency").value == "USD"
    route.complete("Task_ResolvePayment", form_browser.submit())
    route.pay()
    assert route.run.end_event == "Refunded"
    assert route.gateway.amounts == ["470.00 USD"]


def test_an_invalid_request_is_named_and_the_currency_can_be_typed_in_lower_case(
    form_browser: FormBrowser, clock: FakeClock
) -> None:
    route = Route(clock, currency=None)
    route.decide(
        fareRuleCheck="WITH_PENALTY",
        decisionSource="LLM",
        llmReasoning="Refund before departure less the USD 150.00 cancellation fee.",
        llmProvider="openai",
        llmModel="gpt-4o-mini",
        penaltyAmount=150.0,
        refundAmount=470.0,
    )
    route.pay()
    open_form(form_browser, PAYMENT_FORM, route.task("Resolve payment"), "payment-invalid")
    text = form_browser.text()
    assert "The payment was refused and nothing was paid" in text
    assert "currency is missing" in text
    assert "gateway failed" not in text
    form_browser.choose("Resolution", "Retry the payment now")
    form_browser.fill("Currency", "US")
    assert form_browser.submit().shown_errors == {
        "Currency": ["Field must have minimum length of 3."]
    }
    assert "Three letters, e.g. USD" in form_browser.field("Currency").text
    form_browser.fill("Currency", "usd")
    route.complete("Task_ResolvePayment", form_browser.submit())
    route.pay()
    assert route.run.end_event == "Refunded"
    assert route.gateway.amounts == ["470.00 USD"]


def test_the_payment_amount_has_the_review_forms_bounds(
    form_browser: FormBrowser, clock: FakeClock
) -> None:
    route = manual_after_guardrail(clock)
    route.run.complete_user_task("Task_ManualReview", approved=True)
    route.pay()
    variables = route.task("Resolve payment")
    assert "refundAmount is missing" in variables["paymentError"]
    open_form(form_browser, PAYMENT_FORM, variables, "payment-no-amount")
    form_browser.choose("Resolution", "Retry the payment now")
    for typed, message in {
        "": "Field is required.",
        "0": "Field must have minimum value of 0.01.",
        "620.01": "Field must have maximum value of 620.",
    }.items():
        form_browser.fill("Refund amount to pay", typed)
        assert form_browser.submit().shown_errors == {"Refund amount to pay": [message]}
    assert form_browser.fill("Refund amount to pay", "99.999") == "99.99"


def test_a_second_pass_starts_without_the_last_resolution(
    form_browser: FormBrowser, clock: FakeClock
) -> None:
    route = Route(clock)
    route.decide_by_rules()
    route.gateway_fails_three_times()
    open_form(form_browser, PAYMENT_FORM, route.task("Resolve payment"), "payment-first-pass")
    form_browser.choose("Resolution", "Retry the payment now")
    form_browser.fill("Comment", "Gateway back after maintenance.")
    route.complete("Task_ResolvePayment", form_browser.submit())
    route.gateway_fails_three_times()
    open_form(form_browser, PAYMENT_FORM, route.task("Resolve payment"), "payment-second-pass")
    assert form_browser.field("Resolution").value is None
    assert form_browser.field("Comment").value == ""
    form_browser.choose(
        "Resolution", "Resolved outside this process (paid by hand, or not to be paid)"
    )
    submission = form_browser.submit()
    assert submission.data == {"paymentResolution": "RESOLVED_OUTSIDE", "paymentComment": ""}
    route.complete("Task_ResolvePayment", submission)
    assert route.run.end_event == "Payment escalated"


# ----------------------------------------------------------------------------- audit form


def test_the_audit_form_shows_the_paid_refund_and_asks_a_verdict(
    form_browser: FormBrowser, clock: FakeClock
) -> None:
    route = Route(clock, auditRate=1)
    route.decide_by_rules()
    route.pay()
    open_form(form_browser, AUDIT_FORM, route.task("Audit automatic refund"), "audit")
    text = form_browser.text()
    for shown in ("WITH_PENALTY: refundable less a fee", "Fee the check read\t150.00 USD"):
        assert shown in text
    assert "Refunded\t470.00 USD" in text and "Payment\tPAY-1" in text
    assert form_browser.element_text("pre") == FARE_RULES
    assert form_browser.submit().shown_errors == {
        "Was the automatic decision right?": ["Field is required."]
    }
    form_browser.choose(
        "Was the automatic decision right?", "Wrong amount: refundable, but with another fee"
    )
    assert form_browser.submit().shown_errors == {"The right fee": ["Field is required."]}
    form_browser.fill("The right fee", "75")
    form_browser.fill("Comment", "The 150 is the fee after departure.")
    submission = form_browser.submit()
    assert submission.data == {
        "auditVerdict": "wrong_amount",
        "auditPenaltyAmount": 75,
        "auditComment": "The 150 is the fee after departure.",
    }
    route.complete("Task_AuditRefund", submission)
    assert route.run.end_event_ids == {"End_Refunded", "End_Audited"}


def test_a_correct_verdict_submits_no_fee(form_browser: FormBrowser, clock: FakeClock) -> None:
    route = Route(clock, auditRate=1)
    route.decide_by_rules()
    route.pay()
    open_form(form_browser, AUDIT_FORM, route.task("Audit automatic refund"), "audit")
    form_browser.choose(
        "Was the automatic decision right?", "Wrong amount: refundable, but with another fee"
    )
    form_browser.fill("The right fee", "75")
    form_browser.choose(
        "Was the automatic decision right?", "Correct: decision and amount are right"
    )
    assert form_browser.submit().data == {"auditVerdict": "correct", "auditComment": ""}


# ----------------------------------------------------------------------------- the harness


def test_the_browser_reaches_nothing_but_the_page(form_browser: FormBrowser) -> None:
    """A form that would load an outside address is caught, so no test calls one unnoticed."""
    image = {"id": "Logo", "type": "image", "source": "http://forms.invalid/logo.png"}
    form_browser.render({"type": "default", "schemaVersion": 4, "components": [image]}, {})
    assert "blocked request: http://forms.invalid/logo.png" in form_browser.console_errors()
