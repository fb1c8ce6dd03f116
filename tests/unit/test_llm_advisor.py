"""The LLM advisor against the fake OpenAI-compatible server over real HTTP with the real
openai client: structured output, retries that honour Retry-After inside the deadline,
fallback parsing, failures, cache, usage and metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import openai
import pytest
from prometheus_client import REGISTRY

from llm_worker.config import Settings
from llm_worker.llm.advisor import OpenAIAdvisor, RateLimiter, build_advisor
from llm_worker.llm.cache import LruCache
from llm_worker.llm.pricing import price_table
from llm_worker.llm.prompt import PROMPT_VERSION
from llm_worker.refund.decider import AdviceError
from llm_worker.refund.models import LlmAnswer, RefundCase
from tests.fakes.llm import (
    Answer,
    FakeLLM,
    Garbage,
    Hang,
    RateLimited,
    ServerError,
    Slow,
    Unauthorized,
)

KEY = "sk-test-advisor-0123456789"
MODEL = "gpt-4o-mini"


class Sleeps:
    """Records the waits the advisor asks for (and really waits, bounded)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(min(seconds, 2.0))


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


def make(
    llm: FakeLLM, *, timeout_s: float = 5.0, max_retries: int = 2, sleeps: Sleeps | None = None
) -> OpenAIAdvisor:
    return OpenAIAdvisor(
        client=openai.OpenAI(api_key=KEY, base_url=llm.base_url, max_retries=0),
        model=MODEL,
        timeout_s=timeout_s,
        max_retries=max_retries,
        limiter=RateLimiter(10_000, 1.0),
        prices=price_table(None),
        cache=LruCache(16),
        sleep=sleeps or Sleeps(),
    )


def case(rules: str = "Rimborso con penale di 80 USD.") -> RefundCase:
    return RefundCase(
        booking_id="B1",
        fare_rules=rules,
        ticket_price=Decimal(620),
        currency="USD",
        departure_date=datetime(2026, 3, 15, tzinfo=UTC),
        request_date=datetime(2026, 2, 20, tzinfo=UTC),
    )


def soon(seconds: float = 20.0) -> float:
    return time.monotonic() + seconds


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_structured_answer_with_usage_cost_and_metrics(llm: FakeLLM) -> None:
    llm.script(Answer(decision="WITH_PENALTY", penalty_amount=80, penalty_currency="USD"))
    calls = metric("llm_worker_openai_api_calls_total", model=MODEL)
    tokens = metric("llm_worker_openai_tokens_total", model=MODEL, kind="prompt")
    advice = make(llm).advise(case(), soon())
    assert advice.answer.decision == "WITH_PENALTY"
    assert advice.answer.penalty_amount == 80
    usage = advice.usage
    assert usage.calls == 1 and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.cost_usd == pytest.approx(
        (usage.prompt_tokens * 0.15 + usage.completion_tokens * 0.60) / 1e6
    )
    assert metric("llm_worker_openai_api_calls_total", model=MODEL) == calls + 1
    assert metric("llm_worker_openai_tokens_total", model=MODEL, kind="prompt") == (
        tokens + usage.prompt_tokens
    )
    (request,) = llm.chat_requests()
    assert request.body["response_format"]["type"] == "json_schema"
    assert request.body["model"] == MODEL
    assert request.content("system").startswith("You decide airline ticket refund")
    assert "Rimborso con penale di 80 USD." in request.content("user")


def test_api_key_is_sent_only_as_the_authorization_header(llm: FakeLLM) -> None:
    make(llm).advise(case(), soon())
    (request,) = llm.chat_requests()
    assert request.headers["authorization"] == f"Bearer {KEY}"
    others = {k: v for k, v in request.headers.items() if k != "authorization"}
    assert KEY not in repr(others)
    assert KEY not in repr(request.body)
    assert "?" not in request.path


def test_429_retry_after_is_honoured_then_success(llm: FakeLLM) -> None:
    llm.script(RateLimited(retry_after_s=0.3), Answer(decision="MANUAL"))
    sleeps = Sleeps()
    advice = make(llm, sleeps=sleeps).advise(case(), soon())
    assert advice.answer.decision == "MANUAL"
    assert sleeps.calls == [pytest.approx(0.3)]
    assert len(llm.chat_requests()) == 2
    assert advice.usage.calls == 2


def test_repeated_5xx_gives_up_after_the_retries(llm: FakeLLM) -> None:
    llm.default = ServerError(503)
    errors = metric("llm_worker_openai_api_errors_total", model=MODEL, kind="server")
    with pytest.raises(AdviceError) as failed:
        make(llm, max_retries=2).advise(case(), soon())
    assert failed.value.kind == "server"
    assert "HTTP 503" in failed.value.message and "after 3 attempts" in failed.value.message
    assert len(llm.chat_requests()) == 3
    assert metric("llm_worker_openai_api_errors_total", model=MODEL, kind="server") == errors + 3


