"""HTTP server for Prometheus and the probes: /metrics, /healthz and /readyz on METRICS_PORT."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

from prometheus_client import REGISTRY, make_wsgi_app
from prometheus_client.registry import Collector

from llm_worker.logs import get_logger
from llm_worker.metrics import WORKER_READY
from llm_worker.observability.health import Health

_log = get_logger(__name__)

_ENDPOINTS = ("/metrics", "/healthz", "/readyz")


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """One thread per request, so a slow scrape never blocks a probe."""

    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    """Probes and scrapes arrive every few seconds: an access line each would drown the logs."""

    def log_message(self, format: str, *args: object) -> None:
        return


class _App:
    """Routes the probes to Health and everything under /metrics to prometheus_client."""

    def __init__(self, health: Health, registry: Collector) -> None:
        self._health = health
        self._metrics = make_wsgi_app(registry)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        if method not in ("GET", "HEAD"):
            return self._json(
                environ,
                start_response,
                "405 Method Not Allowed",
                {"error": f"method {method} not allowed"},
                [("Allow", "GET, HEAD")],
            )
        if path == "/metrics":
            body: Iterable[bytes] = self._metrics(environ, start_response)
            return body
        if path == "/healthz":
            problem = self._health.liveness_problem()
            if problem is None:
                return self._json(environ, start_response, "200 OK", {"status": "alive"})
            return self._json(
                environ,
                start_response,
                "503 Service Unavailable",
                {"status": "not alive", "reason": problem},
            )
        if path == "/readyz":
            problem = self._health.readiness_problem()
            if problem is None:
                return self._json(environ, start_response, "200 OK", {"status": "ready"})
            return self._json(
                environ,
                start_response,
                "503 Service Unavailable",
                {"status": "not ready", "reason": problem},
            )
        if path == "/":
            return self._json(environ, start_response, "200 OK", {"endpoints": list(_ENDPOINTS)})
        return self._json(
            environ,
            start_response,
            "404 Not Found",
            {"error": f"no such endpoint {path}", "endpoints": list(_ENDPOINTS)},
        )

    @staticmethod
    def _json(
        environ: WSGIEnvironment,
        start_response: StartResponse,
        status: str,
        payload: dict[str, object],
        extra_headers: list[tuple[str, str]] | None = None,
    ) -> list[bytes]:
        body = json.dumps(payload).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            *(extra_headers or []),
        ]
        start_response(status, headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


class ObservabilityServer:
    """Serves /metrics (Prometheus exposition), /healthz and /readyz on a daemon thread.

    `port=0` binds an ephemeral port; `.port` tells which one once started.
    """

    def __init__(
        self,
        port: int,
        health: Health,
        registry: Collector = REGISTRY,
        host: str = "0.0.0.0",  # noqa: S104 - probes and scrapes come from outside the container
    ) -> None:
        self._requested_port = port
        self._health = health
        self._host = host
        self._app = _App(health, registry)
        self._server: _ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            return self._requested_port
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL as seen from this host (loopback when bound to every interface)."""
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host  # noqa: S104
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("observability server already started")
        try:
            server = make_server(
                self._host,
                self._requested_port,
                self._app,
                server_class=_ThreadingWSGIServer,
                handler_class=_QuietHandler,
            )
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"cannot serve metrics on {self._host}:{self._requested_port} "
                f"(METRICS_PORT): {exc.strerror or exc}",
            ) from exc
        self._server = server
        health = self._health
        WORKER_READY.set_function(lambda: 1.0 if health.is_ready() else 0.0)
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="observability-http",
            daemon=True,
        )
        self._thread.start()
        _log.info("observability server listening", host=self._host, port=self.port)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop serving and free the port; safe to call twice or before start()."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout_s)
        self._server = None
        self._thread = None
        _log.info("observability server stopped")

    def __enter__(self) -> ObservabilityServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
