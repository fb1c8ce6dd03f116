"""Asks the LLM about one case: one openai client, bounded retries, rate limit, cache, metrics."""

from __future__ import annotations

import email.utils
import json
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from pydantic import AnyHttpUrl, ValidationError
from ratelimit import RateLimitException, limits

from llm_worker.config import Settings, SettingsError
from llm_worker.llm.cache import LruCache, cache_key
from llm_worker.llm.pricing import PriceTable, price_table
from llm_worker.llm.prompt import (
    PROMPT_VERSION,
    SYSTEM_PROMPT,
    answer_token_cap,
    case_document,
    response_format,
    schema_instructions,
    user_message,
)
from llm_worker.logs import get_logger
from llm_worker.metrics import COST_USD, OPENAI_CALLS, OPENAI_DURATION, OPENAI_ERRORS, OPENAI_TOKENS
from llm_worker.observability import tracing
from llm_worker.refund.decider import Advice, AdviceError
from llm_worker.refund.models import LlmAnswer, RefundCase, Usage
from llm_worker.tls import openai_http_client

PROVIDER = "openai"
CACHE_ENTRIES = 2048
# Time kept back from the task's deadline to complete the task after the last call.
_RESERVE_S = 0.5
# A call with less time than this left is not worth starting.
_MIN_CALL_S = 0.25
_MAX_BACKOFF_S = 8.0
_RETRYABLE_STATUS = {408, 409, 429}
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)
# The names a completion-token cap goes by, in the order tried: OpenAI's current one, then
# the older one most compatible servers (and OpenAI's older models) take.
_TOKEN_CAP_PARAMETERS = ("max_completion_tokens", "max_tokens")
# What servers put in finish_reason when the cap cut the answer.
_CUT_OFF = frozenset({"length", "max_tokens"})

_log = get_logger(__name__)


