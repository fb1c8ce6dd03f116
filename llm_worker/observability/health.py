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

    def is_alive(self) -> bool:
        with self._lock:
            if self._stopped or self._last_beat is None:
                return False
            return time.monotonic() - self._last_beat <= self._liveness_window_s

    def is_ready(self) -> bool:
        with self._lock:
            if self._stopped or self._engine_down or self._last_engine_ok is None:
                return False
            return time.monotonic() - self._last_engine_ok <= self._readiness_window_s