def test_retry_after_beyond_the_deadline_is_not_waited_for(llm: FakeLLM) -> None:
    llm.script(RateLimited(retry_after_s=30))
    sleeps = Sleeps()
    started = time.monotonic()
    with pytest.raises(AdviceError) as failed:
        make(llm, sleeps=sleeps).advise(case(), soon(3.0))
    assert "no time left to retry" in failed.value.message
    assert sleeps.calls == []
    # far below the 30 s Retry-After: slack for a busy machine, still fails if it waited
    assert time.monotonic() - started < 10.0


def test_server_that_never_answers_times_out_inside_the_deadline(llm: FakeLLM) -> None:
    llm.default = Hang()
    started = time.monotonic()
    with pytest.raises(AdviceError) as failed:
        make(llm, timeout_s=30.0, max_retries=5).advise(case(), soon(2.5))
    elapsed = time.monotonic() - started
    assert failed.value.kind == "timeout"
    # The deadline, not LLM_TIMEOUT_S (30 s) times 6 attempts, bounded the wait; the margin
    # above 2.5 s is for a busy machine, far below what waiting for the timeout would take.
    assert elapsed < 10.0


def test_slow_answer_within_the_timeout_is_used(llm: FakeLLM) -> None:
    llm.script(Slow(0.5, Answer(decision="MANUAL")))
    assert make(llm, timeout_s=3.0).advise(case(), soon()).answer.decision == "MANUAL"


def test_garbage_answer_is_a_bad_answer_with_its_tokens_counted(llm: FakeLLM) -> None:
    llm.script(Garbage())
    with pytest.raises(AdviceError) as failed:
        make(llm).advise(case(), soon())
    assert failed.value.kind == "bad_answer"
    assert failed.value.usage.prompt_tokens > 0
    assert len(llm.chat_requests()) == 1  # a nonsense answer is not paid for twice


def test_fenced_json_answer_is_parsed(llm: FakeLLM) -> None:
    llm.script(Answer(decision="ALLOWED", fenced=True))
    assert make(llm).advise(case(), soon()).answer.decision == "ALLOWED"


def test_server_without_json_schema_support_gets_the_schema_in_the_prompt() -> None:
    with FakeLLM(json_schema=False) as llm:
        advisor = make(llm)
        first = advisor.advise(case(), soon())
        advisor.advise(case("Rimborso con penale di 90 USD."), soon())
        requests = llm.chat_requests()
    assert first.answer.decision == "WITH_PENALTY"
    assert [("response_format" in r.body) for r in requests] == [True, False, False]
    assert "matching this JSON schema" in requests[1].content("system")


def test_rejected_key_fails_without_retry_and_without_repeating_the_server_text(
    llm: FakeLLM,
) -> None:
    llm.default = Unauthorized()
    with pytest.raises(AdviceError) as failed:
        make(llm).advise(case(), soon())
    assert failed.value.kind == "auth"
    assert KEY not in failed.value.message and "HTTP 401" in failed.value.message
    assert len(llm.chat_requests()) == 1


def test_identical_case_is_answered_from_the_cache(llm: FakeLLM) -> None:
    advisor = make(llm)
    advisor.advise(case(), soon())
    again = advisor.advise(case(), soon())
    assert again.usage.cached and again.usage.calls == 0
    assert len(llm.chat_requests()) == 1
    assert advisor.prompt_version == PROMPT_VERSION


def test_rate_limiter_sleeps_for_the_window_but_not_past_the_deadline() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(2, 10.0, clock=lambda: now[0], sleep=sleep)
    limiter.acquire(deadline=200)
    limiter.acquire(deadline=200)
    limiter.acquire(deadline=200)  # third call in the window waits for the next one
    assert slept == [pytest.approx(10.0)]
    limiter.acquire(deadline=200)
    with pytest.raises(AdviceError) as failed:
        limiter.acquire(deadline=now[0] + 1)
    assert failed.value.kind == "rate_limit_local"


def test_build_advisor_from_settings(llm: FakeLLM) -> None:
    settings = Settings(
        openai_api_key=KEY,  # type: ignore[arg-type]
        openai_base_url=llm.base_url,  # type: ignore[arg-type]
        openai_model="gpt-4o-mini-2024-07-18",
        llm_price_overrides="gpt-4o-mini=1/1",
    )
    advisor = build_advisor(settings)
    advice = advisor.advise(case(), soon())
    assert isinstance(advice.answer, LlmAnswer)
    assert advisor.model == "gpt-4o-mini-2024-07-18"
    assert advice.usage.cost_usd == pytest.approx(
        (advice.usage.prompt_tokens + advice.usage.completion_tokens) / 1e6
    )


def test_model_that_rejects_temperature_is_asked_again_without_it() -> None:
    with FakeLLM(temperature=False) as llm:
        advisor = make(llm)
        advice = advisor.advise(case(), soon())
        advisor.advise(case("Rimborso con penale di 70 USD."), soon())
        requests = llm.chat_requests()
    assert advice.answer.decision == "WITH_PENALTY"
    assert [("temperature" in r.body) for r in requests] == [True, False, False]
