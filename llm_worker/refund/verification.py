"""Verifies the statement an LLM answer quotes, with the product's own reading: is it a
cancellation/refund provision that applies to this request, charging what was answered, the
only one that could apply, and does the model's own reasoning agree with its answer."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from llm_worker.refund.models import Decision, RefundCase
from llm_worker.refund.policy import RuleResult, decide_by_text
from llm_worker.refund.reading import (
    DECISIVE,
    Kind,
    Reading,
    Scope,
    Statement,
    Topic,
    read_fare_rules,
)
from llm_worker.refund.reading import lexicon as lx
from llm_worker.refund.reading.applying import select

# The shortest piece of text that places a quote in the fare rules (a word or two is anywhere).
_MIN_QUOTE_CHARS = 8


class Failed(StrEnum):
    """Which check of a quoted statement failed (the guardrail reasons they become)."""

    UNVERIFIABLE = "quote_unverifiable"  # the product cannot read the quote well enough
    NOT_REFUND_PROVISION = "quote_not_refund_provision"  # a change, reissue or service rule
    NOT_APPLICABLE = "quote_not_applicable"  # another timing, a no-show before departure, ...
    READS_OTHERWISE = "quote_reads_otherwise"  # the product's reading decides otherwise
    OTHER_STATEMENT = "other_statement_applies"  # another statement could apply too
    REASONING = "reasoning_contradicts"  # the model's own reasoning contradicts its answer


@dataclass(frozen=True)
class Failure:
    check: Failed
    why: str


@dataclass(frozen=True)
class Claim:
    """What the answer would pay: ALLOWED, or WITH_PENALTY with the fee in the ticket's
    currency (computed by the worker) and the figure the model wrote (an amount or a percent)."""

    decision: Decision
    penalty: Decimal | None = None
    amount: Decimal | None = None
    percent: Decimal | None = None


# --- the model's reasoning ----------------------------------------------------------------------
# It names a change fee (the fee is the change provision's), in English and the common languages.
_CHANGE_FEE_SAID = re.compile(
    r"\bCHANGE (?:FEE|PENALTY|CHARGE)S?\b|\b(?:FEE|PENALTY|CHARGE)S? (?:FOR|OF) (?:A |THE )?"
    r"(?:DATE )?CHANGE|\bREISSUE|\bREBOOK|\bDATE CHANGE|FRAIS DE (?:MODIFICATION|CHANGEMENT)|"
    r"UMBUCHUNG|[ÄA]NDERUNGSGEB[ÜU]HR|PENALIDAD POR CAMBIO|CARGO POR CAMBIO|\bCAMBIOS?\b|"
    r"MODIFICACI[ÓO]N|PENALE DI CAMBIO|TAXA DE ALTERA"
)
# It says the request is not covered, the fare not refundable, or that it cannot tell.
_NOT_COVERED_SAID = re.compile(
    r"NOT COVERED|DOES NOT COVER|DO(?:ES)? NOT (?:MENTION|SAY|STATE|SPECIFY|ADDRESS)|"
    r"\bNO (?:RULE|PROVISION|INFORMATION|MENTION)\b|NOT (?:SPECIFIED|STATED|MENTIONED|CLEAR)|"
    r"NON-? ?REFUNDABLE|NOT REFUNDABLE|\bNO REFUNDS?\b(?! ?(?:FEE|CHARGE|PENALTY))|"
    r"REFUNDS? (?:IS |ARE )?NOT (?:PERMITTED|ALLOWED|POSSIBLE)|UNCLEAR|AMBIGUOUS|"
    r"CANNOT BE (?:DETERMINED|COMPUTED|CALCULATED)|UNABLE TO|MANUAL REVIEW"
)


def check_reasoning(reasoning: str, claim: Claim, case: RefundCase) -> Failure | None:
    """The model's own words must not contradict its answer."""
    said = reasoning.upper()
    if _CHANGE_FEE_SAID.search(said):
        return Failure(Failed.REASONING, "the LLM's own reasoning speaks of a change fee")
    if _NOT_COVERED_SAID.search(said):
        return Failure(
            Failed.REASONING,
            "the LLM's own reasoning says the request is not covered or the fare not refundable",
        )
    allowed = _figures_allowed(claim, case)
    for figure in _figures(said):
        if figure not in allowed:
            value, unit = figure
            return Failure(
                Failed.REASONING,
                f"the LLM's own reasoning names {value:f}{unit if unit == '%' else ' ' + unit}, "
                "not the fee it answered",
            )
    return None


