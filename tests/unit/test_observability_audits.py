"""AuditPoller: completed audits by verdict, and audits ended by their SLA, from the engine's
history (the emulator's history routes over real HTTP, answered from diagram runs) into
counters that never go back."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter

from llm_worker.observability.audits import AuditPoller, audit_query, expired_audit_query
from llm_worker.observability.health import Health
from llm_worker.process import AUDIT_TASK, FARE_RULES_TOPIC, PAYMENT_TOPIC
from llm_worker.refund.labels import AuditVerdict
from llm_worker.runtime.engine import EngineClient
from tests.fakes.bpmn_runner import FakeClock, ProcessRun, fake_time
from tests.fakes.engine import EngineEmulator
from tests.fakes.engine_history import HistoryState, install_history_routes

CASE = {"bookingId": "PNR42", "ticketPrice": 820.0, "currency": "USD", "fareRules": "..."}


def private_counter() -> tuple[Counter, CollectorRegistry]:
    registry = CollectorRegistry()
    return Counter("audits_total", "test", ["verdict"], registry=registry), registry


def private_expired_counter(registry: CollectorRegistry) -> Counter:
    return Counter("audits_expired_total", "test", registry=registry)


def values(registry: CollectorRegistry) -> dict[str, float | None]:
    return {
        v.value: registry.get_sample_value("audits_total", {"verdict": v.value})
        for v in AuditVerdict
    }


class Totals:
    """The engine's totals per verdict, changed by the test; raises while `down`."""

    def __init__(self) -> None:
        self.totals = dict.fromkeys(AuditVerdict, 0)
        self.expired = 0
        self.down = False
        self.queries: list[Mapping[str, Any]] = []

    def __call__(self, params: Mapping[str, Any]) -> int:
        self.queries.append(params)
        if self.down:
            raise ConnectionError("engine down")
        if "variables" not in params:
            return self.expired
        verdict = AuditVerdict(params["variables"][0]["value"])
        return self.totals[verdict]


def test_every_verdict_is_a_series_at_zero_from_the_start() -> None:
    AuditPoller(Totals(), interval_s=60)
    for verdict in AuditVerdict:
        assert (
            REGISTRY.get_sample_value("refund_audits_total", {"verdict": verdict.value}) is not None
        )


def test_counts_the_audits_completed_after_the_first_round() -> None:
    counter, registry = private_counter()
    totals = Totals()
    totals.totals[AuditVerdict.CORRECT] = 40  # history from before this process started
    expired = private_expired_counter(registry)
    poller = AuditPoller(totals, interval_s=60, counter=counter, expired_counter=expired)
    poller.poll_once()
    assert values(registry) == dict.fromkeys([v.value for v in AuditVerdict], 0.0)
    assert len(totals.queries) == 4  # one count per verdict, one of the expired, per round
    totals.totals[AuditVerdict.CORRECT] = 43
    totals.totals[AuditVerdict.WRONG_AMOUNT] = 1
    totals.expired = 2
    poller.poll_once()
    assert values(registry) == {"correct": 3.0, "wrong_decision": 0.0, "wrong_amount": 1.0}
    assert registry.get_sample_value("audits_expired_total") == 2.0


def test_history_cleanup_and_outages_never_make_the_counter_go_back_or_lose_audits() -> None:
    counter, registry = private_counter()
    totals = Totals()
    poller = AuditPoller(totals, interval_s=60, counter=counter)
    poller.poll_once()
    totals.totals[AuditVerdict.WRONG_DECISION] = 5
    poller.poll_once()
    totals.totals[AuditVerdict.WRONG_DECISION] = 2  # history cleanup removed old instances
    poller.poll_once()
    assert values(registry)["wrong_decision"] == 5.0
    totals.down = True
    totals.totals[AuditVerdict.WRONG_DECISION] = 4
    poller.poll_once()
    assert values(registry)["wrong_decision"] == 5.0
    totals.down = False
    poller.poll_once()  # the audits completed during the outage are counted now
    assert values(registry)["wrong_decision"] == 7.0


