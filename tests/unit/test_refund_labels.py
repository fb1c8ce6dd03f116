"""Eval labels from audits (llm_worker/refund/labels.py): only where they follow without doubt."""

from __future__ import annotations

from decimal import Decimal

import pytest

from llm_worker.refund.labels import AuditVerdict, Label, audit_label
from llm_worker.refund.models import Decision

D = Decimal


def test_a_correct_verdict_confirms_the_automatic_decision_and_fee() -> None:
    assert audit_label("ALLOWED", None, AuditVerdict.CORRECT, None, D(500)) == Label(
        Decision.ALLOWED
    )
    assert audit_label("WITH_PENALTY", D(150), AuditVerdict.CORRECT, None, D(620)) == Label(
        Decision.WITH_PENALTY, D(150)
    )


def test_a_wrong_amount_with_the_right_fee_gives_that_fee() -> None:
    label = audit_label("WITH_PENALTY", D(150), AuditVerdict.WRONG_AMOUNT, D(75), D(620))
    assert label == Label(Decision.WITH_PENALTY, D(75))
    # A refund charged nothing would have been free: ALLOWED (a stated fee of zero is too).
    assert audit_label("ALLOWED", None, AuditVerdict.WRONG_AMOUNT, D(30), None) == Label(
        Decision.WITH_PENALTY, D(30)
    )
    assert audit_label("WITH_PENALTY", D(50), AuditVerdict.WRONG_AMOUNT, D(0), D(620)) == Label(
        Decision.ALLOWED
    )


@pytest.mark.parametrize(
    ("decision", "penalty", "verdict", "corrected", "price"),
    [
        ("ALLOWED", None, AuditVerdict.WRONG_DECISION, None, D(500)),  # which decision then?
        ("ALLOWED", None, AuditVerdict.WRONG_DECISION, D(10), D(500)),
        ("WITH_PENALTY", D(150), AuditVerdict.WRONG_AMOUNT, None, D(620)),  # no right fee
        ("WITH_PENALTY", D(150), AuditVerdict.WRONG_AMOUNT, D(700), D(620)),  # above price
        ("WITH_PENALTY", D(150), AuditVerdict.WRONG_AMOUNT, D(-5), D(620)),
        ("WITH_PENALTY", None, AuditVerdict.CORRECT, None, D(620)),  # the fee it confirms?
        ("MANUAL", None, AuditVerdict.CORRECT, None, D(620)),  # not an automatic decision
        (None, None, AuditVerdict.CORRECT, None, None),
        ("maybe", None, AuditVerdict.CORRECT, None, None),
    ],
)
def test_anything_doubtful_stays_unlabelled(
    decision: str | None,
    penalty: Decimal | None,
    verdict: AuditVerdict,
    corrected: Decimal | None,
    price: Decimal | None,
) -> None:
    assert audit_label(decision, penalty, verdict, corrected, price) is None
