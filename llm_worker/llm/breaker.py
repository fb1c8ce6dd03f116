"""A circuit breaker per LLM: a model that keeps failing is skipped for a while, then tried once.

Written here rather than taken from `pybreaker` or `circuitbreaker`: pybreaker (1.4) holds its
lock for the whole guarded call, which would queue every LLM call of the process (up to
WORKER_CONCURRENCY at once, each up to LLM_TIMEOUT_S) behind one another; circuitbreaker (2.1)
lets every concurrent call through when half-open (a recovering provider gets the full load at
once), keeps its counts without a lock and has no state-change hook for the gauge. What is
needed is small: a consecutive-failure count, an open period on an injectable clock, one trial
call when it ends, and each state change published to `llm_worker_llm_circuit_state{model}`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import IntEnum

from llm_worker.logs import get_logger
from llm_worker.metrics import LLM_CIRCUIT_STATE

_log = get_logger(__name__)


class CircuitState(IntEnum):
    """The gauge's values."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class CircuitBreaker:
    """CLOSED: every call goes; `failures` failures in a row open it. OPEN: calls are refused
    for `open_s`; then HALF_OPEN: one trial call goes (the others are refused), its success
    closes the circuit, its failure opens it again for `open_s`.

    Callers ask `allow()` and, when allowed, report exactly one of `succeeded()`, `failed()`
    or `released()` (an outcome that says nothing about the model, e.g. no time left)."""

    def __init__(
        self,
        name: str,
        *,
        failures: int,
        open_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1 or open_s <= 0:
            raise ValueError("failures must be at least 1 and open_s above 0")
        self.name = name
        self._threshold = failures
        self._open_s = open_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_out = False
        LLM_CIRCUIT_STATE.labels(model=name).set(CircuitState.CLOSED)

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._state

    def allow(self) -> bool:
        """May a call go to this model now? (An allowed HALF_OPEN call is the trial.)"""
        with self._lock:
            if self._state is CircuitState.OPEN:
                if self._clock() - self._opened_at < self._open_s:
                    return False
                self._move(CircuitState.HALF_OPEN)
            if self._state is CircuitState.HALF_OPEN:
                if self._trial_out:
                    return False
                self._trial_out = True
            return True

    def succeeded(self) -> None:
        with self._lock:
            self._failures = 0
            self._trial_out = False
            if self._state is not CircuitState.CLOSED:
                self._move(CircuitState.CLOSED)

    def failed(self) -> None:
        with self._lock:
            self._trial_out = False
            self._failures += 1
            if self._state is CircuitState.HALF_OPEN or (
                self._state is CircuitState.CLOSED and self._failures >= self._threshold
            ):
                self._opened_at = self._clock()
                self._move(CircuitState.OPEN)

    def released(self) -> None:
        """The call ended without telling whether the model works (another trial may go)."""
        with self._lock:
            self._trial_out = False

    def _move(self, state: CircuitState) -> None:
        previous, self._state = self._state, state
        LLM_CIRCUIT_STATE.labels(model=self.name).set(state)
        log = _log.warning if state is CircuitState.OPEN else _log.info
        log(
            "llm circuit " + state.name.lower().replace("_", "-"),
            model=self.name, previous=previous.name.lower(), failures=self._failures,
            open_s=self._open_s,
        )  # fmt: skip
