"""Guardrails on every LLM answer: what the model may say, checked against the facts and text;
an answer the rules reader was not sure of is verified with the product's own reading of the
statement it quotes (llm_worker.refund.verification)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from enum import StrEnum

from llm_worker.refund.currency import plain
from llm_worker.refund.models import Decision, LlmAnswer, RefundCase
from llm_worker.refund.policy import RuleResult
from llm_worker.refund.reading import Reading
from llm_worker.refund.reading.lexicon import (
    NO_SHOW,
    NON_REFUNDABLE_TEXT,
    SERVICE_FEE,
    written_amounts,
)
from llm_worker.refund.verification import (
    Claim,
    Failure,
    check_fee_words,
    check_reasoning,
    verify_quote,
)

_CENT = Decimal("0.01")
# Wide enough to round any float to cents (the largest has 309 digits before the point); the
# default 28 digits would raise on an absurd fee instead of letting a guardrail catch it.
_WIDE = Context(prec=400)
# "Without charge" as fare rules say it in English and the languages they most often come in.
_FREE_EVIDENCE = re.compile(
    r"FREE|WITHOUT (?:ANY )?(?:CHARGE|FEE|PENALTY|COST)|NO (?:\w+ )?(?:CHARGE|FEE|PENALTY)|"
    r"FULL(?:Y)? REFUND|REFUNDABLE IN FULL|100 ?%|SANS FRAIS|SANS P[ÉE]NALIT|GRATUIT|"
    r"REMBOURSEMENT (?:INT[ÉE]GRAL|TOTAL|COMPLET)|INT[ÉE]GRALEMENT REMBOURS|KOSTENLOS|"
    r"GEB[ÜU]HRENFREI|OHNE (?:GEB[ÜU]HR|KOSTEN|STORNO)|VOLLE ERSTATTUNG|"
    r"SIN (?:CARGO|COSTE|COSTO|PENALIZACI[ÓO]N|PENALIDAD|GASTOS)|GRATIS|"
    r"REEMBOLSO (?:TOTAL|COMPLETO|[ÍI]NTEGRO)|SENZA (?:PENALE|PENALI|COSTI|SPESE)|"
    r"RIMBORSO (?:TOTALE|COMPLETO|INTEGRALE)|SEM (?:CUSTO|TAXA|MULTA)|KOSTELOOS|"
    r"ZONDER KOSTEN|AVGIFTSFRI|UTAN AVGIFT|GEBYRFRI"
)
_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?")
# A number written as a percentage, in English and the languages fare rules come in most.
_PERCENTAGE = re.compile(
    rf"(?:{_NUMBER.pattern})\s?"
    r"(?:%|PERCENT|PER ?CENT|PCT|POUR ?CENT|PROZENT|POR ?CIENTO|PER CENTO)",
    re.I,
)


class Guardrail(StrEnum):
    """Why an LLM answer was overridden (the `reason` label of GUARDRAIL_OVERRIDES)."""

    INVALID_DECISION = "invalid_decision"
    PROMPT_INJECTION = "prompt_injection"
    CONTRADICTS_POLICY = "contradicts_policy"
    CONTRADICTS_RULES = "contradicts_rules"
    PENALTY_MISSING = "penalty_missing"
    PENALTY_NEGATIVE = "penalty_negative"
    PENALTY_ABOVE_PRICE = "penalty_above_price"
    PENALTY_CURRENCY = "penalty_currency"
    PENALTY_NOT_IN_RULES = "penalty_not_in_rules"
    PENALTY_MISMATCH = "penalty_mismatch"
    UNSUPPORTED_ALLOWED = "unsupported_allowed"
    PENALTY_PASSENGERS = "penalty_passengers"
    DOUBTFUL_READING = "doubtful_reading"
    PENALTY_NOT_REFUND_FEE = "penalty_not_refund_fee"
    NOT_FARE_RULES = "not_fare_rules"
    # The quoted statement, read by the product (llm_worker.refund.verification.Failed).
    QUOTE_UNVERIFIABLE = "quote_unverifiable"
    QUOTE_NOT_REFUND_PROVISION = "quote_not_refund_provision"
    QUOTE_NOT_APPLICABLE = "quote_not_applicable"
    QUOTE_READS_OTHERWISE = "quote_reads_otherwise"
    OTHER_STATEMENT_APPLIES = "other_statement_applies"
    REASONING_CONTRADICTS = "reasoning_contradicts"


@dataclass(frozen=True)
class Checked:
    """An LLM answer after the guardrails: accepted with the worker's own penalty, or overridden."""

    decision: Decision
    penalty: Decimal | None = None
    guardrail: Guardrail | None = None
    why: str | None = None


