"""Reads completed audits of automatic refunds from the engine's history into
`refund_audits_total{verdict}`, and the audits nobody took within `auditSla` (ended as not
audited) into `refund_audits_expired_total`, counted apart.

The worker never sees user tasks, so the audit outcomes come from the engine: one
`/history/process-instance/count` (POST: the verdicts hold '_', which the GET form's
`name_eq_value` filter cannot carry) per verdict per period (AUDIT_POLL_INTERVAL_S), from one
thread per process. An audited instance completes when its audit is done (the refund ended
before), so "completed, executed the audit task, auditVerdict = v" counts the finished audits.

The engine's count is a total over its history, which shrinks when history cleanup removes old
instances, and every replica reads the same total. Exported as the engine's total it would
look like counter resets to Prometheus. So each process exports a true counter: the audits
completed since its first successful count (that first count is the baseline, the series start
at 0), growing by the increase of the engine's count at each later round; a decrease (history
cleanup) moves the baseline. Every replica counts the same audits: aggregate with
`max by (verdict) (increase(refund_audits_total[w]))`, never `sum`. When a count fails the
counter keeps its value and catches up at the next successful round.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import Counter

from llm_worker.logs import get_logger
from llm_worker.metrics import REFUND_AUDITS, REFUND_AUDITS_EXPIRED
from llm_worker.observability.periodic import PeriodicPoller
from llm_worker.process import AUDIT_SLA_EVENT, AUDIT_TASK, AUDIT_VERDICT, PROCESS_KEY
from llm_worker.refund.labels import AuditVerdict

_log = get_logger(__name__)


def audit_query(verdict: AuditVerdict) -> dict[str, Any]:
    """The history query (a HistoricProcessInstanceQueryDto) of the completed audits with this
    verdict: instances that completed, ran the audit task and hold this auditVerdict."""
    return {
        "processDefinitionKey": PROCESS_KEY,
        "completed": True,
        "executedActivityIdIn": [AUDIT_TASK],
        "variables": [{"name": AUDIT_VERDICT, "operator": "eq", "value": verdict.value}],
    }


def expired_audit_query() -> dict[str, Any]:
    """The history query of the instances whose audit nobody took within auditSla: completed,
    through the audit's SLA boundary event."""
    return {
        "processDefinitionKey": PROCESS_KEY,
        "completed": True,
        "executedActivityIdIn": [AUDIT_SLA_EVENT],
    }


_EXPIRED = "not audited"


class AuditPoller(PeriodicPoller):
    """Counts completed audits by verdict, and the expired ones, every `interval_s`."""

    def __init__(
        self,
        count: Callable[[Mapping[str, Any]], int],
        interval_s: float,
        counter: Counter = REFUND_AUDITS,
        expired_counter: Counter = REFUND_AUDITS_EXPIRED,
    ) -> None:
        super().__init__(interval_s, "audit-poller")
        self._count = count
        # every verdict is a series from the start
        self._series: list[tuple[str, dict[str, Any], Counter]] = [
            (v.value, audit_query(v), counter.labels(verdict=v.value)) for v in AuditVerdict
        ]
        self._series.append((_EXPIRED, expired_audit_query(), expired_counter))
        self._seen: dict[str, int] = {}
        self._failing = False

    def poll_once(self) -> None:
        """One round: one count per series; a failed count leaves that series for later."""
        for name, query, series in self._series:
            if self._stop.is_set():
                return
            try:
                total = int(self._count(query))
            except Exception as exc:  # any failure of the count keeps the poller alive
                if not self._failing:
                    self._failing = True
                    _log.warning(
                        "audit count failed; counting again next round",
                        verdict=name,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                continue
            if self._failing:
                self._failing = False
                _log.info("audit count works again", verdict=name, total=total)
            previous = self._seen.get(name)
            self._seen[name] = total
            if previous is not None and total > previous:
                series.inc(total - previous)