def _figures_allowed(claim: Claim, case: RefundCase) -> set[tuple[Decimal, str]]:
    """What reasoning may name without contradicting the answer: the fee as written and as
    computed, the ticket price, the refund, a free refund's 0 and 100%."""
    currency = case.currency or ""
    money = {Decimal(0)}
    if case.ticket_price is not None:
        money.add(case.ticket_price)
        if claim.penalty is not None:
            money.add(case.ticket_price - claim.penalty)
    for value in (claim.penalty, claim.amount):
        if value is not None:
            money.add(value)
            money.add(value / (case.passenger_count or 1))
    allowed = {(_norm(m), currency) for m in money}
    allowed.add((Decimal(100), "%"))
    allowed.add((Decimal(0), "%"))
    if claim.percent is not None:
        allowed.add((_norm(claim.percent), "%"))
    return allowed


# --- the quote, read by the product -------------------------------------------------------------


def verify_quote(quote: str, claim: Claim, case: RefundCase, reading: Reading) -> Failure | None:
    """None when the quoted statement, read by the product in its place in the fare rules,
    decides as the answer does and nothing else could apply; else the check that failed."""
    if claim.decision is Decision.WITH_PENALTY and (failure := check_fee_words(quote)):
        return failure
    own = read_fare_rules(quote)
    located = _located(quote, reading)
    readable = not own.foreign and (
        any(s.kind in DECISIVE for s in own.statements) or any(s.kind in DECISIVE for s in located)
    )
    if not readable:
        # Another language, or a shape the reader does not know: the narrow check or MANUAL.
        return verify_foreign_quote(quote, claim, case)
    if not located:
        return Failure(
            Failed.UNVERIFIABLE,
            "the product cannot tell which provision the quoted statement stands in",
        )
    changes = [s for s in located if s.context.topic is Topic.CHANGE]
    changes += [
        s
        for s in (*located, *own.statements)
        if s.kind in DECISIVE and lx.CHANGE_TOPIC.search(s.text)
    ]
    if changes:
        return Failure(
            Failed.NOT_REFUND_PROVISION,
            f'the quoted statement is a rule for changes or reissue ("{_short(changes[0].text)}")',
        )
    applicable = select(reading, case)
    applying = [s for s in located if s in applicable.statements]
    if not any(s.kind in DECISIVE for s in applying):
        timing = "after departure" if case.after_departure else "before departure"
        return Failure(
            Failed.NOT_APPLICABLE,
            f"the quoted statement does not apply to this request ({timing}, "
            f"{case.refund_reason.value.lower()})",
        )
    statements = applying
    if all(s.kind is Kind.UNREAD for s in applying):
        # Read alone, the quote may be plainer than the sentence the reader cut it from.
        place = applying[0]
        statements = [_placed(s, place) for s in own.statements if s.kind in DECISIVE]
    quoted = decide_by_text(case, Reading(statements=tuple(statements)))
    failure = _compare(quoted, claim, "the quoted statement")
    if failure is not None:
        return failure
    # The only statement that could apply: the reading of everything else the reader
    # understood must agree, and nothing it could not read may apply to this request.
    others = [s for s in applicable.unread if s not in located]
    if others:
        return Failure(
            Failed.OTHER_STATEMENT,
            "another statement that applies to this request could not be read by the product "
            f'("{_short(others[0].text)}")',
        )
    understood: list[Statement] = []
    for s in reading.statements:
        if s in located and s.kind is Kind.UNREAD:
            # The quote's own reading stands for the sentence the reader could not read.
            understood.extend(q for q in statements if q not in understood)
        elif s.kind is not Kind.UNREAD:
            understood.append(s)
    whole = decide_by_text(case, replace(reading, statements=tuple(understood), foreign=False))
    return _compare(whole, claim, "the fare rules as a whole", check=Failed.OTHER_STATEMENT)


