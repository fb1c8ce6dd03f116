"""Replaces personal data in a text by typed placeholders ([NAME], [TICKET], ...) before an LLM
sees it; fare-rule amounts, dates, airport and airline codes and fare bases stay as they are.

Fare rules are often pasted from e-tickets, PNR displays and booking pages: upper case, no
sentences, GDS element codes. Libraries do the parts they do well (`phonenumbers` finds
international phone numbers, `python-stdnum` checks Luhn and IBANs); the GDS shapes (PNR names
with a title, SSR DOCS/FOID elements, APE/CTCE e-mail with `//` for `@`, labelled fields of a
booking page) are read here, each by a pattern that needs its label or its exact shape, since a
false positive on a fare rule would change what the model reads.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from stdnum import iban, luhn


class Kind(StrEnum):
    """What a placeholder stands for (the `kind` label of llm_worker_redactions_total)."""

    NAME = "NAME"
    TICKET = "TICKET"
    DOCUMENT = "DOCUMENT"
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    CARD = "CARD"
    ACCOUNT = "ACCOUNT"
    BIRTHDATE = "BIRTHDATE"
    BOOKING = "BOOKING"

    @property
    def placeholder(self) -> str:
        return f"[{self.value}]"


@dataclass(frozen=True)
class Span:
    """One redacted stretch of the original text, [start, end)."""

    kind: Kind
    start: int
    end: int


@dataclass(frozen=True)
class Redaction:
    """The text as the LLM sees it and where the original was changed (never the values)."""

    text: str
    spans: tuple[Span, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.spans)

    def counts(self) -> dict[str, int]:
        """Redactions by kind, e.g. {"NAME": 2, "TICKET": 1}."""
        return dict(sorted(Counter(span.kind.value for span in self.spans).items()))

    def describe(self, original: str) -> list[str]:
        """One line per redaction: kind, placeholder and position in `original` (line:column,
        1-based, and length); the value itself is never shown."""
        lines = []
        for span in self.spans:
            line = original.count("\n", 0, span.start) + 1
            column = span.start - (original.rfind("\n", 0, span.start) + 1) + 1
            lines.append(
                f"{span.kind.value} at line {line}, column {column} "
                f"({span.end - span.start} chars) -> {span.kind.placeholder}"
            )
        return lines


def redact(text: str) -> Redaction:
    """`text` with every personal datum found replaced by its kind's placeholder."""
    taken: list[Span] = []
    for detector in _DETECTORS:
        for span in detector(text):
            if span.end > span.start and not any(
                span.start < other.end and other.start < span.end for other in taken
            ):
                taken.append(span)
    if not taken:
        return Redaction(text)
    taken.sort(key=lambda span: span.start)
    parts: list[str] = []
    at = 0
    for span in taken:
        parts.append(text[at : span.start])
        parts.append(span.kind.placeholder)
        at = span.end
    parts.append(text[at:])
    return Redaction("".join(parts), tuple(taken))


# --- the detectors, in order of precedence (an earlier one's span wins an overlap) ----------

Detector = Callable[[str], Iterator[Span]]


def _group(kind: Kind, pattern: re.Pattern[str], group: str = "v") -> Detector:
    def find(text: str) -> Iterator[Span]:
        for match in pattern.finditer(text):
            if match.group(group):
                yield Span(kind, match.start(group), match.end(group))

    return find


