"""A payment gateway simulated in memory, for demos and tests: fails at PAYMENT_FAILURE_RATE."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

from llm_worker.payment.gateway import PaymentGatewayError, PaymentReceipt, RefundPayment


class SimulatedPaymentGateway:
    """Pays instantly; honours idempotency keys like a real gateway (same key, same payment)."""

    def __init__(self, failure_rate: float, random: Callable[[], float]) -> None:
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError("failure_rate must be between 0 and 1")
        self._failure_rate = failure_rate
        self._random = random
        self._lock = threading.Lock()
        self._paid: dict[str, PaymentReceipt] = {}

    def pay(self, payment: RefundPayment) -> PaymentReceipt:
        with self._lock:
            receipt = self._paid.get(payment.idempotency_key)
            if receipt is not None:
                return receipt
            if self._random() < self._failure_rate:
                raise PaymentGatewayError(
                    "simulated payment gateway failure "
                    f"(PAYMENT_FAILURE_RATE={self._failure_rate:g})"
                )
            digest = hashlib.sha256(payment.idempotency_key.encode()).hexdigest()[:20]
            receipt = PaymentReceipt(payment_id=f"SIM-{digest.upper()}")
            self._paid[payment.idempotency_key] = receipt
            return receipt

    @property
    def payments(self) -> int:
        """How many distinct refunds were paid."""
        with self._lock:
            return len(self._paid)
