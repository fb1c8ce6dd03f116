"""Health: the reasons the probes give, and the windows that age beats and engine answers."""

from __future__ import annotations

import structlog.testing

from llm_worker.observability.health import Health


def test_fresh_health_is_neither_alive_nor_ready() -> None:
    health = Health(liveness_window_s=60, readiness_window_s=60)
    assert health.liveness_problem() == "worker loop not started"
    assert health.readiness_problem() == "engine has not answered yet"
    assert not health.is_alive()
    assert not health.is_ready()


def test_beats_and_engine_answers_make_it_alive_and_ready() -> None:
    health = Health(liveness_window_s=60, readiness_window_s=60)
    health.beat()
    health.engine_ok()
    assert (health.liveness_problem(), health.readiness_problem()) == (None, None)
    assert health.is_alive()
    assert health.is_ready()


def test_a_failed_engine_call_unreadies_until_the_next_answer() -> None:
    health = Health(liveness_window_s=60, readiness_window_s=60)
    health.beat()
    health.engine_ok()
    health.engine_failed()
    assert health.readiness_problem() == "engine unreachable"
    assert health.is_alive()
    health.engine_ok()
    assert health.is_ready()


def test_old_beats_and_answers_expire() -> None:
    health = Health(liveness_window_s=-1, readiness_window_s=-1)
    health.beat()
    health.engine_ok()
    assert (health.liveness_problem() or "").startswith("worker loop silent for")
    assert (health.readiness_problem() or "").startswith("no answer from the engine for")


def test_stopped_wins_over_everything() -> None:
    health = Health(liveness_window_s=60, readiness_window_s=60)
    health.beat()
    health.engine_ok()
    health.stopped()
    assert health.liveness_problem() == "worker stopped"
    assert health.readiness_problem() == "worker stopped"


def test_the_first_answer_after_a_failure_says_the_engine_is_back_once() -> None:
    health = Health(liveness_window_s=60, readiness_window_s=60)
    with structlog.testing.capture_logs() as logs:
        health.engine_ok()
        health.engine_failed()
        health.engine_failed()
        health.engine_ok()
        health.engine_ok()
    back = [entry for entry in logs if entry["event"] == "engine reachable again"]
    assert len(back) == 1
    assert back[0]["log_level"] == "info" and back[0]["unreachable_s"] >= 0
