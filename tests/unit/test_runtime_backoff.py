"""Back-off: exponential growth, jitter bounds, the cap, and reset."""

from __future__ import annotations

import pytest

from llm_worker.runtime.backoff import Backoff


def test_upper_bound_doubles_until_the_cap() -> None:
    backoff = Backoff(base_s=0.2, cap_s=5.0, floor_s=0.05, rand=lambda: 1.0)
    delays = [backoff.next_delay() for _ in range(8)]
    assert delays == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0])


def test_jitter_stays_between_floor_and_bound() -> None:
    low = Backoff(base_s=0.2, cap_s=5.0, floor_s=0.05, rand=lambda: 0.0)
    assert [low.next_delay() for _ in range(5)] == pytest.approx([0.05] * 5)
    real = Backoff(base_s=0.2, cap_s=3.0)
    for _ in range(50):
        assert 0.05 <= real.next_delay() <= 3.0


def test_reset_starts_over_and_counts_failures() -> None:
    backoff = Backoff(rand=lambda: 1.0)
    for _ in range(4):
        backoff.next_delay()
    assert backoff.failures == 4
    backoff.reset()
    assert backoff.failures == 0
    assert backoff.next_delay() == pytest.approx(0.2)


def test_many_failures_do_not_overflow() -> None:
    backoff = Backoff(rand=lambda: 1.0)
    backoff.failures = 10_000
    assert backoff.next_delay() == pytest.approx(5.0)


def test_rejects_inconsistent_bounds() -> None:
    with pytest.raises(ValueError, match="floor_s"):
        Backoff(base_s=10.0, cap_s=5.0)
