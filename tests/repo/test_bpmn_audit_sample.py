"""The audit sample of bpmn/ticket-refund.bpmn, executed as written (SpiffWorkflow + JUEL): which
instances are sampled, that the audit never holds up the refund, and never audits a review."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from llm_worker.process import AUDIT_TASK, AUDITORS, FARE_RULES_TOPIC, PAYMENT_TOPIC
from tests.fakes import juel
from tests.fakes.bpmn_runner import FakeClock, ProcessRun, fake_time

CASE = {"bookingId": "PNR42", "ticketPrice": 820.0, "currency": "USD", "fareRules": "..."}
# Business keys whose bucket ((hashCode * 7919) mod 10000) is below / above 500 (5%).
SAMPLED_KEY = "AUDIT-14"
NOT_SAMPLED_KEY = "PNR77"


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    with fake_time() as fake:
        yield fake


def bucket(key: str) -> int:
    """The sample bucket, computed the way Java does (not through the diagram's expression)."""
    product = juel.java_hash_code(key) * 7919
    remainder = abs(product) % 10000 * (1 if product >= 0 else -1)
    return (remainder + 10000) % 10000


def automatic_refund(
    clock: FakeClock, business_key: str | None, decision: str = "ALLOWED", **start: Any
) -> ProcessRun:
    run = ProcessRun({**CASE, **start}, clock, business_key=business_key)
    outputs: dict[str, Any] = {"refundAmount": 820.0}
    if decision == "WITH_PENALTY":
        outputs = {"penaltyAmount": 100.0, "refundAmount": 720.0}
    run.complete_external(
        FARE_RULES_TOPIC,
        fareRuleCheck=decision,
        decisionSource="RULES",
        llmReasoning="because",
        llmProvider="rules",
        **outputs,
    )
    run.complete_external(PAYMENT_TOPIC, paymentStatus="SUCCESS", paymentId="PAY-1")
    return run


def test_the_keys_used_here_fall_where_the_tests_say() -> None:
    assert bucket(SAMPLED_KEY) < 500 <= bucket(NOT_SAMPLED_KEY)


@pytest.mark.parametrize("decision", ["ALLOWED", "WITH_PENALTY"])
def test_a_sampled_automatic_refund_is_paid_and_refunded_before_its_audit(
    clock: FakeClock, decision: str
) -> None:
    run = automatic_refund(clock, SAMPLED_KEY, decision)
    # The refund has reached its end while the audit waits: it was not held up.
    assert run.end_events == ["Refunded"]
    assert not run.ended
    (task,) = run.user_tasks()
    assert (task.id, task.name, task.candidate_groups, task.form_ref) == (
        AUDIT_TASK,
        "Audit automatic refund",
        (AUDITORS,),
        "ticket-refund-audit",
    )
    assert task.variables["paymentStatus"] == "SUCCESS"
    assert task.variables["fareRuleCheck"] == decision
    run.complete_user_task(AUDIT_TASK, by="demo-auditor", auditVerdict="correct")
    assert run.ended
    assert run.end_events == ["Refunded", "Audited"]
    assert run.end_event == "Refunded"
    (audit,) = [a for a in run.activities if a.activity_id == AUDIT_TASK]
    assert audit.assignee == "demo-auditor" and audit.ended_at is not None


def test_an_audit_nobody_takes_in_seven_days_ends_as_not_audited(clock: FakeClock) -> None:
    run = automatic_refund(clock, SAMPLED_KEY)
    assert run.variables["auditSla"] == "P7D"
    run.advance(timedelta(days=6, hours=23))
    assert [t.id for t in run.user_tasks()] == [AUDIT_TASK]
    run.advance(timedelta(hours=2))
    assert run.ended and run.user_tasks() == []
    assert run.end_events == ["Refunded", "Not audited"]
    assert "auditVerdict" not in run.variables


@pytest.mark.parametrize(("sla", "kept"), [("PT1H", "PT1H"), ("7 days", "P7D"), (3, "P7D")])
def test_the_audit_sla_is_set_per_instance_or_falls_back_to_seven_days(
    clock: FakeClock, sla: Any, kept: str
) -> None:
    run = automatic_refund(clock, SAMPLED_KEY, auditSla=sla)
    assert run.variables["auditSla"] == kept


def test_an_audit_done_in_time_is_not_ended_by_its_sla(clock: FakeClock) -> None:
    run = automatic_refund(clock, SAMPLED_KEY, auditSla="PT1H")
    run.complete_user_task(AUDIT_TASK, auditVerdict="correct")
    run.advance(timedelta(hours=2))
    assert run.end_events == ["Refunded", "Audited"]


def test_an_instance_outside_the_sample_ends_refunded_without_an_audit(clock: FakeClock) -> None:
    run = automatic_refund(clock, NOT_SAMPLED_KEY)
    assert run.ended and run.end_events == ["Refunded"]
    assert AUDIT_TASK not in run.visited()


def test_the_default_rate_is_five_percent_and_set_at_the_start(clock: FakeClock) -> None:
    run = ProcessRun(CASE, clock)
    assert run.variables["auditRate"] == 0.05


@pytest.mark.parametrize(
    ("given", "kept"),
    [(0, 0.0), (1, 1.0), (0.25, 0.25), ("0.5", 0.5), (5.0e-4, 5.0e-4), ("1E-3", 0.001)],
)
def test_a_usable_audit_rate_is_kept_as_a_number(clock: FakeClock, given: Any, kept: float) -> None:
    assert ProcessRun({**CASE, "auditRate": given}, clock).variables["auditRate"] == kept


@pytest.mark.parametrize("given", [-0.1, 1.5, 5, "five percent", True, "", "0.1.2"])
def test_an_unusable_audit_rate_falls_back_to_the_default(clock: FakeClock, given: Any) -> None:
    assert ProcessRun({**CASE, "auditRate": given}, clock).variables["auditRate"] == 0.05


def test_rate_zero_turns_the_audit_off_and_rate_one_audits_every_automatic_refund(
    clock: FakeClock,
) -> None:
    off = automatic_refund(clock, SAMPLED_KEY, auditRate=0)
    assert off.ended and AUDIT_TASK not in off.visited()
    every = automatic_refund(clock, NOT_SAMPLED_KEY, auditRate=1)
    assert [t.id for t in every.user_tasks()] == [AUDIT_TASK]


def test_without_a_business_key_the_instance_id_decides(clock: FakeClock) -> None:
    sampled = [i for i in (f"pi-{n}" for n in range(200)) if bucket(i) < 500]
    assert sampled
    run = ProcessRun(CASE, clock, instance_id=sampled[0])
    run.complete_external(
        FARE_RULES_TOPIC, fareRuleCheck="ALLOWED", decisionSource="RULES", refundAmount=820.0
    )
    run.complete_external(PAYMENT_TOPIC, paymentStatus="SUCCESS", paymentId="PAY-1")
    assert [t.id for t in run.user_tasks()] == [AUDIT_TASK]
    empty_key = ProcessRun(CASE, clock, business_key="", instance_id=sampled[0])
    empty_key.complete_external(
        FARE_RULES_TOPIC, fareRuleCheck="ALLOWED", decisionSource="RULES", refundAmount=820.0
    )
    empty_key.complete_external(PAYMENT_TOPIC, paymentStatus="SUCCESS", paymentId="PAY-1")
    assert [t.id for t in empty_key.user_tasks()] == [AUDIT_TASK]


def test_the_sample_is_reproducible_and_about_the_rate(clock: FakeClock) -> None:
    keys = [f"BK{n:05d}" for n in range(2000)]
    chosen = {k for k in keys if bucket(k) < 500}
    # Consecutive booking references spread over the buckets (the multiplier scatters them).
    assert 0.035 <= len(chosen) / len(keys) <= 0.065
    for key in keys[:60]:
        run = automatic_refund(clock, key)
        assert (AUDIT_TASK in run.visited()) == (key in chosen), key


def test_a_manual_case_is_never_audited_even_at_rate_one(clock: FakeClock) -> None:
    run = ProcessRun({**CASE, "auditRate": 1}, clock, business_key=SAMPLED_KEY)
    run.complete_external(
        FARE_RULES_TOPIC, fareRuleCheck="MANUAL", decisionSource="RULES", llmReasoning="unclear"
    )
    run.complete_user_task("Task_ManualReview", by="demo-operator", approved=True)
    run.complete_external(PAYMENT_TOPIC, paymentStatus="SUCCESS", paymentId="PAY-1")
    assert run.ended and run.end_events == ["Refunded"]
    assert AUDIT_TASK not in run.visited()


def test_an_allowed_case_reviewed_for_its_unknown_amount_is_not_audited(clock: FakeClock) -> None:
    run = ProcessRun({**CASE, "auditRate": 1}, clock, business_key=SAMPLED_KEY)
    # ALLOWED without a refundAmount goes to a review: a person decided, nothing to audit.
    run.complete_external(FARE_RULES_TOPIC, fareRuleCheck="ALLOWED", decisionSource="RULES")
    run.complete_user_task("Task_ManualReview", approved=True, refundAmount=500.0)
    run.complete_external(PAYMENT_TOPIC, paymentStatus="SUCCESS", paymentId="PAY-1")
    assert run.ended and AUDIT_TASK not in run.visited()


def test_the_audit_form_asks_only_for_the_verdict() -> None:
    """The case is read-only text; how it renders is tested in a real browser
    (tests/integration/test_forms_browser.py)."""
    from tests.repo.test_bpmn_structure import form_fields

    fields = form_fields("ticket-refund-audit")
    assert set(fields) == {"auditVerdict", "auditPenaltyAmount", "auditComment"}
    verdict = fields["auditVerdict"]
    assert verdict["type"] == "radio" and verdict["validate"]["required"] is True
    assert {v["value"] for v in verdict["values"]} == {"correct", "wrong_decision", "wrong_amount"}
    fee = fields["auditPenaltyAmount"]
    assert fee["conditional"]["hide"] == '=auditVerdict != "wrong_amount"'
    assert fee["validate"] == {"required": True, "min": 0, "max": "=ticketPrice"}


def test_java_string_hash_and_remainder_as_the_engine_computes_them() -> None:
    # Values of java.lang.String.hashCode() (int overflow, non-ASCII, a surrogate pair).
    assert juel.java_hash_code("") == 0
    assert juel.java_hash_code("hello") == 99162322
    assert juel.java_hash_code("polygenelubricants") == -2147483648
    assert juel.java_hash_code("é") == 233
    assert juel.java_hash_code("😀") == 1772899  # 0xD83D * 31 + 0xDE00
    # EL's % is Java's: the sign follows the dividend.
    assert juel.evaluate("${-7 % 3}", {}) == -1
    assert juel.evaluate("${7 % -3}", {}) == 1
    assert juel.evaluate("${-7.5 % 2}", {}) == -1.5
