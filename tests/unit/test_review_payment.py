"""Review: an amount with more digits than decimal arithmetic holds is a BPMN error, not a bug."""

from __future__ import annotations

import time

import pytest

from llm_worker.config import PAYMENT_TOPIC, load_settings
from llm_worker.handlers.payment import PAYMENT_INVALID_REQUEST, make_payment_handler
from llm_worker.payment import PaymentReceipt, RefundPayment
from llm_worker.runtime.task import BpmnError, Task, TypedValue


class NeverCalled:
    def pay(self, payment: RefundPayment) -> PaymentReceipt:
        raise AssertionError("an invalid amount must not reach the gateway")


@pytest.mark.parametrize("amount", ["123456789012345678901234567890.1234", "1" * 40 + ".0001"])
def test_an_overlong_amount_goes_to_the_operator(amount: str) -> None:
    task = Task(
        id="t1",
        topic=PAYMENT_TOPIC,
        worker_id="w",
        process_instance_id="pi-1",
        business_key=None,
        retries=None,
        variables={
            "bookingId": TypedValue("ABC123", "String"),
            "refundAmount": TypedValue(amount, "String"),
            "currency": TypedValue("USD", "String"),
        },
        deadline=time.monotonic() + 60,
    )
    outcome = make_payment_handler(load_settings(), NeverCalled())(task)
    assert outcome == BpmnError(PAYMENT_INVALID_REQUEST, "refundAmount is not a usable amount")