def _compare(
    result: RuleResult, claim: Claim, what: str, *, check: Failed = Failed.READS_OTHERWISE
) -> Failure | None:
    why = result.reasoning.rstrip(".")
    if not result.sure:
        return Failure(Failed.UNVERIFIABLE, f"the product cannot fully read {what} ({why})")
    if result.decision is not claim.decision or (
        claim.decision is Decision.WITH_PENALTY and result.penalty != claim.penalty
    ):
        fee = f" {result.penalty}" if result.decision is Decision.WITH_PENALTY else ""
        return Failure(
            check, f"{what}, as the product reads it, gives {result.decision.value}{fee}: {why}"
        )
    return None


def _located(quote: str, reading: Reading) -> list[Statement]:
    """The reader's statements the quote is made of, or that hold the quote."""
    wanted = _squash(quote)
    if len(wanted) < _MIN_QUOTE_CHARS:
        return []
    found = []
    for statement in reading.statements:
        text = _squash(statement.text)
        if (len(text) >= _MIN_QUOTE_CHARS and text in wanted) or wanted in text:
            found.append(statement)
    return found


def _placed(statement: Statement, place: Statement) -> Statement:
    """A statement of the quote read alone, under the headings of where the quote stands."""
    return replace(
        statement,
        context=place.context,
        scope=statement.scope if statement.scope is not Scope.UNSPECIFIED else place.scope,
        window=statement.window or place.window,
    )


# --- quotes in a language the reader does not read ----------------------------------------------
# A narrow reading of one shape, "a refund for a fee of X" or "a refund without charge", in the
# languages fare rules most often come in: every word that could change the fee, its timing or
# what it is for must be absent, and no other figure may stand anywhere in the text.
_REFUND_WORDS = re.compile(
    r"REMBOURS|ANNUL|ERSTATT|STORN|R[ÜU]CKZAHL|REEMBOLS|CANCELA|DEVOLUCI|ANULACI|RIMBORS|"
    r"CANCELLAZ|ANNULLA|CANCELAMENTO|RESTITU|TERUGBETAL|ANNULER|ANNULERING|TERUGGAVE"
)
_FEE_WORDS = re.compile(
    r"\bFRAIS\b|RETENUE|P[ÉE]NALIT|GEB[ÜU]HR|ENTGELT|\bABZUG|EINBEHALT|STORNOKOSTEN|CARGO|"
    r"PENALIZACI|PENALIDAD|\bGASTOS\b|\bPENALE\b|PENALIT[ÀA]|TRATTENUT|\bMULTA\b|\bTAXA\b|"
    r"\bKOSTEN\b|\bBOETE\b|ADMINISTRATIEKOSTEN"
)
_CHANGE_WORDS = re.compile(
    r"MODIFICATION|CHANGEMENT|[ÉE]CHANGE|UMBUCH|[ÄA]NDERUNG|UMTAUSCH|CAMBIO|MODIFICACI|"
    r"MODIFICA|ALTERA[ÇC]|REMARCA|WIJZIG|OMBOEK|REISSU|REBOOK|\bCHANGES?\b"
)
_NO_SHOW_WORDS = re.compile(
    r"NO[- ]?SHOW|NON[- ]PR[ÉE]SENTATION|NICHTERSCHEINEN|NICHT ERSCHIEN|ERSCHEINT .{0,30}NICHT|"
    r"NO PRESENTAD|NO SE PRESENT|MANCATA PRESENTAZ|N[ÃA]O COMPAR|NIET VERSCHIJN"
)
_FIGURE = rf"(?:(?:{lx.CODE}|{lx.SYM})\s?\d|\d[\d.,]*\s?(?:%|{lx.CODE}|{lx.SYM}|PERCENT|POUR))"
# What makes a fee uncomputable from the case (CONTRACT.md), in English and the common
# languages: matched on the quote itself, whether or not the reader read it.
_UNCOMPUTABLE_WORDS = (
    (re.compile(
        r"\b(?:PER|EACH|AND) (?:COUPON|SECTOR|SEGMENT|DIRECTION|WAY|FLIGHT|LEG|FARE COMPONENT|"
        r"COMPONENT|PORTION)S?\b|\bEACH WAY\b|"
        r"\bPAR (?:SEGMENT|TRAJET|COUPON|SENS|VOL|TRON[ÇC]ON|DIRECTION)|"
        r"\b(?:PRO|JE) (?:STRECKE|TEILSTRECKE|SEGMENT|RICHTUNG|FLUG|COUPON)|"
        r"\bPOR (?:TRAYECTO|SEGMENTO|TRAMO|SENTIDO|VUELO|TRECHO|VOO|CUP[ÓO]N|CUP[ÃA]O)|"
        r"\bPER (?:TRATTA|SEGMENTO|VOLO|DIREZIONE|VLUCHT|TRAJECT|RICHTING)"
    ), "the fee is charged per coupon, segment, flight or direction, whose number is not known"),
    (re.compile(
        r"(?:\bUP TO|\bMAXIMUM(?: OF)?|\bMAX\.?|JUSQU'?\s?[ÀA]|\bBIS ZU|H[ÖO]CHSTENS|MAXIMAL|"
        r"\bHASTA|\bFINO A|\bAT[ÉE]|\bMASSIMO|\bM[ÁA]XIMO|\bTOT)(?: (?:DE|VON|A|DI|OF))? "
        + _FIGURE
    ), 'the fee is "up to" an amount'),
    (re.compile(
        r"\bBASE FARE|\bBASIC FARE|\bNET FARE|FARE COMPONENT AMOUNT|TARIF DE BASE|HORS TAXES|"
        r"GRUNDTARIF|BASISTARIF|GRUNDPREIS|NETTOTARIF|OHNE STEUERN|TARIFA BASE|TARIFA B[ÁA]SICA|"
        r"SIN IMPUESTOS|TARIFFA BASE|TARIFFA DI BASE|BASISTARIEF"
    ), "the fee is a share of the base fare, which the case does not give"),
    (re.compile(
        r"\bPLUS\b|IN ADDITION|\bEN SUS\b|ZUZ[ÜU]GLICH|\bZZGL|ZUS[ÄA]TZLICH|\bM[ÁA]S\b|"
        r"ADEM[ÁA]S|\bOLTRE\b|\bPI[ÙU]\b|ACRESCID|\bMAIS\b|VERMEERDERD"
    ), "further charges are added to the fee"),
)  # fmt: skip


