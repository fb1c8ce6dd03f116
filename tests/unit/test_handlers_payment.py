"""The process-refund-payment handler: input checks, gateway outcomes, BPMN errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import structlog.testing

from llm_worker.config import SettingsError, load_settings
from llm_worker.handlers.payment import (
    PAYMENT_API_ERROR,
    PAYMENT_INVALID_REQUEST,
    build_gateway,
    make_payment_handler,
)
from llm_worker.payment import (
    HttpPaymentGateway,
    PaymentDeclinedError,
    PaymentGatewayError,
    PaymentReceipt,
    RefundPayment,
    SimulatedPaymentGateway,
    idempotency_key,
)
from llm_worker.process import PAYMENT_TOPIC
from llm_worker.runtime.task import BpmnError, Complete, Task, TypedValue
from tests.fakes.task import handler_task


def _task(instance: str | None = "pi-7", **variables: Any) -> Task:
    return handler_task(PAYMENT_TOPIC, variables, process_instance_id=instance, deadline_s=60)


class RecordingGateway:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[RefundPayment] = []

    def pay(self, payment: RefundPayment) -> PaymentReceipt:
        self.calls.append(payment)
        if self.error is not None:
            raise self.error
        return PaymentReceipt("PAY-42")


GOOD = {"bookingId": "ABC123", "refundAmount": 180.0, "currency": "usd"}


def test_pays_and_completes_with_status_and_id() -> None:
    gateway = RecordingGateway()
    outcome = make_payment_handler(load_settings(), gateway)(_task(**GOOD))
    assert outcome == Complete({"paymentStatus": "SUCCESS", "paymentId": "PAY-42"})
    (payment,) = gateway.calls
    assert payment == RefundPayment("ABC123", Decimal(180), "USD", idempotency_key("pi-7"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(180, "180"), ("99.90", "99.9"), (0.1 + 0.2, "0.3"), (TypedValue(12.5, "Double"), "12.5")],
)
def test_accepts_every_numeric_form_of_the_amount(value: Any, expected: str) -> None:
    gateway = RecordingGateway()
    make_payment_handler(load_settings(), gateway)(_task(**{**GOOD, "refundAmount": value}))
    assert str(gateway.calls[0].amount) == expected


def test_gateway_error_becomes_the_retryable_bpmn_error() -> None:
    gateway = RecordingGateway(PaymentGatewayError("payment gateway answered HTTP 503"))
    outcome = make_payment_handler(load_settings(), gateway)(_task(**GOOD))
    assert outcome == BpmnError(PAYMENT_API_ERROR, "payment gateway answered HTTP 503")


def test_declined_payment_goes_to_an_operator() -> None:
    gateway = RecordingGateway(PaymentDeclinedError("declined: HTTP 422"))
    outcome = make_payment_handler(load_settings(), gateway)(_task(**GOOD))
    assert outcome == BpmnError(PAYMENT_INVALID_REQUEST, "declined: HTTP 422")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"refundAmount": None}, "refundAmount is missing"),
        ({"refundAmount": ""}, "refundAmount is missing"),
        ({"refundAmount": -5}, "only a positive amount"),
        ({"refundAmount": 0}, "only a positive amount"),
        ({"refundAmount": "12,50"}, "refundAmount is not a number"),
        ({"refundAmount": True}, "refundAmount is not a number"),
        ({"refundAmount": float("nan")}, "not a finite number"),
        ({"refundAmount": "1.23456"}, "more than 3 decimals"),
        ({"refundAmount": 500, "ticketPrice": 400.0}, "above the ticket price 400.00"),
        ({"currency": None}, "currency is missing"),
        ({"currency": "US Dollar"}, "ISO 4217"),
        ({"bookingId": None}, "bookingId is missing"),
        ({"bookingId": "AB C; DROP"}, "bookingId"),
    ],
)
def test_bad_input_is_a_clear_bpmn_error_and_pays_nothing(
    changes: dict[str, Any], message: str
) -> None:
    gateway = RecordingGateway()
    outcome = make_payment_handler(load_settings(), gateway)(_task(**{**GOOD, **changes}))
    assert isinstance(outcome, BpmnError)
    assert outcome.code == PAYMENT_INVALID_REQUEST
    assert message in outcome.message
    assert gateway.calls == []


def test_unusable_ticket_price_does_not_block_the_payment() -> None:
    gateway = RecordingGateway()
    outcome = make_payment_handler(load_settings(), gateway)(
        _task(**{**GOOD, "ticketPrice": "unknown"})
    )
    assert isinstance(outcome, Complete)


def test_missing_process_instance_is_a_bug_not_a_bpmn_error() -> None:
    with pytest.raises(ValueError, match="process instance"):
        make_payment_handler(load_settings(), RecordingGateway())(_task(instance=None, **GOOD))


def test_a_bug_in_the_gateway_escapes_as_an_exception() -> None:
    handler = make_payment_handler(load_settings(), RecordingGateway(KeyError("boom")))
    with pytest.raises(KeyError):
        handler(_task(**GOOD))


def test_retries_of_one_instance_pay_once_with_the_simulated_gateway() -> None:
    draws = iter([0.0, 0.0, 0.9, 0.9])
    gateway = SimulatedPaymentGateway(0.5, lambda: next(draws))
    handler = make_payment_handler(load_settings(), gateway)
    outcomes = [handler(_task(**GOOD)) for _ in range(4)]
    assert [type(o).__name__ for o in outcomes] == [
        "BpmnError",
        "BpmnError",
        "Complete",
        "Complete",
    ]
    assert outcomes[2] == outcomes[3]
    assert gateway.payments == 1


def test_settings_choose_the_gateway() -> None:
    simulated = build_gateway(load_settings(payment_simulated=True))
    assert isinstance(simulated, SimulatedPaymentGateway)
    http = build_gateway(load_settings(payment_gateway_url="http://127.0.0.1:9/pay"))
    assert isinstance(http, HttpPaymentGateway)


def test_nothing_pays_unless_a_gateway_is_named() -> None:
    with pytest.raises(SettingsError) as info:
        make_payment_handler(load_settings())
    message = str(info.value)
    assert "PAYMENT_GATEWAY_URL" in message and "PAYMENT_SIMULATED=true" in message
    assert "\n" not in message


def test_failure_rate_setting_reaches_the_simulated_gateway() -> None:
    handler = make_payment_handler(load_settings(payment_simulated=True, payment_failure_rate=1.0))
    outcome = handler(_task(**GOOD))
    assert outcome == BpmnError(
        PAYMENT_API_ERROR, "simulated payment gateway failure (PAYMENT_FAILURE_RATE=1)"
    )


class NeverCalled:
    def pay(self, payment: RefundPayment) -> PaymentReceipt:
        raise AssertionError("an invalid amount must not reach the gateway")


@pytest.mark.parametrize("amount", ["123456789012345678901234567890.1234", "1" * 40 + ".0001"])
def test_an_overlong_amount_goes_to_the_operator(amount: str) -> None:
    task = _task(
        "pi-1",
        bookingId=TypedValue("ABC123", "String"),
        refundAmount=TypedValue(amount, "String"),
        currency=TypedValue("USD", "String"),
    )
    outcome = make_payment_handler(load_settings(), NeverCalled())(task)
    assert outcome == BpmnError(PAYMENT_INVALID_REQUEST, "refundAmount is not a usable amount")


# The payment ceiling (PAYMENT_MAX_AMOUNT in MANUAL_REVIEW_CURRENCY, converted unless
# PAYMENT_MAX_AMOUNTS names the currency): a typed amount with an extra zero is never paid.
@pytest.mark.parametrize("price", [None, 250000.0])
def test_an_amount_above_the_payment_ceiling_goes_to_the_operator(price: float | None) -> None:
    gateway = RecordingGateway()
    handler = make_payment_handler(load_settings(), gateway)
    outcome = handler(_task(**{**GOOD, "refundAmount": 200000.0, "ticketPrice": price}))
    assert outcome == BpmnError(
        PAYMENT_INVALID_REQUEST,
        "refundAmount 200000.00 USD is above the payment ceiling of 20000.00 USD: correct the "
        "amount and retry, or pay it outside the process and close the case",
    )
    assert gateway.calls == []


def test_the_payment_ceiling_is_converted_for_other_currencies() -> None:
    gateway = RecordingGateway()
    handler = make_payment_handler(load_settings(), gateway)
    # 20000 USD is 17060 EUR at the reference rates.
    assert isinstance(
        handler(_task(**{**GOOD, "refundAmount": 17060, "currency": "EUR"})), Complete
    )
    outcome = handler(_task(**{**GOOD, "refundAmount": 17060.01, "currency": "EUR"}))
    assert isinstance(outcome, BpmnError) and outcome.code == PAYMENT_INVALID_REQUEST
    assert outcome.message.startswith(
        "refundAmount 17060.01 EUR is above the payment ceiling of 17060.00 EUR (20000.00 USD "
        "converted at the reference exchange rates of "
    )
    assert len(gateway.calls) == 1


def test_a_currency_of_its_own_replaces_the_converted_ceiling() -> None:
    gateway = RecordingGateway()
    settings = load_settings(payment_max_amounts="JPY=5000000", payment_max_amount=1000)
    handler = make_payment_handler(settings, gateway)
    assert isinstance(
        handler(_task(**{**GOOD, "refundAmount": 4_000_000, "currency": "JPY"})), Complete
    )
    assert isinstance(handler(_task(**{**GOOD, "refundAmount": 1000})), Complete)
    assert isinstance(handler(_task(**{**GOOD, "refundAmount": 1000.01})), BpmnError)
    assert [call.amount for call in gateway.calls] == [Decimal(4_000_000), Decimal(1000)]


def test_a_currency_without_a_payment_ceiling_goes_to_the_operator() -> None:
    gateway = RecordingGateway()
    outcome = make_payment_handler(load_settings(), gateway)(_task(**{**GOOD, "currency": "XTS"}))
    assert outcome == BpmnError(
        PAYMENT_INVALID_REQUEST,
        "there is no payment ceiling for currency XTS (PAYMENT_MAX_AMOUNTS does not name it and "
        "the reference exchange rates do not list it): pay it outside the process and close the "
        "case, or ask for the currency to be added",
    )
    assert gateway.calls == []


def test_the_paid_amount_is_logged_with_two_decimals() -> None:
    with structlog.testing.capture_logs() as logs:
        make_payment_handler(load_settings(), RecordingGateway())(
            _task(**{**GOOD, "refundAmount": 670})
        )
    (paid,) = [entry for entry in logs if entry["event"] == "refund paid"]
    assert paid["amount"] == "670.00"
