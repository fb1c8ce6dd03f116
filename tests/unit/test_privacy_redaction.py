"""Redaction of personal data: invented e-tickets, PNR displays and booking pages lose every
personal value and keep their fare-rule content; fare rules without personal data (invented,
and every real text of ../shared/fare-rules when present) stay as they are."""

from __future__ import annotations

import json
import re

import pytest

from llm_worker.privacy.redaction import Kind, Redaction, redact
from llm_worker.refund.guardrails import numbers_in
from tests.refund_cases import CORPUS

REAL_TEXTS = CORPUS / "real-texts.jsonl"

# Invented: names, numbers and addresses are made up (test card numbers of the card schemes,
# the reserved example.* domains, Ofcom's drama range and the 555-01xx numbers).
E_TICKET = """\
ELECTRONIC TICKET PASSENGER ITINERARY RECEIPT
NAME: SMITH/JOHN MR                     ETKT NBR: 220 2345678901
ISSUING AIRLINE: LUFTHANSA   BOOKING REF: XK7PQ2   DATE OF ISSUE: 12JAN26
FOP: CCVI4111111111111111/1228
 1.SMITH/JOHN MR  2.SMITH/ANNA MARIA MRS
 APE-JOHN.SMITH//EXAMPLE.COM
 APM-+44 7700 900123
 SSR DOCS LH HK1 P/GBR/123456789/GBR/12JUL80/M/20NOV30/SMITH/JOHN
 SSR CTCM LH HK1/447700900123
CONJUNCTION TICKET 220-2345678902/03
FRA LH 400 Y 15MAR26 JFK  FARE BASIS YFLEXUS  USD 1250.00
PENALTIES
CANCELLATIONS BEFORE DEPARTURE CHARGE USD 150.00 FOR REFUND.
NO-SHOW CHARGE USD 250.00. OPERATED BY MS 985. CHANGES/CANCELLATIONS 2.DAY/TIME
"""
E_TICKET_PERSONAL = [
    "SMITH",
    "JOHN",
    "ANNA",
    "MARIA",
    "2345678901",
    "2345678902",
    "4111111111111111",
    "EXAMPLE.COM",
    "7700 900123",
    "447700900123",
    "123456789",
    "12JUL80",
    "XK7PQ2",
]

BOOKING_PAGE = """\
Your booking confirmation - Booking reference: QX81ZP
Passenger: Mr John Smith   E-mail: john.smith@example.org   Phone: (212) 555-0100
Passenger type: Adult
Card holder: Jane Doe  Card number: 5500 0000 0000 0004  IBAN: DE89 3704 0044 0532 0130 00
Passport number: X1234567   Date of birth: 12/07/1980
Dear Mrs Anna Müller, your refund request has been received. Call +1 212 555 0199 for help.
Fare conditions (Economy Light, fare basis KLOWDE):
Cancellation before departure: EUR 70 per passenger. No refund after departure.
Ticket 0572345678901 issued 03 Feb 2026; flights LH 1234 MUC-BCN on 15 Mar 2026.
"""
BOOKING_PERSONAL = [
    "John",
    "Smith",
    "john.smith",
    "555-0100",
    "Jane",
    "Doe",
    "5500 0000 0000 0004",
    "DE89",
    "X1234567",
    "12/07/1980",
    "Anna",
    "Müller",
    "555 0199",
    "0572345678901",
    "QX81ZP",
]

FARE_RULE = """\
16. PENALTIES
WHERE NOT STATED OTHERWISE BELOW
  CANCELLATIONS
    BEFORE DEPARTURE
      CHARGE USD 150.00 FOR CANCEL/REFUND.
      DISCOUNTED CHILD AND INFANT FARES ALSO APPLY.
    AFTER DEPARTURE
      NO REFUND OF THIS TICKET ONCE FLOWN.
  NOTE - THE TEXT THAT FOLLOWS IS NOT USED BY AUTOPRICING.
    FARE BASIS YLOWUS/CH25 VALID FOR TRAVEL 01JAN26-31DEC26 ON LH/UA/AC.
    NO-SHOW FEE EUR 100 PER PASSENGER. MS AND DR FLIGHTS EXCLUDED.
    REISSUE/REVALIDATION USD 75. TKT ISSUANCE 72 HRS AFTER RESERVATION.
    1250.00 USD NUC1250.00 END ROE1.000000 FRA LH X/NYC UA LAX 1234.56
"""


def _codes_and_amounts(text: str) -> set[str]:
    """What a fare rule decides with: numbers, three-letter codes, fare bases, dates."""
    return {str(n) for n in numbers_in(text)} | set(re.findall(r"\b[A-Z0-9]{2,8}\b", text))


def test_an_e_ticket_loses_every_personal_value() -> None:
    seen = redact(E_TICKET)
    for value in E_TICKET_PERSONAL:
        assert value not in seen.text, value
    assert seen.counts() == {
        "CARD": 1,
        "DOCUMENT": 1,
        "EMAIL": 1,
        "NAME": 3,
        "PHONE": 2,
        "TICKET": 2,
        "BOOKING": 1,
    }
    # The fare rule inside stays word for word.
    for kept in ("USD 150.00", "USD 250.00", "YFLEXUS", "FRA LH 400 Y 15MAR26 JFK", "MS 985",
                 "CHANGES/CANCELLATIONS 2.DAY/TIME", "REF: [BOOKING]", "12JAN26"):  # fmt: skip
        assert kept in seen.text, kept


