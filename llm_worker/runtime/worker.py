"""The worker loop: one long poll for free slots, a fixed pool of task threads, lock extension,
failure reporting with retries, back-off on engine errors, and a graceful drain on shutdown.
"""

from __future__ import annotations

import queue
import re
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from camunda.external_task.external_task import ExternalTask
from opentelemetry.trace import SpanContext

from llm_worker.logs import get_logger
from llm_worker.metrics import LOCK_EXTENSIONS, TASK_DURATION, TASKS_IN_FLIGHT, TASKS_PROCESSED
from llm_worker.observability import tracing
from llm_worker.observability.health import Health
from llm_worker.runtime.backoff import Backoff
from llm_worker.runtime.engine import EngineError, FetchAbortedError
from llm_worker.runtime.locks import LockSchedule
from llm_worker.runtime.registry import TopicRegistry
from llm_worker.runtime.task import BpmnError, Complete, Task, TaskOutcome
from llm_worker.runtime.variables import decode_variables, encode_variables

_log = get_logger(__name__)

_ERROR_MESSAGE_LIMIT = 500
_ERROR_DETAILS_LIMIT = 4000
_BOOKING_ID = re.compile(r"[^A-Za-z0-9_-]")
# Failed engine fetches are logged at WARNING the first time and then every Nth time, so an
# outage is visible without a line per retry.
_LOG_EVERY_N_FAILURES = 10
# An empty fetch answered sooner than this (ASYNC_RESPONSE_TIMEOUT_MS=0, or an engine that
# does not hold the poll) is followed by a pause, so an idle worker does not spin on the engine.
_MIN_EMPTY_POLL_INTERVAL_S = 1.0
# How much longer than its asyncResponseTimeout the engine may take to drop a long poll: the
# time the request took to arrive, and the engine's acquisition cycle that notices the expiry.
_POLL_EXPIRY_SLACK_S = 0.5


class EngineAPI(Protocol):
    """What the worker needs from the engine (EngineClient provides it)."""

    def fetch_and_lock(
        self, topic_names: Sequence[str], max_tasks: int
    ) -> list[dict[str, Any]]: ...

    def complete(self, task_id: str, global_variables: Mapping[str, Any]) -> bool: ...

    def failure(
        self,
        task_id: str,
        error_message: str,
        error_details: str | None,
        retries: int,
        retry_timeout: int,
    ) -> bool: ...

    def bpmn_failure(
        self,
        task_id: str,
        error_code: str,
        error_message: str,
        variables: Mapping[str, Any] | None = None,
    ) -> bool: ...

    def extend_lock(self, task_id: str, new_duration_ms: int) -> None: ...

    def unlock(self, task_id: str) -> None: ...

    def locked_by_me(self) -> list[str]: ...

    def abort_fetch(self) -> None: ...


@dataclass(frozen=True)
class WorkerOptions:
    worker_id: str
    topics: tuple[str, ...]
    concurrency: int
    lock_duration_ms: int
    shutdown_grace_s: float
    max_retries: int
    retry_timeout_ms: int
    report_attempts: int = 5
    # The asyncResponseTimeout the client's long polls ask for (ASYNC_RESPONSE_TIMEOUT_MS).
    poll_timeout_ms: int = 0


@dataclass(frozen=True)
class _Fetched:
    raw: dict[str, Any]
    received_at: float
    fetched_by: SpanContext | None = None  # the fetch's span, linked from the task's


def failure_retries(raw_task: Mapping[str, Any], max_retries: int) -> int:
    """Retries to report on a failure: max_retries the first time, then one less each time.

    Uses the library's own rule (ExternalTask._calculate_retries) so the count matches what
    its users expect; at 0 the engine raises an incident.
    """
    context = dict(raw_task)
    result = ExternalTask(context).failure("", None, max_retries, 0)
    return int(result.retries)


def log_context(task: Task) -> dict[str, Any]:
    """What every log line about a task carries."""
    booking = task.value("bookingId")
    return {
        "task_id": task.id,
        "topic": task.topic,
        "process_instance_id": task.process_instance_id,
        "business_key": task.business_key,
        # only the characters the contract allows, so a variable cannot forge log content; the
        # handlers' own lines name it with the same key, so a line carries the booking once
        "booking_id": _BOOKING_ID.sub("", booking)[:50] if isinstance(booking, str) else None,
    }


