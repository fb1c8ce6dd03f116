"""Reads the common shapes of ATPCO category-16 penalty text into statements the policy can use.

The reader is deliberately literal: it recognises a sentence that says a refund is free, that
the fare is non-refundable, or that a fee (an amount or a percentage) is charged, together
with the part of the journey it applies to (before/after departure, no-show) and a timing
window ("more than 7 days before departure"). What it does not recognise it reports as
unread, so the policy can say "unsure" instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum


class Kind(StrEnum):
    FREE = "free"
    FEE = "fee"
    NON_REFUNDABLE = "non_refundable"


class Scope(StrEnum):
    UNSPECIFIED = "unspecified"  # no timing named: a general cancellation/refund rule
    ANY_TIME = "any_time"  # explicitly "any time": before and after departure, no-show
    BEFORE_DEPARTURE = "before_departure"
    AFTER_DEPARTURE = "after_departure"
    NO_SHOW = "no_show"


@dataclass(frozen=True)
class Window:
    """Hours before departure in which a statement applies: min <= hours < max."""

    min_hours: float | None = None
    max_hours: float | None = None

    def contains(self, hours: float) -> bool:
        if self.min_hours is not None and hours < self.min_hours:
            return False
        return not (self.max_hours is not None and hours >= self.max_hours)


class Per(StrEnum):
    PASSENGER = "passenger"
    BOOKING = "booking"
    UNIT = "unit"


@dataclass(frozen=True)
class Statement:
    kind: Kind
    scope: Scope
    text: str
    window: Window | None = None
    amount: Decimal | None = None
    currency: str | None = None
    percent: Decimal | None = None
    # A second fee in the same sentence ("USD 100 OR 10% WHICHEVER IS HIGHER").
    alternative: Statement | None = None
    pick: str | None = None  # "max" or "min" between the fee and its alternative
    # What an amount is charged for: each passenger's ticket (ATPCO's default), the whole
    # booking, or each coupon/sector/direction (a count the case does not give).
    per: Per = Per.PASSENGER
    # A free refund under a condition the reader does not check ("FOR ELITE MEMBERS", "IF ...").
    conditional: bool = False


@dataclass(frozen=True)
class Reading:
    statements: tuple[Statement, ...]
    injection: str | None = None  # the phrase that looks like an instruction to the decider
    foreign: bool = False  # the text is (mostly) not English


# ISO 4217 codes seen in fare rules; a closed list so that words like FEE or FOR are not codes.
CURRENCIES = frozenset(
    [
        "USD",
        "EUR",
        "GBP",
        "CAD",
        "AUD",
        "NZD",
        "CHF",
        "JPY",
        "CNY",
        "HKD",
        "SGD",
        "INR",
        "AED",
        "SAR",
        "QAR",
        "KWD",
        "BHD",
        "OMR",
        "TRY",
        "ZAR",
        "EGP",
        "MAD",
        "SEK",
        "NOK",
        "DKK",
        "ISK",
        "PLN",
        "CZK",
        "HUF",
        "RON",
        "BGN",
        "RUB",
        "UAH",
        "ILS",
        "THB",
        "MYR",
        "IDR",
        "PHP",
        "VND",
        "KRW",
        "TWD",
        "MXN",
        "BRL",
        "ARS",
        "CLP",
        "COP",
        "PEN",
    ]
)
_SYMBOLS = {"US$": "USD", "C$": "CAD", "CA$": "CAD", "A$": "AUD", "AU$": "AUD", "NZ$": "NZD",
            "$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "CHF": "CHF"}  # fmt: skip

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_CODE = "(?:" + "|".join(sorted(CURRENCIES)) + ")"
_SYM = r"US\$|CA?\$|AU?\$|NZ\$|\$|€|£|¥|₹"
_AMOUNT = re.compile(
    rf"(?:(?P<code1>{_CODE})\s?(?P<num1>{_NUM})(?![\d%]))"
    rf"|(?:(?P<sym1>{_SYM})\s?(?P<num2>{_NUM}))"
    rf"|(?:(?<![\w.,])(?P<num3>{_NUM})\s?(?:(?P<code2>{_CODE})\b|(?P<sym2>€|£|\$)))"
)
_PERCENT = re.compile(rf"(?<![\w.,])(?P<num>{_NUM})\s?(?:%|PERCENT\b|PER CENT\b|PCT\b)")
_UNIT_HOURS = {"HOUR": 1.0, "HR": 1.0, "H": 1.0, "DAY": 24.0, "WEEK": 168.0}
_UNIT = r"(?P<unit>HOURS?|HRS?|H|DAYS?|WEEKS?)\b"
_BEFORE = r"(?:BEFORE|PRIOR TO|PRIOR)"
_WINDOW_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"BETWEEN (?P<n>\d+) AND (?P<m>\d+) {_UNIT}"), "between"),
    (
        re.compile(
            rf"(?:MORE THAN|OVER|GREATER THAN|EARLIER THAN|BEYOND|AT LEAST|MINIMUM OF|MINIMUM|"
            rf"UP TO|UNTIL|NO LATER THAN|LATEST) (?P<n>\d+) ?{_UNIT} {_BEFORE}"
        ),
        "min",
    ),
    (re.compile(rf"(?P<n>\d+) ?{_UNIT} OR MORE {_BEFORE}"), "min"),
    (
        re.compile(
            rf"(?:LESS THAN|WITHIN|FEWER THAN|UNDER|INSIDE|LAST) (?P<n>\d+) ?{_UNIT}"
            rf"(?: {_BEFORE}| OF (?:THE )?(?:SCHEDULED )?(?:DEPARTURE|TRAVEL|FLIGHT))"
        ),
        "max",
    ),
    (re.compile(rf"(?P<n>\d+) ?{_UNIT} OR LESS {_BEFORE}"), "max"),
    # "IF CANCELLED 30 DAYS BEFORE DEPARTURE": read as at least that long before.
    (re.compile(rf"(?P<n>\d+) ?{_UNIT} {_BEFORE}"), "min"),
)
_OTHERWISE = re.compile(
    r"^(?:OTHERWISE|ELSE|THEN|THEREAFTER|AFTER THAT|IN ALL OTHER CASES|IN OTHER CASES|LATER)\b"
)

_NO_SHOW = re.compile(
    r"NO[- ]?SHOWS?\b|FAIL(?:S|URE|ED)? TO (?:SHOW|BOARD|CHECK[- ]IN|CANCEL)|MISSED FLIGHT|"
    r"DID NOT (?:SHOW|TRAVEL|BOARD)"
)
_AFTER = re.compile(
    r"AFTER (?:THE )?(?:SCHEDULED )?DEPARTURE|AFTER TRAVEL (?:HAS )?(?:COMMENCED|STARTED)|"
    r"PARTIALLY USED|PARTLY USED|AFTER COMMENCEMENT"
)
_BEFORE_DEP = re.compile(
    rf"{_BEFORE} (?:THE )?(?:SCHEDULED )?(?:DEPARTURE|TRAVEL|FIRST FLIGHT)|BEFORE TRAVEL|"
    r"UNUSED TICKETS?|WHOLLY UNUSED|FULLY UNUSED"
)
_ANY_TIME = re.compile(r"\bANY ?TIME\b|AT ALL TIMES")

NON_REFUNDABLE_TEXT = re.compile(
    r"NON[- ]?REFUNDABLE|\bNONREF\b|NOT REFUNDABLE|NO REFUNDS?\b(?! ?(?:FEE|CHARGE|PENALTY))|"
    r"REFUNDS? (?:IS |ARE )?NOT (?:PERMITTED|ALLOWED|POSSIBLE|AVAILABLE)|"
    r"CANCELL?(?:ATION)?S?(?:/REFUNDS?)? (?:IS |ARE )?NOT PERMITTED|"
    r"(?:TICKET|FARE) HAS NO (?:REFUND )?VALUE|NO VALUE|"
    r"(?:TICKET|FARE|VALUE|AMOUNT PAID) (?:IS |WILL BE |SHALL BE )?FORFEIT(?:ED)?\b|"
    # The same in the languages fare rules most often come in: plain enough to read here.
    r"NON[- ]?REMBOURSABLE|PAS REMBOURSABLE|AUCUN REMBOURSEMENT|NICHT ERSTATTBAR|"
    r"NICHT ERSTATTUNGSF|KEINE ERSTATTUNG|NO (?:ES )?REEMBOLSABLE|SIN REEMBOLSO|"
    r"NON RIMBORSABILE|NESSUN RIMBORSO|N[ÃA]O REEMBOLS[ÁA]VEL|NIET RESTITUEERBAAR|"
    r"GEEN RESTITUTIE|EJ [ÅA]TERBETALNINGSBAR|IKKE REFUNDERBAR"
)
_FREE = re.compile(
    r"FREE OF (?:CHARGE|COST)|WITHOUT (?:ANY )?(?:CHARGE|FEE|PENALTY|PENALTIES|COST)|"
    r"NO (?:CANCELL?ATION |REFUND )?(?:CHARGE|FEE|PENALTY)\b|FULLY REFUNDABLE|"
    r"FULL(?:Y)? REFUND(?:ABLE|ED)?\b|REFUNDABLE IN FULL|FREE (?:CANCELL?ATION|REFUND)|"
    r"(?:PENALTY|CHARGE|FEE):? (?:NIL|NONE)\b|PENALTY-FREE|FEE-FREE|CHARGE-FREE"
)
_BARE_FREE = re.compile(r"\bFREE\b")
_CONDITION = re.compile(
    r"\b(?:IF|ONLY|PROVIDED|WHEN|UNLESS|EXCEPT|SUBJECT TO|MEMBERS?|HOLDERS?|STATUS|ELITE|"
    r"CORPORATE|UPON|REQUIRES?|WITH (?:A |AN )?(?:DOCTOR|CERTIFICATE|PROOF))\b|"
    # "WITHIN 24 HOURS" with no departure named: of booking? of travel? not ours to guess.
    r"\bWITHIN \d+ ?(?:HOURS?|HRS?|H|DAYS?|WEEKS?)\b"
)
_PER_UNIT = re.compile(
    r"\b(?:PER|EACH|AND) (?:COUPON|SECTOR|SEGMENT|DIRECTION|WAY|FLIGHT|LEG|FARE COMPONENT|"
    r"COMPONENT)S?\b|EACH WAY"
)
_PER_BOOKING = re.compile(r"\bPER (?:BOOKING|RESERVATION|TRANSACTION|PNR|ORDER)\b")
_FEE_WORDS = re.compile(
    r"CHARGE|FEE|PENALTY|PENALTIES|DEDUCT|RETAIN|RETENTION|COST|SUBJECT TO|PERMITTED FOR|FORFEIT|"
    r"ALLOWED FOR|LESS\b|MINUS"
)
_REFUND_PERCENT = re.compile(r"REFUND(?:ED|ABLE)?|WILL BE RETURNED|REIMBURSED")
_REFUND_TOPIC = re.compile(r"CANCEL|REFUND|NO[- ]?SHOW")
_CHANGE_TOPIC = re.compile(
    r"\bCHANGES?\b|REISSUE|REBOOK|REROUT|REVALIDAT|UPGRADE|DATE CHANGE|NAME CHANGE"
)
_ASIDE = re.compile(
    r"\bTAX(?:ES)?\b|SURCHARGE|\bYQ\b|\bYR\b|AIRPORT (?:FEE|CHARGE)|WAIVE|DEATH|DECEASED|"
    r"ILLNESS|MEDICAL|BEREAVEMENT|INFANT|CHILD DISCOUNT|TRAVEL AGENT|SERVICE FEE|"
    r"NON-?ENDORSABLE|ENDORSEMENT|DENIED BOARDING|INVOLUNTAR|SCHEDULE CHANGE|DELAY|"
    r"(?:CANCELL?ED|CANCELL?ATION) BY (?:THE )?(?:CARRIER|AIRLINE|OPERATING)|"
    r"CARRIER (?:CANCELL?ATION|CANCELL?ED)|IRREGULAR OPERATION|MILITARY|JURY|VISA|"
    r"(?:OF|AFTER|FROM) (?:THE )?(?:TICKET )?(?:PURCHASE|BOOKING|ISSU\w*|TICKETING|RESERVATION)"
)
_HIGHER = re.compile(r"WHICHEVER IS (?:HIGHER|GREATER|MORE)|THE HIGHER OF|THE GREATER OF")
_LOWER = re.compile(r"WHICHEVER IS (?:LOWER|LESS|SMALLER)|THE LOWER OF|THE LESSER OF")

_INJECTION = re.compile(
    r"IGNORE (?:ALL |ANY |THE )?(?:PREVIOUS |PRIOR |ABOVE |EARLIER |OTHER |YOUR )?"
    r"(?:INSTRUCTIONS|RULES|POLICY|POLICIES|PROMPTS?)|DISREGARD (?:ALL |ANY |THE |YOUR )?"
    r"(?:PREVIOUS |PRIOR |ABOVE )?(?:INSTRUCTIONS|RULES|POLICY)|"
    r"\bSYSTEM ?(?:PROMPT|MESSAGE|NOTE|OVERRIDE|INSTRUCTIONS?)?:|\bASSISTANT:|"
    r"YOU ARE (?:NOW )?(?:AN?|THE) |AS AN AI|NEW INSTRUCTIONS|"
    r"(?:APPROVE|ALLOW|AUTHORI[SZ]E) (?:THIS|THE|ALL|A FULL|FULL) (?:REFUNDS?|REQUESTS?|CLAIMS?)|"
    r"(?:RESPOND|ANSWER|REPLY|OUTPUT|CLASSIFY)(?: ONLY)?(?: WITH| AS)?:? [\"']?"
    r"(?:ALLOWED|APPROVED)|"
    r"FARERULECHECK|DECISION ?[:=] ?[\"']?ALLOWED|\"DECISION\"|OVERRIDE (?:THE |ALL )?"
    r"(?:POLICY|RULES|GUARDRAILS?)|PROMPT INJECTION|JAILBREAK|<\|?(?:IM_START|SYSTEM)"
)
_FOREIGN = re.compile(
    r"REMBOURS|ANNUL|\bFRAIS\b|ERSTATT|STORNO|GEBÜHR|GEBUEHR|\bNICHT\b|REEMBOLS|CANCELACI|"
    r"\bTARIFA\b|RIMBORS|\bPENALE\b|\bBILLET\b|\bKOSTEN\b|GRATUIT|\bSANS\b|\bAVANT\b|"
    r"\bAPRÈS\b|\bABFLUG|\bVOR\b|\bNACH\b|\bANTES\b|\bDESPUÉS\b|\bSALIDA\b|\bPARTENZA\b|"
    r"\bBILJETT|\bAVGIFT|\bTARIF\b|\bPRIMA\b|\bDOPO\b|[\u0400-\u04ff\u0600-\u06ff\u3040-\u30ff"
    r"\u4e00-\u9fff]"
)
_SENTENCE_SPLIT = re.compile(
    r"(?<=[.;!])\s+|\s+-\s+|\n+|\s{3,}|,\s*(?=(?:THEN|OTHERWISE|THEREAFTER|AFTER THAT)\b)"
)
_HEADING_MAX = 48


def read_fare_rules(text: str | None) -> Reading:
    """Read the penalty statements out of fare-rule text (any case, any layout)."""
    if text is None or not text.strip():
        return Reading(statements=())
    upper = text.upper().replace("\u00a0", " ")
    injection = _INJECTION.search(upper)
    statements: list[Statement] = []
    heading_scope = Scope.UNSPECIFIED
    heading_window: Window | None = None
    heading_topic = "refund"
    for line in upper.splitlines():
        clauses = [c for c in (r.strip(" .;:-*\t") for r in _SENTENCE_SPLIT.split(line)) if c]
        local: tuple[str, Scope, Window | None] | None = None
        for clause in clauses:
            heading = _heading(clause)
            if heading is not None:
                # A heading on a line of its own opens a section (ATPCO layout); inside a
                # line ("NO-SHOW - USD 100") it only applies to the rest of that line.
                if len(clauses) == 1:
                    heading_topic, heading_scope, heading_window = heading
                else:
                    local = heading
                continue
            topic, section_scope, section_window = local or (
                heading_topic,
                heading_scope,
                heading_window,
            )
            about_refund = bool(_REFUND_TOPIC.search(clause))
            if _CHANGE_TOPIC.search(clause) and not about_refund:
                continue
            if topic == "change" and not about_refund:
                continue
            if _ASIDE.search(clause):
                continue
            scope = _scope(clause) or section_scope
            window = _window(clause) or section_window
            if window is None and _OTHERWISE.match(clause) and statements:
                window = _complement(statements[-1].window)
            found = _statement(clause, scope, window)
            if found is not None:
                statements.append(found)
    foreign = bool(_FOREIGN.search(upper)) and not statements
    return Reading(
        statements=tuple(statements),
        injection=injection.group(0).strip() if injection else None,
        foreign=foreign,
    )


def _heading(clause: str) -> tuple[str, Scope, Window | None] | None:
    """A short line that only names a topic or a timing opens a section for the lines below."""
    if len(clause) > _HEADING_MAX or _AMOUNT.search(clause) or _PERCENT.search(clause):
        return None
    if _ASIDE.search(clause):
        return None
    if any(p.search(clause) for p in (NON_REFUNDABLE_TEXT, _FREE, _BARE_FREE, _FEE_WORDS)):
        return None
    scope = _scope(clause)
    window = _window(clause)
    if scope is not None or window is not None:
        return "refund", scope or Scope.BEFORE_DEPARTURE, window
    words = clause.rstrip(":").strip()
    if re.fullmatch(r"(?:VOLUNTARY )?(?:CHANGES?|REISSUES?|REBOOKING|REVALIDATION)", words):
        return "change", Scope.UNSPECIFIED, None
    if re.fullmatch(
        r"(?:VOLUNTARY )?(?:CANCELL?ATIONS?|REFUNDS?|CANCELL?ATIONS?/REFUNDS?|PENALTIES|"
        r"CANCELL?ATION AND REFUND|CANCELL?ATIONS? AND REFUNDS?)"
        r"(?: PROVISIONS| RULES| CONDITIONS)?",
        words,
    ):
        return "refund", Scope.UNSPECIFIED, None
    return None


def _scope(clause: str) -> Scope | None:
    if _NO_SHOW.search(clause):
        return Scope.NO_SHOW
    if _AFTER.search(clause):
        return Scope.AFTER_DEPARTURE
    if _ANY_TIME.search(clause):
        return Scope.ANY_TIME
    if _BEFORE_DEP.search(clause):
        return Scope.BEFORE_DEPARTURE
    return None


def _window(clause: str) -> Window | None:
    for pattern, shape in _WINDOW_PATTERNS:
        m = pattern.search(clause)
        if not m:
            continue
        unit = m.group("unit").rstrip("S")
        hours = _UNIT_HOURS.get(unit, 1.0)
        n = float(m.group("n")) * hours
        if shape == "between":
            other = float(m.group("m")) * hours
            return Window(min(n, other), max(n, other))
        if shape == "min":
            return Window(min_hours=n)
        return Window(max_hours=n)
    return None


def _complement(window: Window | None) -> Window | None:
    """The timing an "otherwise" sentence covers after a one-sided window."""
    if window is None:
        return None
    if window.min_hours is not None and window.max_hours is None:
        return Window(max_hours=window.min_hours)
    if window.max_hours is not None and window.min_hours is None:
        return Window(min_hours=window.max_hours)
    return None


def _statement(clause: str, scope: Scope, window: Window | None) -> Statement | None:
    fees = _fees(clause, timed=window is not None or scope is not Scope.UNSPECIFIED)
    nonref = NON_REFUNDABLE_TEXT.search(clause)
    # "50% OF THE FARE IS FORFEITED" states a fee; "THE TICKET IS FORFEITED" states none.
    if nonref and not (fees and "FORFEIT" in nonref.group(0)):
        return Statement(Kind.NON_REFUNDABLE, scope, clause, window)
    if fees:
        if all(f.amount == 0 or f.percent == 0 for f in fees):
            return Statement(Kind.FREE, scope, clause, window)
        first = _with(fees[0], scope, window)
        if len(fees) > 1:
            pick = "max" if _HIGHER.search(clause) else "min" if _LOWER.search(clause) else None
            second = _with(fees[1], scope, window)
            return Statement(
                Kind.FEE, scope, clause, window, first.amount, first.currency, first.percent,
                alternative=second, pick=pick, per=first.per,
            )  # fmt: skip
        return first
    if _FREE.search(clause) or (_REFUND_TOPIC.search(clause) and _BARE_FREE.search(clause)):
        conditional = window is None and bool(_CONDITION.search(clause))
        return Statement(Kind.FREE, scope, clause, window, conditional=conditional)
    return None


def _with(fee: Statement, scope: Scope, window: Window | None) -> Statement:
    per = (
        Per.UNIT if _PER_UNIT.search(fee.text)
        else Per.BOOKING if _PER_BOOKING.search(fee.text)
        else Per.PASSENGER
    )  # fmt: skip
    return Statement(
        Kind.FEE, scope, fee.text, window, fee.amount, fee.currency, fee.percent, per=per
    )  # fmt: skip


def _fees(clause: str, *, timed: bool) -> list[Statement]:
    """The fees a clause states, as amounts or percentages of the fare.

    A bare amount counts when the clause speaks of a fee, of cancelling or refunding, or of
    a timing (e.g. "MORE THAN 7 DAYS BEFORE DEPARTURE: USD 50" under a penalties heading).
    """
    fees: list[Statement] = []
    mentions_fee = bool(_FEE_WORDS.search(clause))
    for m in _PERCENT.finditer(clause):
        value = _number(m.group("num"))
        if value is None or value > 100:
            continue
        near = clause[max(0, m.start() - 30) : m.start()] + " " + clause[m.end() : m.end() + 30]
        if _FEE_WORDS.search(near):
            fees.append(Statement(Kind.FEE, Scope.UNSPECIFIED, clause, percent=value))
        elif _REFUND_PERCENT.search(near):
            # "50% OF THE FARE IS REFUNDED": the fee is the rest.
            fees.append(Statement(Kind.FEE, Scope.UNSPECIFIED, clause, percent=100 - value))
        elif mentions_fee or timed:
            fees.append(Statement(Kind.FEE, Scope.UNSPECIFIED, clause, percent=value))
    for m in _AMOUNT.finditer(clause):
        code = m.group("code1") or m.group("code2")
        symbol = m.group("sym1") or m.group("sym2")
        currency = code or _SYMBOLS.get(symbol or "")
        value = _number(m.group("num1") or m.group("num2") or m.group("num3"))
        if currency is None or value is None:
            continue
        fees.append(Statement(Kind.FEE, Scope.UNSPECIFIED, clause, amount=value, currency=currency))
    if not mentions_fee and not timed and not _REFUND_TOPIC.search(clause):
        return []
    unique: dict[tuple[Decimal | None, str | None, Decimal | None], Statement] = {}
    for fee in fees:
        unique.setdefault((fee.amount, fee.currency, fee.percent), fee)
    return list(unique.values())


def written_amounts(text: str) -> list[tuple[Decimal, str]]:
    """Every amount the text writes with a currency ("USD 80", "80 EUR", "$80"), as written."""
    found: list[tuple[Decimal, str]] = []
    for m in _AMOUNT.finditer(text.upper()):
        currency = m.group("code1") or m.group("code2")
        currency = currency or _SYMBOLS.get(m.group("sym1") or m.group("sym2") or "")
        value = _number(m.group("num1") or m.group("num2") or m.group("num3"))
        if currency is not None and value is not None:
            found.append((value, currency))
    return found


def _number(raw: str) -> Decimal | None:
    # "150,00" is a decimal comma; "1,250" and "1,250.00" group thousands.
    raw = raw.replace(",", ".") if re.fullmatch(r"\d+,\d{1,2}", raw) else raw.replace(",", "")
    try:
        return Decimal(raw)
    except InvalidOperation:
        return None
