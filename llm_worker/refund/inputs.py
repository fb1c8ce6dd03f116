"""Reads a refund case from typed Camunda variables; unreadable values are named, never raised."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from llm_worker.refund.models import (
    MAX_FARE_RULES_CHARS,
    FlightStatus,
    RefundCase,
    RefundReason,
)

MAX_BOOKING_ID_CHARS = 50
MAX_FARE_BASIS_CHARS = 20
MAX_TICKET_CLASS_CHARS = 30

_BOOKING_ID_DROP = re.compile(r"[^A-Za-z0-9_-]")
_FARE_BASIS_DROP = re.compile(r"[^A-Za-z0-9/]")
_DECIMAL = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")

_STRING_TYPES = {None, "string"}
_NUMBER_TYPES = {None, "double", "long", "integer", "short", "string"}
_INTEGER_TYPES = {None, "long", "integer", "short"}
_BOOLEAN_TYPES = {None, "boolean"}
_DATE_TYPES = {None, "date", "string"}


class Variable(Protocol):
    """A process variable as the engine sends it (runtime.task.TypedValue has this shape)."""

    @property
    def value(self) -> Any: ...

    @property
    def type(self) -> str | None: ...


@dataclass(frozen=True)
class PlainVariable:
    """A variable given without a Camunda type (e.g. from a JSON file): typed by its value."""

    value: Any
    type: str | None = None


@dataclass(frozen=True)
class CaseProblems:
    """The variables could not be read; the case goes to MANUAL with these reasons."""

    booking_id: str
    problems: tuple[str, ...]
    fare_rules: str | None = None


def reduce_booking_id(raw: str) -> str:
    return _BOOKING_ID_DROP.sub("", raw)[:MAX_BOOKING_ID_CHARS]


def read_case(variables: Mapping[str, Variable], now: datetime) -> RefundCase | CaseProblems:
    """Build the case from the variables, or name every value that cannot be read."""
    reader = _Reader(variables)
    raw_booking = reader.string("bookingId")
    booking_id = reduce_booking_id(raw_booking) if raw_booking else ""
    if raw_booking is None and "bookingId" not in reader.problems_by_name:
        reader.problem("bookingId", "is missing")
    elif raw_booking is not None and not booking_id:
        reader.problem("bookingId", "has no usable characters ([A-Za-z0-9_-])")

    fare_rules = reader.string("fareRules")
    if fare_rules is not None and len(fare_rules) > MAX_FARE_RULES_CHARS:
        reader.problem(
            "fareRules",
            f"is {len(fare_rules)} characters long, more than the {MAX_FARE_RULES_CHARS} "
            "that can be checked (it is never cut, since a cut could hide the deciding rule)",
        )
    ticket_class = reader.string("ticketClass")
    fare_basis = reader.string("fareBasis")
    price = reader.amount("ticketPrice")
    currency = reader.string("currency")
    if currency is not None:
        currency = currency.strip().upper() or None
        if currency is not None and not _CURRENCY.match(currency):
            reader.problem("currency", "is not a three-letter ISO 4217 code")
            currency = None
    purchase = reader.date("purchaseDate")
    departure = reader.date("departureDate")
    request = reader.date("requestDate")
    reason = reader.enum("refundReason", RefundReason)
    status = reader.enum("flightStatus", FlightStatus)
    no_show = reader.boolean("noShow")
    passengers = reader.integer("passengerCount")
    if passengers is not None and passengers < 1:
        reader.problem("passengerCount", "must be at least 1")

    if reader.problems:
        return CaseProblems(
            booking_id=booking_id or "unknown",
            problems=tuple(reader.problems),
            fare_rules=fare_rules,
        )
    return RefundCase(
        booking_id=booking_id,
        fare_rules=fare_rules,
        ticket_class=ticket_class.strip()[:MAX_TICKET_CLASS_CHARS] if ticket_class else None,
        fare_basis=_FARE_BASIS_DROP.sub("", fare_basis or "")[:MAX_FARE_BASIS_CHARS] or None,
        ticket_price=price,
        currency=currency,
        purchase_date=purchase,
        departure_date=departure,
        request_date=request or now,
        request_date_given=request is not None,
        refund_reason=reason or RefundReason.VOLUNTARY,
        flight_status=status or FlightStatus.SCHEDULED,
        no_show=bool(no_show),
        passenger_count=passengers,
    )


E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


class _Reader:
    def __init__(self, variables: Mapping[str, Variable]) -> None:
        self._vars = variables
        self.problems: list[str] = []
        self.problems_by_name: set[str] = set()

    def problem(self, name: str, message: str) -> None:
        self.problems.append(f"{name} {message}")
        self.problems_by_name.add(name)

    def _get(self, name: str, allowed: set[str | None]) -> tuple[Any, str | None] | None:
        var = self._vars.get(name)
        if var is None or var.value is None:
            return None
        kind = var.type.lower() if var.type else None
        if kind not in allowed and kind != "null":
            self.problem(name, f"has the wrong type {var.type}")
            return None
        return var.value, kind

    def _typed(self, name: str, allowed: set[str | None], parse: Callable[[Any], T]) -> T | None:
        got = self._get(name, allowed)
        if got is None:
            return None
        try:
            return parse(got[0])
        except (TypeError, ValueError, InvalidOperation) as exc:
            self.problem(name, str(exc))
            return None

    def string(self, name: str) -> str | None:
        return self._typed(name, _STRING_TYPES, _as_string)

    def amount(self, name: str) -> Decimal | None:
        return self._typed(name, _NUMBER_TYPES, _as_amount)

    def integer(self, name: str) -> int | None:
        return self._typed(name, _INTEGER_TYPES, _as_integer)

    def boolean(self, name: str) -> bool | None:
        return self._typed(name, _BOOLEAN_TYPES, _as_boolean)

    def date(self, name: str) -> datetime | None:
        return self._typed(name, _DATE_TYPES, _as_datetime)

    def enum(self, name: str, enum: type[E]) -> E | None:
        raw = self.string(name)
        if raw is None or not raw.strip():
            return None
        key = raw.strip().upper().replace("-", "_").replace(" ", "_")
        try:
            return enum(key)
        except ValueError:
            allowed = ", ".join(e.value for e in enum)
            self.problem(name, f"has the unknown value {raw[:40]!r} (allowed: {allowed})")
            return None


def _as_string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"is not a string but {type(value).__name__}")
    return value


def _as_amount(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise TypeError("is a boolean, not an amount")
    if isinstance(value, int | float):
        amount = Decimal(str(value))
    elif isinstance(value, str) and _DECIMAL.match(value.strip()):
        amount = Decimal(value.strip())
    else:
        raise ValueError(f"is not a decimal amount: {str(value)[:40]!r}")
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"is not a non-negative amount: {str(value)[:40]!r}")
    return amount


def _as_integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"is not an integer: {str(value)[:40]!r}")
    return value


def _as_boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"is not a boolean: {str(value)[:40]!r}")
    return value


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"is not an ISO 8601 date: {value[:40]!r}") from None
    else:
        raise TypeError(f"is not a date: {str(value)[:40]!r}")
    # A date without a zone is read as UTC, the zone Camunda's own dates default to here.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
