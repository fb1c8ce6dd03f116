"""The simulated payment gateway (payment/simulated.py): failure rate, one payment each."""

from __future__ import annotations

from decimal import Decimal

import pytest

from llm_worker.payment import (
    PaymentGatewayError,
    RefundPayment,
    SimulatedPaymentGateway,
    idempotency_key,
)


def _payment(instance: str = "pi-1", amount: str = "120.50") -> RefundPayment:
    return RefundPayment("BK-1", Decimal(amount), "EUR", idempotency_key(instance))


def test_simulated_gateway_fails_at_the_configured_rate() -> None:
    draws = iter([0.05, 0.5])
    gateway = SimulatedPaymentGateway(0.1, lambda: next(draws))
    with pytest.raises(PaymentGatewayError, match=r"PAYMENT_FAILURE_RATE=0\.1"):
        gateway.pay(_payment())
    receipt = gateway.pay(_payment())
    assert receipt.payment_id.startswith("SIM-")


def test_simulated_gateway_pays_each_instance_once() -> None:
    gateway = SimulatedPaymentGateway(0.0, lambda: 0.99)
    first = gateway.pay(_payment("pi-1"))
    again = gateway.pay(_payment("pi-1"))
    other = gateway.pay(_payment("pi-2"))
    assert first == again
    assert other != first
    assert gateway.payments == 2


def test_simulated_gateway_with_rate_one_always_fails_and_zero_never() -> None:
    with pytest.raises(PaymentGatewayError):
        SimulatedPaymentGateway(1.0, lambda: 0.999999).pay(_payment())
    assert SimulatedPaymentGateway(0.0, lambda: 0.0).pay(_payment()).payment_id


def test_simulated_gateway_rejects_a_bad_rate() -> None:
    with pytest.raises(ValueError):
        SimulatedPaymentGateway(1.5, lambda: 0.0)
