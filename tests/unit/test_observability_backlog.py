"""BacklogPoller: one count per topic per period, errors keep the last value, bounded stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Gauge

from llm_worker.observability.backlog import BacklogPoller


def private_gauge() -> tuple[Gauge, CollectorRegistry]:
    registry = CollectorRegistry()
    gauge = Gauge("pending", "test gauge", ["topic"], registry=registry)
    return gauge, registry


def value(registry: CollectorRegistry, topic: str) -> float | None:
    return registry.get_sample_value("pending", {"topic": topic})


class Recorder:
    """A count callable that records calls and signals after a number of them."""

    def __init__(self, answer: Callable[[str], int], wanted_calls: int) -> None:
        self.calls: list[tuple[str, float]] = []
        self._answer = answer
        self._wanted = wanted_calls
        self.enough = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, topic: str) -> int:
        with self._lock:
            self.calls.append((topic, time.monotonic()))
            if len(self.calls) >= self._wanted:
                self.enough.set()
        return self._answer(topic)


def test_updates_the_contract_gauge_by_default() -> None:
    poller = BacklogPoller(lambda topic: 7, ["analyze-fare-rules"], interval_s=60)
    poller.poll_once()
    sample = REGISTRY.get_sample_value(
        "camunda_external_tasks_pending", {"topic": "analyze-fare-rules"}
    )
    assert sample == 7


def test_one_call_per_topic_per_period_in_topic_order() -> None:
    gauge, registry = private_gauge()
    recorder = Recorder(lambda topic: len(topic), wanted_calls=10)
    poller = BacklogPoller(recorder, ["a", "bb", "a"], interval_s=0.05, gauge=gauge)
    started = time.monotonic()
    poller.start()
    try:
        assert recorder.enough.wait(10)
    finally:
        assert poller.stop(timeout_s=5)
    elapsed = time.monotonic() - started
    topics = [topic for topic, _ in recorder.calls]
    # Duplicated topics are asked once; the rounds alternate strictly.
    rounds = len(topics) // 2
    assert topics[: rounds * 2] == ["a", "bb"] * rounds
    # Never faster than the period: at most one round per started interval.
    assert rounds <= elapsed / 0.05 + 1
    assert value(registry, "a") == 1
    assert value(registry, "bb") == 2


def test_an_error_keeps_the_last_value_and_spares_other_topics() -> None:
    gauge, registry = private_gauge()
    answers: dict[str, list[int | Exception]] = {
        "down": [3, ConnectionError("engine down"), 5],
        "up": [1, 2, 4],
    }

    def count(topic: str) -> int:
        answer = answers[topic].pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    poller = BacklogPoller(count, ["down", "up"], interval_s=60, gauge=gauge)
    poller.poll_once()
    assert (value(registry, "down"), value(registry, "up")) == (3, 1)
    poller.poll_once()
    assert (value(registry, "down"), value(registry, "up")) == (3, 2)
    poller.poll_once()
    assert (value(registry, "down"), value(registry, "up")) == (5, 4)


def test_no_value_before_the_first_answer_and_negative_ignored() -> None:
    gauge, registry = private_gauge()

    def count(topic: str) -> int:
        if topic == "broken":
            raise TimeoutError("engine slow")
        return -1

    poller = BacklogPoller(count, ["broken", "weird"], interval_s=60, gauge=gauge)
    poller.poll_once()
    assert value(registry, "broken") is None
    assert value(registry, "weird") is None


def test_thread_survives_every_kind_of_failure() -> None:
    gauge, registry = private_gauge()
    state = {"n": 0}

    def flaky(topic: str) -> int:
        state["n"] += 1
        if state["n"] % 2:
            raise RuntimeError("boom")
        return state["n"]

    recorder = Recorder(flaky, wanted_calls=6)
    poller = BacklogPoller(recorder, ["t"], interval_s=0.01, gauge=gauge)
    poller.start()
    try:
        assert recorder.enough.wait(10)
    finally:
        assert poller.stop(timeout_s=5)
    assert value(registry, "t") is not None


def test_stop_is_bounded_even_inside_a_hung_call() -> None:
    gauge, _ = private_gauge()
    entered, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def hang(topic: str) -> int:
        calls.append(topic)
        entered.set()
        release.wait(30)
        return 0

    poller = BacklogPoller(hang, ["a", "b"], interval_s=0.01, gauge=gauge)
    poller.start()
    assert entered.wait(10)
    assert poller.stop(timeout_s=0.2) is False
    release.set()
    # Once the stuck call returns the thread ends without asking for the next topic.
    assert poller.stop(timeout_s=5) is True
    assert calls == ["a"]


def test_stop_interrupts_the_wait_between_rounds() -> None:
    gauge, _ = private_gauge()
    recorder = Recorder(lambda topic: 0, wanted_calls=1)
    poller = BacklogPoller(recorder, ["a"], interval_s=3600, gauge=gauge)
    poller.start()
    assert recorder.enough.wait(10)
    assert poller.stop(timeout_s=5) is True
    assert len(recorder.calls) == 1


def test_stop_before_start_and_bad_interval() -> None:
    gauge, _ = private_gauge()
    assert BacklogPoller(lambda t: 0, ["a"], interval_s=1, gauge=gauge).stop() is True
    with pytest.raises(ValueError, match="interval_s"):
        BacklogPoller(lambda t: 0, ["a"], interval_s=0, gauge=gauge)
