"""Types of the refund domain: the case, the closed sets, the LLM's advice and the verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, JsonValue


class DecisionStrategy(StrEnum):
    """How the fare-rule text is read (DECISION_STRATEGY)."""

    HYBRID = "hybrid"
    LLM = "llm"
    RULES = "rules"


class Decision(StrEnum):
    ALLOWED = "ALLOWED"
    WITH_PENALTY = "WITH_PENALTY"
    MANUAL = "MANUAL"


class Source(StrEnum):
    RULES = "RULES"
    LLM = "LLM"
    FALLBACK = "FALLBACK"


class RefundReason(StrEnum):
    VOLUNTARY = "VOLUNTARY"
    FLIGHT_CANCELLED = "FLIGHT_CANCELLED"
    SCHEDULE_CHANGE = "SCHEDULE_CHANGE"
    MEDICAL = "MEDICAL"
    BEREAVEMENT = "BEREAVEMENT"
    OTHER = "OTHER"


class FlightStatus(StrEnum):
    SCHEDULED = "SCHEDULED"
    CANCELLED = "CANCELLED"
    DEPARTED = "DEPARTED"


MAX_FARE_RULES_CHARS = 20_000
MAX_REASONING_CHARS = 1_000
# The longest strings an LLM answer is asked for: `maxLength` in the schema (a server's grammar
# enforces it) and in the descriptions (for servers that drop it); the completion-token cap
# (llm.prompt.answer_token_cap) is sized from them. Not checked when parsing: a longer string
# from a server without schema enforcement is still an answer (the reasoning is clipped).
ANSWER_REASONING_MAX_CHARS = 400
ANSWER_RULE_TEXT_MAX_CHARS = 400


class RefundCase(BaseModel):
    """One refund request, read and checked from the process variables."""

    model_config = ConfigDict(frozen=True)

    booking_id: str
    fare_rules: str | None = None
    ticket_class: str | None = None
    fare_basis: str | None = None
    ticket_price: Decimal | None = None
    currency: str | None = None
    purchase_date: datetime | None = None
    departure_date: datetime | None = None
    request_date: datetime
    request_date_given: bool = True
    refund_reason: RefundReason = RefundReason.VOLUNTARY
    flight_status: FlightStatus = FlightStatus.SCHEDULED
    no_show: bool = False
    passenger_count: int | None = None

    @property
    def involuntary(self) -> bool:
        return self.flight_status is FlightStatus.CANCELLED or self.refund_reason in (
            RefundReason.FLIGHT_CANCELLED,
            RefundReason.SCHEDULE_CHANGE,
        )

    @property
    def after_departure(self) -> bool:
        """Flown, departed, no-show or asked after the scheduled departure (policy step 4)."""
        if self.no_show or self.flight_status is FlightStatus.DEPARTED:
            return True
        return self.departure_date is not None and self.request_date > self.departure_date

    @property
    def hours_before_departure(self) -> float | None:
        if self.departure_date is None:
            return None
        return (self.departure_date - self.request_date).total_seconds() / 3600.0


_DECISION_VALUES: list[JsonValue] = [d.value for d in Decision]


class LlmAnswer(BaseModel):
    """A refund decision read from the fare rules."""

    # The docstring above is sent to the model as the schema's description. `decision` is a
    # plain string on purpose: a server without schema enforcement may answer anything, and
    # the guardrails (not the parser) turn an unknown value into MANUAL.
    # NaN and Infinity (which the JSON parser would take) are nonsense for a fee: a bad answer.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    decision: str = Field(
        description="ALLOWED, WITH_PENALTY or MANUAL",
        json_schema_extra={"enum": _DECISION_VALUES},
    )
    penalty_amount: float | None = Field(
        description="The fee as an amount in penalty_currency, or null if none or a percentage"
    )
    penalty_percent: float | None = Field(
        description="The fee as a percentage of the fare (e.g. 25 for 25%), or null"
    )
    penalty_currency: str | None = Field(description="ISO 4217 code of penalty_amount, or null")
    reasoning: str = Field(
        description="One or two sentences an operator can check, "
        f"at most {ANSWER_REASONING_MAX_CHARS} characters",
        json_schema_extra={"maxLength": ANSWER_REASONING_MAX_CHARS},
    )
    rule_text: str = Field(
        description="The one cancellation/refund statement that decides, quoted exactly, "
        f"at most {ANSWER_RULE_TEXT_MAX_CHARS} characters",
        json_schema_extra={"maxLength": ANSWER_RULE_TEXT_MAX_CHARS},
    )


@dataclass(frozen=True)
class Usage:
    """What one decision cost in LLM terms (zero when no call was made or it was cached)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    calls: int = 0
    cached: bool = False


@dataclass(frozen=True)
class Verdict:
    """The decision on one case, everything the output variables and the audit line need."""

    booking_id: str
    decision: Decision
    source: Source
    reasoning: str
    provider: str
    model: str | None = None
    prompt_version: str | None = None
    penalty: Decimal | None = None
    refund: Decimal | None = None
    currency: str | None = None
    error: str | None = None
    guardrail: str | None = None
    # What the LLM itself answered (before the guardrails) and the fee that answer would pay:
    # `eval` counts the overrides of correct answers from them.
    llm_decision: str | None = None
    llm_penalty: Decimal | None = None
    usage: Usage = Usage()
    fare_rules_sha256: str | None = None
    # Personal data replaced before the LLM saw the text, by kind (counts, never values).
    redactions: Mapping[str, int] = field(default_factory=dict)
    # With a fallback model: each model asked and how it went ("gpt-4o-mini:server", ...).
    llm_attempts: tuple[str, ...] = ()
