"""When to extend the engine's lock on tasks that are still running."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Lock:
    topic: str
    expires_at: float  # local monotonic estimate of the engine's lock expiry


class LockSchedule:
    """Tracks the lock of every running task and says which are due for extension.

    A lock is extended once less than half of its duration is left, so a slow engine answer
    or a missed tick still leaves time before the engine hands the task to another worker.
    """

    def __init__(
        self,
        lock_duration_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lock_duration_s = lock_duration_s
        self.threshold_s = lock_duration_s / 2
        self._clock = clock
        self._locks: dict[str, _Lock] = {}
        self._mutex = threading.Lock()

    def track(self, task_id: str, topic: str, locked_at: float) -> None:
        with self._mutex:
            self._locks[task_id] = _Lock(topic, locked_at + self.lock_duration_s)

    def forget(self, task_id: str) -> None:
        with self._mutex:
            self._locks.pop(task_id, None)

    def due(self) -> list[tuple[str, str]]:
        """(task id, topic) of the locks to extend now."""
        now = self._clock()
        with self._mutex:
            return [
                (task_id, lock.topic)
                for task_id, lock in self._locks.items()
                if lock.expires_at - now <= self.threshold_s
            ]

    def extended(self, task_id: str, requested_at: float) -> None:
        """The engine accepted a new lock of the full duration, counted from requested_at."""
        with self._mutex:
            lock = self._locks.get(task_id)
            if lock is not None:
                lock.expires_at = requested_at + self.lock_duration_s

    def seconds_until_next_due(self, ceiling_s: float = 1.0) -> float:
        now = self._clock()
        with self._mutex:
            waits = [lock.expires_at - self.threshold_s - now for lock in self._locks.values()]
        return max(0.0, min([ceiling_s, *waits]))

    def __len__(self) -> int:
        with self._mutex:
            return len(self._locks)
