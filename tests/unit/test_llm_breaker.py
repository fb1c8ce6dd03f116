"""The circuit breaker's states on a fake clock, and its gauge."""

from __future__ import annotations

from prometheus_client import REGISTRY

from llm_worker.llm.breaker import CircuitBreaker, CircuitState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value("llm_worker_llm_circuit_state", {"model": name})


def breaker(name: str, clock: Clock, failures: int = 3) -> CircuitBreaker:
    return CircuitBreaker(name, failures=failures, open_s=60.0, clock=clock)


def test_failures_in_a_row_open_it_and_a_success_between_resets_the_count() -> None:
    clock = Clock()
    cb = breaker("m-count", clock)
    assert cb.state is CircuitState.CLOSED and gauge("m-count") == 0
    for _ in range(2):
        assert cb.allow()
        cb.failed()
    assert cb.allow()
    cb.succeeded()
    for _ in range(2):
        assert cb.allow()
        cb.failed()
    assert cb.state is CircuitState.CLOSED
    assert cb.allow()
    cb.failed()
    assert cb.state is CircuitState.OPEN and gauge("m-count") == 1
    assert not cb.allow()


def test_open_refuses_until_its_time_then_lets_one_trial_through() -> None:
    clock = Clock()
    cb = breaker("m-trial", clock, failures=1)
    assert cb.allow()
    cb.failed()
    clock.now += 59.9
    assert not cb.allow()
    clock.now += 0.2
    assert cb.allow()  # the trial
    assert cb.state is CircuitState.HALF_OPEN and gauge("m-trial") == 2
    assert not cb.allow()  # a second case meanwhile goes elsewhere
    cb.succeeded()
    assert cb.state is CircuitState.CLOSED and gauge("m-trial") == 0
    assert cb.allow() and cb.allow()


def test_a_failed_trial_opens_it_for_another_period() -> None:
    clock = Clock()
    cb = breaker("m-retrial", clock, failures=2)
    for _ in range(2):
        cb.allow()
        cb.failed()
    clock.now += 61
    assert cb.allow()
    cb.failed()
    assert cb.state is CircuitState.OPEN and gauge("m-retrial") == 1
    clock.now += 30
    assert not cb.allow()
    clock.now += 31
    assert cb.allow()


def test_a_released_trial_lets_the_next_case_try() -> None:
    clock = Clock()
    cb = breaker("m-release", clock, failures=1)
    cb.allow()
    cb.failed()
    clock.now += 61
    assert cb.allow()
    assert not cb.allow()
    cb.released()  # e.g. no time was left inside the task's lock: nothing learnt
    assert cb.state is CircuitState.HALF_OPEN
    assert cb.allow()
