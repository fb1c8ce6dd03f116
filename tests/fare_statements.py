"""Fee statements built from their parts (hypothesis strategies), with the decision the contract
gives for them worked out from the parts alone, never from the reader's code.

A generated `Rules` is a small category-16 text: an optional category heading, a cancellation
provision (one fee, or bands of days or hours each with its own fee), and optionally a change
provision and a no-show fee beside it, in one of several languages and layouts. `expected()`
applies CONTRACT.md section 2 to the parts for one `Request`; `Rules.text()` writes them.

    from tests.fare_statements import scenarios, expected
    @given(scenarios())
    def test_x(s: Scenario) -> None:
        assert decide(s.case()) == s.expected

The guard tests offer `Scenario.quote()` (the sentence that applies) or `Rules.change_quote()`
/ `Rules.no_show_quote()` as an LLM's quote.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from hypothesis import strategies as st

from llm_worker.refund.models import Decision, RefundCase

Language = Literal["en", "fr", "de", "es", "it", "pt"]
LANGUAGES: tuple[Language, ...] = ("en", "fr", "de", "es", "it", "pt")
Per = Literal["ticket", "passenger", "coupon", "direction", "sector"]
# What a percentage is of: the fare and the ticket are the ticket price; the base fare is not.
Of = Literal["fare", "ticket", "base fare"]
Pick = Literal["higher", "lower"]
# The category-16 heading forms GDSs and airlines print, or none.
HEADINGS = ("16. PENALTIES", "PE.PENALTIES", "CATEGORY 16 PENALTIES", "Category 16: Penalties",
            "16.PENALTIES", "")  # fmt: skip

REQUEST = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
BOUGHT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Money:
    """An amount as the rules write it."""

    value: Decimal
    currency: str
    grouped: bool = False  # "1,250.00" rather than "1250.00"
    decimals: bool = True
    code_first: bool = True  # "USD 100" rather than "100 USD"

    def written(self, language: Language) -> str:
        number = f"{self.value:,.2f}" if self.decimals else f"{self.value:,.0f}"
        if not self.grouped:
            number = number.replace(",", "")
        if language != "en":
            # 1.250,00 (or 1250,00): the continental way.
            number = number.replace(",", "\0").replace(".", ",").replace("\0", ".")
        return f"{self.currency} {number}" if self.code_first else f"{number} {self.currency}"


@dataclass(frozen=True)
class Charge:
    """One fee: an amount, a percentage, or the higher/lower of an amount and a percentage."""

    amount: Money | None = None
    percent: Decimal | None = None
    of: Of = "fare"
    pick: Pick | None = None  # with both an amount and a percentage
    per: Per | None = None
    up_to: bool = False

    def value(self, request: Request) -> Decimal | str:
        """The fee for the request, or why it cannot be computed (the contract's readings)."""
        if self.up_to:
            return "up to"
        if self.per in ("coupon", "direction", "sector"):
            return f"per {self.per}"
        options: list[Decimal] = []
        if self.amount is not None:
            if self.amount.currency != request.currency:
                return "other currency"
            times = request.passengers if self.per in ("ticket", "passenger") else 1
            options.append(self.amount.value * times)
        if self.percent is not None:
            if self.of == "base fare":
                return "base fare"
            share = request.price * self.percent / 100
            options.append(share.quantize(_CENT, ROUND_HALF_UP))
        if len(options) == 2:
            return max(options) if self.pick == "higher" else min(options)
        return options[0]


Outcome = Charge | Literal["free", "non-refundable"]


@dataclass(frozen=True)
class Band:
    """A timing band before departure, in days or hours, with one or two bounds (inclusive
    whole units, as fare rules print them: "59-15 DAYS" holds from 15 up to 59 days)."""

    low: int | None  # at least this many units before departure
    high: int | None  # at most this many
    unit: Literal["DAYS", "HOURS"] = "DAYS"
    form: int = 0  # which wording of the band

    def hours(self) -> tuple[float, float]:
        """The request times that fall safely inside (a unit away from either bound)."""
        size = 24 if self.unit == "DAYS" else 1
        low = (self.low + 1) * size if self.low is not None else size
        high = (self.high - 1) * size if self.high is not None else 400 * 24
        return float(low), float(high)


@dataclass(frozen=True)
class Request:
    """The refund case's facts: a voluntary request before departure."""

    price: Decimal
    currency: str
    passengers: int
    hours_before: float  # negative: asked after the departure date
    no_show: bool = False  # the passenger did not show up (asked the day after departure)


@dataclass(frozen=True)
class Rules:
    """A cancellation provision built from its parts, and what stands beside it."""

    language: Language
    bands: tuple[tuple[Band | None, Outcome], ...]  # one (None, outcome) when untimed
    heading: str = ""
    provision_heading: bool = True
    permitted_first: bool = False  # "REFUND PERMITTED." above the charge
    change: Charge | None = None
    change_first: bool = False
    no_show: Charge | None = None
    inline_bands: bool = True  # "60 DAYS OR MORE BEFORE DEPARTURE CHARGE ..." on one line
    width: int | None = None  # rewrap long lines at this width, as GDS displays do
    extra: str = ""  # a further qualifier written into the fee's sentence (metamorphic tests)
    wording: int = 0  # which of a language's wordings each part takes (see `words_of`)

    @property
    def words(self) -> dict[str, str]:
        return words_of(self.language, self.wording)

    def text(self) -> str:
        """The fare rules as a display prints them."""
        words = self.words
        lines: list[str] = []
        if self.heading:
            lines.append(self.heading if self.language == "en" else words["category"])
        change = (
            [words["changes"], "  " + _sentence("change_fee", self.change, self)]
            if self.change is not None
            else []
        )
        if self.change_first:
            lines.extend(change)
        if self.provision_heading:
            lines.append(words["cancellations"])
        if self.permitted_first:
            lines.append("  " + words["permitted"])
        for band, outcome in self.bands:
            said = self._outcome(outcome)
            if band is None:
                lines.append("  " + said)
            elif self.inline_bands:
                lines.append(f"  {_band(band, words)} {said}")
            else:
                lines.extend([f"  {_band(band, words)}", f"    {said}"])
        if self.no_show is not None:
            lines.append("  " + _sentence("no_show_fee", self.no_show, self))
        if not self.change_first:
            lines.extend(change)
        text = "\n".join(lines)
        if self.width is not None:
            text = "\n".join(
                wrapped
                for line in text.splitlines()
                for wrapped in textwrap.wrap(line, self.width, subsequent_indent="  ") or [""]
            )
        return text + "\n"

    def _outcome(self, outcome: Outcome) -> str:
        if outcome == "free":
            return self.words["free"]
        if outcome == "non-refundable":
            return self.words["nonref"]
        return _sentence("refund_fee", outcome, self)

    def quote(self, request: Request) -> str:
        """The cancellation sentence that applies to the request (what an LLM should quote)."""
        band, outcome = self.applying(request)
        said = self._outcome(outcome)
        return f"{_band(band, self.words)} {said}" if band else said

    def change_quote(self) -> str:
        assert self.change is not None
        return _sentence("change_fee", self.change, self)

    def no_show_quote(self) -> str:
        assert self.no_show is not None
        return _sentence("no_show_fee", self.no_show, self)

    def applying(self, request: Request) -> tuple[Band | None, Outcome]:
        for band, outcome in self.bands:
            if band is None:
                return band, outcome
            low, high = band.hours()
            if low <= request.hours_before <= high:
                return band, outcome
        raise ValueError("the request falls in no band")


@dataclass(frozen=True)
class Scenario:
    """Generated rules and one request on them, with the decision the contract gives."""

    rules: Rules
    request: Request
    booking_id: str = field(default="GEN1")

    @property
    def expected(self) -> tuple[Decision, Decimal | None]:
        return expected(self.rules, self.request)

    def text(self) -> str:
        return self.rules.text()

    def quote(self) -> str:
        if self.request.no_show:
            return self.rules.no_show_quote()
        return self.rules.quote(self.request)

    def variables(self) -> dict[str, Any]:
        """The case as `analyze-fare-rules` process variables (plain values)."""
        departure = REQUEST + timedelta(hours=self.request.hours_before)
        return {
            "bookingId": self.booking_id,
            "fareRules": self.rules.text(),
            "ticketPrice": float(self.request.price),
            "currency": self.request.currency,
            "purchaseDate": BOUGHT.isoformat(),
            "departureDate": departure.isoformat(),
            "requestDate": REQUEST.isoformat(),
            "refundReason": "VOLUNTARY",
            "passengerCount": self.request.passengers,
            "noShow": self.request.no_show,
        }

    def case(self) -> RefundCase:
        return RefundCase(
            booking_id=self.booking_id,
            fare_rules=self.rules.text(),
            ticket_price=self.request.price,
            currency=self.request.currency,
            purchase_date=BOUGHT,
            departure_date=REQUEST + timedelta(hours=self.request.hours_before),
            request_date=REQUEST,
            passenger_count=self.request.passengers,
            no_show=self.request.no_show,
        )

    def with_rules(self, **changes: Any) -> Scenario:
        return replace(self, rules=replace(self.rules, **changes))


def expected(rules: Rules, request: Request) -> tuple[Decision, Decimal | None]:
    """CONTRACT.md section 2 on the parts: step 4 for a no-show, steps 5 to 8 before departure."""
    if request.no_show:
        untimed = [outcome for band, outcome in rules.bands if band is None]
        if rules.no_show is None or any(o != "free" for o in untimed):
            # No no-show fee stated; or one that may add to a cancellation charge, or stand
            # against a non-refundable fare, with no word on which total applies.
            return Decision.MANUAL, None
        outcome: Outcome = rules.no_show
    else:
        if rules.extra:
            return Decision.MANUAL, None  # a qualifier nobody accounted for
        _band, outcome = rules.applying(request)
    if outcome == "free":
        return Decision.ALLOWED, None
    if outcome == "non-refundable":
        return Decision.MANUAL, None
    fee = outcome.value(request)
    if isinstance(fee, str) or fee > request.price:
        return Decision.MANUAL, None
    if fee == 0:
        return Decision.ALLOWED, None
    return Decision.WITH_PENALTY, fee


# The words of each language. `{fee}` is the charge as written; `{per}` its "per ..." part.
WORDS: dict[Language, dict[str, str]] = {
    "en": {
        "category": "16. PENALTIES",
        "cancellations": "CANCELLATIONS",
        "changes": "CHANGES",
        "permitted": "REFUND PERMITTED.",
        "refund_fee": "CHARGE {fee}{per} FOR CANCEL/REFUND.",
        "change_fee": "CHARGE {fee}{per} FOR REISSUE/REVALIDATION.",
        "no_show_fee": "IN CASE OF NO-SHOW CHARGE {fee}{per}.",
        "free": "CANCEL/REFUND FREE OF CHARGE.",
        "nonref": "TICKET IS NON-REFUNDABLE.",
        "higher": "THE HIGHER OF {a} OR {b}",
        "lower": "THE LOWER OF {a} OR {b}",
        "percent": "{n} PERCENT OF THE {of}",
        "up_to": "UP TO {fee}",
        "fare": "FARE",
        "ticket": "TICKET",
        "base fare": "BASE FARE",
        "per": " PER {unit}",
        "ticket_unit": "TICKET",
        "passenger_unit": "PASSENGER",
        "coupon_unit": "COUPON",
        "direction_unit": "DIRECTION",
        "sector_unit": "SECTOR",
        "band0": "{low} DAYS OR MORE BEFORE DEPARTURE",
        "band1": "{high}-{low} DAYS BEFORE DEPARTURE",
        "band2": "{high} DAYS OR LESS BEFORE DEPARTURE",
        "band0h": "{low} HOURS OR MORE BEFORE DEPARTURE",
        "band1h": "BETWEEN {low} AND {high} HOURS BEFORE DEPARTURE",
        "band2h": "{high} HOURS OR LESS BEFORE DEPARTURE",
    },
    "fr": {
        "category": "16. PÉNALITÉS",
        "cancellations": "ANNULATION",
        "changes": "MODIFICATIONS",
        "permitted": "Remboursement autorisé.",
        "refund_fee": "Frais d'annulation : {fee}{per}.",
        "change_fee": "Frais de modification : {fee}{per}.",
        "no_show_fee": "En cas de non-présentation, frais de {fee}{per}.",
        "free": "Annulation sans frais.",
        "nonref": "Billet non remboursable.",
        "higher": "le plus élevé entre {a} et {b}",
        "lower": "le moins élevé entre {a} et {b}",
        "percent": "{n} % du {of}",
        "up_to": "jusqu'à {fee}",
        "fare": "tarif",
        "ticket": "billet",
        "base fare": "tarif de base",
        "per": " par {unit}",
        "ticket_unit": "billet",
        "passenger_unit": "passager",
        "coupon_unit": "coupon",
        "direction_unit": "trajet",
        "sector_unit": "segment",
        "band0": "{low} jours ou plus avant le départ :",
        "band1": "De {high} à {low} jours avant le départ :",
        "band2": "{high} jours ou moins avant le départ :",
        "band0h": "{low} heures ou plus avant le départ :",
        "band1h": "Entre {low} et {high} heures avant le départ :",
        "band2h": "{high} heures ou moins avant le départ :",
    },
    "de": {
        "category": "16. GEBÜHREN",
        "cancellations": "STORNIERUNG",
        "changes": "UMBUCHUNG",
        "permitted": "Erstattung erlaubt.",
        "refund_fee": "Stornogebühr: {fee}{per}.",
        "change_fee": "Umbuchungsgebühr: {fee}{per}.",
        "no_show_fee": "Bei Nichterscheinen Gebühr {fee}{per}.",
        "free": "Stornierung kostenlos.",
        "nonref": "Ticket nicht erstattbar.",
        "higher": "der höhere Betrag von {a} oder {b}",
        "lower": "der niedrigere Betrag von {a} oder {b}",
        "percent": "{n} % des {of}",
        "up_to": "bis zu {fee}",
        "fare": "Tarifs",
        "ticket": "Ticketpreises",
        "base fare": "Grundtarifs",
        "per": " pro {unit}",
        "ticket_unit": "Ticket",
        "passenger_unit": "Passagier",
        "coupon_unit": "Coupon",
        "direction_unit": "Richtung",
        "sector_unit": "Teilstrecke",
        "band0": "{low} Tage oder mehr vor Abflug:",
        "band1": "{high}-{low} Tage vor Abflug:",
        "band2": "{high} Tage oder weniger vor Abflug:",
        "band0h": "{low} Stunden oder mehr vor Abflug:",
        "band1h": "Zwischen {low} und {high} Stunden vor Abflug:",
        "band2h": "{high} Stunden oder weniger vor Abflug:",
    },
    "es": {
        "category": "16. PENALIDADES",
        "cancellations": "CANCELACIÓN",
        "changes": "CAMBIOS",
        "permitted": "Reembolso permitido.",
        "refund_fee": "Cargo por cancelación: {fee}{per}.",
        "change_fee": "Cargo por cambio: {fee}{per}.",
        "no_show_fee": "En caso de no presentarse, cargo de {fee}{per}.",
        "free": "Cancelación sin cargo.",
        "nonref": "Billete no reembolsable.",
        "higher": "el mayor entre {a} y {b}",
        "lower": "el menor entre {a} y {b}",
        "percent": "{n} % de la {of}",
        "up_to": "hasta {fee}",
        "fare": "tarifa",
        "ticket": "tarifa del billete",
        "base fare": "tarifa base",
        "per": " por {unit}",
        "ticket_unit": "billete",
        "passenger_unit": "pasajero",
        "coupon_unit": "cupón",
        "direction_unit": "sentido",
        "sector_unit": "tramo",
        "band0": "{low} días o más antes de la salida:",
        "band1": "De {high} a {low} días antes de la salida:",
        "band2": "{high} días o menos antes de la salida:",
        "band0h": "{low} horas o más antes de la salida:",
        "band1h": "Entre {low} y {high} horas antes de la salida:",
        "band2h": "{high} horas o menos antes de la salida:",
    },
    "it": {
        "category": "16. PENALI",
        "cancellations": "CANCELLAZIONE",
        "changes": "CAMBI",
        "permitted": "Rimborso consentito.",
        "refund_fee": "Penale di cancellazione: {fee}{per}.",
        "change_fee": "Penale di cambio: {fee}{per}.",
        "no_show_fee": "In caso di mancata presentazione, penale di {fee}{per}.",
        "free": "Cancellazione gratuita.",
        "nonref": "Biglietto non rimborsabile.",
        "higher": "il maggiore tra {a} e {b}",
        "lower": "il minore tra {a} e {b}",
        "percent": "{n} % della {of}",
        "up_to": "fino a {fee}",
        "fare": "tariffa",
        "ticket": "tariffa del biglietto",
        "base fare": "tariffa base",
        "per": " per {unit}",
        "ticket_unit": "biglietto",
        "passenger_unit": "passeggero",
        "coupon_unit": "coupon",
        "direction_unit": "direzione",
        "sector_unit": "tratta",
        "band0": "{low} giorni o più prima della partenza:",
        "band1": "Da {high} a {low} giorni prima della partenza:",
        "band2": "{high} giorni o meno prima della partenza:",
        "band0h": "{low} ore o più prima della partenza:",
        "band1h": "Tra {low} e {high} ore prima della partenza:",
        "band2h": "{high} ore o meno prima della partenza:",
    },
    "pt": {
        "category": "16. PENALIDADES",
        "cancellations": "CANCELAMENTO",
        "changes": "ALTERAÇÕES",
        "permitted": "Reembolso permitido.",
        "refund_fee": "Taxa de cancelamento: {fee}{per}.",
        "change_fee": "Taxa de alteração: {fee}{per}.",
        "no_show_fee": "Em caso de não comparecimento, taxa de {fee}{per}.",
        "free": "Cancelamento sem custos.",
        "nonref": "Bilhete não reembolsável.",
        "higher": "o maior entre {a} e {b}",
        "lower": "o menor entre {a} e {b}",
        "percent": "{n} % da {of}",
        "up_to": "até {fee}",
        "fare": "tarifa",
        "ticket": "tarifa do bilhete",
        "base fare": "tarifa base",
        "per": " por {unit}",
        "ticket_unit": "bilhete",
        "passenger_unit": "passageiro",
        "coupon_unit": "cupão",
        "direction_unit": "sentido",
        "sector_unit": "trecho",
        "band0": "{low} dias ou mais antes da partida:",
        "band1": "De {high} a {low} dias antes da partida:",
        "band2": "{high} dias ou menos antes da partida:",
        "band0h": "{low} horas ou mais antes da partida:",
        "band1h": "Entre {low} e {high} horas antes da partida:",
        "band2h": "{high} horas ou menos antes da partida:",
    },
}
# Qualifiers the contract's readings do not compute, one a language: added to a sure statement,
# each must make the reading unsure (or MANUAL), never another number.
UNREAD_QUALIFIERS: dict[Language, tuple[str, ...]] = {
    "en": ("PLUS USD 25 ADMINISTRATION CHARGE", "EXCEPT FOR GROUP FARES",
           "ONLY FOR TICKETS ISSUED IN CANADA", "MINIMUM USD 40"),
    "fr": ("plus 25 EUR de frais administratifs", "sauf pour les tarifs de groupe"),
    "de": ("zuzüglich 25 EUR Bearbeitungsgebühr", "außer für Gruppentarife"),
    "es": ("más 25 EUR de gastos administrativos", "excepto para tarifas de grupo"),
    "it": ("più 25 EUR di spese amministrative", "eccetto per tariffe di gruppo"),
    "pt": ("mais 25 EUR de taxa administrativa", "exceto para tarifas de grupo"),
}  # fmt: skip


def _charge_words(charge: Charge, rules: Rules) -> str:
    words = rules.words
    parts: list[str] = []
    if charge.amount is not None:
        parts.append(charge.amount.written(rules.language))
    if charge.percent is not None:
        n = f"{charge.percent:g}"
        n = n if rules.language == "en" else n.replace(".", ",")
        parts.append(words["percent"].format(n=n, of=words[charge.of]))
    said = (
        parts[0]
        if len(parts) == 1
        else words[charge.pick or "higher"].format(a=parts[0], b=parts[1])
    )
    return words["up_to"].format(fee=said) if charge.up_to else said


def _sentence(key: str, charge: Charge | None, rules: Rules) -> str:
    assert charge is not None
    words = rules.words
    per = words["per"].format(unit=words[f"{charge.per}_unit"]) if charge.per else ""
    said = words[key].format(fee=_charge_words(charge, rules), per=per)
    if rules.extra and key == "refund_fee":
        said = f"{said[:-1]} {rules.extra}."
    return said


def _band(band: Band, words: dict[str, str]) -> str:
    form = ("band0", "band1", "band2")[band.form] + ("h" if band.unit == "HOURS" else "")
    low, high = band.low or 0, band.high or 0
    return words[form].format(low=low, high=high, low1=low - 1, high1=high + 1)


def words_of(language: Language, wording: int = 0) -> dict[str, str]:
    """One wording of each part in `language`: where a part has several (ENGLISH_WORDINGS), the
    `wording` number picks one for each part (its digits in mixed bases), so that every
    combination of wordings can be drawn."""
    words = dict(WORDS[language])
    if language == "en":
        for key, choices in ENGLISH_WORDINGS.items():
            words[key] = choices[wording % len(choices)]
            wording //= len(choices)
    return words


# Other wordings of the same English parts, as carriers and GDSs print them (WORDS["en"] holds
# the first of each). {low1} is one unit less than {low}, {high1} one more than {high}.
ENGLISH_WORDINGS: dict[str, tuple[str, ...]] = {
    "cancellations": ("CANCELLATIONS", "CANCELLATIONS/REFUNDS", "REFUNDS"),
    "changes": ("CHANGES", "VOLUNTARY CHANGES", "REISSUE"),
    "permitted": ("REFUND PERMITTED.", "CANCELLATIONS PERMITTED.", "REFUNDS ARE PERMITTED."),
    "refund_fee": ("CHARGE {fee}{per} FOR CANCEL/REFUND.", "CANCELLATION FEE: {fee}{per}.",
                   "REFUNDS ARE SUBJECT TO A FEE OF {fee}{per}.",
                   "A cancellation fee of {fee}{per} applies.",
                   "CHARGE {fee}{per} FOR CANCELLATION."),
    "change_fee": ("CHARGE {fee}{per} FOR REISSUE/REVALIDATION.", "CHANGE FEE: {fee}{per}.",
                   "CHARGE {fee}{per} FOR CHANGES.",
                   "Date changes are subject to a fee of {fee}{per}."),
    "no_show_fee": ("IN CASE OF NO-SHOW CHARGE {fee}{per}.", "NO-SHOW FEE: {fee}{per}.",
                    "CHARGE {fee}{per} FOR NO-SHOW."),
    "free": ("CANCEL/REFUND FREE OF CHARGE.", "FULLY REFUNDABLE.", "NO CANCELLATION FEE.",
             "Refunds are permitted without charge."),
    "nonref": ("TICKET IS NON-REFUNDABLE.", "NON-REFUNDABLE.",
               "CANCELLATION/REFUND NOT PERMITTED."),
    "higher": ("THE HIGHER OF {a} OR {b}", "{a} OR {b} WHICHEVER IS HIGHER",
               "{a} OR {b}, WHICHEVER IS GREATER"),
    "lower": ("THE LOWER OF {a} OR {b}", "{a} OR {b} WHICHEVER IS LOWER",
              "THE LESSER OF {a} OR {b}"),
    "percent": ("{n} PERCENT OF THE {of}", "{n}% OF THE {of}", "{n} PCT OF THE {of}"),
    "fare": ("FARE", "TOTAL FARE", "FARE PAID"),
    "ticket": ("TICKET", "TICKET PRICE", "TICKET VALUE"),
    "base fare": ("BASE FARE", "BASIC FARE"),
    "passenger_unit": ("PASSENGER", "PERSON"),
    "sector_unit": ("SECTOR", "SEGMENT"),
    "band0": ("{low} DAYS OR MORE BEFORE DEPARTURE", "MORE THAN {low1} DAYS BEFORE DEPARTURE",
              "AT LEAST {low} DAYS BEFORE DEPARTURE"),
    "band1": ("{high}-{low} DAYS BEFORE DEPARTURE",
              "BETWEEN {low} AND {high} DAYS BEFORE DEPARTURE",
              "FROM {high} TO {low} DAYS BEFORE DEPARTURE"),
    "band2": ("{high} DAYS OR LESS BEFORE DEPARTURE", "LESS THAN {high1} DAYS BEFORE DEPARTURE",
              "WITHIN {high1} DAYS OF DEPARTURE"),
    "band0h": ("{low} HOURS OR MORE BEFORE DEPARTURE", "MORE THAN {low1} HOURS BEFORE DEPARTURE"),
    "band1h": ("BETWEEN {low} AND {high} HOURS BEFORE DEPARTURE",
               "{high}-{low} HOURS BEFORE DEPARTURE"),
    "band2h": ("{high} HOURS OR LESS BEFORE DEPARTURE", "LESS THAN {high1} HOURS BEFORE DEPARTURE"),
}  # fmt: skip


# --- strategies ---------------------------------------------------------------------------

CURRENCY = "EUR"  # the request's currency for generated cases (the fees may name another)


@st.composite
def money(draw: st.DrawFn, currency: str = CURRENCY, *, at_most: int = 400) -> Money:
    """An amount, with or without thousands separators and decimals, code before or after."""
    grouped = draw(st.booleans())
    whole = draw(st.integers(1, at_most)) if not grouped else draw(st.integers(1000, 9000))
    cents = draw(st.sampled_from([0, 0, 50, 99]))
    decimals = cents != 0 or draw(st.booleans())
    value = Decimal(whole) + Decimal(cents) / 100
    return Money(value, currency, grouped, decimals, draw(st.booleans()))


@st.composite
def charges(
    draw: st.DrawFn,
    *,
    kinds: tuple[str, ...] = ("amount", "percent", "pair"),
    pers: tuple[Per | None, ...] = (None, "ticket", "passenger", "coupon", "direction", "sector"),
    ofs: tuple[Of, ...] = ("fare", "ticket", "base fare"),
    up_to: bool = True,
    currencies: tuple[str, ...] = (CURRENCY, CURRENCY, CURRENCY, "USD"),
) -> Charge:
    """A fee as the rules state it, drawn over every part the contract distinguishes."""
    kind = draw(st.sampled_from(kinds))
    currency = draw(st.sampled_from(currencies))
    amount = draw(money(currency)) if kind in ("amount", "pair") else None
    percent = (
        Decimal(draw(st.sampled_from([5, 10, 15, 20, 25, 30, 50, 75, 100])))
        if kind in ("percent", "pair")
        else None
    )
    pick: Pick | None = draw(st.sampled_from(["higher", "lower"])) if kind == "pair" else None
    per = draw(st.sampled_from(pers)) if kind == "amount" else None
    return Charge(
        amount, percent, draw(st.sampled_from(ofs)), pick, per,
        up_to=up_to and draw(st.integers(0, 9)) == 0,
    )  # fmt: skip


@st.composite
def band_schedules(draw: st.DrawFn) -> tuple[Band, ...]:
    """Two or three bands covering every time before departure, in days or hours."""
    unit: Literal["DAYS", "HOURS"] = draw(st.sampled_from(["DAYS", "HOURS"]))
    if unit == "DAYS":
        first = draw(st.integers(4, 20))
        second = draw(st.integers(first + 4, 90))
    else:
        first = draw(st.integers(3, 24))
        second = draw(st.integers(first + 4, 96))
    three = draw(st.booleans())
    if not three:
        return (Band(second, None, unit, 0), Band(None, second - 1, unit, 2))
    return (
        Band(second, None, unit, 0),
        Band(first, second - 1, unit, 1),
        Band(None, first - 1, unit, 2),
    )


@st.composite
def rules(
    draw: st.DrawFn,
    *,
    languages: tuple[Language, ...] = LANGUAGES,
    outcomes: st.SearchStrategy[Outcome] | None = None,
    banded: bool | None = None,
) -> Rules:
    """A cancellation provision (one outcome, or a band schedule) with what may stand beside."""
    language = draw(st.sampled_from(languages))
    outcome_of = (
        outcomes
        if outcomes is not None
        else st.one_of(charges(), charges(), charges(), st.sampled_from(["free", "non-refundable"]))
    )
    timed = draw(st.booleans()) if banded is None else banded
    if timed:
        schedule = draw(band_schedules())
        bands: tuple[tuple[Band | None, Outcome], ...] = tuple(
            (b, draw(outcome_of)) for b in schedule
        )
    else:
        bands = ((None, draw(outcome_of)),)
    beside = charges(kinds=("amount",), pers=(None,), up_to=False)
    change = draw(st.one_of(st.none(), beside))
    change_first = change is not None and draw(st.booleans())
    return Rules(
        language=language,
        bands=bands,
        heading=draw(st.sampled_from(HEADINGS)),
        # A cancellation fee right under a CHANGES heading is no layout a careful reader trusts.
        provision_heading=change_first or draw(st.booleans()),
        permitted_first=draw(st.booleans()),
        change=change,
        change_first=change_first,
        no_show=draw(st.one_of(st.none(), beside)),
        inline_bands=draw(st.booleans()),
        wording=draw(st.integers(0, 2**40)),
    )


@st.composite
def requests(draw: st.DrawFn, on: Rules) -> Request:
    """A request that falls safely inside one band of `on` (a unit away from its bounds)."""
    band, _ = on.bands[draw(st.integers(0, len(on.bands) - 1))]
    low, high = band.hours() if band is not None else (48.0, 24.0 * 120)
    hours = draw(st.integers(int(low), int(high)))
    # Prices above every generated amount and below the review threshold.
    price = Decimal(draw(st.integers(300, 4000))) + Decimal(draw(st.sampled_from([0, 50]))) / 100
    # Several passengers only where every amount says what it is per (ticket or passenger).
    unsaid = any(
        isinstance(o, Charge) and o.amount is not None and o.per is None
        for o in (*(outcome for _b, outcome in on.bands), on.no_show)
    )
    passengers = 1 if unsaid else draw(st.sampled_from([1, 1, 1, 2, 3]))
    return Request(price, CURRENCY, passengers, float(hours))


@st.composite
def scenarios(draw: st.DrawFn, **rule_options: Any) -> Scenario:
    """Rules (see `rules`) and a request on them; `Scenario.expected` is the contract's answer."""
    built = draw(rules(**rule_options))
    return Scenario(built, draw(requests(built)))


@st.composite
def no_show_scenarios(draw: st.DrawFn, **rule_options: Any) -> Scenario:
    """Rules (mostly with a no-show fee) and a no-show asking the day after departure."""
    built = draw(rules(**rule_options))
    if built.no_show is None and draw(st.integers(0, 4)):
        fee = draw(charges(kinds=("amount",), pers=(None,), up_to=False))
        built = replace(built, no_show=fee)
    asked = draw(requests(built))  # after the no-show fee is added: passengers depend on it
    return Scenario(built, replace(asked, hours_before=-24.0, no_show=True))