def check_answer(
    answer: LlmAnswer, case: RefundCase, rules: RuleResult, reading: Reading
) -> Checked:
    """Accept the answer, or say which guardrail overrides it to MANUAL and why.

    `rules` is the policy's result from `reading`, the reader's reading of the fare rules."""
    try:
        decision = Decision(answer.decision.strip().upper())
    except ValueError:
        return _override(
            Guardrail.INVALID_DECISION, f"the answer {answer.decision[:40]!r} is not a decision"
        )
    if decision is Decision.MANUAL:
        return Checked(Decision.MANUAL)
    if reading.injection is not None:
        return _override(
            Guardrail.PROMPT_INJECTION,
            "the fare rules contain instructions addressed to the decision system",
        )
    if rules.doubtful:
        # A voucher, a reference to rules not shown, a waiver for this very reason, a fee
        # that cannot be computed: the contract sends these to an operator, whoever reads them.
        return _override(Guardrail.DOUBTFUL_READING, rules.reasoning.rstrip("."))
    if not rules.sure and (
        SERVICE_FEE.search(answer.rule_text.upper()) or SERVICE_FEE.search(_title(case).upper())
    ):
        # A "free" online channel or a 20 in a handling-fee table reads like a refund rule.
        return _override(
            Guardrail.NOT_FARE_RULES,
            "the text is a table of service fees, not the fare's refund conditions",
        )
    if decision is Decision.ALLOWED:
        if case.after_departure:
            return _override(
                Guardrail.CONTRADICTS_POLICY,
                "a full refund after departure or a no-show is never automatic (policy step 4)",
            )
        if rules.blocks_allowed:
            return _override(
                Guardrail.CONTRADICTS_RULES, f"the rules plainly show otherwise: {rules.reasoning}"
            )
        if rules.sure and rules.decision is not Decision.ALLOWED:
            return _override(Guardrail.CONTRADICTS_RULES, rules.reasoning)
        if not rules.sure:
            # A full refund the rules could not confirm must at least rest on a sentence
            # that is really in the fare rules and says so, not on one the model made up.
            if not _quoted_from(answer.rule_text, case.fare_rules or ""):
                return _override(
                    Guardrail.UNSUPPORTED_ALLOWED,
                    "the rule quoted for a full refund is not in the fare rules",
                )
            if rules.evidence and not _quoted_from(answer.rule_text, rules.evidence):
                # "UNLIMITED CHANGES WITHOUT PENALTY" is in the text, but in a change provision.
                return _override(
                    Guardrail.UNSUPPORTED_ALLOWED,
                    "the rule quoted is not a refund rule that applies to this request",
                )
            quote = answer.rule_text.upper()
            if not _FREE_EVIDENCE.search(quote) or NON_REFUNDABLE_TEXT.search(quote):
                return _override(
                    Guardrail.UNSUPPORTED_ALLOWED,
                    "the rule quoted does not state a refund without charge",
                )
            return _verified(answer, Claim(Decision.ALLOWED), case, reading)
        return Checked(Decision.ALLOWED)
    return _check_penalty(answer, case, rules, reading)


def _verified(answer: LlmAnswer, claim: Claim, case: RefundCase, reading: Reading) -> Checked:
    """An answer the rules were not sure of pays only when the product can verify it."""
    failure: Failure | None = check_reasoning(answer.reasoning, claim, case) or verify_quote(
        answer.rule_text, claim, case, reading
    )
    if failure is not None:
        return _override(Guardrail(failure.check.value), failure.why)
    return Checked(claim.decision, penalty=claim.penalty)


