"""The audit sample, its count and `reviews export` on the real Camunda 7.24 engine: that the
engine evaluates the sample expression (String.hashCode of the business key) as the tests' JUEL
evaluator does, keeps the instance open until the audit is done, and answers the history
queries the audit count and the export send."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from llm_worker.admin.history import CaseReader
from llm_worker.commands.reviews import case_line
from llm_worker.commands.start import typed_variables
from llm_worker.observability.audits import audit_query
from llm_worker.observability.health import Health
from llm_worker.process import AUDIT_TASK, AUDITORS, FARE_RULES_TOPIC, PAYMENT_TOPIC
from llm_worker.refund.labels import AuditVerdict
from llm_worker.runtime.engine import EngineClient
from tests.integration.test_process_real_engine import (  # noqa: F401
    RealEngine,
    engine,
    form_schema,
)
from tests.repo.test_bpmn_audit_sample import bucket
from tests.support import wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.real_engine,
]
FEE_CASE = {
    "ticketPrice": 620.0,
    "currency": "USD",
    "departureDate": "2030-06-01",
    "fareRules": "CANCELLATIONS: ANY TIME CHARGE USD 150.00 FOR CANCEL/REFUND.",
}


def key_in_bucket(sampled: bool) -> str:
    """A fresh business key inside (or outside) the default 5% sample."""
    while True:
        key = f"AUDIT-{uuid.uuid4().hex[:8]}"
        if (bucket(key) < 500) == sampled:
            return key


def start(real: RealEngine, key: str, **variables: Any) -> str:
    started = real.admin.start(
        typed_variables({**FEE_CASE, "bookingId": key.replace("-", ""), **variables}),
        business_key=key,
    )
    real.instances.append(started.id)
    return started.id


def history_state(real: RealEngine, pid: str) -> str:
    return str(
        real.http.get(f"{real.url}/history/process-instance/{pid}", timeout=30).json()["state"]
    )


def ends(real: RealEngine, pid: str) -> list[str]:
    found = real.http.get(
        f"{real.url}/history/activity-instance",
        params={"processInstanceId": pid, "activityType": "noneEndEvent", "finished": "true"},
        timeout=30,
    ).json()
    return sorted(str(a["activityId"]) for a in found)


def test_the_engine_samples_by_the_business_key_hash_at_the_default_rate(
    engine: RealEngine,  # noqa: F811
) -> None:
    sampled = start(engine, key_in_bucket(True))
    outside = start(engine, key_in_bucket(False))
    for pid in (sampled, outside):
        engine.work(pid, FARE_RULES_TOPIC)
        engine.work(pid, PAYMENT_TOPIC)
    assert engine.variable(sampled, "auditRate") == 0.05
    task = engine.user_task(sampled, AUDIT_TASK)
    assert engine.candidate_groups(task["id"]) == {AUDITORS}
    # The refund has ended while the audit waits; the instance stays open until it is done.
    assert ends(engine, sampled) == ["End_Refunded"]
    assert history_state(engine, sampled) == "ACTIVE"
    wait_until(lambda: history_state(engine, outside) == "COMPLETED", 30, 0.25, "no audit")
    assert ends(engine, outside) == ["End_Refunded"]


def test_a_completed_audit_is_counted_and_exported(engine: RealEngine) -> None:  # noqa: F811
    began = datetime.now(UTC) - timedelta(minutes=1)
    client = EngineClient(
        base_url=engine.url,
        worker_id="audit-test",
        health=Health(liveness_window_s=60, readiness_window_s=60),
        lock_duration_ms=10_000,
        async_response_timeout_ms=0,
    )
    try:
        before = client.count_history(audit_query(AuditVerdict.WRONG_AMOUNT))
        pid = start(engine, key_in_bucket(False), auditRate=1, passengerName="Jane Traveller")
        engine.work(pid, FARE_RULES_TOPIC)
        engine.work(pid, PAYMENT_TOPIC)
        task = engine.user_task(pid, AUDIT_TASK)
        assert engine.deployed_form(task["id"]) == form_schema("ticket-refund-audit.form")
        engine.complete(task["id"], auditVerdict="wrong_amount", auditPenaltyAmount=75.0)
        wait_until(lambda: history_state(engine, pid) == "COMPLETED", 30, 0.25, "the audit done")
        assert ends(engine, pid) == ["End_Audited", "End_Refunded"]
        after = client.count_history(audit_query(AuditVerdict.WRONG_AMOUNT))
        assert after == before + 1
    finally:
        client.close()
    reader = CaseReader(
        engine.admin,
        since=began,
        until=datetime.now(UTC) + timedelta(minutes=1),
        activity_ids=(AUDIT_TASK,),
        page_size=50,
    )
    lines = [case_line(c) for c in reader.cases(reader.count()) if c.instance_id == pid]
    (line,) = lines
    assert (line["expected"], line["expected_penalty"]) == ("WITH_PENALTY", 75.0)
    assert line["decision"]["fareRuleCheck"] == "WITH_PENALTY"
    assert "passengerName" not in line["variables"]
