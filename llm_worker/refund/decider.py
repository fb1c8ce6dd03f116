"""Decides one refund case: input checks, policy steps 1-3, then the text (rules and/or LLM)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from llm_worker.logs import get_logger
from llm_worker.privacy.redaction import Redaction, redact
from llm_worker.refund.currency import CurrencyLimits
from llm_worker.refund.guardrails import answered_penalty, check_answer
from llm_worker.refund.inputs import CaseProblems, Variable, read_case
from llm_worker.refund.models import (
    MAX_REASONING_CHARS,
    Decision,
    DecisionStrategy,
    LlmAnswer,
    RefundCase,
    Source,
    Usage,
    Verdict,
)
from llm_worker.refund.policy import RuleResult, decide_by_facts, decide_by_text
from llm_worker.refund.reading import Reading, read_fare_rules
from llm_worker.refund.reading.applying import select
from llm_worker.refund.reading.explain import explain

RULES_PROVIDER = "rules"

_log = get_logger(__name__)


@dataclass(frozen=True)
class Advice:
    """The LLM's answer to one case and what asking cost.

    With a fallback model: `provider` and `model` say who answered (None: the advisor's own),
    `failed` what failed before (the primary), `attempts` each model asked and how it went.
    """

    answer: LlmAnswer
    usage: Usage = field(default_factory=Usage)
    provider: str | None = None
    model: str | None = None
    failed: str | None = None
    attempts: tuple[str, ...] = ()


class AdviceError(Exception):
    """The LLM gave no usable answer; `message` is safe to show (no secrets, no prompt)."""

    def __init__(
        self,
        kind: str,
        message: str,
        usage: Usage | None = None,
        attempts: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.usage = usage or Usage()
        self.attempts = attempts


class Advisor(Protocol):
    """Something that reads a case's fare rules with an LLM (llm_worker.llm implements it)."""

    @property
    def provider(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def prompt_version(self) -> str: ...

    def advise(self, case: RefundCase, deadline: float) -> Advice:
        """Answer before `deadline` (time.monotonic()) or raise AdviceError."""
        ...


def utc_now() -> datetime:
    return datetime.now(UTC)


class Decider:
    """The whole decision for one case; strategy as CONTRACT.md section 6 describes it."""

    def __init__(
        self,
        *,
        strategy: DecisionStrategy,
        threshold: CurrencyLimits,
        advisor: Advisor | None = None,
        clock: Callable[[], datetime] = utc_now,
        redactor: Callable[[str], Redaction] | None = redact,
    ) -> None:
        if strategy is not DecisionStrategy.RULES and advisor is None:
            raise ValueError(f"strategy {strategy.value} needs an LLM advisor")
        self.strategy = strategy
        self.threshold = threshold
        self.advisor = advisor
        self.clock = clock
        # What the LLM sees of the fare rules (None: LLM_REDACT=false, the text as it is).
        self.redactor = redactor

    def decide(self, variables: Mapping[str, Variable], deadline: float) -> Verdict:
        read = read_case(variables, self.clock())
        if isinstance(read, CaseProblems):
            return Verdict(
                booking_id=read.booking_id,
                decision=Decision.MANUAL,
                source=Source.RULES,
                reasoning=_clip(
                    "The case cannot be decided automatically: " + "; ".join(read.problems) + "."
                ),
                provider=RULES_PROVIDER,
                fare_rules_sha256=_sha256(read.fare_rules),
            )
        case = read
        facts = decide_by_facts(case, self.threshold)
        if facts is not None:
            return self._from_rules(case, facts)
        reading = read_fare_rules(case.fare_rules)
        rules = decide_by_text(case, reading)
        ask = self.advisor is not None and (
            self.strategy is DecisionStrategy.LLM
            or (self.strategy is DecisionStrategy.HYBRID and not rules.sure)
        )
        if not ask or self.advisor is None:
            return self._from_rules(case, rules)
        return self._from_llm(case, rules, reading, self.advisor, deadline)

    def explain(self, variables: Mapping[str, Variable]) -> str:
        """What the reader found in the case and why it was sure or unsure (no LLM is asked)."""
        read = read_case(variables, self.clock())
        if isinstance(read, CaseProblems):
            return "input problems (the text is not read): " + "; ".join(read.problems)
        facts = decide_by_facts(read, self.threshold)
        if facts is not None:
            return f"decided from the facts at policy step {facts.step}: {facts.reasoning}"
        reading = read_fare_rules(read.fare_rules)
        rules = decide_by_text(read, reading)
        found = explain(reading, select(reading, read), rules.reasoning, sure=rules.sure)
        return found + "\n" + self._explain_redaction(read.fare_rules or "")

    def _explain_redaction(self, text: str) -> str:
        """What of the text an LLM would not see: kinds and positions, never the values."""
        if self.strategy is DecisionStrategy.RULES:
            return "sent to an LLM: nothing (strategy rules)"
        if self.redactor is None:
            return "personal data: not redacted (LLM_REDACT=false); the LLM sees the text as is"
        seen = self.redactor(text)
        if not seen.changed:
            return "personal data: none found; the LLM would see the text unchanged"
        counts = ", ".join(f"{kind} {n}" for kind, n in seen.counts().items())
        lines = "\n".join(f"  {line}" for line in seen.describe(text))
        return f"personal data replaced whenever the text goes to an LLM ({counts}):\n{lines}"

    def _as_seen(
        self, case: RefundCase, rules: RuleResult
    ) -> tuple[RefundCase, RuleResult, Redaction]:
        """The case and the rules' evidence as the LLM sees them: the guardrails check its
        quotes against this text, the very one it was sent."""
        text = case.fare_rules or ""
        if self.redactor is None:
            return case, rules, Redaction(text)
        seen = self.redactor(text)
        if not seen.changed:
            return case, rules, seen
        return (
            case.model_copy(update={"fare_rules": seen.text}),
            replace(rules, evidence=self.redactor(rules.evidence).text),
            seen,
        )

    def _from_rules(self, case: RefundCase, rules: RuleResult) -> Verdict:
        return Verdict(
            booking_id=case.booking_id,
            decision=rules.decision,
            source=Source.RULES,
            reasoning=_clip(rules.reasoning),
            provider=RULES_PROVIDER,
            penalty=rules.penalty if rules.decision is Decision.WITH_PENALTY else None,
            refund=_refund(case, rules.decision, rules.penalty),
            currency=case.currency,
            fare_rules_sha256=_sha256(case.fare_rules),
        )

    def _from_llm(
        self,
        case: RefundCase,
        rules: RuleResult,
        reading: Reading,
        advisor: Advisor,
        deadline: float,
    ) -> Verdict:
        original = case
        case, rules, seen = self._as_seen(case, rules)
        base = Verdict(
            booking_id=case.booking_id,
            decision=Decision.MANUAL,
            source=Source.FALLBACK,
            reasoning="",
            provider=advisor.provider,
            model=advisor.model,
            prompt_version=advisor.prompt_version,
            currency=case.currency,
            fare_rules_sha256=_sha256(original.fare_rules),
            redactions=seen.counts(),
        )
        try:
            advice = advisor.advise(case, deadline)
        except AdviceError as failed:
            base = replace(base, llm_attempts=failed.attempts)
            return _llm_failed(base, rules, failed.message, failed.usage)
        except Exception as exc:
            # Whatever else the LLM client raises, the contract holds: the case goes to an
            # operator and the task completes. The traceback is logged for the developers.
            _log.exception("unexpected error from the LLM client", booking_id=case.booking_id)
            return _llm_failed(base, rules, f"unexpected LLM client error ({type(exc).__name__})")
        base = replace(
            base,
            provider=advice.provider or base.provider,
            model=advice.model or base.model,
            error=_clip(advice.failed) if advice.failed else None,
            llm_attempts=advice.attempts,
        )
        answer = advice.answer
        checked = check_answer(answer, case, rules, reading)
        base = replace(
            base,
            llm_decision=answer.decision.strip().upper()[:20],
            llm_penalty=answered_penalty(answer, case),
        )
        said = f'The LLM answered {answer.decision[:20]}: "{_one_line(answer.reasoning)}"'
        if checked.guardrail is not None:
            return replace(
                base,
                reasoning=_clip(
                    f"Guardrail {checked.guardrail.value}: {checked.why}. "
                    f"{said} An operator decides."
                ),
                guardrail=checked.guardrail.value,
                usage=advice.usage,
            )
        rule = _one_line(answer.rule_text)
        relied = f' (rule relied on: "{rule[:200]}")' if rule else ""
        return replace(
            base,
            decision=checked.decision,
            source=Source.LLM,
            reasoning=_clip(f"{_one_line(answer.reasoning)}{relied}"),
            penalty=checked.penalty,
            refund=_refund(case, checked.decision, checked.penalty),
            usage=advice.usage,
        )


def _llm_failed(
    base: Verdict, rules: RuleResult, message: str, usage: Usage | None = None
) -> Verdict:
    return replace(
        base,
        reasoning=_clip(
            f"The LLM could not be used ({message}), so an operator decides. "
            f"Rules: {rules.reasoning}"
        ),
        error=_clip(message),
        usage=usage or Usage(),
    )


def _refund(case: RefundCase, decision: Decision, penalty: Decimal | None) -> Decimal | None:
    if case.ticket_price is None or decision is Decision.MANUAL:
        return None
    if decision is Decision.ALLOWED:
        return case.ticket_price
    return max(Decimal(0), case.ticket_price - (penalty or Decimal(0)))


def _sha256(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _clip(text: str) -> str:
    text = _one_line(text)
    return text if len(text) <= MAX_REASONING_CHARS else text[: MAX_REASONING_CHARS - 3] + "..."
