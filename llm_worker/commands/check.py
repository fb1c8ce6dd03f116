"""`llm-worker check`: validate the settings and ping the engine (and the LLM if configured)."""

from __future__ import annotations

import argparse

from llm_worker.commands import UserError
from llm_worker.config import (
    Settings,
    load_settings,
    require_payment_gateway,
    without_credentials,
)
from llm_worker.llm.pricing import price_table
from llm_worker.observability import tracing
from llm_worker.observability.health import Health
from llm_worker.process import PAYMENT_TOPIC
from llm_worker.refund.currency import Basis, CurrencyLimits, plain
from llm_worker.refund.decider import AdviceError
from llm_worker.refund.models import DecisionStrategy
from llm_worker.runtime.engine import EngineClient, EngineError
from llm_worker.tls import certificate_problem, openai_http_client

# Shown by `check` next to the base currency and any currency with its own amount.
COMMON_CURRENCIES = ("USD", "EUR", "GBP", "CHF", "CAD", "AUD", "JPY", "CNY", "INR", "AED")


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    # Read when the LLM is first used; a mistake in it is a bad setting all the same.
    price_table(settings.llm_price_overrides)
    payments = _payments(settings)
    print(
        f"settings: ok (topics {', '.join(settings.worker_topics)}, "
        f"concurrency {settings.worker_concurrency}, strategy {settings.strategy.value})"
    )
    print(f"review threshold: {_by_currency(settings.review_thresholds, without_currency=True)}")
    print(f"payment ceiling: {_by_currency(settings.payment_ceiling, without_currency=False)}")
    print(f"tenant: {settings.camunda_tenant_id or 'none (all tasks the engine hands out)'}")
    print(f"tracing: {tracing.describe(settings)}")
    print(f"payments: {payments}")
    print(f"engine: {_check_engine(settings)}")
    llm = _check_llm(settings)
    if llm:
        print(f"llm: {llm}")
    for line in describe_llm_privacy(settings):
        print(line)
    fallback = _check_fallback(settings)
    if fallback:
        print(f"fallback llm: {fallback}")
    return 0


def describe_llm_privacy(settings: Settings) -> list[str]:
    """What the LLM provider sees and who is asked when it fails (never a key)."""
    if settings.strategy is DecisionStrategy.RULES:
        return ["llm use: none (strategy rules): no text goes to an LLM"]
    lines = [
        "redaction: on (LLM_REDACT): passenger names, ticket, document, card, bank-account, "
        "phone numbers, e-mail addresses and birth dates are replaced by [NAME], [TICKET], ... "
        "before the fare rules go to an LLM; amounts, dates and codes stay"
        if settings.llm_redact
        else "redaction: off (LLM_REDACT=false): the LLM provider sees the fare rules as given, "
        "personal data included"
    ]
    prices = price_table(settings.llm_price_overrides)
    models = [settings.openai_model]
    endpoint = settings.fallback_endpoint
    if endpoint is None:
        lines.append(
            "fallback: none (LLM_FALLBACK_BASE_URL / LLM_FALLBACK_MODEL): a failing LLM "
            "sends its cases to MANUAL"
        )
    else:
        base_url, model = endpoint
        models.append(model)
        where = without_credentials(str(base_url or "https://api.openai.com/v1"))
        if settings.llm_fallback_api_key is not None:
            key = "key LLM_FALLBACK_API_KEY"
        elif base_url == settings.openai_base_url:
            key = "the primary's key (same endpoint)"
        else:
            key = "no key (LLM_FALLBACK_API_KEY not set; the primary's is never sent elsewhere)"
        lines.append(
            f"fallback: {model} at {where} ({key}); circuit: {settings.llm_circuit_failures} "
            f"failing cases in a row skip a model for {settings.llm_circuit_open_s:g} s"
        )
    for model in models:
        if prices.price(model) is None:
            lines.append(
                f"cost: no price known for {model}: counted as 0 (set LLM_PRICE_OVERRIDES)"
            )
    return lines


def _check_fallback(settings: Settings) -> str | None:
    """The fallback answers a one-token chat completion (it is asked only when needed)."""
    if settings.strategy is DecisionStrategy.RULES or settings.fallback_endpoint is None:
        return None
    from llm_worker.llm.fallback import fallback_advisor

    advisor = fallback_advisor(settings)
    assert advisor is not None
    base_url, model = settings.fallback_endpoint
    where = without_credentials(str(base_url or "https://api.openai.com/v1"))
    try:
        advisor.probe(min(settings.llm_timeout_s, 10.0))
    except AdviceError as error:
        raise UserError(f"fallback LLM {model} at {where} does not answer: {error}") from None
    return f"ok, {model} at {where} (answers chat completions)"