# SSR DOCS/DOCO/DOCA (passport, visa, address: names and birth date included) and FOID
# elements: everything after the element code, carrier and status is the traveller's.
_GDS_DOCUMENT = re.compile(
    r"\b(?:DOCS|DOCO|DOCA|FOID|PSPT)\b[ \t]+(?:[A-Z0-9]{2}[ \t]+)?+(?:[A-Z]{2}\d{1,2}[ \t]*/?)?+"
    r"(?P<v>(?=[^\n]*[\d/])[^\s][^\n]*?)[ \t]*(?=\n|$)"
)
_LABEL_END = r"[ \t]*(?:NO\.?|NUMBER|NR\.?|#)?[ \t]*[:#.-]?[ \t]*"
# A document number after its label: one token with a digit, 5 to 20 characters.
_DOCUMENT_FIELD = re.compile(
    r"(?i)\b(?:PASSPORT|TRAVEL[ \t]+DOCUMENT|NATIONAL[ \t]+ID|ID[ \t]+CARD|IDENTITY[ \t]+CARD|"
    r"KTN|KNOWN[ \t]+TRAVELL?ER|REDRESS|FREQUENT[ \t]+FLYER|FQTV|"
    # Words that also name other things in fare rules count only with "NO", "NUMBER", ":".
    r"(?:DOCUMENT|DOC|ID|VISA|LOYALTY|MEMBERSHIP)(?=[ \t]*(?:NO\b|NUMBER|NR\b|#|:)))"
    + _LABEL_END
    + r"(?P<v>(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{3,18}[A-Z0-9])"
    r"(?![\w-])"
)
_EMAIL = re.compile(
    # `//` for `@` is how Amadeus and Sabre write an address in APE and SSR CTCE elements.
    r"(?<![\w.%+-])(?P<v>[A-Za-z0-9][A-Za-z0-9._%+-]*(?:@|//)[A-Za-z0-9-]+"
    r"(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})(?![\w-])"
)
# Payment cards: 14 to 19 digits, plain or in the groupings cards are printed in.
_CARD_CANDIDATE = re.compile(
    r"(?<!\d)(?P<v>\d{4}([ -])\d{4}\2\d{4}\2\d{4}(?:\2\d{1,3})?|\d{4}([ -])\d{6}\3\d{4,5}|"
    r"\d{14,19})(?!\d)"
)
_MASKED_CARD = re.compile(
    r"(?i)\b(?:CARD(?:[ \t]+NUMBER|[ \t]+NO\.?)?|CREDIT[ \t]+CARD|CC)[ \t]*[:#]?[ \t]*"
    r"(?:[A-Z]{2,10}[ \t]+)?(?P<v>(?=[\dX* -]*\d)(?:[\dX*]{4}[ -]?){2,4}[\dX*]{1,4})(?![\w*])"
)
# IATA ticket (and EMD) numbers: a 3-digit airline code and a 10-digit serial, with a
# conjunction suffix (`-91`, `/2`) when there is one.
_TICKET = re.compile(r"(?<!\d)(?P<v>\d{3}[ -]?\d{10}(?:[-/]\d{1,2}(?!\d))?)(?!\d)")
_IBAN_CANDIDATE = re.compile(
    r"\b(?P<v>[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?)\b"
)
# A booking's record locator after its label: it leads to the passenger as surely as the name
# (the contract never sends bookingId either). A colon, or a digit in the code, is required:
# fare rules say "PNR MUST BE TICKETED".
_LOCATOR = re.compile(
    r"(?i)\b(?:BOOKING[ \t]+(?:REF(?:ERENCE)?|CODE|NUMBER|NO\.?)|PNR|RECORD[ \t]+LOCATOR|"
    r"RESERVATION[ \t]+(?:CODE|NUMBER|REF(?:ERENCE)?)|CONFIRMATION[ \t]+(?:CODE|NUMBER)|"
    r"BUCHUNGSCODE|LOCALIZADOR)[ \t]*(?:[:#][ \t]*(?P<v>[A-Z0-9]{5,8})|"
    r"[ \t-]*(?P<w>(?=[A-Z]*\d)[A-Z0-9]{5,8}))(?![\w-])"
)
_BIRTHDATE = re.compile(
    r"(?i)\b(?:DATE[ \t]+OF[ \t]+BIRTH|BIRTH[ \t]*DATE|DOB|D\.O\.B\.?|BORN)[ \t]*[:-]?[ \t]*"
    r"(?P<v>\d{1,2}[A-Z]{3}\d{2,4}|\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|"
    r"\d{1,2}[ \t]+[A-Z][a-z]+\.?[ \t]+\d{4}|[A-Z][a-z]+[ \t]+\d{1,2},?[ \t]+\d{4})"
)

