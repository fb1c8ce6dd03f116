"""The primary LLM and, when configured, a fallback model asked when the primary fails, each
behind its circuit breaker (LLM_FALLBACK_BASE_URL, LLM_FALLBACK_MODEL, LLM_FALLBACK_API_KEY)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from llm_worker.config import Settings
from llm_worker.llm.advisor import OpenAIAdvisor, build_advisor, endpoint_advisor
from llm_worker.llm.breaker import CircuitBreaker
from llm_worker.llm.prompt import PROMPT_VERSION
from llm_worker.logs import get_logger
from llm_worker.refund.decider import Advice, AdviceError, Advisor
from llm_worker.refund.models import RefundCase, Usage

# Failures that say nothing about the model: the worker's own rate limit or the task's lock
# left no time. They neither count towards opening a circuit nor close one.
_NOT_THE_MODELS_FAULT = frozenset({"deadline", "rate_limit_local"})
# Sent to a fallback on another endpoint when no LLM_FALLBACK_API_KEY is set: the primary's
# key never leaves for another host (and the openai client would otherwise read the
# primary's from OPENAI_API_KEY). Servers without keys (llama.cpp, vLLM, Ollama) ignore it.
NO_KEY = "no-key"

_log = get_logger(__name__)


@dataclass(frozen=True)
class Route:
    """One model in the order asked: its advisor, its breaker and its role in messages."""

    role: str
    advisor: Advisor
    breaker: CircuitBreaker


class FallbackAdvisor:
    """Implements refund.decider.Advisor over several models: the first whose circuit is not
    open answers; a failure (connection, 5xx, 429 after its retries, timeout, cut-off or
    unusable answer) passes the case to the next. The guardrails then check whichever answered.
    A guardrail override is not a failure: asking another model until one says yes would shop
    for an answer."""

    prompt_version = PROMPT_VERSION

    def __init__(self, routes: Sequence[Route]) -> None:
        if not routes:
            raise ValueError("at least one route")
        self._routes = tuple(routes)

    @property
    def provider(self) -> str:
        return self._routes[0].advisor.provider

    @property
    def model(self) -> str:
        return self._routes[0].advisor.model

    @property
    def routes(self) -> tuple[Route, ...]:
        return self._routes

    def advise(self, case: RefundCase, deadline: float) -> Advice:
        failures: list[str] = []
        attempts: list[str] = []
        usage = Usage()
        last_kind = "circuit_open"
        for route in self._routes:
            model = route.advisor.model
            if not route.breaker.allow():
                failures.append(f"{route.role} {model} skipped: it kept failing (circuit open)")
                attempts.append(f"{model}:circuit_open")
                continue
            try:
                advice = route.advisor.advise(case, deadline)
            except AdviceError as error:
                if error.kind in _NOT_THE_MODELS_FAULT:
                    route.breaker.released()
                else:
                    route.breaker.failed()
                usage = _plus(usage, error.usage)
                failures.append(f"{route.role} {model} failed: {error.message}")
                attempts.append(f"{model}:{error.kind}")
                last_kind = error.kind
                continue
            except BaseException:
                route.breaker.released()
                raise
            route.breaker.succeeded()
            attempts.append(f"{model}:answered")
            if failures:
                _log.info("llm fallback answered", model=model, attempts=attempts)
            return replace(
                advice,
                usage=_plus(usage, advice.usage),
                provider=route.advisor.provider,
                model=model,
                failed="; ".join(failures) if failures else None,
                attempts=tuple(attempts),
            )
        raise AdviceError(last_kind, "; ".join(failures), usage, tuple(attempts))


def _plus(a: Usage, b: Usage) -> Usage:
    return Usage(
        prompt_tokens=a.prompt_tokens + b.prompt_tokens,
        completion_tokens=a.completion_tokens + b.completion_tokens,
        cost_usd=a.cost_usd + b.cost_usd,
        latency_s=a.latency_s + b.latency_s,
        calls=a.calls + b.calls,
        cached=b.cached,
    )


def fallback_advisor(settings: Settings) -> OpenAIAdvisor | None:
    """The fallback model's advisor (its own client, rate limiter and cache), or None."""
    endpoint = settings.fallback_endpoint
    if endpoint is None:
        return None
    base_url, model = endpoint
    if settings.llm_fallback_api_key is not None:
        key = settings.llm_fallback_api_key.get_secret_value()
    elif base_url == settings.openai_base_url and settings.openai_api_key is not None:
        key = settings.openai_api_key.get_secret_value()
    else:
        key = NO_KEY
    return endpoint_advisor(settings, api_key=key or NO_KEY, base_url=base_url, model=model)


def build_llm_advisor(settings: Settings) -> Advisor:
    """The primary alone, or the primary then the fallback behind their circuit breakers."""
    primary = build_advisor(settings)
    fallback = fallback_advisor(settings)
    if fallback is None:
        return primary
    # The gauge is labelled by model; the same model on two endpoints is told apart.
    names = (primary.model, fallback.model)
    if names[0] == names[1]:
        names = (f"{names[0]} (primary)", f"{names[1]} (fallback)")

    def breaker(name: str) -> CircuitBreaker:
        return CircuitBreaker(
            name, failures=settings.llm_circuit_failures, open_s=settings.llm_circuit_open_s
        )

    return FallbackAdvisor(
        [
            Route("primary", primary, breaker(names[0])),
            Route("fallback", fallback, breaker(names[1])),
        ]
    )
