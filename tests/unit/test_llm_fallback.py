"""The fallback model: asked when the primary fails, behind circuit breakers, guardrails for
both, who answered in the outputs, audit line and per-model metrics; two fake OpenAI-compatible
servers over real HTTP with the real openai client."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from llm_worker.config import Settings, SettingsError, load_settings
from llm_worker.handlers.fare_rules import build_decider, make_fare_rules_handler
from llm_worker.llm.breaker import CircuitBreaker, CircuitState
from llm_worker.llm.fallback import NO_KEY, FallbackAdvisor, Route, build_llm_advisor
from llm_worker.refund.decider import Decider
from llm_worker.refund.inputs import PlainVariable
from llm_worker.runtime.task import Task
from tests.fakes.llm import Answer, FakeLLM, Garbage, Generous, ServerError
from tests.fakes.task import completed_values, fare_rules_task

KEY = "sk-test-primary-7f3a9c"
FALLBACK_KEY = "sk-test-fallback-c41d"
PRIMARY = "gpt-4o-mini"
FALLBACK = "local-qwen-1.5b"
RULES = "Rimborso con penale di 80 USD."


@pytest.fixture
def primary() -> Iterator[FakeLLM]:
    with FakeLLM(behaviour=ServerError(503)) as fake:
        yield fake


@pytest.fixture
def fallback() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


def settings(primary: FakeLLM, fallback: FakeLLM | None, **over: Any) -> Settings:
    values: dict[str, Any] = {
        "openai_api_key": KEY,
        "openai_base_url": primary.base_url,
        "decision_strategy": "llm",
        "llm_timeout_s": 2,
        "llm_max_retries": 1,
    }
    if fallback is not None:
        values |= {"llm_fallback_base_url": fallback.base_url, "llm_fallback_model": FALLBACK}
    return load_settings(**(values | over))


def task(rules: str = RULES, n: int = 1) -> Task:
    return fare_rules_task(rules, booking=f"FB-{n}", ticket_price=620.0, deadline_s=20)


def calls(model: str) -> float:
    return REGISTRY.get_sample_value("llm_worker_openai_api_calls_total", {"model": model}) or 0.0


def test_the_fallback_answers_when_the_primary_fails(
    primary: FakeLLM, fallback: FakeLLM, log_output: io.StringIO
) -> None:
    before = calls(FALLBACK)
    out = completed_values(make_fare_rules_handler(settings(primary, fallback))(task()))
    assert out["fareRuleCheck"] == "WITH_PENALTY" and out["penaltyAmount"] == 80.0
    assert out["decisionSource"] == "LLM"
    assert out["llmModel"] == FALLBACK and out["llmProvider"] == "openai"
    # llmError still says what failed of the primary.
    assert out["llmError"].startswith(f"primary {PRIMARY} failed: the LLM API failed (HTTP 503)")
    assert len(primary.chat_requests()) == 2  # its retry, then the fallback
    assert len(fallback.chat_requests()) == 1
    assert calls(FALLBACK) == before + 1
    audit = [json.loads(line) for line in log_output.getvalue().splitlines()]
    line = next(entry for entry in audit if entry.get("event") == "refund decision")
    assert line["model"] == FALLBACK and line["guardrail"] == "passed"
    assert line["llm_attempts"] == [f"{PRIMARY}:server", f"{FALLBACK}:answered"]


def test_the_primarys_key_never_goes_to_another_endpoint(
    primary: FakeLLM, fallback: FakeLLM
) -> None:
    make_fare_rules_handler(settings(primary, fallback))(task())
    assert fallback.chat_requests()[0].headers["authorization"] == f"Bearer {NO_KEY}"
    make_fare_rules_handler(settings(primary, fallback, llm_fallback_api_key=FALLBACK_KEY))(
        task(n=2)
    )
    assert fallback.chat_requests()[1].headers["authorization"] == f"Bearer {FALLBACK_KEY}"
    assert all(KEY not in str(r.headers) for r in fallback.requests)


def test_another_model_on_the_same_endpoint_uses_the_primarys_key() -> None:
    with FakeLLM() as endpoint:
        endpoint.script(ServerError(503), ServerError(503))  # the primary and its retry
        handler = make_fare_rules_handler(settings(endpoint, None, llm_fallback_model=FALLBACK))
        out = completed_values(handler(task()))
        third = endpoint.chat_requests()[2]
    assert out["llmModel"] == FALLBACK
    assert third.body["model"] == FALLBACK and third.headers["authorization"] == f"Bearer {KEY}"


def test_the_fallback_cannot_be_the_primary_itself(primary: FakeLLM) -> None:
    with pytest.raises(SettingsError, match="LLM_FALLBACK_MODEL: the fallback is the primary"):
        settings(primary, None, llm_fallback_model=PRIMARY)
    with pytest.raises(SettingsError, match="LLM_FALLBACK_BASE_URL"):
        settings(primary, None, llm_fallback_base_url="not a url")


def test_both_failing_is_manual_with_both_named(primary: FakeLLM, fallback: FakeLLM) -> None:
    fallback.script(Garbage(), Garbage())
    out = completed_values(make_fare_rules_handler(settings(primary, fallback))(task()))
    assert out["fareRuleCheck"] == "MANUAL" and out["decisionSource"] == "FALLBACK"
    assert out["llmModel"] == PRIMARY
    assert f"primary {PRIMARY} failed: the LLM API failed (HTTP 503)" in out["llmError"]
    assert (
        f"fallback {FALLBACK} failed: the LLM's answer is not the expected JSON"
        in (out["llmError"])
    )


def test_guardrails_hold_for_the_fallback_and_it_is_not_asked_again(
    primary: FakeLLM, fallback: FakeLLM
) -> None:
    fallback.script(Generous())
    out = completed_values(make_fare_rules_handler(settings(primary, fallback))(task()))
    assert out["fareRuleCheck"] == "MANUAL" and out["decisionSource"] == "FALLBACK"
    assert out["llmModel"] == FALLBACK
    assert out["llmReasoning"].startswith("Guardrail ")
    assert len(fallback.chat_requests()) == 1


def test_a_healthy_primary_answers_and_the_fallback_is_never_asked(fallback: FakeLLM) -> None:
    with FakeLLM() as healthy:
        out = completed_values(make_fare_rules_handler(settings(healthy, fallback))(task()))
    assert out["llmModel"] == PRIMARY and "llmError" not in out
    assert fallback.chat_requests() == []


def test_each_model_has_its_own_rate_limit(fallback: FakeLLM) -> None:
    """One call an hour for each: the primary's is used by the first case, so the second
    case goes to the fallback, whose own budget is untouched; the primary is not blamed."""
    with FakeLLM() as healthy:
        decider = build_decider(
            settings(healthy, fallback, llm_rate_limit_calls=1, llm_rate_limit_period_s=3600)
        )
        first = decider.decide(_variables(), deadline=time.monotonic() + 5)
        second = decider.decide(_variables("Rimborso con penale di 90 USD."), time.monotonic() + 5)
    assert first.model == PRIMARY and second.model == FALLBACK
    assert second.penalty is not None and float(second.penalty) == 90.0
    assert second.llm_attempts == (f"{PRIMARY}:rate_limit_local", f"{FALLBACK}:answered")
    advisor = decider.advisor
    assert isinstance(advisor, FallbackAdvisor)
    assert advisor.routes[0].breaker.state is CircuitState.CLOSED


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _variables(rules: str = RULES) -> dict[str, PlainVariable]:
    return {
        "bookingId": PlainVariable("FB-X"),
        "fareRules": PlainVariable(rules),
        "ticketPrice": PlainVariable(620.0),
        "currency": PlainVariable("USD"),
        "departureDate": PlainVariable("2030-12-15T09:00:00Z"),
        "requestDate": PlainVariable("2030-11-20T12:00:00Z"),
    }


def test_a_primary_that_keeps_failing_is_skipped_then_tried_again(
    primary: FakeLLM, fallback: FakeLLM
) -> None:
    """The breaker's states with the fake LLM: closed (the primary is asked), open after two
    failing cases (skipped: not one request more), half-open after its period (one trial),
    closed again when the trial is answered."""
    built = build_llm_advisor(settings(primary, fallback, llm_max_retries=0))
    assert isinstance(built, FallbackAdvisor)
    clock = Clock()
    name = "primary-under-test"
    breaker = CircuitBreaker(name, failures=2, open_s=30.0, clock=clock)
    advisor = FallbackAdvisor(
        [
            Route("primary", built.routes[0].advisor, breaker),
            Route("fallback", built.routes[1].advisor, built.routes[1].breaker),
        ]
    )
    decider = Decider(strategy=build_decider(settings(primary, fallback)).strategy,
                      threshold=Settings().review_thresholds, advisor=advisor)  # fmt: skip

    def case(n: int) -> str | None:
        rules = f"Rimborso con penale di {n} USD."
        return decider.decide(_variables(rules), time.monotonic() + 10).model

    assert [case(10), case(11)] == [FALLBACK, FALLBACK]
    assert len(primary.chat_requests()) == 2
    assert breaker.state is CircuitState.OPEN
    state = REGISTRY.get_sample_value("llm_worker_llm_circuit_state", {"model": name})
    assert state == 1
    assert [case(12), case(13)] == [FALLBACK, FALLBACK]
    assert len(primary.chat_requests()) == 2  # skipped while open
    verdict = decider.decide(_variables("Rimborso con penale di 14 USD."), time.monotonic() + 10)
    assert f"primary {PRIMARY} skipped: it kept failing (circuit open)" in (verdict.error or "")
    clock.now += 31
    primary.script(Answer())  # recovered
    assert case(15) == PRIMARY
    assert len(primary.chat_requests()) == 3  # the one trial
    assert breaker.state is CircuitState.CLOSED
    assert REGISTRY.get_sample_value("llm_worker_llm_circuit_state", {"model": name}) == 0


def test_check_reports_redaction_and_the_fallback_without_keys(
    primary: FakeLLM, fallback: FakeLLM
) -> None:
    from llm_worker.commands.check import describe_llm_privacy

    lines = describe_llm_privacy(settings(primary, fallback, llm_fallback_api_key=FALLBACK_KEY))
    text = "\n".join(lines)
    assert "redaction: on" in text
    assert f"fallback: {FALLBACK} at {fallback.base_url}" in text
    assert "circuit" in text and "no price known" in text
    assert KEY not in text and FALLBACK_KEY not in text
