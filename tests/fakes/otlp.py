"""An OTLP/HTTP receiver on loopback: takes what an OpenTelemetry exporter sends to /v1/traces
and /v1/metrics (protobuf, optionally gzip), decodes it with opentelemetry-proto, and keeps the
raw bytes too, so a test can look for text that must never be exported.

    with OtlpReceiver() as otlp:
        ... OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url ...
        spans = otlp.wait_for_spans(lambda found: len(found) >= 3)
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.support import wait_until

# Span kinds as OTLP numbers them.
KIND_INTERNAL, KIND_SERVER, KIND_CLIENT, KIND_PRODUCER, KIND_CONSUMER = 1, 2, 3, 4, 5
STATUS_ERROR = 2


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind) if kind else None


def _attributes(items: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in items if isinstance(kv, KeyValue)}


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a root span
    kind: int
    attributes: dict[str, Any]
    links: tuple[tuple[str, str], ...]  # (trace id, span id)
    status_code: int
    resource: dict[str, Any]
    scope: str


@dataclass(frozen=True)
class ReceivedMetric:
    name: str
    unit: str
    points: list[tuple[dict[str, Any], int, float]]  # (attributes, count, sum) per point


@dataclass
class _State:
    bodies: list[bytes] = field(default_factory=list)  # every request body, decompressed
    spans: list[ReceivedSpan] = field(default_factory=list)
    metrics: list[ReceivedMetric] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


class OtlpReceiver:
    """The receiver; use as a context manager. `url` is what OTEL_EXPORTER_OTLP_ENDPOINT takes."""

    def __init__(self) -> None:
        self._state = _State()
        self._cond = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------ inspection

    def spans(self) -> list[ReceivedSpan]:
        with self._cond:
            return list(self._state.spans)

    def metrics(self) -> list[ReceivedMetric]:
        with self._cond:
            return list(self._state.metrics)

    def raw(self) -> bytes:
        """Everything received, decompressed, one body after the other."""
        with self._cond:
            return b"".join(self._state.bodies)

    def paths(self) -> list[str]:
        with self._cond:
            return list(self._state.paths)

    def wait_for_spans(
        self, condition: Callable[[list[ReceivedSpan]], bool], timeout: float = 20.0
    ) -> list[ReceivedSpan]:
        def met() -> list[ReceivedSpan] | None:
            found = self.spans()
            return found if condition(found) else None

        return wait_until(met, timeout, message="the exported spans", pause=self._pause)

    def wait_for_metric(self, name: str, timeout: float = 20.0) -> ReceivedMetric:
        def found() -> ReceivedMetric | None:
            return next((m for m in reversed(self.metrics()) if m.name == name), None)

        return wait_until(found, timeout, message=f"metric {name}", pause=self._pause)

    def _pause(self, seconds: float) -> None:
        with self._cond:
            self._cond.wait(seconds)

    # ------------------------------------------------------------------ decoding

    def _received(self, path: str, body: bytes) -> None:
        spans: list[ReceivedSpan] = []
        metrics: list[ReceivedMetric] = []
        if path == "/v1/traces":
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource_spans in request.resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        spans.append(
                            ReceivedSpan(
                                name=span.name,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_span_id=span.parent_span_id.hex(),
                                kind=span.kind,
                                attributes=_attributes(span.attributes),
                                links=tuple(
                                    (link.trace_id.hex(), link.span_id.hex()) for link in span.links
                                ),
                                status_code=span.status.code,
                                resource=resource,
                                scope=scope_spans.scope.name,
                            )
                        )
        elif path == "/v1/metrics":
            request_m = ExportMetricsServiceRequest()
            request_m.ParseFromString(body)
            for resource_metrics in request_m.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        if metric.WhichOneof("data") != "histogram":
                            continue
                        points = [
                            (_attributes(p.attributes), int(p.count), float(p.sum))
                            for p in metric.histogram.data_points
                        ]
                        metrics.append(ReceivedMetric(metric.name, metric.unit, points))
        with self._cond:
            self._state.paths.append(path)
            self._state.bodies.append(body)
            self._state.spans.extend(spans)
            self._state.metrics.extend(metrics)
            self._cond.notify_all()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(415)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                receiver._received(self.path, body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler
