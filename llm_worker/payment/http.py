"""A payment gateway reached over HTTP (PAYMENT_GATEWAY_URL): one JSON POST per attempt."""

from __future__ import annotations

from typing import Any

import requests

from llm_worker.payment.gateway import (
    PaymentDeclinedError,
    PaymentGatewayError,
    PaymentReceipt,
    RefundPayment,
)

_MAX_DETAIL = 300


class HttpPaymentGateway:
    """POSTs `{bookingId, amount, currency}` with an `Idempotency-Key` header.

    2xx with a `paymentId` is paid. 408, 409 (a concurrent attempt with the same key), 425,
    429 and 5xx, timeouts and connection failures are transient: the process retries with
    the same key, so the gateway never pays twice. Any other 4xx declines the request.
    """

    TRANSIENT = frozenset({408, 409, 425, 429})

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float,
        session: requests.Session | None = None,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self._url = url
        self._timeout = (min(connect_timeout_s, timeout_s), timeout_s)
        self._session = session or requests.Session()

    def pay(self, payment: RefundPayment) -> PaymentReceipt:
        body = {
            "bookingId": payment.booking_id,
            "amount": str(payment.amount),
            "currency": payment.currency,
        }
        headers = {"Idempotency-Key": payment.idempotency_key, "Accept": "application/json"}
        try:
            response = self._session.post(
                self._url,
                json=body,
                headers=headers,
                timeout=self._timeout,
                # A redirected POST turns into a GET; a gateway that moved is a configuration
                # problem to see, not to follow.
                allow_redirects=False,
            )
        except requests.Timeout:
            raise PaymentGatewayError(
                f"payment gateway did not answer within {self._timeout[1]:g} s"
            ) from None
        except requests.RequestException as exc:
            raise PaymentGatewayError(
                f"payment gateway unreachable: {type(exc).__name__}"
            ) from None
        status = response.status_code
        if status >= 500 or status in self.TRANSIENT:
            raise PaymentGatewayError(f"payment gateway answered HTTP {status}{_detail(response)}")
        if status >= 400:
            raise PaymentDeclinedError(
                f"payment gateway declined the refund: HTTP {status}{_detail(response)}"
            )
        if status >= 300:
            raise PaymentGatewayError(f"payment gateway answered HTTP {status} (redirect)")
        payment_id = _payment_id(response)
        if payment_id is None:
            # Perhaps paid, perhaps not: a retry under the same key settles it either way.
            raise PaymentGatewayError(f"payment gateway answered HTTP {status} without a paymentId")
        return PaymentReceipt(payment_id=payment_id)

    def close(self) -> None:
        self._session.close()


def _payment_id(response: requests.Response) -> str | None:
    try:
        data: Any = response.json()
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    value = data.get("paymentId", data.get("id"))
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()
    return None


def _detail(response: requests.Response) -> str:
    try:
        data: Any = response.json()
    except ValueError:
        text = response.text.strip()
    else:
        message = data.get("message") or data.get("error") if isinstance(data, dict) else None
        text = str(message) if message else ""
    text = " ".join(text.split())
    if not text:
        return ""
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 3] + "..."
    return f": {text}"
