"""The engine REST client: the camunda library's ExternalTaskClient on one pooled session, with
variable maxTasks, extendLock, unlock, count, an abortable long poll, and health/metrics reporting.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import requests
from camunda.client.external_task_client import ExternalTaskClient
from camunda.utils.response_utils import raise_exception_if_not_ok
from camunda.variables.variables import Variables
from opentelemetry.trace import SpanContext
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from llm_worker.config import Settings, engine_url_hint, without_credentials
from llm_worker.logs import get_logger
from llm_worker.metrics import ENGINE_ERRORS
from llm_worker.observability import tracing
from llm_worker.observability.health import Health
from llm_worker.tls import certificate_problem, requests_verify

_log = get_logger(__name__)

# Seconds the HTTP read timeout of a long poll exceeds the engine's asyncResponseTimeout.
_LONG_POLL_MARGIN_S = 10.0
_CONNECT_TIMEOUT_S = 5.0


# Calls whose 404 means the REST API is not where CAMUNDA_URL points (for a task's own calls
# it means the task is gone).
_ROOT_OPERATIONS = frozenset({"fetch_and_lock", "count", "history_count", "list_locked", "version"})


class EngineError(Exception):
    """A request to the engine failed: no answer (status None) or an error status."""

    def __init__(self, operation: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{operation}: {message}")
        self.operation = operation
        self.reason = message
        self.status = status

    @property
    def transient(self) -> bool:
        """Worth retrying: the engine did not answer, or answered with a server error."""
        return self.status is None or self.status >= 500 or self.status == 429

    @property
    def task_gone(self) -> bool:
        """The task was completed or cancelled elsewhere, or our lock was taken over."""
        return self.status in (400, 404)


class FetchAbortedError(Exception):
    """The long poll was interrupted on purpose (shutdown)."""


class _AbortableAdapter(HTTPAdapter):
    """An adapter that remembers its sockets, so a blocked long poll can be cut from outside."""

    def __init__(self) -> None:
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._aborted = False
        super().__init__(pool_connections=1, pool_maxsize=1)

    def _opened(self, sock: socket.socket) -> None:
        with self._lock:
            if not self._aborted:
                self._sockets.add(sock)
                return
        # aborted while this connection was being made: cut it too
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        opened = self._opened

        class Tracked(HTTPConnection):
            def connect(self) -> None:
                super().connect()
                opened(self.sock)

        class TrackedTLS(HTTPSConnection):
            def connect(self) -> None:
                super().connect()
                opened(self.sock)

        class Pool(HTTPConnectionPool):
            ConnectionCls = Tracked

        class TLSPool(HTTPSConnectionPool):
            ConnectionCls = TrackedTLS

        self.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": TLSPool}

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)
        self.close()


class EngineClient(ExternalTaskClient):  # type: ignore[misc]
    """ExternalTaskClient whose calls share one connection pool and report to Health; with a
    tenant, it fetches and counts only that tenant's tasks and instances."""

    def __init__(
        self,
        *,
        base_url: str,
        worker_id: str,
        health: Health,
        lock_duration_ms: int,
        async_response_timeout_ms: int,
        pool_size: int = 10,
        username: str | None = None,
        password: str | None = None,
        http_timeout_s: float = 30.0,
        tenant_id: str | None = None,
        ca: Path | None = None,
    ) -> None:
        config: dict[str, Any] = {
            "lockDuration": lock_duration_ms,
            "asyncResponseTimeout": async_response_timeout_ms,
            "httpTimeoutMillis": int(http_timeout_s * 1000),
            "timeoutDeltaMillis": int(_LONG_POLL_MARGIN_S * 1000),
            "includeExtensionProperties": False,
            "deserializeValues": True,
        }
        if username:
            config["auth_basic"] = {"username": username, "password": password or ""}
        super().__init__(worker_id, base_url.rstrip("/"), config)
        self.base_url = base_url.rstrip("/")
        self.tenant_id = tenant_id
        self._verify = requests_verify(ca)
        self._health = health
        # The fetch that delivered the tasks last returned (for the task spans' links).
        self.last_fetch: SpanContext | None = None
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(pool_size, 1))
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._fetch_lock = threading.Lock()
        self._fetch_adapter: _AbortableAdapter | None = None
        self._fetch_session: requests.Session | None = None
        self._aborted = False
        self._headers: dict[str, str] = self._get_headers()

    @classmethod
    def from_settings(cls, settings: Settings, health: Health) -> EngineClient:
        password = (
            settings.camunda_password.get_secret_value() if settings.camunda_password else None
        )
        return cls(
            base_url=settings.engine_url,
            worker_id=settings.worker_id,
            health=health,
            lock_duration_ms=settings.lock_duration_ms,
            async_response_timeout_ms=settings.async_response_timeout_ms,
            # completions of every slot, lock extensions and the backlog count at once
            pool_size=settings.worker_concurrency + 4,
            username=settings.camunda_username,
            password=password,
            tenant_id=settings.camunda_tenant_id,
            ca=settings.engine_ca,
        )

    # ------------------------------------------------------------------ external tasks

    def fetch_and_lock(
        self,
        topic_names: Sequence[str],
        max_tasks: int,
        variables: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Lock up to max_tasks tasks, waiting up to asyncResponseTimeout for the first one."""
        topics = self._get_topics(list(topic_names), None, list(variables) if variables else None)
        if self.tenant_id:
            for topic in topics:
                topic["tenantIdIn"] = [self.tenant_id]
        body = {
            "workerId": str(self.worker_id),
            "maxTasks": max_tasks,
            "topics": topics,
            "asyncResponseTimeout": self.config["asyncResponseTimeout"],
            "usePriority": self.config["usePriority"],
            "sorting": self.config["sorting"],
        }
        read_timeout = self.config["asyncResponseTimeout"] / 1000 + _LONG_POLL_MARGIN_S
        session = self._fetch_session_for_call()
        url = self.get_fetch_and_lock_url()
        started_ns = time.time_ns()
        self.last_fetch = None
        try:
            response = self._call(
                "fetch_and_lock",
                "POST",
                url,
                session=session,
                json=body,
                timeout=(_CONNECT_TIMEOUT_S, read_timeout),
            )
            tasks = _json("fetch_and_lock", response)
            if not isinstance(tasks, list):
                raise EngineError("fetch_and_lock", "answer is not a list of tasks", 200)
        except EngineError as exc:
            if self._aborted:
                raise FetchAbortedError from None
            self._record_fetch(url, started_ns, topic_names, max_tasks, 0, exc)
            raise
        if tasks:
            self.last_fetch = self._record_fetch(
                url, started_ns, topic_names, max_tasks, len(tasks), None
            )
        return tasks

    def _record_fetch(
        self,
        url: str,
        started_ns: int,
        topics: Sequence[str],
        max_tasks: int,
        tasks: int,
        error: EngineError | None,
    ) -> SpanContext | None:
        return tracing.record_fetch(
            url=url,
            started_ns=started_ns,
            topics=topics,
            max_tasks=max_tasks,
            tasks=tasks,
            status=error.status if error is not None else 200,
            error_type=_error_type(error) if error is not None else None,
        )

    def complete(
        self,
        task_id: str,
        global_variables: Mapping[str, Any],
        local_variables: Mapping[str, Any] | None = None,
    ) -> bool:
        body = {
            "workerId": self.worker_id,
            "variables": Variables.format(dict(global_variables)),
            "localVariables": Variables.format(dict(local_variables or {})),
        }
        self._post(
            "complete", self.get_task_complete_url(task_id), "/external-task/{id}/complete", body
        )
        return True

    def failure(
        self,
        task_id: str,
        error_message: str,
        error_details: str | None,
        retries: int,
        retry_timeout: int,
    ) -> bool:
        body: dict[str, Any] = {
            "workerId": self.worker_id,
            "errorMessage": error_message,
            "retries": retries,
            "retryTimeout": retry_timeout,
        }
        if error_details:
            body["errorDetails"] = error_details
        self._post(
            "failure", self.get_task_failure_url(task_id), "/external-task/{id}/failure", body
        )
        return True

    def bpmn_failure(
        self,
        task_id: str,
        error_code: str,
        error_message: str,
        variables: Mapping[str, Any] | None = None,
    ) -> bool:
        body = {
            "workerId": self.worker_id,
            "errorCode": error_code,
            "errorMessage": error_message,
            "variables": Variables.format(dict(variables or {})),
        }
        self._post(
            "bpmn_error",
            self.get_task_bpmn_error_url(task_id),
            "/external-task/{id}/bpmnError",
            body,
        )
        return True

    def extend_lock(self, task_id: str, new_duration_ms: int) -> None:
        body = {"workerId": self.worker_id, "newDuration": new_duration_ms}
        self._post(
            "extend_lock",
            f"{self.external_task_base_url}/{task_id}/extendLock",
            "/external-task/{id}/extendLock",
            body,
        )

    def unlock(self, task_id: str) -> None:
        self._post(
            "unlock",
            f"{self.external_task_base_url}/{task_id}/unlock",
            "/external-task/{id}/unlock",
            None,
        )

    def count(self, topic: str) -> int:
        """Unlocked tasks with retries left waiting on the topic (the autoscaling signal)."""
        params = {"topicName": topic, "notLocked": "true", "withRetriesLeft": "true"}
        if self.tenant_id:
            params["tenantIdIn"] = self.tenant_id
        response = self._call("count", "GET", f"{self.external_task_base_url}/count", params=params)
        try:
            return int(_json("count", response)["count"])
        except (KeyError, TypeError, ValueError):
            raise EngineError("count", "answer has no count", response.status_code) from None

    def count_history(self, query: Mapping[str, Any]) -> int:
        """Historic process instances matching the query, a HistoricProcessInstanceQueryDto
        (POST /history/process-instance/count: variable values may hold '_', which the GET
        form's `name_eq_value` cannot); with a tenant, only that tenant's instances."""
        body = dict(query)
        if self.tenant_id:
            body["tenantIdIn"] = [self.tenant_id]
        response = self._call(
            "history_count", "POST", f"{self.base_url}/history/process-instance/count", json=body
        )
        try:
            return int(_json("history_count", response)["count"])
        except (KeyError, TypeError, ValueError):
            raise EngineError(
                "history_count", "answer has no count", response.status_code
            ) from None

    def locked_by_me(self) -> list[str]:
        """Ids of the tasks the engine says this worker holds a live lock on."""
        params = {"workerId": self.worker_id, "locked": "true"}
        response = self._call("list_locked", "GET", self.external_task_base_url, params=params)
        try:
            return [str(task["id"]) for task in _json("list_locked", response)]
        except (KeyError, TypeError):
            raise EngineError("list_locked", "answer is not a task list", 200) from None

    def version(self) -> str:
        """The engine's version (GET /version): a cheap ping."""
        response = self._call("version", "GET", f"{self.base_url}/version")
        answer = _json("version", response)
        return str(answer.get("version", "unknown")) if isinstance(answer, dict) else "unknown"

    # ------------------------------------------------------------------ lifecycle

    def abort_fetch(self) -> None:
        """Cut a long poll in progress and refuse further fetches (shutdown)."""
        with self._fetch_lock:
            self._aborted = True
            adapter = self._fetch_adapter
        if adapter is not None:
            adapter.abort()

    def close(self) -> None:
        self.abort_fetch()
        self._session.close()

    # ------------------------------------------------------------------ plumbing

    def _log_with_context(self, msg: str, log_level: str = "info", **kwargs: Any) -> None:
        # The library logs its whole configuration at INFO on the root logger when created;
        # that belongs in debugging output only.
        _log.debug(msg, worker_id=self.worker_id)

    def _fetch_session_for_call(self) -> requests.Session:
        with self._fetch_lock:
            if self._aborted:
                raise FetchAbortedError
            if self._fetch_session is None:
                # A session of its own: aborting the long poll must not cut completions.
                self._fetch_adapter = _AbortableAdapter()
                self._fetch_session = requests.Session()
                self._fetch_session.mount("http://", self._fetch_adapter)
                self._fetch_session.mount("https://", self._fetch_adapter)
            return self._fetch_session

    def _post(
        self, operation: str, url: str, template: str, body: Mapping[str, Any] | None
    ) -> None:
        with tracing.engine_span(operation, "POST", url, template) as span:
            try:
                response = self._call(operation, "POST", url, json=body)
            except EngineError as exc:
                tracing.http_result(span, exc.status, _error_type(exc))
                raise
            tracing.http_result(span, response.status_code)

    def _call(
        self,
        operation: str,
        method: str,
        url: str,
        *,
        session: requests.Session | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.http_timeout_seconds)
        try:
            response = (session or self._session).request(
                method, url, headers=self._headers, verify=self._verify, **kwargs
            )
        except requests.RequestException as exc:
            self._failed(operation)
            raise EngineError(operation, _describe(exc)) from None
        try:
            raise_exception_if_not_ok(response)
        except Exception as exc:  # the library raises a bare Exception with the engine's message
            # Unusable answers: the engine is down, overloaded, or refuses our credentials.
            if response.status_code >= 500 or response.status_code in (401, 403, 429):
                self._failed(operation)
            else:
                ENGINE_ERRORS.labels(operation=operation).inc()
                self._health.engine_ok()
            # requests' own message quotes the URL, with any user:password written in it.
            message = without_credentials(str(exc))
            if response.status_code == 404 and operation in _ROOT_OPERATIONS:
                message += engine_url_hint(self.base_url)
            raise EngineError(operation, message, response.status_code) from None
        self._health.engine_ok()
        return response

    def _failed(self, operation: str) -> None:
        ENGINE_ERRORS.labels(operation=operation).inc()
        self._health.engine_failed()


def _json(operation: str, response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise EngineError(operation, "answer is not JSON", response.status_code) from None


def _error_type(error: EngineError) -> str:
    return str(error.status) if error.status is not None else "no_answer"


def _describe(exc: requests.RequestException) -> str:
    """A short reason without the URL's credentials or a traceback."""
    if isinstance(exc, requests.exceptions.SSLError):
        problem = certificate_problem(exc) or "handshake failed"
        return (
            f"TLS {problem}; set CAMUNDA_CA_BUNDLE to the CA that signed the engine's certificate"
        )
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed" if "refused" not in str(exc).lower() else "connection refused"
    return type(exc).__name__
