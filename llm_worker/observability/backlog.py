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

from collections.abc import Callable, Sequence

from prometheus_client import Gauge

from llm_worker.logs import get_logger
from llm_worker.metrics import EXTERNAL_TASKS_PENDING
from llm_worker.observability.periodic import PeriodicPoller

_log = get_logger(__name__)


class BacklogPoller(PeriodicPoller):
    """Calls `count(topic)` for each topic every `interval_s` and publishes the results."""

    def __init__(
        self,
        count: Callable[[str], int],
        topics: Sequence[str],
        interval_s: float,
        gauge: Gauge = EXTERNAL_TASKS_PENDING,
    ) -> None:
        super().__init__(interval_s, "backlog-poller")
        self._count = count
        self._topics = tuple(dict.fromkeys(topics))
        self._gauge = gauge
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
