"""Limits per currency: the base amount, a currency's own amount, conversion, no limit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from llm_worker.refund.currency import (
    REFERENCE_RATES,
    REFERENCE_RATES_DATE,
    Basis,
    CurrencyLimits,
    Limit,
    plain,
)

RATES = {"USD": Decimal(1), "EUR": Decimal("0.8"), "JPY": Decimal("150")}
LIMITS = CurrencyLimits(Decimal(5000), "USD", {"GBP": Decimal(3500)}, RATES, date(2025, 1, 2))


@pytest.mark.parametrize(
    ("currency", "limit"),
    [
        ("USD", Limit(Decimal(5000), "USD", Basis.BASE)),
        ("EUR", Limit(Decimal(4000), "EUR", Basis.CONVERTED)),
        ("JPY", Limit(Decimal(750000), "JPY", Basis.CONVERTED)),
        # its own amount, though the rates do not list it
        ("GBP", Limit(Decimal(3500), "GBP", Basis.SET)),
        (None, Limit(Decimal(5000), None, Basis.NO_CURRENCY)),
        ("XTS", None),
    ],
)
def test_a_currency_finds_its_limit(currency: str | None, limit: Limit | None) -> None:
    assert LIMITS.in_currency(currency) == limit


def test_a_currency_of_its_own_wins_over_the_conversion() -> None:
    limits = CurrencyLimits(Decimal(5000), "USD", {"EUR": Decimal(4600)}, RATES)
    assert limits.in_currency("EUR") == Limit(Decimal(4600), "EUR", Basis.SET)


def test_conversion_goes_through_the_base_currency_and_rounds_to_whole_units() -> None:
    limits = CurrencyLimits(Decimal(1000), "EUR", rates=RATES)
    assert limits.in_currency("JPY") == Limit(Decimal(187500), "JPY", Basis.CONVERTED)
    assert limits.in_currency("USD") == Limit(Decimal(1250), "USD", Basis.CONVERTED)
    odd = CurrencyLimits(Decimal(1), "JPY", rates=RATES)
    assert odd.in_currency("EUR") == Limit(Decimal(0), "EUR", Basis.CONVERTED)  # 0.0053 EUR


def test_a_base_currency_without_a_rate_converts_nothing() -> None:
    limits = CurrencyLimits(Decimal(5000), "XTS", {"EUR": Decimal(4600)}, RATES)
    assert limits.in_currency("USD") is None
    assert limits.in_currency("XTS") == Limit(Decimal(5000), "XTS", Basis.BASE)
    assert limits.in_currency("EUR") == Limit(Decimal(4600), "EUR", Basis.SET)


def test_the_limit_says_where_it_comes_from() -> None:
    def described(currency: str | None) -> str:
        limit = LIMITS.in_currency(currency)
        assert limit is not None
        return limit.describe(LIMITS)

    assert described("EUR") == (
        "4000.00 EUR (5000.00 USD converted at the reference exchange rates of 2025-01-02)"
    )
    assert described("GBP") == "3500.00 GBP"
    assert described(None) == "5000.00 (the case names no currency)"


def test_the_shipped_rates_are_dated_and_cover_the_usual_currencies() -> None:
    assert REFERENCE_RATES_DATE.year >= 2025
    assert REFERENCE_RATES["USD"] == 1
    assert all(rate > 0 for rate in REFERENCE_RATES.values())
    assert all(len(code) == 3 and code.isupper() for code in REFERENCE_RATES)
    for code in ("EUR", "GBP", "JPY", "CNY", "INR", "RUB", "AUD", "CAD", "CHF", "AED", "BRL"):
        assert code in REFERENCE_RATES


@pytest.mark.parametrize(
    ("currency", "price"),
    [("RUB", Decimal(9800)), ("INR", Decimal(14500)), ("JPY", Decimal(98000))],
)
def test_ordinary_tickets_in_other_currencies_are_under_the_default_threshold(
    currency: str, price: Decimal
) -> None:
    # About 100 to 700 USD: the number is above 5000, the price is not.
    limit = CurrencyLimits(Decimal(5000), "USD").in_currency(currency)
    assert limit is not None and price < limit.amount


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal(5000), "5000.00"),
        (Decimal("5E+3"), "5000.00"),
        (Decimal("4600.5"), "4600.50"),
        (Decimal("670"), "670.00"),
    ],
)
def test_plain_amounts(amount: Decimal, text: str) -> None:
    assert plain(amount) == text
