"""Liveness and readiness state shared by the worker loop and the health endpoints."""

from __future__ import annotations

import threading
import time


class Health:
    """The worker loop beats; engine calls report success. Probes read both."""

    def __init__(self, liveness_window_s: float, readiness_window_s: float) -> None:
        self._lock = threading.Lock()
        self._liveness_window_s = liveness_window_s
        self._readiness_window_s = readiness_window_s
        self._last_beat: float | None = None
        self._last_engine_ok: float | None = None
        self._engine_down = False
        self._stopped = False

    def beat(self) -> None:
        with self._lock:
            self._last_beat = time.monotonic()

    def engine_ok(self) -> None:
        with self._lock:
            self._last_engine_ok = time.monotonic()
            self._engine_down = False

    def engine_failed(self) -> None:
        with self._lock:
            self._engine_down = True

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
