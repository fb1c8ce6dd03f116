"""The advisor's bounded answers against the fake server over real HTTP: a completion-token cap
sized to the answer schema, sent by the name each server takes (remembered, like temperature),
a cut-off answer failing with its tokens and cost counted, and the one-token probe `check`
uses against servers that list no models."""

from __future__ import annotations

import json
import time

import openai
import pytest
from prometheus_client import REGISTRY

from llm_worker.llm.advisor import OpenAIAdvisor, RateLimiter
from llm_worker.llm.cache import LruCache
from llm_worker.llm.pricing import price_table
from llm_worker.llm.prompt import answer_token_cap, response_format
from llm_worker.refund.decider import AdviceError
from llm_worker.refund.models import (
    ANSWER_REASONING_MAX_CHARS,
    ANSWER_RULE_TEXT_MAX_CHARS,
    RefundCase,
)
from tests.fakes.llm import Answer, FakeLLM, Rambling
from tests.refund_cases import refund_case

KEY = "sk-test-bounds-0123456789"
MODEL = "gpt-4o-mini"


def make(llm: FakeLLM) -> OpenAIAdvisor:
    return OpenAIAdvisor(
        client=openai.OpenAI(api_key=KEY, base_url=llm.base_url, max_retries=0),
        model=MODEL,
        timeout_s=5.0,
        max_retries=2,
        limiter=RateLimiter(10_000, 1.0),
        prices=price_table(None),
        cache=LruCache(16),
        sleep=lambda s: time.sleep(min(s, 1.0)),
    )


def case(rules: str = "CANCEL/REFUND PERMITTED. CHARGE USD 100.") -> RefundCase:
    return refund_case(rules)


def soon() -> float:
    return time.monotonic() + 20.0


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_cap_fits_the_longest_answer_the_schema_asks_for() -> None:
    cap = answer_token_cap()
    longest = ANSWER_REASONING_MAX_CHARS + ANSWER_RULE_TEXT_MAX_CHARS
    # Room for both strings even at 2 characters a token, far below the runaway 1,000+ seen.
    assert longest / 2 < cap <= 1_000
    properties = response_format()["json_schema"]["schema"]["properties"]
    assert properties["reasoning"]["maxLength"] == ANSWER_REASONING_MAX_CHARS
    assert properties["rule_text"]["maxLength"] == ANSWER_RULE_TEXT_MAX_CHARS
    assert f"at most {ANSWER_REASONING_MAX_CHARS} characters" in json.dumps(properties)
    assert "maxLength" not in json.dumps(response_format(lengths=False))


def test_endpoint_rejecting_max_length_gets_the_schema_without_it_from_then_on() -> None:
    with FakeLLM(max_length=False) as llm:
        advisor = make(llm)
        advice = advisor.advise(case(), soon())
        advisor.advise(case("CANCEL/REFUND PERMITTED. CHARGE USD 90."), soon())
        requests = llm.chat_requests()
    assert advice.answer.decision == "WITH_PENALTY"
    schemas = [json.dumps(r.body["response_format"]) for r in requests]
    assert ["maxLength" in s for s in schemas] == [True, False, False]
    # Still the strict schema, not the fallback to instructions in the prompt.
    assert "matching this JSON schema" not in requests[2].content("system")


def test_openai_gets_max_completion_tokens() -> None:
    with FakeLLM() as llm:
        make(llm).advise(case(), soon())
        (request,) = llm.chat_requests()
    assert request.body["max_completion_tokens"] == answer_token_cap()
    assert "max_tokens" not in request.body


def test_server_rejecting_max_completion_tokens_gets_max_tokens_from_then_on() -> None:
    with FakeLLM(token_parameters=("max_tokens",)) as llm:
        advisor = make(llm)
        advice = advisor.advise(case(), soon())
        advisor.advise(case("CANCEL/REFUND PERMITTED. CHARGE USD 90."), soon())
        requests = llm.chat_requests()
    assert advice.answer.decision == "WITH_PENALTY"
    assert [sorted(k for k in r.body if k.startswith("max_")) for r in requests] == [
        ["max_completion_tokens"],
        ["max_tokens"],
        ["max_tokens"],
    ]
    assert requests[1].body["max_tokens"] == answer_token_cap()


def test_server_silently_ignoring_max_completion_tokens_gets_max_tokens_next() -> None:
    with FakeLLM(token_parameters=("max_tokens",), unknown_parameters="ignore") as llm:
        llm.script(Rambling(tokens=3_000), Rambling(tokens=3_000))
        advisor = make(llm)
        with pytest.raises(AdviceError) as first:
            advisor.advise(case(), soon())
        with pytest.raises(AdviceError) as second:
            advisor.advise(case("CANCEL/REFUND PERMITTED. CHARGE USD 90."), soon())
        requests = llm.chat_requests()
    # The runaway answer was not capped (the server dropped the name) and was paid in full...
    assert first.value.kind == "bad_answer" and first.value.usage.completion_tokens == 3_000
    # ... the next one is capped under the name the server takes.
    assert "max_tokens" in requests[1].body and "max_completion_tokens" not in requests[1].body
    assert second.value.kind == "cut_off"
    assert second.value.usage.completion_tokens == answer_token_cap()


def test_cut_off_answer_fails_with_its_tokens_and_cost_counted() -> None:
    errors = metric("llm_worker_openai_api_errors_total", model=MODEL, kind="cut_off")
    completion = metric("llm_worker_openai_tokens_total", model=MODEL, kind="completion")
    with FakeLLM() as llm:
        llm.script(Rambling())
        with pytest.raises(AdviceError) as failed:
            make(llm).advise(case(), soon())
        assert len(llm.chat_requests()) == 1  # a cut-off answer is not asked (and paid) twice
    error = failed.value
    assert error.kind == "cut_off"
    assert "cut off" in error.message and "finish_reason length" in error.message
    assert str(answer_token_cap()) in error.message
    usage = error.usage
    assert usage.calls == 1 and usage.completion_tokens == answer_token_cap()
    assert usage.prompt_tokens > 0
    assert usage.cost_usd == pytest.approx(
        (usage.prompt_tokens * 0.15 + usage.completion_tokens * 0.60) / 1e6
    )
    assert metric("llm_worker_openai_api_errors_total", model=MODEL, kind="cut_off") == errors + 1
    assert metric("llm_worker_openai_tokens_total", model=MODEL, kind="completion") == (
        completion + answer_token_cap()
    )


def test_probe_asks_for_one_token_under_the_name_the_server_takes() -> None:
    with FakeLLM(token_parameters=("max_tokens",), models=False) as llm:
        advisor = make(llm)
        advisor.probe(5.0)
        advisor.advise(case(), soon())
        requests = llm.chat_requests()
    assert [{k: v for k, v in r.body.items() if k.startswith("max_")} for r in requests] == [
        {"max_completion_tokens": 1},
        {"max_tokens": 1},
        {"max_tokens": answer_token_cap()},
    ]


def test_probe_failures_are_advice_errors() -> None:
    with FakeLLM() as llm:
        llm.script(Answer())
        port = llm.port
    advisor = OpenAIAdvisor(
        client=openai.OpenAI(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0),
        model=MODEL,
        timeout_s=2.0,
        max_retries=0,
        limiter=RateLimiter(10, 1.0),
        prices=price_table(None),
        cache=LruCache(4),
    )
    with pytest.raises(AdviceError) as failed:
        advisor.probe(2.0)
    assert failed.value.kind == "connection"
