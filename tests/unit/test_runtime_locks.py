"""Lock-extension scheduling: which running tasks are due, and when to look again."""

from __future__ import annotations

import pytest

from llm_worker.runtime.locks import LockSchedule


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_lock_is_due_once_half_of_it_is_used() -> None:
    clock = Clock()
    schedule = LockSchedule(lock_duration_s=60.0, clock=clock)
    schedule.track("t1", "topic", locked_at=clock.now)
    clock.now += 29.9
    assert schedule.due() == []
    clock.now += 0.2
    assert schedule.due() == [("t1", "topic")]


def test_extension_pushes_the_next_due_time_by_a_full_lock() -> None:
    clock = Clock()
    schedule = LockSchedule(lock_duration_s=10.0, clock=clock)
    schedule.track("t1", "topic", locked_at=clock.now)
    clock.now += 6
    assert schedule.due()
    schedule.extended("t1", requested_at=clock.now)
    assert schedule.due() == []
    assert schedule.seconds_until_next_due(ceiling_s=100) == pytest.approx(5.0)
    clock.now += 5.0
    assert schedule.due() == [("t1", "topic")]


def test_forgotten_tasks_are_never_due_and_extension_of_them_is_ignored() -> None:
    clock = Clock()
    schedule = LockSchedule(lock_duration_s=10.0, clock=clock)
    schedule.track("t1", "a", locked_at=clock.now)
    schedule.track("t2", "b", locked_at=clock.now + 3)
    schedule.forget("t1")
    schedule.extended("t1", requested_at=clock.now)
    clock.now += 7
    assert schedule.due() == []
    clock.now += 1
    assert schedule.due() == [("t2", "b")]
    assert len(schedule) == 1


def test_next_check_is_capped_and_never_negative() -> None:
    clock = Clock()
    schedule = LockSchedule(lock_duration_s=120.0, clock=clock)
    assert schedule.seconds_until_next_due(ceiling_s=1.0) == 1.0
    schedule.track("t1", "a", locked_at=clock.now)
    assert schedule.seconds_until_next_due(ceiling_s=1.0) == 1.0
    clock.now += 500
    assert schedule.seconds_until_next_due(ceiling_s=1.0) == 0.0