class RateLimiter:
    """LLM_RATE_LIMIT_CALLS per LLM_RATE_LIMIT_PERIOD_S for the process (`ratelimit` package).

    Like `ratelimit.sleep_and_retry`, it sleeps until the window reopens, but never past the
    task's deadline: a call that cannot start in time fails (and the case goes to MANUAL).
    """

    def __init__(
        self,
        calls: int,
        period_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._guard: Callable[[], None] = limits(calls=calls, period=period_s, clock=clock)(
            lambda: None
        )

    def acquire(self, deadline: float) -> None:
        while True:
            try:
                self._guard()
                return
            except RateLimitException as exc:
                wait = max(0.0, float(exc.period_remaining))
                if self._clock() + wait > deadline:
                    raise AdviceError(
                        "rate_limit_local",
                        "the worker's own LLM rate limit (LLM_RATE_LIMIT_CALLS) left no time "
                        "inside the task's lock",
                    ) from None
                self._sleep(wait)


class _RetryError(Exception):
    """One attempt failed in a way worth retrying after `wait_s` (None: use back-off)."""

    def __init__(self, kind: str, message: str, wait_s: float | None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.wait_s = wait_s


class _UnsupportedParameterError(Exception):
    """The endpoint rejected an optional parameter (noted); ask again without it."""


class OpenAIAdvisor:
    """Implements refund.decider.Advisor with the `openai` SDK (any compatible endpoint)."""

    provider = PROVIDER
    prompt_version = PROMPT_VERSION

    def __init__(
        self,
        *,
        client: openai.OpenAI,
        model: str,
        timeout_s: float,
        max_retries: int,
        limiter: RateLimiter,
        prices: PriceTable,
        cache: LruCache[LlmAnswer],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._model = model
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._limiter = limiter
        self._prices = prices
        self._cache = cache
        self._clock = clock
        self._sleep = sleep
        # Learnt once per process: the endpoint rejects JSON-schema output (many compatible
        # servers do); from then on the schema is given in the prompt and parsed here.
        self._json_schema = True
        # Likewise for `maxLength` in the schema (older strict-schema implementations refuse
        # it) and for `temperature` (reasoning models accept only their default).
        self._max_length = True
        self._temperature = True
        # And for the name of the completion-token cap: the first of _TOKEN_CAP_PARAMETERS
        # the endpoint neither rejects nor ignores (None: it takes neither).
        self._token_cap = answer_token_cap()
        self._token_parameter: str | None = _TOKEN_CAP_PARAMETERS[0]
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return self._model

    def advise(self, case: RefundCase, deadline: float) -> Advice:
        document = case_document(case)
        key = cache_key(prompt_version=PROMPT_VERSION, model=self._model, document=document)
        cached = self._cache.get(key)
        if cached is not None:
            return Advice(cached, Usage(cached=True))
        tally = _Tally()
        # One GenAI span for the operation, its retries inside; ids and counts only.
        with tracing.genai_chat(
            provider=self.provider,
            model=self._model,
            base_url=str(self._client.base_url),
            max_tokens=self._token_cap,
            temperature=0.0 if self._temperature else None,
        ) as call:
            try:
                answer = self._ask(user_message(case), deadline, tally)
            except AdviceError as error:
                call.failed(error.kind)
                raise
            finally:
                call.response(
                    model=tally.response_model,
                    response_id=tally.response_id,
                    finish_reasons=tally.finish_reasons,
                )
                call.usage(tally.prompt_tokens, tally.completion_tokens, tally.calls)
        self._cache.put(key, answer)
        return Advice(answer, tally.usage())

    def probe(self, timeout_s: float) -> None:
        """One chat completion of one token: does the endpoint answer for this model? (For
        `check`, against servers that list no models or not this one.) Raises AdviceError."""
        messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say OK."}]
        while True:
            parameter = self._token_parameter
            extra: dict[str, Any] = {parameter: 1} if parameter is not None else {}
            try:
                self._client.chat.completions.create(
                    model=self._model, messages=messages, timeout=timeout_s, **extra
                )
                return
            except openai.BadRequestError as exc:
                if parameter is not None and _rejects(exc, re.escape(parameter)):
                    self._next_token_parameter(parameter, "rejects")
                    continue
                raise AdviceError(
                    "bad_request", "the LLM API rejected the request (HTTP 400)"
                ) from None
            except openai.APITimeoutError:
                raise AdviceError(
                    "timeout", f"the LLM did not answer within {timeout_s:.1f}s"
                ) from None
            except openai.APIConnectionError:
                raise AdviceError("connection", "the LLM endpoint could not be reached") from None
            except openai.APIStatusError as exc:
                error = _status_error(exc)
                if isinstance(error, _RetryError):
                    raise AdviceError(error.kind, error.message) from None
                raise error from None

    # --- the retry loop ----------------------------------------------------------------------
    def _ask(self, user: str, deadline: float, tally: _Tally) -> LlmAnswer:
        deadline -= _RESERVE_S
        failures = 0
        while True:
            remaining = deadline - self._clock()
            if remaining < _MIN_CALL_S:
                raise AdviceError(
                    "deadline", "no time was left inside the task's lock", tally.usage()
                )
            try:
                self._limiter.acquire(deadline - _MIN_CALL_S)
                return self._attempt(user, min(self._timeout_s, deadline - self._clock()), tally)
            except _UnsupportedParameterError:
                OPENAI_ERRORS.labels(model=self._model, kind="unsupported_parameter").inc()
                continue
            except _RetryError as retry:
                failures += 1
                OPENAI_ERRORS.labels(model=self._model, kind=retry.kind).inc()
                if failures > self._max_retries:
                    raise AdviceError(
                        retry.kind,
                        f"{retry.message} (after {failures} attempt{'s' if failures > 1 else ''})",
                        tally.usage(),
                    ) from None
                wait = retry.wait_s if retry.wait_s is not None else _backoff(failures)
                if self._clock() + wait + _MIN_CALL_S > deadline:
                    raise AdviceError(
                        retry.kind,
                        f"{retry.message}; no time left to retry inside the task's lock",
                        tally.usage(),
                    ) from None
                _log.info(
                    "llm call failed, retrying", kind=retry.kind, wait_s=round(wait, 3),
                    attempt=failures,
                )  # fmt: skip
                self._sleep(wait)
            except AdviceError as error:
                OPENAI_ERRORS.labels(model=self._model, kind=error.kind).inc()
                error.usage = tally.usage()
                raise

    def _attempt(self, user: str, timeout_s: float, tally: _Tally) -> LlmAnswer:
        use_schema = self._json_schema
        system = SYSTEM_PROMPT if use_schema else SYSTEM_PROMPT + schema_instructions()
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        use_temperature = self._temperature
        token_parameter = self._token_parameter
        use_max_length = self._max_length
        extra: dict[str, Any] = (
            {"response_format": response_format(lengths=use_max_length)} if use_schema else {}
        )
        if use_temperature:
            extra["temperature"] = 0  # the same case should get the same answer
        if token_parameter is not None:
            extra[token_parameter] = self._token_cap
        OPENAI_CALLS.labels(model=self._model).inc()
        tally.calls += 1
        started = self._clock()
        try:
            completion = self._client.chat.completions.create(
                model=self._model,
                messages=messages,
                timeout=timeout_s,
                **extra,
            )
        except openai.APITimeoutError:
            raise _RetryError(
                "timeout", f"the LLM did not answer within {timeout_s:.1f}s", None
            ) from None
        except openai.APIConnectionError:
            raise _RetryError("connection", "the LLM endpoint could not be reached", None) from None
        except openai.BadRequestError as exc:
            if use_schema and use_max_length and _rejects(exc, r"maxLength"):
                with self._lock:
                    self._max_length = False
                _log.warning("llm endpoint rejects maxLength in the schema; sending it without")
                raise _UnsupportedParameterError from None
            if use_schema and _rejects(exc, r"response_format|json_schema|structured"):
                with self._lock:
                    self._json_schema = False
                _log.warning("llm endpoint rejects json_schema output; using prompt + parsing")
                raise _UnsupportedParameterError from None
            if use_temperature and _rejects(exc, r"temperature"):
                with self._lock:
                    self._temperature = False
                _log.warning("llm model rejects temperature; using its default")
                raise _UnsupportedParameterError from None
            if token_parameter is not None and _rejects(exc, re.escape(token_parameter)):
                self._next_token_parameter(token_parameter, "rejects")
                raise _UnsupportedParameterError from None
            raise AdviceError(
                "bad_request", "the LLM API rejected the request (HTTP 400)"
            ) from None
        except openai.APIStatusError as exc:
            raise _status_error(exc) from None
        finally:
            tally.latency_s += self._since(started)
            OPENAI_DURATION.labels(model=self._model).observe(self._since(started))
        self._count_usage(completion, tally)
        tally.seen(completion)
        done = completion.usage.completion_tokens if completion.usage else None
        if token_parameter is not None and done is not None and done > self._token_cap:
            # Accepted without a word but not applied: some servers ignore names they do not
            # know. The answer is still used; the next call sends the cap by its other name.
            self._next_token_parameter(token_parameter, "ignores")
        return _parse(completion, self._token_cap)

    def _next_token_parameter(self, current: str, what: str) -> None:
        following = _TOKEN_CAP_PARAMETERS.index(current) + 1
        then = _TOKEN_CAP_PARAMETERS[following] if following < len(_TOKEN_CAP_PARAMETERS) else None
        with self._lock:
            if self._token_parameter == current:
                self._token_parameter = then
        _log.warning(
            f"llm endpoint {what} {current}; "
            + (f"capping answers with {then}" if then else "answers are not capped"),
        )

    def _count_usage(self, completion: ChatCompletion, tally: _Tally) -> None:
        usage = completion.usage
        if usage is None:
            return
        prompt, done = usage.prompt_tokens or 0, usage.completion_tokens or 0
        cost = self._prices.cost(completion.model or self._model, prompt, done)
        tally.prompt_tokens += prompt
        tally.completion_tokens += done
        tally.cost_usd += cost
        OPENAI_TOKENS.labels(model=self._model, kind="prompt").inc(prompt)
        OPENAI_TOKENS.labels(model=self._model, kind="completion").inc(done)
        COST_USD.labels(model=self._model).inc(cost)

    def _since(self, started: float) -> float:
        return max(0.0, self._clock() - started)


class _Tally:
    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_usd = 0.0
        self.latency_s = 0.0
        self.calls = 0
        self.response_model: str | None = None
        self.response_id: str | None = None
        self.finish_reasons: list[str] = []

    def seen(self, completion: ChatCompletion) -> None:
        """What the last completion said about itself, for the trace (never its content)."""
        self.response_model = completion.model or None
        self.response_id = completion.id or None
        self.finish_reasons = [str(c.finish_reason) for c in completion.choices if c.finish_reason]

    def usage(self) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost_usd=self.cost_usd,
            latency_s=self.latency_s,
            calls=self.calls,
        )


def _parse(completion: ChatCompletion, token_cap: int) -> LlmAnswer:
    """The answer from the message text: JSON, possibly fenced or wrapped in a sentence."""
    if not completion.choices:
        raise AdviceError("bad_answer", "the LLM answered without a choice")
    choice = completion.choices[0]
    if choice.finish_reason in _CUT_OFF:
        raise AdviceError(
            "cut_off",
            f"the LLM's answer was cut off at its length limit (finish_reason "
            f"{choice.finish_reason}; the worker allows {token_cap} completion tokens)",
        )
    message = choice.message
    if message.refusal:
        raise AdviceError("refusal", "the LLM refused to answer")
    text = (message.content or "").strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    elif not text.startswith("{") and "{" in text:
        text = text[text.find("{") : text.rfind("}") + 1]
    try:
        return LlmAnswer.model_validate_json(text)
    except ValidationError:
        raise AdviceError(
            "bad_answer", "the LLM's answer is not the expected JSON decision"
        ) from None


def _rejects(exc: openai.BadRequestError, parameter: str) -> bool:
    """The 400 names this request parameter as unsupported."""
    detail = json.dumps(exc.body, default=str) if exc.body is not None else str(exc.message)
    return bool(re.search(parameter, detail, re.I))


def _status_error(exc: openai.APIStatusError) -> Exception:
    """Map an HTTP error to a retry or a final failure; the server's text is never repeated
    (it can quote part of the key)."""
    status = exc.status_code
    if status == 429:
        return _RetryError(
            "rate_limit", "the LLM API is rate limiting (HTTP 429)", _retry_after(exc)
        )
    if status >= 500:
        return _RetryError("server", f"the LLM API failed (HTTP {status})", _retry_after(exc))
    if status in _RETRYABLE_STATUS:
        return _RetryError("status", f"the LLM API answered HTTP {status}", _retry_after(exc))
    if status in (401, 403):
        return AdviceError("auth", f"the LLM API refused the credentials (HTTP {status})")
    if status == 404:
        return AdviceError("not_found", "the LLM API does not know the model or path (HTTP 404)")
    return AdviceError("status", f"the LLM API answered HTTP {status}")


def _retry_after(exc: openai.APIStatusError) -> float | None:
    """Retry-After (seconds or an HTTP date) or retry-after-ms, as the server asks."""
    headers = exc.response.headers
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, float(parsed.timestamp()) - time.time())


def _backoff(failures: int) -> float:
    base = min(_MAX_BACKOFF_S, 0.5 * 2.0 ** (failures - 1))
    return base * random.uniform(0.75, 1.25)


def build_advisor(settings: Settings) -> OpenAIAdvisor:
    """The advisor for the process: one openai client, one rate limiter, one cache."""
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    if not key:
        raise SettingsError("invalid setting OPENAI_API_KEY: needed to ask the LLM")
    return endpoint_advisor(
        settings, api_key=key, base_url=settings.openai_base_url, model=settings.openai_model
    )


def endpoint_advisor(
    settings: Settings, *, api_key: str, base_url: AnyHttpUrl | None, model: str
) -> OpenAIAdvisor:
    """An advisor for one endpoint and model (the primary or the fallback): its own client,
    rate limiter (LLM_RATE_LIMIT_* per model) and cache; the timeouts and prices are shared."""
    client = openai.OpenAI(
        api_key=api_key,
        base_url=str(base_url) if base_url else None,
        timeout=settings.llm_timeout_s,
        max_retries=0,  # retries are ours: they honour Retry-After and the task's lock
        http_client=openai_http_client(settings.llm_ca),
    )
    prices = price_table(settings.llm_price_overrides)
    if prices.price(model) is None:
        _log.warning(
            "no price known for the model: its cost is counted as 0 "
            "(LLM_PRICE_OVERRIDES=model=PROMPT/COMPLETION sets one)",
            model=model,
        )
    return OpenAIAdvisor(
        client=client,
        model=model,
        timeout_s=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
        limiter=RateLimiter(settings.llm_rate_limit_calls, settings.llm_rate_limit_period_s),
        prices=prices,
        cache=LruCache(CACHE_ENTRIES),
    )