_TITLES_UPPER = r"MR|MRS|MS|MSTR|MISS|DR|MME|MLLE|PROF"
_TITLES_MIXED = r"Mr|Mrs|Ms|Mstr|Miss|Dr|Mme|Mlle|Prof"
# Words that follow a title in fare rules without being a name: "MS" is EgyptAir's code, "DR"
# a country's, and GDS text is upper case, so a title alone proves little.
_NOT_NAMES = frozenset(
    """A AN THE AND OR OF TO FOR IN ON AT BY FROM WITH IS ARE BE WAS NOT NO ANY ALL EACH PER
    FARE FARES FLIGHT FLIGHTS FLT TICKET TICKETS TKT REFUND REFUNDS REFUNDABLE CHANGE CHANGES
    CANCEL CANCELLATION CANCELLATIONS PENALTY PENALTIES CHARGE CHARGES FEE FEES PERMITTED
    DEPARTURE DEPARTED BEFORE AFTER NOTE NOTES PASSENGER PASSENGERS ADULT CHILD INFANT ADT CHD
    INF ONLY OPERATED MARKETED SEGMENT SEGMENTS SECTOR SECTORS CLASS ECONOMY BUSINESS FIRST
    CARRIER CARRIERS AIRLINE AIRLINES NOSHOW SHOW TAX TAXES RULE RULES APPLY APPLIES""".split()  # noqa: SIM905
)
_WORD_UPPER = r"[A-ZÀ-Þ][A-ZÀ-Þ'’-]*"
_WORD_MIXED = r"[A-ZÀ-Þ][a-zß-ÿ'’-]+(?:-[A-ZÀ-Þ][a-zß-ÿ'’]+)?"


def _titled(titles: str, word: str) -> re.Pattern[str]:
    """A title and up to four name words after it."""
    return re.compile(
        rf"(?<![\w/.])(?P<v>(?:{titles})\.?[ \t]+(?P<w>{word}(?:[ \t]{word}){{0,3}}))(?![\w/])"
    )


_TITLED_UPPER = _titled(_TITLES_UPPER, _WORD_UPPER)
_TITLED_MIXED = _titled(_TITLES_MIXED, _WORD_MIXED)
# PNR names: SURNAME/GIVEN NAMES TITLE ("1.SMITH/JOHN MR", "SMITH/ANNA MARIA MRS"); a title
# must close it (fare rules write "CHANGES/CANCELLATIONS", "2.DAY/TIME" the same way).
_PNR_NAME = re.compile(
    r"(?<![\w/'-])(?:\d{1,2}\.(?:\d{1,2})?)?(?P<v>[A-Z][A-Z'-]*(?:[ ][A-Z][A-Z'-]*)?/"
    rf"[A-Z][A-Z'-]*(?:[ ][A-Z][A-Z'-]*){{0,3}}?[ ]?(?:{_TITLES_UPPER}|CHD|INF))\b"
)
# A booking page's or ticket's name field: the label, a colon and the name.
_NAME_FIELD = re.compile(
    r"(?i)(?<![A-Za-z][ \t])(?<![\w-])"
    r"(?:PASSENGER(?:'?S)?(?:[ \t]+NAMES?)?|NAME[ \t]+OF[ \t]+(?:THE[ \t]+)?PASSENGER|"
    r"PAX(?:[ \t]+NAMES?)?|TRAVELL?ER(?:'?S)?(?:[ \t]+NAMES?)?|(?:FULL|FIRST|LAST|GIVEN|FAMILY)"
    r"[ \t]+NAMES?|NAMES?|SURNAME|CARD[ \t]*HOLDER(?:[ \t]+NAME)?|LEAD[ \t]+PASSENGER|"
    r"GUEST(?:[ \t]+NAME)?|CUSTOMER(?:[ \t]+NAME)?|BOOKED[ \t]+BY|ISSUED[ \t]+TO)"
    r"[ \t]*:[ \t]*(?P<v>(?:[\w'’.]+(?![ \t]?:)(?:[ \t]?/[ \t]?|,[ \t]?|[ \t]|-))*[\w'’.]+)"
)
# What a passenger-type field holds, which is no name.
_PASSENGER_TYPES = frozenset(
    "ADT CHD INF INS CNN YTH SRC STU ADULT ADULTS CHILD CHILDREN INFANT INFANTS".split()  # noqa: SIM905
)
# GDS contact elements (Amadeus AP*, SSR CTCM/CTCH/CTCB) and labelled phone fields: the
# number on the rest of the line.
_PHONE_FIELD = re.compile(
    r"(?i)\b(?:AP[MHBNT]|CTC[MHB]|PHONE|TEL(?:EPHONE)?|MOBILE|MOB|CELL(?:PHONE)?|FAX|"
    r"CONTACT[ \t]+(?:NUMBER|PHONE|NO\.?))\b"
    # An SSR's carrier and status ("SSR CTCM LH HK1/..."), a second label word ("MOBILE PHONE").
    r"(?:[ \t]+[A-Z0-9]{2}[ \t]+[A-Z]{2}\d{1,2}[ \t]*/?)?(?:[ \t]+(?:PHONE|NUMBER))?"
    + _LABEL_END
    + r"(?P<v>\+?\(?\d[\d \t()./-]{5,22}\d)(?!\d)"
)
_MIN_PHONE_DIGITS = 7


