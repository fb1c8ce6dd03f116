"""The names of the ticket-refund process (bpmn/ticket-refund.bpmn) the code relies on: its key,
topics, user tasks, events, candidate groups and the variables read and written around them.
The runtime's handlers, the operators' commands and the tests take them from here."""

from __future__ import annotations

PROCESS_KEY = "ticket-refund"

# External-task topics (CONTRACT.md sections 2 and 3).
FARE_RULES_TOPIC = "analyze-fare-rules"
PAYMENT_TOPIC = "process-refund-payment"
ALL_TOPICS = (FARE_RULES_TOPIC, PAYMENT_TOPIC)

# User tasks whose outcomes `reviews export` and the audit count read.
MANUAL_REVIEW_TASK = "Task_ManualReview"
ESCALATED_REVIEW_TASK = "Task_EscalatedReview"
REVIEW_TASKS = (MANUAL_REVIEW_TASK, ESCALATED_REVIEW_TASK)
RESOLVE_PAYMENT_TASK = "Task_ResolvePayment"
AUDIT_TASK = "Task_AuditRefund"
# The audit's SLA timer: an audit nobody takes in time ends through it, as not audited.
AUDIT_SLA_EVENT = "Boundary_AuditSla"

# Candidate groups of the user tasks.
OPERATORS = "refund-operators"
MANAGERS = "refund-managers"
AUDITORS = "refund-auditors"

# Variables: the worker's outputs for analyze-fare-rules (CONTRACT.md section 2) ...
FARE_RULE_CHECK = "fareRuleCheck"
DECISION_SOURCE = "decisionSource"
LLM_REASONING = "llmReasoning"
LLM_PROVIDER = "llmProvider"
LLM_MODEL = "llmModel"
PENALTY_AMOUNT = "penaltyAmount"
REFUND_AMOUNT = "refundAmount"
LLM_ERROR = "llmError"
# ... the outputs a line of `reviews export` carries as the decision ...
DECISION_VARIABLES = (
    FARE_RULE_CHECK,
    DECISION_SOURCE,
    PENALTY_AMOUNT,
    REFUND_AMOUNT,
    LLM_PROVIDER,
    LLM_MODEL,
)
# ... the review and audit forms' answers ...
APPROVED = "approved"
REVIEW_COMMENT = "reviewComment"
AUDIT_VERDICT = "auditVerdict"
AUDIT_PENALTY_AMOUNT = "auditPenaltyAmount"
AUDIT_COMMENT = "auditComment"
# ... and what a start may set per instance (the process's own defaults otherwise).
REVIEW_SLA = "reviewSla"
AUDIT_RATE = "auditRate"
AUDIT_SLA = "auditSla"
