"""The `process-refund-payment` handler: validates the refund and pays it through the gateway."""

from __future__ import annotations

import random
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from llm_worker.config import Settings, require_payment_gateway
from llm_worker.logs import get_logger
from llm_worker.payment import (
    HttpPaymentGateway,
    PaymentDeclinedError,
    PaymentGateway,
    PaymentGatewayError,
    RefundPayment,
    SimulatedPaymentGateway,
    idempotency_key,
)
from llm_worker.refund.currency import CurrencyLimits, plain
from llm_worker.runtime.task import BpmnError, Complete, Handler, Task, TaskOutcome

# The process retries this one with a back-off, then hands the case to an operator.
PAYMENT_API_ERROR = "PAYMENT_API_ERROR"
# Retrying cannot help (no amount, a bad currency, a declined request): straight to an operator.
PAYMENT_INVALID_REQUEST = "PAYMENT_INVALID_REQUEST"
PAYMENT_ERROR_CODES = (PAYMENT_API_ERROR, PAYMENT_INVALID_REQUEST)

_BOOKING_ID = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MAX_DECIMALS = 3

log = get_logger(__name__)


class InvalidPaymentError(ValueError):
    """The task's variables do not describe a payable refund; the message says what to fix."""


def build_gateway(settings: Settings) -> PaymentGateway:
    """The gateway the settings name; SettingsError when they name none."""
    require_payment_gateway(settings)
    if settings.payment_gateway_url is not None:
        return HttpPaymentGateway(
            str(settings.payment_gateway_url), timeout_s=settings.payment_timeout_s
        )
    return SimulatedPaymentGateway(settings.payment_failure_rate, random.SystemRandom().random)


def make_payment_handler(settings: Settings, gateway: PaymentGateway | None = None) -> Handler:
    """The handler for PAYMENT_TOPIC; `gateway` defaults to the one the settings name."""
    chosen = gateway if gateway is not None else build_gateway(settings)
    ceiling = settings.payment_ceiling

    def handle(task: Task) -> TaskOutcome:
        try:
            payment = refund_payment(task, ceiling)
        except InvalidPaymentError as exc:
            log.warning("refund payment not attempted", reason=str(exc))
            return BpmnError(PAYMENT_INVALID_REQUEST, str(exc))
        try:
            receipt = chosen.pay(payment)
        except PaymentGatewayError as exc:
            log.warning("refund payment failed", booking_id=payment.booking_id, error=str(exc))
            return BpmnError(PAYMENT_API_ERROR, str(exc))
        except PaymentDeclinedError as exc:
            log.warning("refund payment declined", booking_id=payment.booking_id, error=str(exc))
            return BpmnError(PAYMENT_INVALID_REQUEST, str(exc))
        log.info(
            "refund paid",
            booking_id=payment.booking_id,
            amount=plain(payment.amount),
            currency=payment.currency,
            payment_id=receipt.payment_id,
        )
        return Complete({"paymentStatus": "SUCCESS", "paymentId": receipt.payment_id})

    return handle


def refund_payment(task: Task, ceiling: CurrencyLimits) -> RefundPayment:
    """Read and check the task's variables; raise InvalidPaymentError naming the problem.

    `ceiling` caps every payment, with or without a ticketPrice: an amount typed with an extra
    zero is never paid.
    """
    if not task.process_instance_id:
        raise ValueError("external task without a process instance id")
    booking_id = task.value("bookingId")
    if not isinstance(booking_id, str) or not _BOOKING_ID.fullmatch(booking_id.strip()):
        raise InvalidPaymentError(
            "bookingId is missing or not a booking reference (letters, digits, _ and -, at most 50)"
        )
    amount = _amount(task.value("refundAmount"), "refundAmount")
    if amount is None:
        raise InvalidPaymentError("refundAmount is missing: enter the amount to refund and retry")
    if amount <= 0:
        raise InvalidPaymentError(
            f"refundAmount is {plain(amount)}: only a positive amount can be paid; "
            "correct it or close the case"
        )
    price = _price(task.value("ticketPrice"))
    if price is not None and amount > price:
        raise InvalidPaymentError(
            f"refundAmount {plain(amount)} is above the ticket price {plain(price)}"
        )
    currency = task.value("currency")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency.strip().upper()):
        raise InvalidPaymentError("currency is missing or not an ISO 4217 code such as USD")
    currency = currency.strip().upper()
    limit = ceiling.in_currency(currency)
    if limit is None:
        raise InvalidPaymentError(
            f"there is no payment ceiling for currency {currency} (PAYMENT_MAX_AMOUNTS does not "
            "name it and the reference exchange rates do not list it): pay it outside the "
            "process and close the case, or ask for the currency to be added"
        )
    if amount > limit.amount:
        raise InvalidPaymentError(
            f"refundAmount {plain(amount)} {currency} is above the payment ceiling of "
            f"{limit.describe(ceiling)}: correct the amount and retry, or pay it outside the "
            "process and close the case"
        )
    return RefundPayment(
        booking_id=booking_id.strip(),
        amount=amount,
        currency=currency,
        idempotency_key=idempotency_key(task.process_instance_id),
    )


def _amount(value: Any, name: str) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidPaymentError(f"{name} is not a number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidPaymentError(f"{name} is not a number") from None
    if not amount.is_finite():
        raise InvalidPaymentError(f"{name} is not a finite number")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -_MAX_DECIMALS:
        # 0.1 + 0.2 style float noise is rounded; a real sub-cent amount is a data error.
        try:
            rounded = amount.quantize(Decimal(1).scaleb(-_MAX_DECIMALS))
        except InvalidOperation:  # more digits than any real amount has
            raise InvalidPaymentError(f"{name} is not a usable amount") from None
        if abs(rounded - amount) > Decimal("1e-9"):
            raise InvalidPaymentError(f"{name} has more than {_MAX_DECIMALS} decimals")
        amount = rounded
    # Plain notation: normalize() alone turns 500 into 5E+2.
    return Decimal(format(amount.normalize(), "f"))


def _price(value: Any) -> Decimal | None:
    """The ticket price when it is a usable number; anything else is not this step's concern."""
    try:
        return _amount(value, "ticketPrice")
    except InvalidPaymentError:
        return None
