"""Typed settings read from the environment (and `.env`), as CONTRACT.md section 6 names them."""

from __future__ import annotations

import os
import re
import socket
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, DotEnvSettingsSource, NoDecode, SettingsConfigDict

from llm_worker.logs import LogFormat, LogLevel
from llm_worker.payment.gateway import GatewayKind
from llm_worker.process import ALL_TOPICS, PAYMENT_TOPIC
from llm_worker.refund.currency import REFERENCE_RATES, REFERENCE_RATES_DATE, CurrencyLimits
from llm_worker.refund.models import DecisionStrategy

_URL_CREDENTIALS = re.compile(r"(?<=://)[^/?#@\s]*@")


def without_credentials(text: str) -> str:
    """A URL, or a message quoting one, as it may be shown: `user:password@` in it is dropped."""
    return _URL_CREDENTIALS.sub("", text)


def engine_url_hint(engine_url: str) -> str:
    """What to add to a 404 from the engine's root: CAMUNDA_URL may lack `/engine-rest`."""
    if urlsplit(engine_url).path.rstrip("/").endswith("/engine-rest"):
        return ""
    return (
        "; CAMUNDA_URL must be the engine's REST base, which ends in /engine-rest, "
        "e.g. http://localhost:8080/engine-rest"
    )


_CURRENCY = re.compile(r"[A-Z]{3}")
_AMOUNTS_FORMAT = "CURRENCY=AMOUNT, comma-separated (e.g. EUR=4600,JPY=750000)"


