"""The words of fare rules: amounts as written, number notations and timing windows."""

from __future__ import annotations

from decimal import Decimal

import pytest

from llm_worker.refund.reading import Window
from llm_worker.refund.reading.lexicon import parse_number, window_in, written_amounts


@pytest.mark.parametrize(
    ("text", "amounts"),
    [
        ("CHARGE USD 80 FOR REFUND", [(Decimal(80), "USD")]),
        ("fee 80 EUR", [(Decimal(80), "EUR")]),
        ("fee $80 or £60", [(Decimal(80), "USD"), (Decimal(60), "GBP")]),
        ("FARE BY RULE 80 PERCENT", []),
        ("FEE FOR 80 DAYS", []),
    ],
)
def test_written_amounts(text: str, amounts: list[tuple[Decimal, str]]) -> None:
    assert written_amounts(text) == amounts


@pytest.mark.parametrize(
    ("raw", "value"),
    [("150,00", "150.00"), ("1,250", "1250"), ("1,250.00", "1250.00"), ("45.5", "45.5")],
)
def test_number_notations(raw: str, value: str) -> None:
    assert parse_number(raw) == Decimal(value)


@pytest.mark.parametrize(
    ("clause", "window"),
    [
        ("MORE THAN 3 DAYS BEFORE DEPARTURE", Window(min_hours=72)),
        ("LESS THAN 2 HRS BEFORE DEPARTURE", Window(max_hours=2)),
        ("WITHIN 1 WEEK OF DEPARTURE", Window(max_hours=168)),
        ("IF CANCELLED 30 DAYS BEFORE DEPARTURE", Window(min_hours=720)),
        ("24 HOURS OR LESS BEFORE DEPARTURE", Window(max_hours=24)),
        ("BETWEEN 7 AND 2 DAYS BEFORE DEPARTURE", Window(48, 168)),
        ("59-15 DAYS BEFORE DEPARTURE", Window(360, 1416)),
        ("FROM 59 TO 15 DAYS PRIOR TO DEPARTURE", Window(360, 1416)),
        ("60 DAYS OR MORE BEFORE DEPARTURE", Window(min_hours=1440)),
        ("AFTER DEPARTURE", None),
    ],
)
def test_windows(clause: str, window: Window | None) -> None:
    assert window_in(clause) == window