def _documents(text: str) -> Iterator[Span]:
    yield from _group(Kind.DOCUMENT, _GDS_DOCUMENT)(text)
    yield from _group(Kind.DOCUMENT, _DOCUMENT_FIELD)(text)


def _locators(text: str) -> Iterator[Span]:
    for match in _LOCATOR.finditer(text):
        group = "v" if match.group("v") else "w"
        # Upper case, as locators are written (a label in prose is followed by a word).
        if match.group(group).isupper() or match.group(group).isdigit():
            yield Span(Kind.BOOKING, match.start(group), match.end(group))


def _cards(text: str) -> Iterator[Span]:
    for match in _CARD_CANDIDATE.finditer(text):
        digits = re.sub(r"\D", "", match.group("v"))
        # Cards start 2 to 6 (Mastercard, Visa, Amex, Discover, JCB, UnionPay, Diners).
        if digits[0] in "23456" and luhn.is_valid(digits):
            yield Span(Kind.CARD, match.start("v"), match.end("v"))
    yield from _group(Kind.CARD, _MASKED_CARD)(text)


def _accounts(text: str) -> Iterator[Span]:
    for match in _IBAN_CANDIDATE.finditer(text):
        if iban.is_valid(match.group("v")):
            yield Span(Kind.ACCOUNT, match.start("v"), match.end("v"))


def _names(text: str) -> Iterator[Span]:
    for match in _NAME_FIELD.finditer(text):
        value = match.group("v")
        if value.upper() in _PASSENGER_TYPES or any(c.isdigit() for c in value):
            continue
        yield Span(Kind.NAME, match.start("v"), match.end("v"))
    yield from _group(Kind.NAME, _PNR_NAME)(text)
    for pattern in (_TITLED_MIXED, _TITLED_UPPER):
        for match in pattern.finditer(text):
            words = match.group("w").split()
            kept = 0
            for word in words:
                if word.upper().strip("'’-") in _NOT_NAMES:
                    break
                kept += 1
            if kept == 0:
                continue
            segment = text[match.start("w") : match.end("w")]
            yield Span(Kind.NAME, match.start("v"), match.start("w") + _end_of_words(segment, kept))


def _end_of_words(segment: str, count: int) -> int:
    ends = [m.end() for m in re.finditer(r"\S+", segment)]
    return ends[count - 1]


def _phones(text: str) -> Iterator[Span]:
    for match in _PHONE_FIELD.finditer(text):
        if sum(c.isdigit() for c in match.group("v")) >= _MIN_PHONE_DIGITS:
            yield Span(Kind.PHONE, match.start("v"), match.end("v"))
    # International numbers anywhere ("+44 20 7946 0958"); without a region, phonenumbers
    # takes only numbers written with their country code, so fare amounts never match.
    for found in phonenumbers.PhoneNumberMatcher(text, None, phonenumbers.Leniency.VALID):
        yield Span(Kind.PHONE, found.start, found.end)


_DETECTORS: tuple[Detector, ...] = (
    _documents,
    _group(Kind.EMAIL, _EMAIL),
    _cards,
    _group(Kind.TICKET, _TICKET),
    _accounts,
    _group(Kind.BIRTHDATE, _BIRTHDATE),
    _locators,
    _names,
    _phones,
)
