"""Reading the case from typed Camunda variables: types, reductions, and named problems."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from llm_worker.refund.inputs import CaseProblems, PlainVariable, read_case
from llm_worker.refund.models import FlightStatus, RefundCase, RefundReason
from llm_worker.runtime.task import TypedValue

NOW = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)


def read(**variables: Any) -> RefundCase | CaseProblems:
    typed = {k: v if isinstance(v, TypedValue) else PlainVariable(v) for k, v in variables.items()}
    return read_case(typed, NOW)


def ok(**variables: Any) -> RefundCase:
    variables.setdefault("bookingId", "B1")
    case = read(**variables)
    assert isinstance(case, RefundCase), case
    return case


def problems(**variables: Any) -> tuple[str, ...]:
    variables.setdefault("bookingId", "B1")
    case = read(**variables)
    assert isinstance(case, CaseProblems), case
    return case.problems


@pytest.mark.parametrize(
    "value",
    [
        TypedValue(620.5, "Double"),
        TypedValue(620, "Long"),
        TypedValue(620, "Integer"),
        TypedValue("620.50", "String"),
        620.5,
        "620.5",
    ],
)
def test_ticket_price_in_every_camunda_number_type(value: Any) -> None:
    assert ok(ticketPrice=value).ticket_price in (Decimal("620.5"), Decimal("620"))


@pytest.mark.parametrize("value", ["12a", "-5", "1e3", "6 hundred", True, [1]])
def test_unreadable_price_is_named(value: Any) -> None:
    assert any(p.startswith("ticketPrice") for p in problems(ticketPrice=value))


def test_booking_id_is_reduced_to_safe_characters_and_50_chars() -> None:
    case = ok(bookingId="AB 12/34<script>" + "x" * 80)
    assert case.booking_id.startswith("AB1234script")
    assert len(case.booking_id) == 50
    assert all(c.isalnum() or c in "_-" for c in case.booking_id)


def test_missing_or_empty_booking_id_is_a_problem() -> None:
    assert read(fareRules="x").problems == ("bookingId is missing",)  # type: ignore[union-attr]
    assert "bookingId" in problems(bookingId="<>/")[0]


def test_fare_rules_longer_than_limit_is_never_cut() -> None:
    text = "REFUNDABLE WITHOUT CHARGE. " * 800
    found = problems(fareRules=text)
    assert "fareRules is 21600 characters long" in found[0]
    assert ok(fareRules=text[:20_000]).fare_rules == text[:20_000]


def test_dates_iso_strings_and_camunda_date_type() -> None:
    case = ok(
        purchaseDate="2026-01-10",
        departureDate=TypedValue("2026-03-15T09:00:00.000+0100", "Date"),
        requestDate="2026-02-20T12:00:00Z",
    )
    assert case.purchase_date == datetime(2026, 1, 10, tzinfo=UTC)
    assert case.departure_date == datetime(2026, 3, 15, 8, 0, tzinfo=UTC)
    assert case.request_date_given


def test_request_date_defaults_to_now() -> None:
    case = ok()
    assert case.request_date == NOW
    assert not case.request_date_given


def test_bad_date_is_named() -> None:
    assert "departureDate is not an ISO 8601 date: 'next tuesday'" in problems(
        departureDate="next tuesday"
    )


def test_enums_are_case_insensitive_and_unknown_values_named() -> None:
    case = ok(refundReason="medical", flightStatus=" Cancelled ")
    assert case.refund_reason is RefundReason.MEDICAL
    assert case.flight_status is FlightStatus.CANCELLED
    assert (
        "refundReason has the unknown value 'CHANGED_MIND'"
        in problems(refundReason="CHANGED_MIND")[0]
    )


def test_wrong_camunda_types_are_named() -> None:
    found = problems(
        noShow="yes",
        passengerCount=TypedValue("3", "String"),
        fareRules=TypedValue({"a": 1}, "Json"),
    )
    assert any(p.startswith("noShow") for p in found)
    assert any(p.startswith("passengerCount has the wrong type String") for p in found)
    assert any(p.startswith("fareRules has the wrong type Json") for p in found)


def test_currency_must_be_iso_code() -> None:
    assert ok(currency=" usd ").currency == "USD"
    assert ok(currency="").currency is None
    assert "currency is not a three-letter ISO 4217 code" in problems(currency="US$")


def test_other_variables_are_ignored_and_null_is_missing() -> None:
    case = ok(somethingElse=TypedValue({"x": 1}, "Json"), ticketPrice=TypedValue(None, "Null"))
    assert case.ticket_price is None


def test_fare_basis_is_reduced() -> None:
    assert ok(fareBasis="YFLEX US;DROP TABLE" + "X" * 30).fare_basis == "YFLEXUSDROPTABLEXXXX"


def test_passenger_count_must_be_positive_integer() -> None:
    assert ok(passengerCount=TypedValue(12, "Integer")).passenger_count == 12
    assert "passengerCount must be at least 1" in problems(passengerCount=0)
