"""Settings: defaults, parsing, and one-line errors that name the variable and never the secret."""

from __future__ import annotations

from decimal import Decimal

import pytest

from llm_worker.config import (
    DecisionStrategy,
    LogFormat,
    SettingsError,
    load_settings,
    without_credentials,
)
from llm_worker.process import ALL_TOPICS
from llm_worker.refund.currency import CurrencyLimits


def test_defaults_run_on_rules_without_a_key() -> None:
    settings = load_settings()
    assert settings.strategy is DecisionStrategy.RULES
    assert settings.worker_topics == ALL_TOPICS
    assert settings.engine_url == "http://localhost:8080/engine-rest"
    assert settings.openai_model == "gpt-4o-mini"


def test_a_key_turns_on_hybrid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    assert load_settings().strategy is DecisionStrategy.HYBRID


def test_topics_are_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_TOPICS", " analyze-fare-rules , ")
    assert load_settings().worker_topics == ("analyze-fare-rules",)


def test_unknown_topic_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_TOPICS", "analyze-fare-rules,nope")
    with pytest.raises(SettingsError, match=r"WORKER_TOPICS: .*nope"):
        load_settings()


def test_bad_number_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_CONCURRENCY", "lots")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value).startswith("invalid setting WORKER_CONCURRENCY:")
    assert "\n" not in str(info.value)


def test_llm_strategy_without_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DECISION_STRATEGY", "LLM")
    with pytest.raises(SettingsError, match="OPENAI_API_KEY"):
        load_settings()


def test_secret_never_in_errors_or_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-very-secret-value"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("LLM_TIMEOUT_S", "-1")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert secret not in str(info.value)
    monkeypatch.delenv("LLM_TIMEOUT_S")
    settings = load_settings()
    assert secret not in repr(settings)
    assert secret not in str(settings.model_dump())


def test_dotenv_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from pathlib import Path

    # tmp_path is the working directory (tests/conftest.py), where the settings look for .env.
    Path(str(tmp_path), ".env").write_text("LOG_FORMAT=json\nMETRICS_PORT=9999\n")
    settings = load_settings()
    assert settings.log_format is LogFormat.JSON
    assert settings.metrics_port == 9999


@pytest.mark.parametrize("strategy", ["llm", "hybrid"])
def test_a_strategy_without_a_key_names_decision_strategy(
    monkeypatch: pytest.MonkeyPatch, strategy: str
) -> None:
    # A check across settings names its variable, not the pseudo-variable 'settings'.
    monkeypatch.setenv("DECISION_STRATEGY", strategy)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == (
        f"invalid setting DECISION_STRATEGY: {strategy} needs OPENAI_API_KEY "
        "(set the key, or use rules)"
    )


def test_a_field_check_has_no_pydantic_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_TOPICS", "analyze-fare-rules,refunds")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith("invalid setting WORKER_TOPICS: unknown topic(s) refunds;")


def test_without_credentials() -> None:
    assert without_credentials("http://u:p@h:8080/engine-rest") == "http://h:8080/engine-rest"
    assert without_credentials("x for url: https://u@h/a?b=c@d") == "x for url: https://h/a?b=c@d"
    assert without_credentials("http://h:8080/engine-rest") == "http://h:8080/engine-rest"


def test_review_thresholds_and_payment_ceiling_by_currency(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings()
    assert defaults.review_thresholds == CurrencyLimits(Decimal(5000), "USD", {})
    assert defaults.payment_ceiling == CurrencyLimits(Decimal(20000), "USD", {})
    monkeypatch.setenv("MANUAL_REVIEW_THRESHOLD", "4000.50")
    monkeypatch.setenv("MANUAL_REVIEW_CURRENCY", " eur ")
    monkeypatch.setenv("MANUAL_REVIEW_THRESHOLDS", "usd=4600, JPY=750000,")
    monkeypatch.setenv("PAYMENT_MAX_AMOUNT", "15000")
    monkeypatch.setenv("PAYMENT_MAX_AMOUNTS", "GBP=12000")
    settings = load_settings()
    assert settings.review_thresholds == CurrencyLimits(
        Decimal("4000.50"), "EUR", {"USD": Decimal(4600), "JPY": Decimal(750000)}
    )
    assert settings.payment_ceiling == CurrencyLimits(
        Decimal(15000), "EUR", {"GBP": Decimal(12000)}
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "MANUAL_REVIEW_THRESHOLDS",
            "EUR4600",
            "'EUR4600' is not CURRENCY=AMOUNT, comma-separated (e.g. EUR=4600,JPY=750000)",
        ),
        (
            "MANUAL_REVIEW_THRESHOLDS",
            "EURO=4600",
            "'EURO=4600' is not CURRENCY=AMOUNT, comma-separated (e.g. EUR=4600,JPY=750000)",
        ),
        ("MANUAL_REVIEW_THRESHOLDS", "EUR=-1", "EUR=-1 is not an amount of 0 or more"),
        ("MANUAL_REVIEW_THRESHOLDS", "EUR=NaN", "EUR=NaN is not an amount of 0 or more"),
        ("MANUAL_REVIEW_THRESHOLDS", "EUR=lots", "EUR=lots is not an amount of 0 or more"),
        ("MANUAL_REVIEW_THRESHOLDS", "EUR=1,eur=2", "EUR is given twice"),
        ("MANUAL_REVIEW_THRESHOLD", "Infinity", "Input should be a finite number"),
        ("MANUAL_REVIEW_CURRENCY", "dollars", "'dollars' is not a three-letter ISO 4217 code"),
        (
            "MANUAL_REVIEW_CURRENCY",
            "XTS",
            "XTS is not in the reference exchange rates of 2025-06-30, so no threshold can be "
            "converted from it",
        ),
        ("PAYMENT_MAX_AMOUNT", "0", "Input should be greater than 0"),
        ("PAYMENT_MAX_AMOUNTS", "EUR=0", "a payment ceiling must be above 0 (EUR)"),
    ],
)
def test_bad_amounts_by_currency_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == f"invalid setting {name}: {message}"
