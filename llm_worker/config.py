"""Typed settings read from the environment (and `.env`), as CONTRACT.md section 6 names them."""

from __future__ import annotations

import re
import socket
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from llm_worker.process import ALL_TOPICS
from llm_worker.refund.currency import REFERENCE_RATES, REFERENCE_RATES_DATE, CurrencyLimits


class DecisionStrategy(StrEnum):
    HYBRID = "hybrid"
    LLM = "llm"
    RULES = "rules"


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


_URL_CREDENTIALS = re.compile(r"(?<=://)[^/?#@\s]*@")


def without_credentials(text: str) -> str:
    """A URL, or a message quoting one, as it may be shown: `user:password@` in it is dropped."""
    return _URL_CREDENTIALS.sub("", text)


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
    decision_strategy: DecisionStrategy | None = None
    manual_review_threshold: Decimal = Field(default=Decimal(5000), ge=0, allow_inf_nan=False)
    manual_review_currency: str = "USD"
    manual_review_thresholds: Annotated[dict[str, Decimal], NoDecode] = Field(default_factory=dict)

    payment_gateway_url: AnyHttpUrl | None = None
    payment_failure_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    payment_timeout_s: float = Field(default=10.0, gt=0, le=120)
    payment_max_amount: Decimal = Field(default=Decimal(20000), gt=0, allow_inf_nan=False)
    payment_max_amounts: Annotated[dict[str, Decimal], NoDecode] = Field(default_factory=dict)

    metrics_port: int = Field(default=9464, ge=0, le=65535)
    backlog_poll_interval_s: float = Field(default=10.0, gt=0, le=600)
    audit_poll_interval_s: float = Field(default=60.0, gt=0, le=3600)
    readiness_window_s: float = Field(default=60.0, gt=0)
    log_level: LogLevel = LogLevel.INFO
    log_format: LogFormat = LogFormat.CONSOLE

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


def load_settings(**overrides: object) -> Settings:
    """Read the settings; a bad value raises SettingsError naming the variable, never the secret."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = [str(part) for part in err["loc"] if not isinstance(part, int)]
        message = err["msg"].removeprefix("Value error, ")
        # A check across settings (no location) names its variables in its own message.
        problems.append(f"{loc[0].upper()}: {message}" if loc else message)
    return "invalid setting " + "; ".join(problems)