def check_fee_words(quote: str) -> Failure | None:
    """A fee whose quote says it cannot be computed from the case (per coupon, "up to", of the
    base fare, plus other charges), read from the words alone: it holds whoever read the text."""
    upper = quote.upper()
    for pattern, why in _UNCOMPUTABLE_WORDS:
        if pattern.search(upper):
            return Failure(Failed.READS_OTHERWISE, f"the quoted statement reads as MANUAL: {why}")
    return None


_CONDITION_WORDS = re.compile(
    r"\bSAUF\b|\bSI\b|EXCEPT|[ÀA] CONDITION|UNIQUEMENT|SEULEMENT|\b[ÀA] PARTIR\b|"
    r"\bAUSSER\b|\bAU[ßS]ER\b|\bWENN\b|\bFALLS\b|\bNUR\b|\bSOFERN\b|AUSGENOMMEN|"
    r"\bEXCEPTO\b|\bSALVO\b|\bS[ÓO]LO\b|SOLAMENTE|\bSIEMPRE QUE\b|\bTRANNE\b|ECCETTO|\bSE\b|"
    r"SOLTANTO|\bEXCETO\b|\bAPENAS\b|SOMENTE|\bDESDE QUE\b|\bBEHALVE\b|\bALLEEN\b|\bINDIEN\b|"
    r"\bMITGLIED|\bMEMBRE|\bMIEMBRO|\bSOCIO"
)
# A timing band ("7 jours", "24 Stunden", "48 h"): which band applies is not checked here.
_TIMING_WORDS = re.compile(
    r"\d+\s?(?:JOURS?|HEURES?|H\b|TAGE?N?|STUNDEN?|STD\b|D[ÍI]AS?|HORAS?|GIORNI|ORE\b|"
    r"DIAS?|DAGEN|UUR|DAYS?|HOURS?|HRS?|SEMAINES?|WOCHEN?|SEMANAS?|SETTIMAN)"
)
_PERCENT_WORDS = re.compile(
    rf"(?<![\w.,])({lx.NUM})\s?(?:POUR ?CENT|PROZENT|POR ?CIENTO|PER ?CENTO|PORCENTO|PROCENT)"
)


