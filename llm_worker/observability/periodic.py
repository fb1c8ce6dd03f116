"""A background thread that runs one poll round at a fixed rate until stopped."""

from __future__ import annotations

import threading
import time
from typing import Self

from llm_worker.logs import get_logger

_log = get_logger(__name__)


class PeriodicPoller:
    """Calls `poll_once()` every `interval_s` from one daemon thread; subclasses say what a
    round does. A slow round skips the periods it overran instead of bursting requests."""

    def __init__(self, interval_s: float, name: str) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._interval_s = interval_s
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        next_round = time.monotonic()
        while not self._stop.is_set():
            self.poll_once()
            next_round += self._interval_s
            now = time.monotonic()
            if next_round < now:
                next_round = now + self._interval_s
            if self._stop.wait(next_round - now):
                return

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self._name} already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Ask the poller to stop and wait at most `timeout_s`; True once its thread ended.

        A call stuck in the engine cannot be interrupted, but the thread is a daemon and makes
        no further call after this returns.
        """
        self._stop.set()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout_s)
        if thread.is_alive():
            _log.warning(
                f"{self._name} still inside an engine call at shutdown", waited_s=timeout_s
            )
            return False
        self._thread = None
        return True

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