def test_the_query_asks_for_completed_instances_that_ran_the_audit() -> None:
    assert audit_query(AuditVerdict.WRONG_AMOUNT) == {
        "processDefinitionKey": "ticket-refund",
        "completed": True,
        "executedActivityIdIn": [AUDIT_TASK],
        "variables": [{"name": "auditVerdict", "operator": "eq", "value": "wrong_amount"}],
    }


def test_the_expired_query_asks_for_completed_instances_through_the_audit_sla() -> None:
    assert expired_audit_query() == {
        "processDefinitionKey": "ticket-refund",
        "completed": True,
        "executedActivityIdIn": ["Boundary_AuditSla"],
    }


# ----------------------------------------------------------------------------- over HTTP


@pytest.fixture
def history() -> Iterator[tuple[EngineEmulator, HistoryState, FakeClock]]:
    with fake_time() as clock, EngineEmulator() as engine:
        yield engine, install_history_routes(engine), clock


def audited(clock: FakeClock, key: str, **form: Any) -> ProcessRun:
    run = ProcessRun({**CASE, "auditRate": 1}, clock, business_key=key, instance_id=key)
    run.complete_external(
        FARE_RULES_TOPIC, fareRuleCheck="ALLOWED", decisionSource="RULES", refundAmount=820.0
    )
    run.complete_external(PAYMENT_TOPIC, paymentStatus="SUCCESS", paymentId="PAY-1")
    if form:
        run.complete_user_task(AUDIT_TASK, by="demo-auditor", **form)
    return run


def test_counts_completed_audits_from_the_engine_history_over_http(
    history: tuple[EngineEmulator, HistoryState, FakeClock],
) -> None:
    engine, state, clock = history
    client = EngineClient(
        base_url=engine.url,
        worker_id="w",
        health=Health(liveness_window_s=60, readiness_window_s=60),
        lock_duration_ms=10_000,
        async_response_timeout_ms=0,
    )
    counter, registry = private_counter()
    expired = private_expired_counter(registry)
    poller = AuditPoller(
        client.count_history, interval_s=60, counter=counter, expired_counter=expired
    )
    try:
        state.add(audited(clock, "A1", auditVerdict="correct"))
        poller.poll_once()
        state.add(audited(clock, "A2", auditVerdict="correct"))
        state.add(audited(clock, "A3", auditVerdict="wrong_amount", auditPenaltyAmount=50.0))
        state.add(audited(clock, "A4"))  # the audit is still open: not counted
        # A variable named like the verdict on an instance that ran no audit is not counted.
        state.add(ProcessRun({**CASE, "auditVerdict": "correct"}, clock, instance_id="X"))
        untaken = audited(clock, "A5")
        untaken.advance(timedelta(days=8))  # nobody took it within the 7-day auditSla
        state.add(untaken)
        poller.poll_once()
        assert values(registry) == {"correct": 1.0, "wrong_decision": 0.0, "wrong_amount": 1.0}
        assert registry.get_sample_value("audits_expired_total") == 1.0
        assert len(engine.requests_to("POST", "/history/process-instance/count")) == 8
    finally:
        client.close()


def test_the_history_routes_refuse_what_the_engine_refuses(
    history: tuple[EngineEmulator, HistoryState, FakeClock],
) -> None:
    import requests

    engine, _, _ = history
    base = f"{engine.url}/history/process-instance"
    bad_date = requests.get(f"{base}/count", params={"finishedAfter": "2026-03-01"}, timeout=10)
    assert bad_date.status_code == 400
    assert "finishedAfter" in bad_date.json()["message"]
    unsorted = requests.get(base, params={"sortBy": "endTime"}, timeout=10)
    assert unsorted.status_code == 400
    unknown = requests.get(base, params={"processDefinitionKeyNotIn": "x"}, timeout=10)
    assert unknown.status_code == 400
    not_a_flag = requests.get(f"{base}/count", params={"finished": "yes"}, timeout=10)
    assert not_a_flag.status_code == 400
    # As on the engine, a GET variable filter is split on '_': no '_' in the value.
    underscore = requests.get(
        f"{base}/count", params={"variables": "auditVerdict_eq_wrong_amount"}, timeout=10
    )
    assert underscore.status_code == 400
