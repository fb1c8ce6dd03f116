"""Liveness and readiness state shared by the worker loop and the health endpoints."""

from __future__ import annotations

import threading
import time

from llm_worker.logs import get_logger

_log = get_logger(__name__)


class Health:
    """The worker loop beats; engine calls report success. Probes read both."""

    def __init__(self, liveness_window_s: float, readiness_window_s: float) -> None:
        self._lock = threading.Lock()
        self._liveness_window_s = liveness_window_s
        self._readiness_window_s = readiness_window_s
        self._last_beat: float | None = None
        self._last_engine_ok: float | None = None
        self._engine_down = False
        self._engine_down_since: float | None = None
        self._stopped = False

    def beat(self) -> None:
        with self._lock:
            self._last_beat = time.monotonic()

    def engine_ok(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._last_engine_ok = now
            self._engine_down = False
            down_since, self._engine_down_since = self._engine_down_since, None
        # Said by the first answer of any engine call (a backlog count, a completion), the
        # moment /readyz turns 200 again, not when the next long poll happens to return.
        if down_since is not None:
            _log.info("engine reachable again", unreachable_s=round(now - down_since, 1))

    def engine_failed(self) -> None:
        with self._lock:
            self._engine_down = True
            if self._engine_down_since is None:
                self._engine_down_since = time.monotonic()

    def stopped(self) -> None:
        with self._lock:
            self._stopped = True

    def liveness_problem(self) -> str | None:
        """Why the worker loop is not alive, for the probe's body; None while it is."""
        with self._lock:
            if self._stopped:
                return "worker stopped"
            if self._last_beat is None:
                return "worker loop not started"
            silent_s = time.monotonic() - self._last_beat
            if silent_s > self._liveness_window_s:
                return f"worker loop silent for {silent_s:.0f}s"
            return None

    def readiness_problem(self) -> str | None:
        """Why the worker should get no traffic, for the probe's body; None when ready."""
        with self._lock:
            if self._stopped:
                return "worker stopped"
            if self._engine_down:
                return "engine unreachable"
            if self._last_engine_ok is None:
                return "engine has not answered yet"
            silent_s = time.monotonic() - self._last_engine_ok
            if silent_s > self._readiness_window_s:
                return f"no answer from the engine for {silent_s:.0f}s"
            return None

    def is_alive(self) -> bool:
        return self.liveness_problem() is None

    def is_ready(self) -> bool:
        return self.readiness_problem() is None
