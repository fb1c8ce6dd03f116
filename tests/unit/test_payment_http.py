"""The HTTP payment gateway (llm_worker/payment/http.py) against a real local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from llm_worker.payment import (
    HttpPaymentGateway,
    PaymentDeclinedError,
    PaymentGatewayError,
    RefundPayment,
    idempotency_key,
)


def _payment(instance: str = "pi-1", amount: str = "120.50") -> RefundPayment:
    return RefundPayment("BK-1", Decimal(amount), "EUR", idempotency_key(instance))


# ----------------------------------------------------------------------------- HTTP


@dataclass
class Reply:
    status: int = 201
    body: Any = field(default_factory=lambda: {"paymentId": "PAY-1"})
    hang: bool = False
    raw: bytes | None = None


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: Any


class FakePaymentServer:
    """A payment gateway on 127.0.0.1 that answers from a script and records every request."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.seen: list[Seen] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                server.seen.append(Seen(self.path, dict(self.headers.items()), json.loads(raw)))
                reply = server.replies.pop(0) if server.replies else Reply()
                if reply.hang:
                    server.release.wait(10)
                    return
                payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/refunds"

    def __enter__(self) -> FakePaymentServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server() -> Iterator[FakePaymentServer]:
    with FakePaymentServer() as fake:
        yield fake


def test_http_gateway_posts_json_with_the_idempotency_key(server: FakePaymentServer) -> None:
    receipt = HttpPaymentGateway(server.url, timeout_s=5).pay(_payment())
    assert receipt.payment_id == "PAY-1"
    (seen,) = server.seen
    assert seen.path == "/refunds"
    assert seen.body == {"bookingId": "BK-1", "amount": "120.50", "currency": "EUR"}
    assert seen.headers["Idempotency-Key"] == idempotency_key("pi-1")
    assert seen.headers["Content-Type"] == "application/json"


def test_http_gateway_sends_the_same_key_on_every_retry(server: FakePaymentServer) -> None:
    server.replies = [Reply(503, {"message": "maintenance"}), Reply(500, {}), Reply(200)]
    gateway = HttpPaymentGateway(server.url, timeout_s=5)
    for _ in range(2):
        with pytest.raises(PaymentGatewayError):
            gateway.pay(_payment())
    assert gateway.pay(_payment()).payment_id == "PAY-1"
    keys = {s.headers["Idempotency-Key"] for s in server.seen}
    assert keys == {idempotency_key("pi-1")}
    assert len(server.seen) == 3


def test_http_gateway_5xx_is_a_transient_error_with_the_gateways_message(
    server: FakePaymentServer,
) -> None:
    server.replies = [Reply(502, {"message": "upstream bank timeout"})]
    with pytest.raises(PaymentGatewayError, match=r"HTTP 502: upstream bank timeout"):
        HttpPaymentGateway(server.url, timeout_s=5).pay(_payment())


@pytest.mark.parametrize("status", [408, 409, 429])
def test_http_gateway_retryable_4xx_is_transient(server: FakePaymentServer, status: int) -> None:
    server.replies = [Reply(status, {"error": "slow down"})]
    with pytest.raises(PaymentGatewayError, match=f"HTTP {status}"):
        HttpPaymentGateway(server.url, timeout_s=5).pay(_payment())


def test_http_gateway_other_4xx_declines(server: FakePaymentServer) -> None:
    server.replies = [Reply(422, {"message": "currency not supported"})]
    with pytest.raises(PaymentDeclinedError, match=r"HTTP 422: currency not supported"):
        HttpPaymentGateway(server.url, timeout_s=5).pay(_payment())


def test_http_gateway_times_out(server: FakePaymentServer) -> None:
    server.replies = [Reply(hang=True)]
    with pytest.raises(PaymentGatewayError, match=r"did not answer within 0\.3 s"):
        HttpPaymentGateway(server.url, timeout_s=0.3).pay(_payment())


def test_http_gateway_unreachable() -> None:
    with FakePaymentServer() as fake:
        url = fake.url
    with pytest.raises(PaymentGatewayError, match="unreachable"):
        HttpPaymentGateway(url, timeout_s=2).pay(_payment())


@pytest.mark.parametrize(
    "reply",
    [Reply(200, {"status": "ok"}), Reply(200, raw=b"<html>ok</html>"), Reply(200, ["PAY-1"])],
)
def test_http_gateway_answer_without_payment_id_is_transient(
    server: FakePaymentServer, reply: Reply
) -> None:
    server.replies = [reply]
    with pytest.raises(PaymentGatewayError, match="without a paymentId"):
        HttpPaymentGateway(server.url, timeout_s=5).pay(_payment())


def test_http_gateway_does_not_follow_redirects(server: FakePaymentServer) -> None:
    server.replies = [Reply(307, {})]
    with pytest.raises(PaymentGatewayError, match="redirect"):
        HttpPaymentGateway(server.url, timeout_s=5).pay(_payment())
    assert len(server.seen) == 1


def test_http_gateway_cuts_long_error_bodies(server: FakePaymentServer) -> None:
    server.replies = [Reply(500, raw=b"x" * 5000)]
    with pytest.raises(PaymentGatewayError) as caught:
        HttpPaymentGateway(server.url, timeout_s=5).pay(_payment())
    assert len(str(caught.value)) < 400