def test_a_booking_page_loses_every_personal_value() -> None:
    seen = redact(BOOKING_PAGE)
    for value in BOOKING_PERSONAL:
        assert value not in seen.text, value
    assert "[NAME]" in seen.text and "Passenger type: Adult" in seen.text
    assert set(seen.counts()) == {k.value for k in Kind}
    for kept in ("EUR 70 per passenger", "KLOWDE", "LH 1234 MUC-BCN on 15 Mar 2026",
                 "Economy Light", "03 Feb 2026"):  # fmt: skip
        assert kept in seen.text, kept


def test_a_fare_rule_without_personal_data_is_unchanged() -> None:
    seen = redact(FARE_RULE)
    assert seen == Redaction(FARE_RULE)
    assert not seen.changed and seen.counts() == {}


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("TKT 2202345678901", Kind.TICKET),
        ("ETKT 220-2345678901", Kind.TICKET),
        ("PAX 1.DOE/JANE MS", Kind.NAME),
        ("MR JOHN SMITH", Kind.NAME),
        ("BOOKED BY: Erika Mustermann", Kind.NAME),
        ("CONTACT: a.b-c@mail.example.co.uk", Kind.EMAIL),
        ("SSR CTCE LH HK1/JANE.DOE//EXAMPLE.NET", Kind.EMAIL),
        ("AMEX 3782 822463 10005", Kind.CARD),
        ("CARD NO: XXXX XXXX XXXX 1111", Kind.CARD),
        ("SSR FOID LH HK1/PP123456789", Kind.DOCUMENT),
        ("FREQUENT FLYER 992001234567", Kind.DOCUMENT),
        ("TEL: 030 1234567", Kind.PHONE),
        ("DOB 1980-07-12", Kind.BIRTHDATE),
        ("PNR: ABCDEF", Kind.BOOKING),
        ("RECORD LOCATOR 2XK4PQ", Kind.BOOKING),
    ],
)
def test_each_kind(text: str, kind: Kind) -> None:
    seen = redact(text)
    assert [span.kind for span in seen.spans] == [kind]
    assert kind.placeholder in seen.text


@pytest.mark.parametrize(
    "text",
    [
        # A 16-digit run that fails the Luhn check is no card; 12 digits are no ticket.
        "REF 4111111111111112",
        "REF 123456789012",
        # Titles followed by fare vocabulary, and airline codes that are titles.
        "MS FLIGHTS 100-199 AND DR 551 ONLY",
        "MR FARE",
        # Labels that only look like personal fields.
        "PASSENGER TYPE: ADT",
        "PASSENGER: ADT",
        "FARE NAME: ECONOMY LIGHT",
        "VISA NOT REQUIRED",
        "PNR MUST BE TICKETED. PNR TICKETED WITHIN 24H",
        "Booking reference numbers are shown on your ticket",
        # Tel Aviv is a city, and a fare amount with 7 digits is no phone number.
        "TEL AVIV - NEW YORK IDR 1500000",
        # Slash words and numbered categories are not PNR names without a title.
        "2.DAY/TIME 7.HIP/MILEAGE 16.PENALTIES CHANGES/CANCELLATIONS",
    ],
)
def test_no_false_positive(text: str) -> None:
    assert redact(text).text == text


def test_describe_gives_kinds_and_positions_never_values() -> None:
    text = "LINE ONE\nNAME: DOE/JANE MS  TKT 2202345678901\n"
    seen = redact(text)
    lines = seen.describe(text)
    assert lines == [
        "NAME at line 2, column 7 (11 chars) -> [NAME]",
        "TICKET at line 2, column 24 (13 chars) -> [TICKET]",
    ]
    assert not any("DOE" in line or "220" in line for line in lines)


def test_redaction_is_stable_on_its_own_output() -> None:
    once = redact(E_TICKET + BOOKING_PAGE).text
    assert redact(once).text == once


def _real_texts() -> list[dict[str, str]]:
    if not REAL_TEXTS.exists():
        pytest.skip(f"the real fare-rule corpus is not here ({REAL_TEXTS})")
    return [json.loads(line) for line in REAL_TEXTS.read_text("utf-8").splitlines() if line]


def test_real_fare_rules_keep_every_amount_and_code() -> None:
    """Real fare rules carry no passenger data: a change is a false positive, and a false
    positive on an amount or code would change the decision. Measured: none changed."""
    texts = _real_texts()
    changed = []
    for item in texts:
        seen = redact(item["text"])
        # Whatever was replaced, nothing a fare rule decides with is gone.
        assert _codes_and_amounts(item["text"]) - _codes_and_amounts(seen.text) <= {
            token for span in seen.spans for token in _codes_and_amounts(
                item["text"][span.start : span.end])
        }  # fmt: skip
        for span in seen.spans:
            assert not numbers_in(item["text"][span.start : span.end]) & numbers_in(
                " ".join(re.findall(r"(?:USD|EUR|GBP|INR|RUB|AUD|JPY)\s?[\d.,]+", item["text"]))
            ), (item["id"], span.kind)
        if seen.changed:
            changed.append((item["id"], seen.counts()))
    print(f"\nreal fare rules changed by redaction: {len(changed)} of {len(texts)} {changed}")
    assert not changed
