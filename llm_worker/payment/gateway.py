"""What a payment gateway is to the worker: one refund in, a receipt or a typed error out."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

# Bump only together with a migration plan: changing it would let a retried payment of a
# running instance through under a new key.
_KEY_NAMESPACE = "ticket-refund-payment/v1"


def idempotency_key(process_instance_id: str) -> str:
    """The key the gateway deduplicates on: one refund per process instance, however often
    the payment step runs (engine retries, the process's back-off loop, an operator's retry)."""
    if not process_instance_id:
        raise ValueError("a payment needs the process instance id to derive its idempotency key")
    return hashlib.sha256(f"{_KEY_NAMESPACE}:{process_instance_id}".encode()).hexdigest()


class GatewayKind(StrEnum):
    """Which gateway pays: the real one (PAYMENT_GATEWAY_URL) or the simulated one, which moves
    no money (PAYMENT_SIMULATED=true, for demos and tests)."""

    HTTP = "http"
    SIMULATED = "simulated"

    def describe(self) -> str:
        if self is GatewayKind.SIMULATED:
            return "simulated: no money moves (PAYMENT_SIMULATED=true)"
        return "real payments through PAYMENT_GATEWAY_URL"


@dataclass(frozen=True)
class RefundPayment:
    """One refund to pay out; `amount` is in `currency` (ISO 4217), never negative."""

    booking_id: str
    amount: Decimal
    currency: str
    idempotency_key: str


@dataclass(frozen=True)
class PaymentReceipt:
    payment_id: str


class PaymentGatewayError(Exception):
    """The gateway failed or could not be reached; the same request may succeed later."""


class PaymentDeclinedError(Exception):
    """The gateway refused this request as it stands; retrying it unchanged cannot help."""


class PaymentGateway(Protocol):
    def pay(self, payment: RefundPayment) -> PaymentReceipt:
        """Pay the refund, or raise PaymentGatewayError / PaymentDeclinedError."""
        ...
