"""Exponential back-off with full jitter for engine errors, capped at a few seconds."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Delays that double after each consecutive failure, randomised, never above `cap_s`.

    Full jitter (a random delay between a floor and the exponential bound) keeps a fleet of
    workers from hammering a recovering engine in lock-step.
    """

    def __init__(
        self,
        base_s: float = 0.2,
        cap_s: float = 5.0,
        floor_s: float = 0.05,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < floor_s <= base_s <= cap_s:
            raise ValueError("need 0 < floor_s <= base_s <= cap_s")
        self._base_s = base_s
        self._cap_s = cap_s
        self._floor_s = floor_s
        self._rand = rand
        self.failures = 0

    def next_delay(self) -> float:
        """Record one more failure and return how long to wait before trying again."""
        bound = min(self._cap_s, self._base_s * 2.0 ** min(self.failures, 30))
        self.failures += 1
        return self._floor_s + (bound - self._floor_s) * self._rand()

    def reset(self) -> None:
        self.failures = 0
