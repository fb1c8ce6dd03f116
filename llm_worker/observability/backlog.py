"""Reads the engine's backlog per topic on a timer into `camunda_external_tasks_pending`.

One count request per topic per period, from one thread per process, whatever the worker's
concurrency: the engine is asked cheaply and the autoscaler gets a steady signal.

When a count fails the gauge keeps its last value on purpose. A gauge that dropped to zero
(or vanished) during an engine outage would tell the autoscaler the backlog is gone and scale
the workers in just before the engine comes back with all its work; the outage itself is
shown by `llm_worker_engine_errors_total{operation}` (recorded by the engine client), by
/readyz, and by the EngineUnreachable alert.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from prometheus_client import Gauge

from llm_worker.logs import get_logger
from llm_worker.metrics import EXTERNAL_TASKS_PENDING

_log = get_logger(__name__)


class BacklogPoller:
    """Calls `count(topic)` for each topic every `interval_s` and publishes the results."""

    def __init__(
        self,
        count: Callable[[str], int],
        topics: Sequence[str],
        interval_s: float,
        gauge: Gauge = EXTERNAL_TASKS_PENDING,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._count = count
        self._topics = tuple(dict.fromkeys(topics))
        self._interval_s = interval_s
        self._gauge = gauge
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing: set[str] = set()

    def poll_once(self) -> None:
        """One round: one count per topic; a failing topic never stops the others."""
        for topic in self._topics:
            if self._stop.is_set():
                return
            try:
                pending = int(self._count(topic))
            except Exception as exc:  # any failure of the count keeps the poller alive
                if topic not in self._failing:
                    self._failing.add(topic)
                    _log.warning(
                        "backlog count failed; keeping the last value",
                        topic=topic,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                continue
            if pending < 0:
                _log.warning("engine returned a negative backlog; ignored", topic=topic)
                continue
            if topic in self._failing:
                self._failing.discard(topic)
                _log.info("backlog count works again", topic=topic, pending=pending)
            self._gauge.labels(topic=topic).set(pending)

    def _run(self) -> None:
        next_round = time.monotonic()
        while not self._stop.is_set():
            self.poll_once()
            # Fixed rate, never faster: a slow round skips the periods it overran
            # instead of bursting requests at the engine to catch up.
            next_round += self._interval_s
            now = time.monotonic()
            if next_round < now:
                next_round = now + self._interval_s
            if self._stop.wait(next_round - now):
                return

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("backlog poller already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="backlog-poller", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Ask the poller to stop and wait at most `timeout_s`; True once its thread ended.

        A count call stuck in the engine cannot be interrupted, but the thread is a daemon
        and makes no further call after this returns.
        """
        self._stop.set()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout_s)
        if thread.is_alive():
            _log.warning("backlog poller still inside a count call at shutdown", waited_s=timeout_s)
            return False
        self._thread = None
        return True

    def __enter__(self) -> BacklogPoller:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