def _check_penalty(
    answer: LlmAnswer, case: RefundCase, rules: RuleResult, reading: Reading
) -> Checked:
    amount, percent = answer.penalty_amount, answer.penalty_percent
    if amount is None and percent is None:
        return _override(Guardrail.PENALTY_MISSING, "WITH_PENALTY was answered without a fee")
    if (amount is not None and amount < 0) or (percent is not None and percent < 0):
        return _override(Guardrail.PENALTY_NEGATIVE, "the fee given is negative")
    if percent is not None and amount is None:
        if percent > 100:
            return _override(Guardrail.PENALTY_ABOVE_PRICE, "the fee is more than 100% of the fare")
        if case.ticket_price is None:
            return _override(
                Guardrail.PENALTY_MISSING, "a percentage fee needs the ticket price, not given"
            )
        penalty = (case.ticket_price * _decimal(percent) / 100).quantize(_CENT, ROUND_HALF_UP)
        stated = _decimal(percent)
    else:
        assert amount is not None
        currency = (answer.penalty_currency or "").strip().upper()
        if not currency and rules.sure:
            # The rules found the fee, in the ticket's currency; it is compared below.
            currency = case.currency or ""
        if case.currency is None or currency != case.currency:
            # A fee without a currency is not taken to be in the ticket's: "80" of an
            # "80 EUR" text would be paid as 80 USD (policy step 6 wants MANUAL).
            return _override(
                Guardrail.PENALTY_CURRENCY,
                f"the fee is in {currency or 'a currency the answer does not name'}, the "
                f"ticket in {case.currency or 'an unknown currency'}",
            )
        penalty = _decimal(amount).quantize(_CENT, ROUND_HALF_UP, context=_WIDE)
        stated = _decimal(amount)
        if not rules.sure and (case.passenger_count or 1) > 1:
            # Per ticket, per booking, already multiplied? Only the rules may settle that.
            return _override(
                Guardrail.PENALTY_PASSENGERS,
                f"an amount fee on a booking of {case.passenger_count} passengers",
            )
    if case.ticket_price is not None and penalty > case.ticket_price:
        return _override(
            Guardrail.PENALTY_ABOVE_PRICE,
            f"the fee {plain(penalty)} is above the ticket price {plain(case.ticket_price)}",
        )
    if (failure := check_fee_words(answer.rule_text)) is not None:
        # Whoever read the text, a fee its own quote calls per coupon or "up to" never pays.
        return _override(Guardrail(failure.check.value), failure.why)
    if rules.sure:
        if rules.decision is not Decision.WITH_PENALTY:
            return _override(Guardrail.CONTRADICTS_RULES, rules.reasoning)
        if rules.penalty != penalty:
            return _override(
                Guardrail.PENALTY_MISMATCH,
                f"the fee {plain(penalty)} differs from the "
                f"{'no fee' if rules.penalty is None else plain(rules.penalty)} "
                "the fare rules state",
            )
    else:
        text = case.fare_rules or ""
        quote = answer.rule_text
        if not _quoted_from(quote, text):
            return _override(
                Guardrail.PENALTY_NOT_IN_RULES,
                "the rule quoted for the fee is not in the fare rules",
            )
        if stated not in numbers_in(quote):
            return _override(
                Guardrail.PENALTY_NOT_IN_RULES, f"the fee {stated:f} is not in the rule quoted"
            )
        if not case.after_departure and NO_SHOW.search(quote.upper()):
            return _override(
                Guardrail.PENALTY_NOT_REFUND_FEE,
                "the fee quoted is for a no-show; this request is before departure",
            )
        if stated not in numbers_in(text):
            return _override(
                Guardrail.PENALTY_NOT_IN_RULES,
                f"the fee {stated:f} does not appear in the fare rules",
            )
        if rules.evidence and stated not in numbers_in(rules.evidence):
            # The number is in the text, but in a change fee or another timing's provision.
            return _override(
                Guardrail.PENALTY_NOT_REFUND_FEE,
                f"the fee {stated:f} is not a refund fee that applies to this request",
            )
        if amount is not None and stated not in numbers_in(_PERCENTAGE.sub(" ", text)):
            # "25%" of a 620 fare is 155, not 25: an amount must be written as one.
            return _override(
                Guardrail.PENALTY_NOT_IN_RULES,
                f"the fee {stated:f} appears in the fare rules only as a percentage",
            )
        if amount is not None:
            written = {code for value, code in written_amounts(text) if value == stated}
            if written and case.currency not in written:
                # "80 EUR" in the text, answered as 80 in the ticket's USD.
                return _override(
                    Guardrail.PENALTY_CURRENCY,
                    f"the fare rules write the fee {stated:f} in {', '.join(sorted(written))}, "
                    f"the ticket is in {case.currency}",
                )
        claim = Claim(
            Decision.WITH_PENALTY,
            penalty=penalty,
            amount=stated if amount is not None else None,
            percent=stated if amount is None else None,
        )
        return _verified(answer, claim, case, reading)
    return Checked(Decision.WITH_PENALTY, penalty=penalty)


def answered_penalty(answer: LlmAnswer, case: RefundCase) -> Decimal | None:
    """The fee an answer states, in the ticket's currency, whether or not it was accepted."""
    try:
        if answer.penalty_percent is not None and answer.penalty_amount is None:
            if case.ticket_price is None:
                return None
            percent = _decimal(answer.penalty_percent)
            return (case.ticket_price * percent / 100).quantize(_CENT, ROUND_HALF_UP, _WIDE)
        if answer.penalty_amount is not None:
            return _decimal(answer.penalty_amount).quantize(_CENT, ROUND_HALF_UP, context=_WIDE)
    except InvalidOperation:
        return None  # an absurd number: no fee anyone would pay
    return None


def numbers_in(text: str) -> set[Decimal]:
    """Every number written in the text, in the usual notations (1,250.00; 150,00; 150)."""
    found: set[Decimal] = set()
    for raw in _NUMBER.findall(text):
        if re.fullmatch(r"\d+,\d{1,2}", raw):
            candidates = [raw.replace(",", "."), raw.replace(",", "")]
        else:
            candidates = [raw.replace(",", "")]
        for candidate in candidates:
            try:
                found.add(Decimal(candidate).normalize())
            except InvalidOperation:
                continue
    return found


def _quoted_from(quote: str, text: str) -> bool:
    def norm(value: str) -> str:
        # Without any white space: GDS text wraps lines mid-word and after slashes.
        return "".join(value.casefold().split()).strip(".;:\"'")

    wanted = norm(quote)
    return len(wanted) >= 8 and wanted in norm(text)


def _title(case: RefundCase) -> str:
    """The text's first line: a page's title says what the page is."""
    return next((line for line in (case.fare_rules or "").splitlines() if line.strip()), "")


def _decimal(value: float) -> Decimal:
    return Decimal(str(value)).normalize()


def _override(guardrail: Guardrail, why: str) -> Checked:
    return Checked(Decision.MANUAL, guardrail=guardrail, why=why)
