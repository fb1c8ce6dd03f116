"""Classifies each sentence of the fare rules: a fee, free, permitted, non-refundable, a voucher,
a waiver and its reason, a reference to rules not shown, boilerplate that changes nothing for
a refund (and which), or unread."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from functools import cached_property

from llm_worker.refund.reading import lexicon as lx
from llm_worker.refund.reading.model import (
    Context,
    Kind,
    Per,
    Reason,
    Scope,
    Statement,
    Topic,
    Window,
)
from llm_worker.refund.reading.provisions import Sentence
from llm_worker.refund.reading.quick import Quick

# Boilerplate that is read and changes nothing for a refund of this fare, with what it is.
_NEUTRAL: tuple[tuple[Quick, str], ...] = (
    (Quick(r"TEXT BELOW NOT VALIDATED|NOT VALIDATED FOR AUTOPRICING|INFORMATIONAL"),
     "a note on automated pricing"),
    (Quick(r"\bINFANTS?\b|\bCHILD(?:REN)?\b|\bCNN\b|\bINF\b"),
     "child and infant terms (the booking is read as adults)"),
    (Quick(r"24 ?(?:HOURS?|HRS?) (?:AFTER|OF) (?:A |THE )?(?:TICKET|BOOKING|PURCHASE|ISSU)|"
                r"WITHIN 24 ?(?:HOURS?|HRS?) OF (?:BOOKING|PURCHASE|TICKETING|ISSU)"),
     "the 24-hour rule (policy step 2 decides it from the dates)"),
    (Quick(r"\bWHEN COMBINING|\bCOMBINATIONS?\b|HALF ROUND ?TRIP|PRICING UNIT|"
                r"MOST RESTRICTIVE|HIGHEST (?:PENALTY|FEE|CHARGE)|SUM OF THE (?:CANCELL?ATION )?"
                r"(?:FEES|CHARGES|PENALTIES)|(?:MORE THAN )?ONE FARE COMPONENTS?\b.*CHANGED|"
                r"RULES? APPL(?:Y|IES) BY FARE COMPONENT|"
                r"EACH (?:NON-? ?)?REFUNDABLE FARE COMPONENT|"
                r"OTHER (?:AIRLINES|CARRIERS)|\bOAL\b|INTERLINE"),
     "terms for combining fares"),
    (Quick(r"RE-? ?PRIC|REPRIC|HISTORICAL FARES?|CURRENT FARES?|FARES? IN EFFECT"),
     "repricing terms"),
    (Quick(r"FARE DIFFERENCE|DIFFERENCE IN FARES?|RESIDUAL|NEW ITINERARY|NEW TICKET|"
                r"NEW FARE|NEW RESERVATION|PREVIOUS TICKET|ORIGINAL TICKET|LOWER FARE|HIGHER FARE|"
                r"\bREMAINS? NON-? ?REFUNDABLE|CARRIED FORWARD"),
     "fare differences and earlier tickets on a change"),
    (Quick(r"NOT TRANSFERABLE|ENDORSE|COMMISS?I?SIONABLE|COMMISSION"), "ticket handling"),
    (Quick(r"THROUGH (?:THE )?ISSUING (?:OFFICE|AGENT)|(?:ONLY )?BE MADE THROUGH|"
                r"ORIGINAL FORM OF PAYMENT|TICKET (?:IS )?VALID FOR|WITHIN (?:THE )?TICKET "
                r"VALIDITY|VALIDITY PERIOD|MUST BE (?:EXCHANGED|REISSUED|REVALIDATED)"),
     "how and when a refund is processed"),
    (Quick(r"CHARGES? APPL(?:Y|IES) PER TRANSACTIONS?|PER TRANSACTION|PER REISSUANCE"),
     "a fee is charged once per transaction"),
    (Quick(r"LOST TICKET|NAME CHANGE|CHANGE OF PASSENGER|COLLECTED ON (?:AN )?EMD"),
     "a fee for another service (not a refund fee)"),
    (Quick(r"^(?!.*(?:CANCEL|REFUND|NO[- ]?SHOW)).*\b(?:BAGGAGE|SEATS?|SEAT SELECTION|MEALS?|"
                r"LOUNGE|WI-?FI|PRIORITY BOARDING|CHECKED BAGS?|CARRY-?ON)\b"),
     "ancillary services (not the fare's refund)"),
    (Quick(r"^(?!.*(?:CANCEL|REFUND|NO[- ]?SHOW)).*\b(?:TICKETING (?:WITHIN|MUST|IS REQUIRED)|"
                r"ADVANCE PURCHASE|MINIMUM STAY|MAXIMUM STAY|STOPOVERS?|TRANSFERS? PERMITTED)"),
     "other fare conditions (ticketing, stays, stopovers)"),
)  # fmt: skip
_VOUCHER = Quick(
    r"VOUCHER|CREDIT SHELL|TRAVEL CREDIT|FUTURE TRAVEL|TRAVEL FUNDS?|E-?CREDIT|\bMCO\b|"
    r"CREDIT (?:FOR|TOWARDS?) (?:A )?(?:FUTURE|NEW)|IN THE FORM OF A|AS AN? EMD\b|\bEMD FOR"
)
_REFERENCE = Quick(
    r"\bSEE (?:THE )?(?:FARE |GENERAL )?RULES?\b|\bSEE (?:CARRIER|AIRLINE|BELOW|ABOVE)|"
    r"\bCONTACT (?:THE |WITH THE )?(?:CARRIER|AIRLINE|ISSUING|TRAVEL AGEN|AGENCY|RESERVATIONS)|"
    r"\bRULE \w+ IN \w+ APPLIES|\bIN IPRG\b|GENERAL RULE \w+ APPLIES|\bPLS REFER|"
    r"\bREFER (?:TO )?(?:THE )?(?:LAST PAGE|RULE|CARRIER|AIRLINE|CATEGORY)|\bCONSULT\b|"
    r"CARRIER(?:'S)? APPROVAL|AT THE (?:CARRIER'S |AIRLINE'S )?DISCRETION|CONTRACT OF CARRIAGE|"
    r"\bCAT(?:EGORY)? ?\d{1,2}\b|DETAILS (?:ARE )?AVAILABLE|INFORMATION AVAILABLE"
)
_REASONS: tuple[tuple[Quick, Reason], ...] = (
    (Quick(r"DEATH|DECEASED|BEREAVEMENT|\bFAMILY\b|DIES\b|DIED\b"), Reason.DEATH),
    (Quick(r"ILLNESS|\bILL\b|INJURY|MEDICAL|HOSPITAL|SICK|PREGNAN|DOCTOR"), Reason.ILLNESS),
    (Quick(r"\bVISA\b|EMBASSY"), Reason.VISA),
    (Quick(r"SCHEDULE CHANGE|INVOLUNTAR|(?:CANCELL?ED|CANCELL?ATION) BY (?:THE )?"
                r"(?:CARRIER|AIRLINE|OPERATING)|CARRIER CANCELL?|DELAY|DENIED BOARDING|"
                r"IRREGULAR OPERATION|FLIGHT CANCELL?ED"), Reason.INVOLUNTARY),
    (Quick(r"MILITARY|JURY|COURT|NATURAL DISASTER|EMERGENCY|COVID|PANDEMIC"), Reason.OTHER),
)  # fmt: skip
_WAIVER_WORDS = Quick(
    r"WAIVE|EXCEPTION|EXCEPT|IN (?:THE )?CASE OF|IN THE EVENT OF|CERTIFICATE|DOCUMENT|"
    r"SUBSTANTIATED|EVIDENCED|PROOF|UPON|\bIF\b|\bDUE TO\b|REQUIRED"
)
_TAXES = Quick(
    r"\bTAX(?:ES)?\b|SURCHARGE|\bYQ\b|\bYR\b|AIRPORT (?:FEES?|CHARGES?|TAX)|CARRIER IMPOSED|"
    r"THIRD PARTIES|PASSENGER FACILITY|\bPFC\b|\bLEVIES\b|\bGST\b|\bVAT\b|SERVICE FEE|"
    r"PAYMENT (?:CHARGE|FEE)|ISSUANCE FEE|TICKETING FEE|BOOKING FEE"
)
_FOR_NON_REFUNDABLE = Quick(
    r"\b(?:FOR|ON|OF|IN CASE OF|IF THE (?:FARE|TICKET) IS|WHEN THE (?:FARE|TICKET) IS) "
    r"NON-? ?REFUNDABLE(?: (?:TICKETS?|FARES?))?\b"
)
_ONLY_TAXES = Quick(r"\bONLY\b|\bEXCEPT\b|\bOTHER THAN\b|\bSAVE\b")
_ONLY_TAXES_BACK = Quick(r"\bONLY\b.*\b(?:TAX|TAXES|CHARGES|FEES)\b.*REFUND")
_KEPT = Quick(
    r"NOT (?:BE )?REFUND(?:ED|ABLE)|NON-? ?REFUNDABLE|\bNO (?:TAX|FEE|SURCHARGE)\w* REFUND|"
    r"NOT ELIGIBLE|RETAIN|FORFEIT|WILL NOT BE RETURNED"
)
_ADDED = Quick(
    r"\bPLUS\b|IN ADDITION|ADDED TO|\bADDITIONAL\b|EXCLUSIVE OF|ON TOP OF|HIGHER THAN THE SUM"
)
_PER_UNIT_BASIS = Quick(
    r"(?:CHARGES?|FEES?|PENALT(?:Y|IES))\b.{0,60}\bAPPL(?:Y|IES|IED)\b.{0,20}\bPER "
    r"(?:COUPON|SECTOR|SEGMENT|DIRECTION|FARE COMPONENT|COMPONENT|FLIGHT|WAY|LEG|PORTION)|"
    r"APPL(?:Y|IES) PER (?:FARE )?COMPONENT|PER (?:\w+ )?PORTION"
)
_FLOWN = Quick(
    r"PARTIALLY USED|PARTLY USED|PARTIAL REFUND|\bFLOWN\b|TRAVELL?ED|JOURNEY TRAVEL|"
    r"USED COUPONS?|DEDUCT (?:THE )?(?:APPLICABLE )?ONE ?WAY"
)
_UP_TO = Quick(
    rf"\b(?:UP TO|MAXIMUM(?: OF)?|MAX\.?) "
    rf"(?:(?:{lx.CODE}|{lx.SYM})\s?\d|\d[\d.,]*\s?(?:{lx.CODE}|{lx.SYM}))"
)
_BASIC_FARE = Quick(r"\bBASIC FARE|\bBASE FARE|\bFARE COMPONENT AMOUNT|NET FARE")
_NOT_PERMITTED = re.compile(r"^(?:IS |ARE )?NOT PERMITTED$")
_SUB_HEADING = Quick(
    r"^(?:[A-Z0-9]{1,2}[.)-]\s*)?(?:REFUNDS?|CANCELL?ATIONS?|REFUND ?/ ?CANCELL?ATIONS?|"
    r"CANCELL?ATION PROVISIONS?|(?:CANCELL?ATION|REFUND) FEES? APPL(?:Y|IES) AS (?:BELOW|FOLLOWS))$"
)
_ABOUT_REFUNDS = re.compile(
    rf"CANCEL|REFUND|NO[- ]?SHOW|CHARGE|FEE|PENALT|FORFEIT|RETURN|MONEY|VALUE|FARE|TICKET|"
    rf"{lx.CODE}|{lx.SYM}"
)
_EXCEPTION = Quick(r"\b(?:EXCEPT|UNLESS|HOWEVER|BUT)\b")
_CLAUSES = re.compile(r",\s*(?=(?:THEN|OTHERWISE|THEREAFTER|AFTER THAT)\b)")
# "NO-SHOW: CHARGE USD 100", "CANCEL BEFORE DEPARTURE - USD 50": a heading for its own line.
_LOCAL = re.compile(r"^(?P<head>[A-Z/ -]{3,40}?)\s*(?::|\s-\s)\s*(?P<rest>\S.*)$")
_LOCAL_TOPIC = re.compile(
    r"^(?:VOLUNTARY )?(?:CANCEL\w*|REFUNDS?|CANCEL/REFUND|NO[- ]?SHOWS?|CHANGES?|REISSUE|"
    r"PENALTY|PENALTIES)\b"
)
_BOTH_CASES = Quick(
    r"(?:CANCEL\w*|REFUND\w*)\s?/\s?NO[- ]?SHOW|NO[- ]?SHOW\s?/\s?(?:CANCEL|REFUND)"
)


def classify(sentence: Sentence, previous: Statement | None = None) -> list[Statement]:
    """The statements of one sentence, in order (a sentence may hold several clauses).

    `previous` is the statement before it, which an "OTHERWISE ..." clause completes.
    """
    found: list[Statement] = []
    for clause in (c.strip(" .;:-*") for c in _CLAUSES.split(sentence.text)):
        if not clause:
            continue
        before = found[-1] if found else previous
        statement = _classify(clause, sentence.context, before)
        local = _LOCAL.match(clause)
        if local and (
            _LOCAL_TOPIC.match(local.group("head")) or _timing_words(local.group("head"))
        ):
            # "NO-SHOW: CHARGE USD 100": the head is a heading for the rest of the clause.
            context = _local_context(local.group("head"), sentence.context)
            headed = _classify(local.group("rest"), context, before)
            if headed.kind is Kind.UNREAD:
                headed = _classify(clause, context, before)
            if headed.kind is not Kind.UNREAD or statement.kind is Kind.UNREAD:
                statement = headed
        found.append(statement)
    return found


def _timing_words(head: str) -> bool:
    return bool(lx.window_in(head) or lx.BEFORE_DEP.search(head) or lx.AFTER.search(head))


def _local_context(head: str, context: Context) -> Context:
    topic = (
        Topic.CHANGE
        if lx.CHANGE_TOPIC.search(head) and not lx.REFUND_TOPIC.search(head)
        else Topic.REFUND
    )
    own = _scope(head)
    scope = own or context.scope
    after = own in (Scope.NO_SHOW, Scope.AFTER_DEPARTURE)  # as in `_classify`
    window = lx.window_in(head) or (None if after else context.window)
    return replace(context, topic=topic, scope=scope, window=window, headed=True)


# The parts of a statement that change what it charges: every amount, percentage, time bound
# and qualifier. A statement decides only when its reading accounts for each of them.
_PARTS = Quick(
    r"\d+(?:[.,]\d+)*|\b(?:HIGHER|LOWER|GREATER|LESSER|WHICHEVER|UP TO|MAXIMUM|MINIMUM|MAX|MIN|"
    r"PER|EACH|PLUS|EXCEPT|EXCEPTING|ONLY|BETWEEN|UNLESS|ADDITIONAL|IN ADDITION|EXCLUDING|"
    r"INCLUDING|OTHER THAN|SAVE FOR)\b"
)
_LIST_ITEM = re.compile(r"^\(?(?:\d{1,2}|[A-Z])[.)]\s")


class _Marks:
    """What a clause writes, each looked up once: the big patterns are slow on long text."""

    def __init__(self, clause: str) -> None:
        self.clause = clause
        # Spans of the clause its reading has accounted for (amounts, shares, timing, per what).
        self.used: list[tuple[int, int]] = []

    def use(self, match: re.Match[str] | None) -> None:
        if match is not None:
            self.used.append(match.span())

    def use_all(self, pattern: Quick | re.Pattern[str]) -> bool:
        found = False
        for m in pattern.finditer(self.clause):
            self.used.append(m.span())
            found = True
        return found

    def leftover(self) -> list[str]:
        """The parts of the clause no reading accounted for."""
        item = _LIST_ITEM.match(self.clause)
        start = item.end() if item else 0
        return [
            m.group(0)
            for m in _PARTS.finditer(self.clause)
            if m.start() >= start and not any(a <= m.start() and m.end() <= b for a, b in self.used)
        ]

    @cached_property
    def nonref(self) -> re.Match[str] | None:
        return lx.NON_REFUNDABLE_TEXT.search(self.clause)

    @cached_property
    def amounts(self) -> list[re.Match[str]]:
        return list(lx.AMOUNT.finditer(self.clause))

    @cached_property
    def percents(self) -> list[re.Match[str]]:
        return list(lx.PERCENT.finditer(self.clause))

    def decisive(self) -> bool:
        return bool(self.nonref or self.amounts or self.percents or lx.FREE.search(self.clause))


def _classify(clause: str, context: Context, previous: Statement | None) -> Statement:
    marks = _Marks(clause)
    own = _scope(clause)
    scope = own or context.scope
    # A no-show or after-departure statement is not in a before-departure band it stands below.
    after = own in (Scope.NO_SHOW, Scope.AFTER_DEPARTURE)
    window = lx.window_in(clause) or (None if after else context.window)
    if window is None and lx.OTHERWISE.match(clause) and previous is not None:
        window = _complement(previous.window)

    def made(kind: Kind, **fields: object) -> Statement:
        return Statement(kind, scope, clause, window, context=context, **fields)  # type: ignore[arg-type]

    if context.topic is Topic.CHANGE:
        if (
            _TAXES.search(clause)
            and _KEPT.search(clause)
            and not lx.CHANGE_TOPIC.search(clause)
            and not any(pattern.search(clause) for pattern, _ in _NEUTRAL)  # an earlier ticket
        ):
            # "THE SECURITY SURCHARGE ... IS NOT REFUNDABLE" printed below the change rules is
            # about every refund of the ticket, wherever it stands.
            return replace(
                _taxes(clause, marks, made), context=replace(context, topic=Topic.REFUND)
            )
        return made(Kind.NEUTRAL, about="a change provision (not a refund rule)")
    refund_words = bool(lx.REFUND_TOPIC.search(clause))
    if lx.CHANGE_TOPIC.search(clause) and not refund_words and not marks.nonref:
        return made(Kind.NEUTRAL, about="a rule for changes (not a refund rule)")
    if lx.PERMITTED.match(clause):
        # Before the boilerplate: "REFUNDS ALLOWED WITHIN TICKET VALIDITY" is the whole of a
        # permission, not a note on how a refund is processed.
        return made(Kind.PERMITTED)
    for pattern, about in _NEUTRAL:
        if pattern.search(clause):
            return made(Kind.NEUTRAL, about=about)
    if _VOUCHER.search(clause):
        return made(Kind.VOUCHER)
    if _REFERENCE.search(clause):
        return made(Kind.REFERENCE, about="provisions that are not shown")
    reasons = [reason for pattern, reason in _REASONS if pattern.search(clause)]
    if reasons and (_WAIVER_WORDS.search(clause) or not marks.decisive()):
        return made(Kind.WAIVER, reason=reasons[0], about=", ".join(r.value for r in reasons))
    if _TAXES.search(clause):
        if _FOR_NON_REFUNDABLE.search(clause):
            # "FOR NON REFUNDABLE TICKETS THE YR SURCHARGE WILL NOT BE REFUNDED": it speaks of a
            # non-refundable ticket only, which no refund decided here is (those are MANUAL).
            return made(Kind.NEUTRAL, about="what is kept of non-refundable tickets only")
        return _taxes(clause, marks, made)
    if _PER_UNIT_BASIS.search(clause) and not marks.amounts:
        return made(Kind.FEE_BASIS, uncomputable="the fee is charged per coupon, sector, "
                    "direction or fare component, and their number is not known")  # fmt: skip
    if _FLOWN.search(clause):
        return Statement(
            Kind.FEE_BASIS, Scope.AFTER_DEPARTURE, clause, window, context=context,
            uncomputable="the fare of the part already flown is deducted",
        )  # fmt: skip
    if _ADDED.search(clause) and not marks.amounts and not marks.percents:
        return made(Kind.FEE_BASIS, uncomputable="further charges are added to the fee")
    fee = _fee_statement(marks, scope, window, context)
    if fee is not None:
        return _accounted(fee, marks)
    if _NOT_PERMITTED.match(clause) or marks.nonref:
        return made(Kind.NON_REFUNDABLE, conditional=bool(_EXCEPTION.search(clause)))
    if lx.FREE.search(clause) or (refund_words and lx.BARE_FREE.search(clause)):
        # "UNLESS OTHERWISE SPECIFIED" defers to the rules shown: not a condition to check.
        unconditional = clause.replace("UNLESS OTHERWISE SPECIFIED", "")
        conditional = window is None and bool(lx.CONDITION.search(unconditional))
        marks.use(_UNLESS_SPECIFIED.search(clause))
        marks.use(_window_words(clause))
        return _accounted(made(Kind.FREE, conditional=conditional), marks)
    if _SUB_HEADING.match(clause):
        return made(Kind.NEUTRAL, about="a sub-heading")
    if not context.headed and not _ABOUT_REFUNDS.search(clause):
        # Prose outside any provision that speaks of neither refunds nor money (baggage, seats).
        return made(Kind.NEUTRAL, about="not about refunds or cancellations")
    return made(Kind.UNREAD, about="a sentence the reader does not understand")


_UNLESS_SPECIFIED = re.compile(r"UNLESS OTHERWISE SPECIFIED")


def _window_words(clause: str) -> re.Match[str] | None:
    found = lx.window_match(clause)
    return found[1] if found else None


def _accounted(statement: Statement, marks: _Marks) -> Statement:
    """The statement, or UNREAD when a part of it was left out of its reading: a fee read
    without its "whichever is higher", "plus" or second time bound would be a different fee."""
    if lx.FOREIGN.search(marks.clause) or len(lx.FOREIGN_WORDS.findall(marks.clause)) >= 2:
        return replace(
            statement, kind=Kind.UNREAD, alternative=None, pick=None,
            about=f"a {statement.kind.value} statement in a language the reader does not read",
        )  # fmt: skip
    if statement.uncomputable or statement.conditional:
        return statement  # a doubt already: MANUAL whatever the rest says
    if lx.CHANGE_TOPIC.search(marks.clause) and statement.per is not Per.UNIT:
        # "CHARGE USD 100 FOR CANCEL/REISSUE": a cancellation to reissue is a change; a fee
        # for changes and cancellations alike is one a careful reader asks about.
        return replace(
            statement, kind=Kind.UNREAD, alternative=None, pick=None,
            about=f"a {statement.kind.value} statement that speaks of changes or reissue too",
        )  # fmt: skip
    left = marks.leftover()
    if not left:
        return statement
    listed = ", ".join(f'"{part}"' for part in dict.fromkeys(left))
    return replace(
        statement, kind=Kind.UNREAD, alternative=None, pick=None,
        about=f"a {statement.kind.value} statement with parts its reading does not account "
        f"for: {listed}",
    )  # fmt: skip


def _taxes(clause: str, marks: _Marks, build: Callable[..., Statement]) -> Statement:
    nonref = bool(marks.nonref) and bool(_ONLY_TAXES.search(clause))
    if nonref or _ONLY_TAXES_BACK.search(clause):
        return build(Kind.TAXES_ONLY)
    if _ADDED.search(clause):
        return build(Kind.FEE_BASIS, uncomputable="a tax or charge is added to the fee")
    if _KEPT.search(clause):
        return build(Kind.RETAINED)
    return build(Kind.NEUTRAL, about="taxes and charges that are refunded")


def _scope(clause: str) -> Scope | None:
    if lx.NO_SHOW.search(clause) and not _BOTH_CASES.search(clause):
        return Scope.NO_SHOW
    if lx.AFTER.search(clause):
        return Scope.AFTER_DEPARTURE
    if lx.ANY_TIME.search(clause):
        return Scope.ANY_TIME
    if lx.BEFORE_DEP.search(clause):
        return Scope.BEFORE_DEPARTURE
    return None


def _complement(window: Window | None) -> Window | None:
    """The timing an "otherwise" clause covers after a one-sided window."""
    if window is None:
        return None
    if window.min_hours is not None and window.max_hours is None:
        return Window(max_hours=window.min_hours)
    if window.max_hours is not None and window.min_hours is None:
        return Window(min_hours=window.max_hours)
    return None


def _fee_statement(
    marks: _Marks, scope: Scope, window: Window | None, context: Context
) -> Statement | None:
    clause = marks.clause
    fees = _fees(marks, timed=window is not None or scope is not Scope.UNSPECIFIED)
    nonref = marks.nonref
    # "50% OF THE FARE IS FORFEITED" states a fee; "THE TICKET IS FORFEITED" states none.
    if not fees or (nonref and "FORFEIT" not in nonref.group(0)):
        return None
    marks.use(_window_words(clause))
    marks.use_all(lx.PER_UNIT)
    marks.use_all(lx.PER_BOOKING)
    marks.use_all(lx.PER_PASSENGER)
    if all(f.amount == 0 or f.percent == 0 for f in fees):
        return Statement(Kind.FREE, scope, clause, window, context=context)
    up_to = marks.use_all(_UP_TO)
    basic = marks.use_all(_BASIC_FARE)
    added = marks.use_all(_ADDED)
    uncomputable = (
        "the fee is \"up to\" an amount" if up_to
        else "the fee is a share of the basic fare, which the case does not give" if basic
        else "further charges are added to the fee" if added
        else None
    )  # fmt: skip
    first = _with(fees[0], scope, window, context, uncomputable)
    if len(fees) == 1:
        return first
    higher, lower = lx.HIGHER.search(clause), lx.LOWER.search(clause)
    pick = "max" if higher else "min" if lower else None
    if len(fees) == 2 and (higher is None) != (lower is None):
        marks.use(higher or lower)
    second = _with(fees[1], scope, window, context, uncomputable)
    if len(fees) > 2:
        return replace(first, kind=Kind.UNREAD, about="a statement with more than two fees")
    if (
        pick is None
        and uncomputable is None
        and (first.currency == second.currency or None in (first.amount, second.amount))
    ):
        # "USD 100 OR 20 PERCENT", "NO-SHOW FEE USD 100 AND CANCELLATION FEE USD 200": two
        # fees, and no word on which is charged (two currencies are one fee quoted twice).
        return replace(
            first, kind=Kind.UNREAD, about="two fees, and no word on which of them is charged"
        )
    return replace(first, alternative=second, pick=pick)


def _with(
    fee: Statement, scope: Scope, window: Window | None, context: Context, uncomputable: str | None
) -> Statement:
    per = (
        Per.UNIT if lx.PER_UNIT.search(fee.text)
        else Per.BOOKING if lx.PER_BOOKING.search(fee.text)
        else Per.PASSENGER
    )  # fmt: skip
    return Statement(
        Kind.FEE, scope, fee.text, window, fee.amount, fee.currency, fee.percent, per=per,
        uncomputable=uncomputable, context=context,
    )  # fmt: skip


def _fees(marks: _Marks, *, timed: bool) -> list[Statement]:
    """The fees a clause states, as amounts or percentages of the fare.

    A bare amount counts when the clause speaks of a fee, of cancelling or refunding, or of
    a timing (e.g. "MORE THAN 7 DAYS BEFORE DEPARTURE: USD 50" under a penalties heading).
    """
    clause = marks.clause
    fees: list[Statement] = []
    mentions_fee = bool(lx.FEE_WORDS.search(clause))
    refund = bool(lx.REFUND_TOPIC.search(clause))
    spans: list[tuple[int, int]] = []
    for m in marks.percents:
        value = lx.parse_number(m.group("num"))
        if value is None or value > 100:
            continue
        before, after = clause[max(0, m.start() - 30) : m.start()], clause[m.end() :]
        share = lx.SHARE_OF.match(after)  # a share of the base fare is a doubt: see below
        spans.append((m.start(), m.end() + (share.end() if share else 0)))
        if lx.REFUNDED_SHARE.match(after) or lx.REFUNDED_SHARE_BEFORE.search(before):
            # "50% OF THE FARE IS REFUNDED", "REFUND OF 50%": the fee is the rest.
            fees.append(Statement(Kind.FEE, Scope.UNSPECIFIED, clause, percent=100 - value))
        elif mentions_fee or timed or refund or lx.FEE_WORDS.search(before + " " + after[:30]):
            fees.append(Statement(Kind.FEE, Scope.UNSPECIFIED, clause, percent=value))
        else:
            spans.pop()
    for m in marks.amounts:
        code = m.group("code1") or m.group("code2")
        symbol = m.group("sym1") or m.group("sym2")
        currency = code or lx.SYMBOLS.get(symbol or "")
        value = lx.parse_number(m.group("num1") or m.group("num2") or m.group("num3"))
        if currency is None or value is None:
            continue
        spans.append(m.span())
        fees.append(Statement(Kind.FEE, Scope.UNSPECIFIED, clause, amount=value, currency=currency))
    if not mentions_fee and not timed and not refund:
        return []
    marks.used.extend(spans)
    unique: dict[tuple[Decimal | None, str | None, Decimal | None], Statement] = {}
    for fee in fees:
        unique.setdefault((fee.amount, fee.currency, fee.percent), fee)
    return list(unique.values())
