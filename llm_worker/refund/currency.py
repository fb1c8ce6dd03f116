"""Amount limits per currency (review threshold, payment ceiling) from shipped reference rates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from types import MappingProxyType

# The day the rates below were read. They are approximate (mid-market, rounded to three or four
# significant digits): good enough for a review limit or a ceiling, never for a payment amount.
# Refresh the table and this date when rates move far; a currency that must not move with them
# gets its own amount in MANUAL_REVIEW_THRESHOLDS / PAYMENT_MAX_AMOUNTS.
REFERENCE_RATES_DATE = date(2025, 6, 30)

# Units of each currency that one US dollar buys (ISO 4217 codes).
_UNITS_PER_USD = {
    # Americas
    "USD": "1",
    "CAD": "1.366",
    "MXN": "18.85",
    "BRL": "5.46",
    "ARS": "1190",
    "CLP": "935",
    "COP": "4080",
    "PEN": "3.55",
    # Europe
    "EUR": "0.853",
    "GBP": "0.729",
    "CHF": "0.797",
    "DKK": "6.36",
    "SEK": "9.52",
    "NOK": "10.1",
    "ISK": "122",
    "PLN": "3.61",
    "CZK": "21.1",
    "HUF": "340",
    "RON": "4.33",
    "BGN": "1.668",
    "RSD": "100",
    "TRY": "39.8",
    "UAH": "41.7",
    "RUB": "78.5",
    "GEL": "2.71",
    "AMD": "388",
    "AZN": "1.70",
    "KZT": "519",
    "UZS": "12650",
    # Middle East and Africa
    "AED": "3.6725",
    "SAR": "3.75",
    "QAR": "3.64",
    "KWD": "0.3055",
    "BHD": "0.376",
    "OMR": "0.3845",
    "JOD": "0.709",
    "ILS": "3.37",
    "EGP": "49.5",
    "MAD": "9.00",
    "TND": "2.93",
    "ZAR": "17.75",
    "NGN": "1530",
    "KES": "129.2",
    "GHS": "10.35",
    "ETB": "136",
    "XOF": "559.5",
    "XAF": "559.5",
    "MUR": "45.0",
    # Asia and the Pacific
    "JPY": "144.0",
    "CNY": "7.16",
    "HKD": "7.85",
    "TWD": "29.2",
    "KRW": "1355",
    "SGD": "1.274",
    "MYR": "4.21",
    "THB": "32.5",
    "IDR": "16200",
    "PHP": "56.4",
    "VND": "26100",
    "INR": "85.7",
    "PKR": "283.5",
    "BDT": "122.5",
    "LKR": "300",
    "NPR": "137",
    "AUD": "1.525",
    "NZD": "1.645",
}
REFERENCE_RATES: Mapping[str, Decimal] = MappingProxyType(
    {code: Decimal(units) for code, units in _UNITS_PER_USD.items()}
)

_WHOLE = Decimal(1)


class Basis(StrEnum):
    """Where a currency's limit comes from."""

    BASE = "base"  # the limit's own currency
    SET = "set"  # named in the per-currency list
    CONVERTED = "converted"  # the base amount converted with the reference rates
    NO_CURRENCY = "no currency"  # the case names none: the base amount as it is


@dataclass(frozen=True)
class Limit:
    """One currency's limit, and how it was found."""

    amount: Decimal
    currency: str | None
    basis: Basis

    def describe(self, limits: CurrencyLimits) -> str:
        """`4250 EUR (5000 USD converted at the reference exchange rates of 2025-06-30)`."""
        shown = f"{plain(self.amount)} {self.currency}" if self.currency else plain(self.amount)
        if self.basis is Basis.CONVERTED:
            return (
                f"{shown} ({plain(limits.amount)} {limits.currency} converted at the reference "
                f"exchange rates of {limits.rates_date.isoformat()})"
            )
        if self.basis is Basis.NO_CURRENCY:
            return f"{shown} (the case names no currency)"
        return shown


@dataclass(frozen=True)
class CurrencyLimits:
    """An amount in a base currency, with its own amount for some currencies.

    A currency named in `amounts` has that limit; any other is the base amount converted with
    `rates` (units per USD), rounded to whole units; a currency in neither has no limit (None),
    which callers treat as doubtful. An amount without a currency is compared with the base
    amount as it is.
    """

    amount: Decimal
    currency: str
    amounts: Mapping[str, Decimal] = field(default_factory=dict)
    rates: Mapping[str, Decimal] = field(default_factory=lambda: REFERENCE_RATES)
    rates_date: date = REFERENCE_RATES_DATE

    def in_currency(self, currency: str | None) -> Limit | None:
        if currency is None:
            return Limit(self.amount, None, Basis.NO_CURRENCY)
        if currency in self.amounts:
            return Limit(self.amounts[currency], currency, Basis.SET)
        if currency == self.currency:
            return Limit(self.amount, currency, Basis.BASE)
        if currency not in self.rates or self.currency not in self.rates:
            return None
        converted = self.amount * self.rates[currency] / self.rates[self.currency]
        return Limit(converted.quantize(_WHOLE, ROUND_HALF_UP), currency, Basis.CONVERTED)


def plain(amount: Decimal) -> str:
    """An amount as every message and log line shows it: two decimals, 5000.00, 4600.50 (never
    5E+3, 5000 in one line and 5000.00 in the next)."""
    return f"{amount:.2f}"
