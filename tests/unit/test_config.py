"""Settings: defaults, parsing, and one-line errors that name the variable and never the secret."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from llm_worker.app import build_registry
from llm_worker.config import (
    SettingsError,
    engine_url_hint,
    load_settings,
    require_payment_gateway,
    without_credentials,
)
from llm_worker.logs import LogFormat
from llm_worker.payment import GatewayKind
from llm_worker.process import ALL_TOPICS
from llm_worker.refund.currency import CurrencyLimits
from llm_worker.refund.models import DecisionStrategy


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


def test_a_bad_value_from_dotenv_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WORKER_CONCURRENCY=0\nLLM_TIMEOUT_S=-1\n")
    monkeypatch.setenv("LLM_TIMEOUT_S", "-2")  # the environment wins over .env
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "WORKER_CONCURRENCY (from .env): " in message
    assert "LLM_TIMEOUT_S: " in message and "LLM_TIMEOUT_S (from .env)" not in message


def test_nothing_pays_by_default() -> None:
    settings = load_settings()
    assert settings.payment_gateway is None
    with pytest.raises(SettingsError) as raised:
        require_payment_gateway(settings)
    message = str(raised.value)
    assert "PAYMENT_GATEWAY_URL" in message and "PAYMENT_SIMULATED=true" in message
    assert "no money moves" in message and "\n" not in message


def test_the_payment_gateway_is_the_one_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENT_SIMULATED", "true")
    assert require_payment_gateway(load_settings()) is GatewayKind.SIMULATED
    monkeypatch.setenv("PAYMENT_SIMULATED", "false")
    monkeypatch.setenv("PAYMENT_GATEWAY_URL", "https://payments.internal/refunds")
    assert require_payment_gateway(load_settings()) is GatewayKind.HTTP


def test_a_real_and_a_simulated_gateway_at_once_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAYMENT_SIMULATED", "true")
    monkeypatch.setenv("PAYMENT_GATEWAY_URL", "https://payments.internal/refunds")
    with pytest.raises(SettingsError, match=r"PAYMENT_GATEWAY_URL and PAYMENT_SIMULATED=true"):
        load_settings()


def test_a_worker_without_the_payment_topic_needs_no_gateway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORKER_TOPICS", "analyze-fare-rules")
    settings = load_settings()
    assert settings.payment_gateway is None
    assert build_registry(settings).topics == ("analyze-fare-rules",)
    monkeypatch.setenv("WORKER_TOPICS", "analyze-fare-rules,process-refund-payment")
    with pytest.raises(SettingsError, match="PAYMENT_GATEWAY_URL"):
        build_registry(load_settings())


@pytest.mark.parametrize("value", ["Production", " production "])
def test_the_deployment_environment_is_a_lower_case_label(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("DEPLOYMENT_ENVIRONMENT", value)
    assert load_settings().deployment_environment == "production"
    monkeypatch.setenv("DEPLOYMENT_ENVIRONMENT", "prod env")
    with pytest.raises(SettingsError, match="DEPLOYMENT_ENVIRONMENT"):
        load_settings()


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


def test_tenant_id(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().camunda_tenant_id is None
    monkeypatch.setenv("CAMUNDA_TENANT_ID", " tenant-a ")
    assert load_settings().camunda_tenant_id == "tenant-a"
    monkeypatch.setenv("CAMUNDA_TENANT_ID", "")
    assert load_settings().camunda_tenant_id is None
    monkeypatch.setenv("CAMUNDA_TENANT_ID", "a/b")
    with pytest.raises(SettingsError, match=r"^invalid setting CAMUNDA_TENANT_ID: 'a/b' is not"):
        load_settings()


def test_ca_bundles_in_order_of_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    own, requests_ca, system = (tmp_path / n for n in ("own.pem", "requests.pem", "ssl.pem"))
    for path in (own, requests_ca, system):
        path.write_text("PEM")
    settings = load_settings()
    assert (settings.engine_ca, settings.llm_ca) == (None, None)
    monkeypatch.setenv("SSL_CERT_FILE", str(system))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(requests_ca))
    settings = load_settings()
    assert (settings.engine_ca, settings.llm_ca) == (requests_ca, system)
    monkeypatch.setenv("CAMUNDA_CA_BUNDLE", str(own))
    monkeypatch.setenv("LLM_CA_BUNDLE", str(tmp_path))  # a folder of certificates will do
    settings = load_settings()
    assert (settings.engine_ca, settings.llm_ca) == (own, tmp_path)
    monkeypatch.setenv("LLM_CA_BUNDLE", str(tmp_path / "nope.pem"))
    with pytest.raises(SettingsError, match=r"LLM_CA_BUNDLE: .*nope.pem is not a file or folder"):
        load_settings()


def test_tracing_is_off_unless_an_otel_setting_turns_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (settings.otlp_traces_endpoint, settings.otlp_metrics_endpoint) == (None, None)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")  # the SDK's default endpoint
    assert load_settings().otlp_traces_endpoint == "http://localhost:4318/v1/traces"
    assert load_settings().otlp_metrics_endpoint is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    settings = load_settings()
    assert settings.otlp_traces_endpoint == "http://collector:4318/v1/traces"
    assert settings.otlp_metrics_endpoint == "http://collector:4318/v1/metrics"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://traces.example/otlp")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    settings = load_settings()
    assert settings.otlp_traces_endpoint == "https://traces.example/otlp"
    assert settings.otlp_metrics_endpoint is None
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert load_settings().otlp_traces_endpoint is None


def test_otel_resource_and_service(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().otel_service_name == "llm-worker"
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.namespace=refunds,team=a%20b")
    assert load_settings().otel_resource_attributes == {
        "service.namespace": "refunds",
        "team": "a b",
    }
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "oops")
    with pytest.raises(SettingsError, match="OTEL_RESOURCE_ATTRIBUTES: 'oops' is not key=value"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "'grpc' is not supported"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json", "'http/json' is not supported"),
        ("OTEL_TRACES_EXPORTER", "zipkin", "zipkin is not supported"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "URL"),
    ],
)
def test_unsupported_otel_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=rf"^invalid setting {name}: .*{message}"):
        load_settings()


def test_the_engine_url_hint_is_only_for_a_url_without_engine_rest() -> None:
    assert engine_url_hint("http://camunda:8080/engine-rest") == ""
    assert engine_url_hint("http://camunda:8080/engine-rest/") == ""
    assert "ends in /engine-rest" in engine_url_hint("http://camunda:8080")
    assert "ends in /engine-rest" in engine_url_hint("http://camunda:8080/camunda")
