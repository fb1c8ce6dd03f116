"""Refund payment: the gateway protocol, a simulated gateway for demos and an HTTP gateway."""

from llm_worker.payment.gateway import (
    GatewayKind,
    PaymentDeclinedError,
    PaymentGateway,
    PaymentGatewayError,
    PaymentReceipt,
    RefundPayment,
    idempotency_key,
)
from llm_worker.payment.http import HttpPaymentGateway
from llm_worker.payment.simulated import SimulatedPaymentGateway

__all__ = [
    "GatewayKind",
    "HttpPaymentGateway",
    "PaymentDeclinedError",
    "PaymentGateway",
    "PaymentGatewayError",
    "PaymentReceipt",
    "RefundPayment",
    "SimulatedPaymentGateway",
    "idempotency_key",
]