def _payments(settings: Settings) -> str:
    """Which gateway pays; a worker taking PAYMENT_TOPIC without one is a bad setting."""
    if PAYMENT_TOPIC not in settings.worker_topics:
        return f"none ({PAYMENT_TOPIC} not in WORKER_TOPICS)"
    kind = require_payment_gateway(settings)
    if settings.payment_gateway_url is not None:
        where = without_credentials(str(settings.payment_gateway_url))
        return f"{kind.describe()} ({where})"
    return kind.describe()


def _by_currency(limits: CurrencyLimits, *, without_currency: bool) -> str:
    """The effective limit in a few currencies, so an operator sees what the conversion does."""
    codes = dict.fromkeys([limits.currency, *COMMON_CURRENCIES, *sorted(limits.amounts)])
    shown = []
    for code in codes:
        limit = limits.in_currency(code)
        if limit is None:
            continue
        mark = {Basis.SET: " (set)", Basis.CONVERTED: "*"}.get(limit.basis, "")
        shown.append(f"{code} {plain(limit.amount)}{mark}")
    note = f"; without a currency {plain(limits.amount)}" if without_currency else ""
    return (
        f"{', '.join(shown)} (* {plain(limits.amount)} {limits.currency} converted at the "
        f"reference exchange rates of {limits.rates_date.isoformat()}{note})"
    )


def _check_engine(settings: Settings) -> str:
    client = EngineClient.from_settings(settings, Health(60.0, 60.0))
    where = without_credentials(settings.engine_url)
    try:
        version = client.version()
        backlog = {topic: client.count(topic) for topic in settings.worker_topics}
    except EngineError as exc:
        if exc.status is None and exc.reason.startswith("TLS "):
            raise UserError(f"engine at {where}: {exc.reason}") from None
        if exc.status is None:
            raise UserError(f"engine at {where} does not answer ({exc})") from None
        raise UserError(f"engine at {where} answered with an error ({exc})") from None
    finally:
        client.close()
    waiting = ", ".join(f"{topic} {n}" for topic, n in backlog.items())
    tenant = f" of tenant {settings.camunda_tenant_id}" if settings.camunda_tenant_id else ""
    return f"ok, Camunda {version} at {where} (waiting tasks{tenant}: {waiting})"


def _check_llm(settings: Settings) -> str | None:
    """The model is in the endpoint's list, or else the endpoint answers a one-token chat
    completion for it: compatible servers may not list models (no /models, an empty list) or
    list them under other names (a file name) while they answer for any."""
    if settings.openai_api_key is None or not settings.openai_api_key.get_secret_value():
        return None
    import openai

    from llm_worker.llm.advisor import build_advisor

    timeout_s = min(settings.llm_timeout_s, 10.0)
    client = openai.OpenAI(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=str(settings.openai_base_url) if settings.openai_base_url else None,
        timeout=timeout_s,
        max_retries=0,
        http_client=openai_http_client(settings.llm_ca),
    )
    where = without_credentials(str(settings.openai_base_url or "https://api.openai.com/v1"))
    models: list[str] = []
    try:
        models = [model.id for model in client.models.list()]
    except openai.AuthenticationError:
        raise UserError(f"LLM at {where} refused the key (OPENAI_API_KEY)") from None
    except openai.APIStatusError:
        pass  # no model list here (404, 405, 501, ...): the chat completion decides
    except openai.APIError as exc:
        problem = certificate_problem(exc)
        if problem is not None:
            raise UserError(
                f"LLM at {where}: TLS {problem}; set LLM_CA_BUNDLE to the CA that signed its "
                "certificate"
            ) from None
        raise UserError(f"LLM at {where} does not answer ({type(exc).__name__})") from None
    finally:
        client.close()
    if settings.openai_model in models:
        return f"ok, {settings.openai_model} at {where}"
    try:
        build_advisor(settings).probe(timeout_s)
    except AdviceError as error:
        if error.kind == "not_found":
            raise UserError(
                f"LLM at {where} does not offer OPENAI_MODEL={settings.openai_model}"
            ) from None
        if error.kind == "auth":
            raise UserError(f"LLM at {where} refused the key (OPENAI_API_KEY)") from None
        raise UserError(f"LLM at {where} does not answer a chat completion: {error}") from None
    listed = "does not list it" if models else "lists no models"
    return f"ok, {settings.openai_model} at {where} (answers chat completions; the server {listed})"