def verify_foreign_quote(quote: str, claim: Claim, case: RefundCase) -> Failure | None:
    """The narrow check of a quote the structural reader does not read (another language).

    What the statement is for is read from the whole sentence the quote stands in (a quote may
    leave out "par trajet"); what could change the fee, from the whole text."""
    text = (case.fare_rules or "").upper()
    upper = _sentence_of(quote.upper(), text)
    if _CHANGE_WORDS.search(upper):
        return Failure(
            Failed.NOT_REFUND_PROVISION, "the quoted statement speaks of changes or exchanges"
        )
    if not _REFUND_WORDS.search(upper):
        return Failure(
            Failed.UNVERIFIABLE,
            "the product cannot tell that the quoted statement is about a refund or cancellation",
        )
    if _NO_SHOW_WORDS.search(upper) and not case.after_departure:
        return Failure(
            Failed.NOT_APPLICABLE,
            "the quoted statement is about a no-show; this request is before departure",
        )
    if case.after_departure:
        return Failure(
            Failed.UNVERIFIABLE,
            "the product cannot check a no-show or after-departure fee in this language",
        )
    if claim.decision is Decision.WITH_PENALTY and (failure := check_fee_words(text)):
        return failure
    if _CONDITION_WORDS.search(text) or _TIMING_WORDS.search(text):
        return Failure(
            Failed.UNVERIFIABLE,
            "the product cannot check the condition or timing the fare rules attach to it "
            "in this language",
        )
    if lx.NON_REFUNDABLE_TEXT.search(text):
        return Failure(Failed.OTHER_STATEMENT, "the fare rules also call the fare non-refundable")
    in_quote, in_text = Counter(_figures(quote.upper())), Counter(_figures(text))
    if claim.decision is Decision.ALLOWED:
        stated = [f for f in in_text if f != (Decimal(100), "%")]
        if stated:
            value, unit = stated[0]
            return Failure(
                Failed.OTHER_STATEMENT,
                f"the fare rules also state {value:f} {unit}, which the product cannot read",
            )
        return None
    if not _FEE_WORDS.search(upper):
        return Failure(Failed.UNVERIFIABLE, "the product cannot tell that the quote states a fee")
    written = (
        (_norm(claim.amount), case.currency or "")
        if claim.amount is not None
        else ((_norm(claim.percent), "%") if claim.percent is not None else None)
    )
    if list(in_quote) != [written]:
        return Failure(
            Failed.READS_OTHERWISE,
            "the quoted statement does not state exactly the one fee answered",
        )
    if in_text != in_quote:
        return Failure(
            Failed.OTHER_STATEMENT,
            "the fare rules state other amounts beside the quoted fee, which the product "
            "cannot read",
        )
    return None


_SENTENCE_END = re.compile(r"(?<=[.;!?])\s+|\n\s*\n?")


def _sentence_of(quote: str, text: str) -> str:
    """The sentences of the text the quote is made of or stands in (the quote if none is)."""
    wanted = _squash(quote)
    found = [
        sentence
        for sentence in _SENTENCE_END.split(text)
        if (squashed := _squash(sentence))
        and (wanted in squashed or (len(squashed) >= _MIN_QUOTE_CHARS and squashed in wanted))
    ]
    return " ".join([quote, *found])


def _figures(text: str) -> list[tuple[Decimal, str]]:
    """Every amount with its currency and every percentage a text writes, normalised."""
    found = [(_norm(value), code) for value, code in lx.written_amounts(text)]
    for m in lx.PERCENT.finditer(text):
        value = lx.parse_number(m.group("num"))
        if value is not None:
            found.append((_norm(value), "%"))
    for m in _PERCENT_WORDS.finditer(text):
        value = lx.parse_number(m.group(1))
        if value is not None:
            found.append((_norm(value), "%"))
    return found


def _norm(value: Decimal) -> Decimal:
    return value.normalize() if value != 0 else Decimal(0)


def _squash(text: str) -> str:
    # Without white space and case: the reader upper-cases and rejoins wrapped GDS lines.
    return "".join(text.casefold().split()).strip(".;:\"'-*")


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 120 else text[:117] + "..."