def parse_amounts(raw: str) -> dict[str, Decimal]:
    """`EUR=4600,JPY=750000` (MANUAL_REVIEW_THRESHOLDS, PAYMENT_MAX_AMOUNTS) by currency code."""
    amounts: dict[str, Decimal] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        code, sep, number = (part.strip() for part in item.partition("="))
        code = code.upper()
        if not sep or not _CURRENCY.fullmatch(code):
            raise ValueError(f"{item.strip()[:40]!r} is not {_AMOUNTS_FORMAT}")
        try:
            amount = Decimal(number)
        except InvalidOperation:
            amount = Decimal("NaN")
        if not amount.is_finite() or amount < 0:
            raise ValueError(f"{code}={number[:30]} is not an amount of 0 or more")
        if code in amounts:
            raise ValueError(f"{code} is given twice")
        amounts[code] = amount
    return amounts


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names the environment variable."""


# Camunda's own check on tenant ids is configurable (tenantResourceWhitelistPattern); this is
# the part of it that any engine accepts and that is safe in a URL path.
_TENANT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# The one OTLP transport the worker ships (opentelemetry-exporter-otlp-proto-http).
OTLP_PROTOCOL = "http/protobuf"
DEFAULT_SERVICE_NAME = "llm-worker"
_OTLP_DEFAULT_ENDPOINT = "http://localhost:4318"


def parse_resource_attributes(raw: str) -> dict[str, str]:
    """OTEL_RESOURCE_ATTRIBUTES: `key=value,key2=value2`, values percent-encoded (W3C Baggage)."""
    attributes: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{item.strip()[:40]!r} is not key=value")
        attributes[key.strip()] = unquote(value.strip())
    return attributes


def _default_worker_id() -> str:
    return f"llm-worker-{socket.gethostname()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        frozen=True,
    )

    camunda_url: AnyHttpUrl = AnyHttpUrl("http://localhost:8080/engine-rest")
    camunda_username: str | None = None
    camunda_password: SecretStr | None = None
    camunda_tenant_id: str | None = None
    # CA certificates (a PEM file, or a folder of them) that sign the engine's TLS certificate;
    # REQUESTS_CA_BUNDLE and SSL_CERT_FILE, the variables requests and OpenSSL read, are used
    # when it is not set (for the LLM too, which also has LLM_CA_BUNDLE).
    camunda_ca_bundle: Path | None = None
    requests_ca_bundle: Path | None = None
    ssl_cert_file: Path | None = None

    worker_id: str = Field(default_factory=_default_worker_id, min_length=1, max_length=255)
    worker_topics: Annotated[tuple[str, ...], NoDecode] = ALL_TOPICS
    worker_concurrency: int = Field(default=8, ge=1, le=256)
    lock_duration_ms: int = Field(default=120_000, ge=5_000, le=3_600_000)
    async_response_timeout_ms: int = Field(default=20_000, ge=0, le=1_800_000)
    shutdown_grace_s: float = Field(default=30.0, ge=0, le=3_600)
    task_max_retries: int = Field(default=3, ge=0, le=100)
    task_retry_timeout_ms: int = Field(default=60_000, ge=0)

    openai_api_key: SecretStr | None = None
    openai_base_url: AnyHttpUrl | None = None
    openai_model: str = Field(default="gpt-4o-mini", min_length=1)
    llm_timeout_s: float = Field(default=20.0, gt=0, le=600)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    llm_rate_limit_calls: int = Field(default=60, ge=1)
    llm_rate_limit_period_s: float = Field(default=60.0, gt=0)
    llm_price_overrides: str | None = None
    llm_ca_bundle: Path | None = None
    # Personal data out of every text sent to an LLM (llm_worker.privacy.redaction).
    llm_redact: bool = True
    # A second model asked when the primary fails; its key is never the primary's for
    # another endpoint (llm_worker.llm.fallback).
    llm_fallback_base_url: AnyHttpUrl | None = None
    llm_fallback_model: str | None = Field(default=None, min_length=1)
    llm_fallback_api_key: SecretStr | None = None
    llm_circuit_failures: int = Field(default=5, ge=1, le=1000)
    llm_circuit_open_s: float = Field(default=60.0, gt=0, le=86_400)
    decision_strategy: DecisionStrategy | None = None
    manual_review_threshold: Decimal = Field(default=Decimal(5000), ge=0, allow_inf_nan=False)
    manual_review_currency: str = "USD"
    manual_review_thresholds: Annotated[dict[str, Decimal], NoDecode] = Field(default_factory=dict)

    payment_gateway_url: AnyHttpUrl | None = None
    payment_simulated: bool = False
    payment_failure_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    payment_timeout_s: float = Field(default=10.0, gt=0, le=120)
    payment_max_amount: Decimal = Field(default=Decimal(20000), gt=0, allow_inf_nan=False)
    payment_max_amounts: Annotated[dict[str, Decimal], NoDecode] = Field(default_factory=dict)

    deployment_environment: str = Field(default="", max_length=63, pattern=r"^[a-z0-9_.-]*$")
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    backlog_poll_interval_s: float = Field(default=10.0, gt=0, le=600)
    audit_poll_interval_s: float = Field(default=60.0, gt=0, le=3600)
    readiness_window_s: float = Field(default=60.0, gt=0)
    log_level: LogLevel = LogLevel.INFO
    log_format: LogFormat = LogFormat.CONSOLE

    # Traces and the GenAI metrics over OTLP/HTTP: the standard OTEL_* variables, read here so
    # that `.env` works and a mistake stops the start; the exporter's other options (headers,
    # certificate, timeout, compression) and the sampler are read by the SDK from the
    # environment.
    otel_sdk_disabled: bool = False
    otel_traces_exporter: str | None = None
    otel_metrics_exporter: str | None = None
    otel_exporter_otlp_endpoint: AnyHttpUrl | None = None
    otel_exporter_otlp_traces_endpoint: AnyHttpUrl | None = None
    otel_exporter_otlp_metrics_endpoint: AnyHttpUrl | None = None
    otel_exporter_otlp_protocol: str | None = None
    otel_exporter_otlp_traces_protocol: str | None = None
    otel_exporter_otlp_metrics_protocol: str | None = None
    otel_service_name: str = Field(default=DEFAULT_SERVICE_NAME, min_length=1)
    otel_resource_attributes: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)

    @field_validator(
        "camunda_tenant_id",
        "camunda_ca_bundle",
        "requests_ca_bundle",
        "ssl_cert_file",
        "llm_ca_bundle",
        "otel_traces_exporter",
        "otel_metrics_exporter",
        "otel_exporter_otlp_endpoint",
        "otel_exporter_otlp_traces_endpoint",
        "otel_exporter_otlp_metrics_endpoint",
        "otel_exporter_otlp_protocol",
        "otel_exporter_otlp_traces_protocol",
        "otel_exporter_otlp_metrics_protocol",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `VAR=` in a .env or a manifest means "not set", as the OpenTelemetry SDK reads it.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("camunda_tenant_id")
    @classmethod
    def _tenant_id(cls, value: str | None) -> str | None:
        if value is not None and not _TENANT_ID.fullmatch(value.strip()):
            raise ValueError(
                f"{value.strip()[:70]!r} is not a tenant id (letters, digits, '.', '_', '-'; "
                "at most 64)"
            )
        return value.strip() if value is not None else None

    @field_validator("camunda_ca_bundle", "requests_ca_bundle", "ssl_cert_file", "llm_ca_bundle")
    @classmethod
    def _readable_ca(cls, value: Path | None) -> Path | None:
        if value is not None and not (value.is_file() or value.is_dir()):
            raise ValueError(f"{value} is not a file or folder of CA certificates")
        return value

    @field_validator("otel_traces_exporter", "otel_metrics_exporter")
    @classmethod
    def _known_exporter(cls, value: str | None) -> str | None:
        if value is None:
            return None
        names = [name.strip().lower() for name in value.split(",") if name.strip()]
        unknown = [name for name in names if name not in ("otlp", "none")]
        if unknown:
            raise ValueError(f"{', '.join(unknown)} is not supported (otlp or none)")
        return "otlp" if "otlp" in names else "none"

    @field_validator(
        "otel_exporter_otlp_protocol",
        "otel_exporter_otlp_traces_protocol",
        "otel_exporter_otlp_metrics_protocol",
    )
    @classmethod
    def _http_protobuf(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() != OTLP_PROTOCOL:
            raise ValueError(
                f"{value.strip()[:30]!r} is not supported: the worker exports OTLP over "
                f"{OTLP_PROTOCOL} (a collector takes it on port 4318)"
            )
        return value

    @field_validator("otel_resource_attributes", mode="before")
    @classmethod
    def _split_attributes(cls, value: object) -> object:
        return parse_resource_attributes(value) if isinstance(value, str) else value

    @field_validator("worker_topics", mode="before")
    @classmethod
    def _split_topics(cls, value: object) -> object:
        if isinstance(value, str):
            topics = tuple(t.strip() for t in value.split(",") if t.strip())
            if not topics:
                raise ValueError("must name at least one topic")
            return topics
        return value

    @field_validator("worker_topics")
    @classmethod
    def _known_topics(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in value if t not in ALL_TOPICS]
        if unknown:
            raise ValueError(
                f"unknown topic(s) {', '.join(unknown)}; known: {', '.join(ALL_TOPICS)}"
            )
        return value

    @field_validator("manual_review_currency", mode="before")
    @classmethod
    def _known_currency(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        code = value.strip().upper()
        if not _CURRENCY.fullmatch(code):
            raise ValueError(f"{value.strip()[:20]!r} is not a three-letter ISO 4217 code")
        if code not in REFERENCE_RATES:
            raise ValueError(
                f"{code} is not in the reference exchange rates of "
                f"{REFERENCE_RATES_DATE.isoformat()}, so no threshold can be converted from it"
            )
        return code

    @field_validator("manual_review_thresholds", "payment_max_amounts", mode="before")
    @classmethod
    def _split_amounts(cls, value: object) -> object:
        return parse_amounts(value) if isinstance(value, str) else value

    @field_validator("payment_max_amounts")
    @classmethod
    def _positive_amounts(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        zero = [code for code, amount in value.items() if amount <= 0]
        if zero:
            raise ValueError(f"a payment ceiling must be above 0 ({', '.join(zero)})")
        return value

    @field_validator("deployment_environment", mode="before")
    @classmethod
    def _lower_environment(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("decision_strategy", "log_format", mode="before")
    @classmethod
    def _lower_enum(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().lower() or None
        return value

    @model_validator(mode="after")
    def _strategy_needs_key(self) -> Settings:
        if self.decision_strategy in (DecisionStrategy.HYBRID, DecisionStrategy.LLM) and not (
            self.openai_api_key and self.openai_api_key.get_secret_value()
        ):
            raise ValueError(
                f"DECISION_STRATEGY: {self.decision_strategy.value} needs OPENAI_API_KEY "
                "(set the key, or use rules)"
            )
        return self

    @model_validator(mode="after")
    def _fallback_is_another(self) -> Settings:
        fallback = self.fallback_endpoint
        if fallback is not None and fallback == (self.openai_base_url, self.openai_model):
            raise ValueError(
                "LLM_FALLBACK_MODEL: the fallback is the primary itself (same endpoint and "
                "model); set LLM_FALLBACK_BASE_URL or LLM_FALLBACK_MODEL to another"
            )
        return self

    @model_validator(mode="after")
    def _one_payment_gateway(self) -> Settings:
        if self.payment_simulated and self.payment_gateway_url is not None:
            raise ValueError(
                "PAYMENT_GATEWAY_URL and PAYMENT_SIMULATED=true are both set: keep one (the real "
                "gateway, or the simulated one that moves no money)"
            )
        return self

    @property
    def fallback_endpoint(self) -> tuple[AnyHttpUrl | None, str] | None:
        """The fallback's base URL and model (each the primary's unless set), or None when
        neither LLM_FALLBACK_BASE_URL nor LLM_FALLBACK_MODEL is set."""
        if self.llm_fallback_base_url is None and self.llm_fallback_model is None:
            return None
        return (
            self.llm_fallback_base_url or self.openai_base_url,
            self.llm_fallback_model or self.openai_model,
        )

    @property
    def payment_gateway(self) -> GatewayKind | None:
        """The gateway that pays refunds; None when neither is set (PAYMENT_TOPIC then refuses)."""
        if self.payment_gateway_url is not None:
            return GatewayKind.HTTP
        if self.payment_simulated:
            return GatewayKind.SIMULATED
        return None

    @property
    def strategy(self) -> DecisionStrategy:
        """The strategy in force: without a key the worker decides from the rules alone."""
        if self.decision_strategy is not None:
            return self.decision_strategy
        if self.openai_api_key and self.openai_api_key.get_secret_value():
            return DecisionStrategy.HYBRID
        return DecisionStrategy.RULES

    @property
    def review_thresholds(self) -> CurrencyLimits:
        """MANUAL_REVIEW_THRESHOLD in MANUAL_REVIEW_CURRENCY, converted unless listed."""
        return CurrencyLimits(
            self.manual_review_threshold,
            self.manual_review_currency,
            self.manual_review_thresholds,
        )

    @property
    def payment_ceiling(self) -> CurrencyLimits:
        """PAYMENT_MAX_AMOUNT in MANUAL_REVIEW_CURRENCY, converted unless listed."""
        return CurrencyLimits(
            self.payment_max_amount, self.manual_review_currency, self.payment_max_amounts
        )

    @property
    def engine_url(self) -> str:
        return str(self.camunda_url).rstrip("/")

    @property
    def engine_ca(self) -> Path | None:
        """The CA certificates the engine's TLS certificate is checked with (None: the default
        bundle): CAMUNDA_CA_BUNDLE, else the standard REQUESTS_CA_BUNDLE or SSL_CERT_FILE."""
        return self.camunda_ca_bundle or self.requests_ca_bundle or self.ssl_cert_file

    @property
    def llm_ca(self) -> Path | None:
        """The CA certificates for the LLM endpoint: LLM_CA_BUNDLE, else the standard ones."""
        return self.llm_ca_bundle or self.ssl_cert_file or self.requests_ca_bundle

    def _otlp_endpoint(self, exporter: str | None, own: AnyHttpUrl | None, path: str) -> str | None:
        if self.otel_sdk_disabled or exporter == "none":
            return None
        if own is not None:
            return str(own)
        if self.otel_exporter_otlp_endpoint is not None:
            return str(self.otel_exporter_otlp_endpoint).rstrip("/") + path
        if exporter == "otlp":
            return _OTLP_DEFAULT_ENDPOINT + path
        return None

    @property
    def otlp_traces_endpoint(self) -> str | None:
        """Where spans go (None: tracing off). Off unless an OTLP endpoint or
        OTEL_TRACES_EXPORTER=otlp is given; OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none
        turn it off."""
        return self._otlp_endpoint(
            self.otel_traces_exporter, self.otel_exporter_otlp_traces_endpoint, "/v1/traces"
        )

    @property
    def otlp_metrics_endpoint(self) -> str | None:
        """Where the GenAI metrics go over OTLP (None: only Prometheus), on the same terms."""
        return self._otlp_endpoint(
            self.otel_metrics_exporter, self.otel_exporter_otlp_metrics_endpoint, "/v1/metrics"
        )


def require_payment_gateway(settings: Settings) -> GatewayKind:
    """The gateway PAYMENT_TOPIC pays through; nothing pays because a setting was forgotten."""
    kind = settings.payment_gateway
    if kind is None:
        raise SettingsError(
            f"invalid setting: {PAYMENT_TOPIC} needs PAYMENT_GATEWAY_URL (the real payment "
            "gateway) or PAYMENT_SIMULATED=true (demo: no money moves), and neither is set; "
            f"or leave {PAYMENT_TOPIC} out of WORKER_TOPICS"
        )
    return kind


def load_settings(**overrides: object) -> Settings:
    """Read the settings; a bad value raises SettingsError naming the variable, never the secret."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_describe(exc, _from_dotenv(overrides))) from None


def _from_dotenv(overrides: dict[str, object]) -> frozenset[str]:
    """The fields whose value came from `.env`: the environment and overrides win over it."""
    in_env = {name.lower() for name in os.environ}
    dotenv = DotEnvSettingsSource(Settings).env_vars
    return frozenset(name for name in dotenv if name not in in_env and name not in overrides)


def _describe(exc: ValidationError, from_dotenv: frozenset[str] = frozenset()) -> str:
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = [str(part) for part in err["loc"] if not isinstance(part, int)]
        message = err["msg"].removeprefix("Value error, ")
        # A check across settings (no location) names its variables in its own message.
        if not loc:
            problems.append(message)
            continue
        source = " (from .env)" if loc[0] in from_dotenv else ""
        problems.append(f"{loc[0].upper()}{source}: {message}")
    return "invalid setting " + "; ".join(problems)