class Worker:
    """Fetches tasks for the registry's topics and runs them, `concurrency` at a time."""

    def __init__(
        self,
        client: EngineAPI,
        registry: TopicRegistry,
        options: WorkerOptions,
        health: Health,
        backoff: Backoff | None = None,
    ) -> None:
        self._client = client
        self._registry = registry
        self._options = options
        self._health = health
        self._backoff = backoff or Backoff()
        self._lock_s = options.lock_duration_ms / 1000
        self._locks = LockSchedule(self._lock_s)
        self._stopping = threading.Event()
        self._keeper_stop = threading.Event()
        self._keeper_wake = threading.Event()
        self._slots = threading.Condition()
        self._running: dict[str, str] = {}  # task id -> topic, started or queued
        self._spans: dict[str, SpanContext] = {}  # task id -> its span, for lock extensions
        self._queue: queue.Queue[_Fetched | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self.stragglers: list[str] = []
        # When the long poll in progress was sent; still set after stop() cut it.
        self._poll_sent_at: float | None = None

    # ------------------------------------------------------------------ control

    def stop(self) -> None:
        """Stop fetching now (cuts the long poll); run() then drains and returns."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._client.abort_fetch()
        with self._slots:
            self._slots.notify_all()

    def in_flight(self) -> int:
        with self._slots:
            return len(self._running)

    # ------------------------------------------------------------------ main loop

    def run(self) -> None:
        """Work until stop(); then let running tasks finish within the grace period."""
        self._start_threads()
        _log.info(
            "worker started",
            worker_id=self._options.worker_id,
            topics=list(self._options.topics),
            concurrency=self._options.concurrency,
        )
        try:
            while not self._stopping.is_set():
                self._health.beat()
                free = self._options.concurrency - self.in_flight()
                if free <= 0:
                    with self._slots:
                        self._slots.wait_for(
                            lambda: (
                                len(self._running) < self._options.concurrency
                                or self._stopping.is_set()
                            ),
                            timeout=1.0,
                        )
                    continue
                try:
                    self._fetch_and_submit(free)
                except Exception:  # the loop must outlive any surprise; a crash would stop work
                    _log.exception("unexpected error in the worker loop; backing off")
                    self._stopping.wait(self._backoff.next_delay())
        finally:
            self._drain()

    def _fetch_and_submit(self, free: int) -> None:
        asked_at = time.monotonic()
        fetched = self._fetch(free)
        received_at = time.monotonic()
        if not fetched:
            self._stopping.wait(_MIN_EMPTY_POLL_INTERVAL_S - (received_at - asked_at))
            return
        # EngineClient notes the span of the fetch that delivered tasks; other clients do not.
        fetched_by: SpanContext | None = getattr(self._client, "last_fetch", None)
        for raw in fetched:
            if self._stopping.is_set():
                self._unlock(raw, reason="fetched during shutdown")
            else:
                self._submit(_Fetched(raw, received_at, fetched_by))

    def _fetch(self, max_tasks: int) -> list[dict[str, Any]]:
        self._poll_sent_at = time.monotonic()
        try:
            tasks = self._client.fetch_and_lock(self._options.topics, max_tasks)
        except FetchAbortedError:
            return []  # the engine may still hold the poll: see _outlive_the_cut_poll
        except EngineError as exc:
            self._poll_sent_at = None
            if self._stopping.is_set():
                return []
            delay = self._backoff.next_delay()
            failures = self._backoff.failures
            level = "warning" if failures % _LOG_EVERY_N_FAILURES == 1 else "debug"
            getattr(_log, level)(
                "engine fetch failed; backing off",
                error=str(exc),
                consecutive_failures=failures,
                retry_in_s=round(delay, 2),
            )
            self._stopping.wait(delay)
            return []
        self._poll_sent_at = None
        # Health says "engine reachable again" as soon as any call gets an answer.
        self._backoff.reset()
        if tasks:
            _log.debug("fetched tasks", count=len(tasks), asked=max_tasks)
        return tasks

    # ------------------------------------------------------------------ task threads

    def _start_threads(self) -> None:
        for number in range(self._options.concurrency):
            thread = threading.Thread(target=self._task_thread, name=f"task-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        keeper = threading.Thread(target=self._keep_locks, name="lock-keeper", daemon=True)
        keeper.start()
        self._threads.append(keeper)

    def _submit(self, fetched: _Fetched) -> None:
        task_id = str(fetched.raw["id"])
        topic = str(fetched.raw.get("topicName"))
        with self._slots:
            self._running[task_id] = topic
        self._locks.track(task_id, topic, fetched.received_at)
        self._keeper_wake.set()
        self._queue.put(fetched)

    def _task_thread(self) -> None:
        while True:
            fetched = self._queue.get()
            if fetched is None:
                return
            try:
                self._execute(fetched)
            finally:
                task_id = str(fetched.raw["id"])
                self._locks.forget(task_id)
                with self._slots:
                    self._running.pop(task_id, None)
                    self._slots.notify_all()

    def _execute(self, fetched: _Fetched) -> None:
        raw = fetched.raw
        task = Task(
            id=str(raw["id"]),
            topic=str(raw.get("topicName")),
            worker_id=str(raw.get("workerId") or self._options.worker_id),
            process_instance_id=raw.get("processInstanceId"),
            business_key=raw.get("businessKey"),
            retries=raw.get("retries"),
            variables=decode_variables(raw.get("variables")),
            deadline=fetched.received_at + self._lock_s,
        )
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(**log_context(task))
        TASKS_IN_FLIGHT.labels(topic=task.topic).inc()
        started = time.monotonic()
        outcome_label, error_type = "failed", None
        with tracing.task_span(
            task_id=task.id,
            topic=task.topic,
            worker_id=task.worker_id,
            process_instance_id=task.process_instance_id,
            business_key=task.business_key,
            retries=task.retries,
            fetched_by=fetched.fetched_by,
        ) as span:
            context = span.get_span_context()
            if context.is_valid:
                with self._slots:
                    self._spans[task.id] = context
            try:
                outcome_label, error_type = self._handle(task, raw)
            finally:
                with self._slots:
                    self._spans.pop(task.id, None)
                tracing.task_outcome(span, outcome_label, error_type)
                duration = time.monotonic() - started
                TASK_DURATION.labels(topic=task.topic).observe(duration)
                TASKS_IN_FLIGHT.labels(topic=task.topic).dec()
                TASKS_PROCESSED.labels(topic=task.topic, outcome=outcome_label).inc()
                _log.info("task done", outcome=outcome_label, duration_s=round(duration, 3))
                structlog.contextvars.clear_contextvars()

    def _handle(self, task: Task, raw: Mapping[str, Any]) -> tuple[str, str | None]:
        """Run the handler and report its outcome; returns the outcome label for metrics and,
        when it failed, the kind of error (an exception's class name, never its text)."""
        try:
            handler = self._registry.handler_for(task.topic)
            outcome: TaskOutcome = handler(task)
            if isinstance(outcome, Complete):
                variables = encode_variables(outcome.variables)
                sent = self._report("complete", lambda: self._client.complete(task.id, variables))
                return ("completed", None) if sent else ("failed", "result_not_reported")
            if isinstance(outcome, BpmnError):
                variables = encode_variables(outcome.variables)
                sent = self._report(
                    "bpmn_error",
                    lambda: self._client.bpmn_failure(
                        task.id, outcome.code, outcome.message, variables
                    ),
                )
                return ("bpmn_error", None) if sent else ("failed", "result_not_reported")
            raise TypeError(f"handler returned {type(outcome).__name__}, not an outcome")
        except Exception as exc:  # a bug in a handler must never stop the loop
            retries = failure_retries(raw, self._options.max_retries)
            _log.exception("handler failed; reporting the failure", retries_left=retries)
            message = f"{type(exc).__name__}: {exc}"[:_ERROR_MESSAGE_LIMIT]
            details = traceback.format_exc()[-_ERROR_DETAILS_LIMIT:]
            self._report(
                "failure",
                lambda: self._client.failure(
                    task.id, message, details, retries, self._options.retry_timeout_ms
                ),
            )
            return "failed", type(exc).__name__

    def _report(self, operation: str, send: Any) -> bool:
        """Send a result, retrying while the engine is unreachable; False if it never took it."""
        backoff = Backoff(base_s=0.2, cap_s=2.0)
        for attempt in range(1, self._options.report_attempts + 1):
            try:
                send()
                return True
            except EngineError as exc:
                if not exc.transient:
                    _log.warning(
                        "engine refused the result (task completed, cancelled or locked by "
                        "another worker)",
                        operation=operation,
                        error=str(exc),
                    )
                    return False
                if attempt == self._options.report_attempts:
                    _log.error(
                        "could not report the result; the engine will hand the task out "
                        "again when its lock expires",
                        operation=operation,
                        error=str(exc),
                        attempts=attempt,
                    )
                    return False
                time.sleep(backoff.next_delay())
        return False

    # ------------------------------------------------------------------ locks

    def _keep_locks(self) -> None:
        while not self._keeper_stop.is_set():
            self._keeper_wake.wait(self._locks.seconds_until_next_due(ceiling_s=1.0) or 0.05)
            self._keeper_wake.clear()
            for task_id, topic in self._locks.due():
                if self._keeper_stop.is_set():
                    return
                self._extend(task_id, topic)

    def _extend(self, task_id: str, topic: str) -> None:
        requested_at = time.monotonic()
        with self._slots:
            parent = self._spans.get(task_id)
        try:
            with tracing.child_of(parent):
                self._client.extend_lock(task_id, self._options.lock_duration_ms)
        except EngineError as exc:
            if exc.task_gone:
                _log.warning(
                    "lock lost; the result will be refused", task_id=task_id, error=str(exc)
                )
                self._locks.forget(task_id)
            else:
                _log.warning("lock extension failed; retrying", task_id=task_id, error=str(exc))
                self._keeper_stop.wait(0.5)
            return
        self._locks.extended(task_id, requested_at)
        LOCK_EXTENSIONS.labels(topic=topic).inc()
        _log.info(
            "lock extended",
            task_id=task_id,
            topic=topic,
            new_duration_ms=self._options.lock_duration_ms,
        )

    # ------------------------------------------------------------------ shutdown

    def _unlock(self, raw: Mapping[str, Any], reason: str) -> None:
        task_id = str(raw["id"])
        try:
            self._client.unlock(task_id)
            _log.info("task unlocked", task_id=task_id, reason=reason)
        except EngineError as exc:
            _log.warning("could not unlock task", task_id=task_id, error=str(exc))

    def _drain(self) -> None:
        grace = self._options.shutdown_grace_s
        deadline = time.monotonic() + grace
        not_started: list[_Fetched] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                not_started.append(item)
        for fetched in not_started:
            with self._slots:
                self._running.pop(str(fetched.raw["id"]), None)
            self._locks.forget(str(fetched.raw["id"]))
            self._unlock(fetched.raw, reason="not started before shutdown")
        running = self.in_flight()
        if running:
            _log.info("draining in-flight tasks", in_flight=running, grace_s=grace)
        with self._slots:
            self._slots.wait_for(lambda: not self._running, timeout=grace)
            left = dict(self._running)
        for _ in range(self._options.concurrency):
            self._queue.put(None)
        self._keeper_stop.set()
        self._keeper_wake.set()
        if left:
            # Hand them back rather than leave them locked for the rest of the lock duration.
            _log.warning("grace period over; unlocking unfinished tasks", unfinished=len(left))
            self.stragglers = list(left)
            for task_id in left:
                self._unlock({"id": task_id}, reason="shutdown grace period over")
        self._outlive_the_cut_poll(deadline)
        self._release_orphans(set(left))
        self._health.stopped()
        _log.info("worker stopped")

    def _outlive_the_cut_poll(self, deadline: float) -> None:
        """Wait, within the grace period, until the long poll stop() cut has expired.

        Camunda 7 never notices that the client of a long poll went away: it keeps the poll
        until its asyncResponseTimeout and locks any task that arrives meanwhile for this
        worker id, for the whole lock duration. Only once the poll has expired does the sweep
        that follows find every such task, so none waits for a worker that is gone.
        """
        if self._poll_sent_at is None:
            return
        expires = self._poll_sent_at + self._options.poll_timeout_ms / 1000 + _POLL_EXPIRY_SLACK_S
        wait = min(expires, deadline) - time.monotonic()
        if wait > 0:
            _log.info("waiting for the engine to drop the cut long poll", wait_s=round(wait, 2))
            time.sleep(wait)

    def _release_orphans(self, already_unlocked: set[str]) -> None:
        """Unlock tasks the engine locked for us in a fetch answer that the stop cut off.

        The engine locks tasks before it sends them; a long poll cut at that moment leaves
        them locked for this worker id until the lock expires. WORKER_ID is unique per
        process (the host name by default), so any such lock is ours to give back.
        """
        try:
            orphans = [t for t in self._client.locked_by_me() if t not in already_unlocked]
        except EngineError as exc:
            _log.warning("could not look for tasks left locked", error=str(exc))
            return
        for task_id in orphans:
            self._unlock({"id": task_id}, reason="fetched but not started before shutdown")
