"""tests/fare_statements.py: the generated texts say what they were built from, and the expected
decision is the contract's for those parts (checked on hand-worked examples)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings

from llm_worker.refund.models import Decision
from tests.fare_statements import (
    Band,
    Charge,
    Money,
    Request,
    Rules,
    Scenario,
    expected,
    scenarios,
)

USD = "USD"


def _request(days: float, price: str = "300", passengers: int = 1) -> Request:
    return Request(Decimal(price), USD, passengers, days * 24)


def test_higher_and_lower_of_an_amount_and_a_share_of_the_fare() -> None:
    hundred = Money(Decimal(100), USD)
    higher = Rules("en", ((None, Charge(hundred, Decimal(20), "fare", "higher")),))
    lower = Rules("en", ((None, Charge(hundred, Decimal(20), "fare", "lower")),))
    assert "THE HIGHER OF USD 100.00 OR 20 PERCENT OF THE FARE FOR CANCEL/REFUND" in higher.text()
    assert expected(higher, _request(30)) == (Decision.WITH_PENALTY, Decimal(100))
    assert expected(lower, _request(30)) == (Decision.WITH_PENALTY, Decimal(60))


def test_what_the_contract_cannot_compute_is_manual() -> None:
    hundred = Money(Decimal(100), USD)
    for charge in (
        Charge(None, Decimal(20), "base fare"),
        Charge(hundred, per="coupon"),
        Charge(hundred, up_to=True),
        Charge(Money(Decimal(100), "EUR")),
        Charge(Money(Decimal(400), USD)),  # above the price
    ):
        assert expected(Rules("en", ((None, charge),)), _request(30)) == (Decision.MANUAL, None)


def test_bands_hold_between_both_bounds() -> None:
    fee = Charge(Money(Decimal(50), USD, grouped=True))
    rules = Rules(
        "en",
        (
            (Band(60, None), fee),
            (Band(15, 59, form=1), Charge(Money(Decimal(100), USD))),
            (Band(None, 14, form=2), "non-refundable"),
        ),
    )
    text = rules.text()
    assert "60 DAYS OR MORE BEFORE DEPARTURE" in text and "59-15 DAYS BEFORE" in text
    assert expected(rules, _request(80)) == (Decision.WITH_PENALTY, Decimal(50))
    assert expected(rules, _request(30)) == (Decision.WITH_PENALTY, Decimal(100))
    assert expected(rules, _request(3)) == (Decision.MANUAL, None)
    assert rules.quote(_request(30)).startswith("59-15 DAYS BEFORE DEPARTURE CHARGE USD 100")


def test_a_fee_per_ticket_counts_every_passenger() -> None:
    rules = Rules("en", ((None, Charge(Money(Decimal(40), USD), per="ticket")),))
    assert "CHARGE USD 40.00 PER TICKET FOR CANCEL/REFUND." in rules.text()
    assert expected(rules, _request(30, passengers=3)) == (Decision.WITH_PENALTY, Decimal(120))


def test_continental_amounts_and_change_provisions_beside() -> None:
    rules = Rules(
        "de",
        ((None, Charge(Money(Decimal("1250.5"), "EUR", grouped=True))),),
        change=Charge(Money(Decimal(30), "EUR")),
    )
    assert "Stornogebühr EUR 1.250,50." in rules.text()
    assert rules.change_quote() == "Umbuchungsgebühr EUR 30,00."


@settings(max_examples=60, database=None)
@given(scenarios())
def test_every_request_falls_in_the_band_its_quote_names(s: Scenario) -> None:
    assert s.quote() in " ".join(s.text().split())
    assert s.variables()["fareRules"] == s.text()
    assert s.case().hours_before_departure == s.request.hours_before
