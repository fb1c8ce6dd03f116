"""`llm-worker reviews export` as a process against the engine emulator, whose history routes
answer from diagram runs (tests/fakes/engine_history.py): paging, the time window, the kinds,
the labels, personal data, an outage midway, and `eval` on the file it writes."""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from llm_worker.commands.reviews import Progress, new_file_mode
from llm_worker.process import AUDIT_TASK, FARE_RULES_TOPIC, PAYMENT_TOPIC
from llm_worker.refund.labels import INPUT_VARIABLES
from tests.conftest import run_cli, worker_env
from tests.fakes.bpmn_runner import FakeClock, ProcessRun, fake_time
from tests.fakes.engine import EngineEmulator
from tests.fakes.engine_history import HistoryState, install_history_routes

pytestmark = pytest.mark.integration

FEE_RULES = "CANCELLATIONS: ANY TIME CHARGE USD 150.00 FOR CANCEL/REFUND."
PENALTY_CASE = {
    "bookingId": "PEN1",
    "ticketPrice": 620.0,
    "currency": "USD",
    "departureDate": "2030-06-01",
    "fareRules": FEE_RULES,
    # Not a contract variable: it must never leave the engine with an exported case.
    "passengerName": "Jane Traveller",
}
CANCELLED_CASE = {
    "bookingId": "CXL1",
    "ticketPrice": 400.0,
    "currency": "EUR",
    "flightStatus": "CANCELLED",
    "fareRules": "NON-REFUNDABLE.",
}
# The fake clock starts at 2026-03-02T09:00Z; every case below ends that day.
SINCE, UNTIL = "2026-03-02", "2026-03-03"


class Cases:
    def __init__(self, clock: FakeClock, history: HistoryState) -> None:
        self.clock = clock
        self.history = history

    def automatic(
        self, key: str, case: dict[str, Any], decision: str, **outputs: Any
    ) -> ProcessRun:
        run = self.history.add(
            ProcessRun(
                {**case, "auditRate": 1}, self.clock, business_key=key, instance_id=f"pi-{key}"
            )
        )
        run.complete_external(
            FARE_RULES_TOPIC,
            fareRuleCheck=decision,
            decisionSource="RULES",
            llmReasoning="read from the rules",
            llmProvider="rules",
            **outputs,
        )
        run.complete_external(PAYMENT_TOPIC, paymentStatus="SUCCESS", paymentId=f"PAY-{key}")
        return run

    def audited(self, key: str, case: dict[str, Any], decision: str, **form: Any) -> ProcessRun:
        outputs: dict[str, Any] = {"refundAmount": case["ticketPrice"]}
        if decision == "WITH_PENALTY":
            outputs = {"penaltyAmount": 150.0, "refundAmount": case["ticketPrice"] - 150.0}
        run = self.automatic(key, case, decision, **outputs)
        self.clock.now += timedelta(minutes=10)
        run.complete_user_task(AUDIT_TASK, by="demo-auditor", **form)
        return run

    def reviewed(self, key: str, *, escalate: bool = False, **form: Any) -> ProcessRun:
        run = self.history.add(
            ProcessRun(
                {**PENALTY_CASE, "bookingId": key},
                self.clock,
                business_key=key,
                instance_id=f"pi-{key}",
            )
        )
        run.complete_external(
            FARE_RULES_TOPIC, fareRuleCheck="MANUAL", decisionSource="FALLBACK", llmReasoning="?"
        )
        task = "Task_ManualReview"
        if escalate:
            run.advance(timedelta(hours=2, minutes=1))
            task = "Task_EscalatedReview"
        run.complete_user_task(task, by="demo-manager" if escalate else "demo-operator", **form)
        if form.get("approved"):
            run.complete_external(PAYMENT_TOPIC, paymentStatus="SUCCESS", paymentId=f"PAY-{key}")
        assert run.ended
        return run


@pytest.fixture
def setup() -> Iterator[tuple[EngineEmulator, HistoryState, Cases]]:
    with fake_time() as clock, EngineEmulator() as engine:
        history = install_history_routes(engine)
        cases = Cases(clock, history)
        cases.audited("A-CORRECT", CANCELLED_CASE, "ALLOWED", auditVerdict="correct")
        cases.audited(
            "A-AMOUNT",
            PENALTY_CASE,
            "WITH_PENALTY",
            auditVerdict="wrong_amount",
            auditPenaltyAmount=75.0,
            auditComment="the rules say 75",
        )
        cases.audited("A-DECISION", PENALTY_CASE, "WITH_PENALTY", auditVerdict="wrong_decision")
        cases.reviewed("R-APPROVED", approved=True, refundAmount=250.0, reviewComment="waiver")
        cases.reviewed("R-ESCALATED", escalate=True, approved=False)
        # Not exported: an automatic refund outside the audit, an audit still open.
        cases.automatic("NO-AUDIT", {**CANCELLED_CASE, "auditRate": 0}, "ALLOWED", refundAmount=1.0)
        cases.automatic("OPEN-AUDIT", CANCELLED_CASE, "ALLOWED", refundAmount=400.0)
        yield engine, history, cases


def export(engine: EngineEmulator, out: Path, *args: str) -> Any:
    return run_cli(
        "reviews",
        "export",
        "--out",
        str(out),
        *args,
        env=worker_env(CAMUNDA_URL=engine.url, DECISION_STRATEGY="rules"),
    )


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_exports_every_reviewed_and_audited_case_page_by_page(
    setup: tuple[EngineEmulator, HistoryState, Cases], tmp_path: Path
) -> None:
    engine, _, _ = setup
    out = tmp_path / "month.jsonl"
    result = export(engine, out, "--since", SINCE, "--until", UNTIL, "--page-size", "2")
    assert result.returncode == 0, result.stderr
    assert "exported 5 cases" in result.stdout
    assert "2 manual reviews, 3 audits; 2 labelled, 3 with expected: null" in result.stdout
    # Readable by colleagues as any file the user writes: 0666 less the umask (0644 under 022).
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    assert "[#" not in result.stderr  # no progress bar when stderr is not a terminal
    exported = lines(out)
    assert [x["id"] for x in exported] == [
        "A-CORRECT",
        "A-AMOUNT",
        "A-DECISION",
        "R-APPROVED",
        "R-ESCALATED",
    ]  # oldest end first
    # Five instances in pages of two: three page requests, after one count.
    assert len(engine.requests_to("GET", "/history/process-instance")) == 3
    assert len(engine.requests_to("GET", "/history/process-instance/count")) == 1
    for line in exported:
        assert set(line["variables"]) <= set(INPUT_VARIABLES)
        assert "Jane Traveller" not in json.dumps(line)
        assert line["processInstanceId"] and line["endTime"]
    by_id = {x["id"]: x for x in exported}

    correct = by_id["A-CORRECT"]
    assert (correct["expected"], correct.get("expected_penalty")) == ("ALLOWED", None)
    assert correct["variables"] == {k: v for k, v in CANCELLED_CASE.items() if k in INPUT_VARIABLES}
    assert correct["decision"]["fareRuleCheck"] == "ALLOWED"
    assert correct["human"]["kind"] == "audit" and correct["human"]["verdict"] == "correct"
    assert correct["human"]["by"] == "demo-auditor" and correct["human"]["at"]

    amount = by_id["A-AMOUNT"]
    assert (amount["expected"], amount["expected_penalty"]) == ("WITH_PENALTY", 75.0)
    assert amount["decision"]["penaltyAmount"] == 150.0
    assert amount["human"]["correctedPenalty"] == 75.0
    assert amount["human"]["comment"] == "the rules say 75"

    assert by_id["A-DECISION"]["expected"] is None

    approved = by_id["R-APPROVED"]
    assert approved["expected"] is None  # an approval may be a waiver, not a label
    assert approved["human"] == {
        "kind": "manual",
        "approved": True,
        "refundAmount": 250.0,
        "comment": "waiver",
        "escalated": False,
        "by": "demo-operator",
        "at": approved["human"]["at"],
    }
    assert "refundAmount" not in approved["decision"]
    escalated = by_id["R-ESCALATED"]["human"]
    assert (escalated["escalated"], escalated["approved"], escalated["by"]) == (
        True,
        False,
        "demo-manager",
    )


def test_kind_and_time_window_select_the_cases(
    setup: tuple[EngineEmulator, HistoryState, Cases], tmp_path: Path
) -> None:
    engine, _, cases = setup
    audits = tmp_path / "audits.jsonl"
    assert (
        export(engine, audits, "--kind", "audit", "--since", SINCE, "--until", UNTIL).returncode
        == 0
    )
    assert [x["human"]["kind"] for x in lines(audits)] == ["audit"] * 3
    manual = tmp_path / "manual.jsonl"
    assert (
        export(engine, manual, "--kind", "manual", "--since", SINCE, "--until", UNTIL).returncode
        == 0
    )
    assert [x["id"] for x in lines(manual)] == ["R-APPROVED", "R-ESCALATED"]
    # --since is inclusive, --until exclusive: a window ending when the second audit ended
    # holds only the first.
    ends = [x["endTime"] for x in lines(audits)]
    window = tmp_path / "window.jsonl"
    until = ends[1].replace("+0000", "+00:00")
    assert (
        export(
            engine, window, "--since", ends[0].replace("+0000", "+00:00"), "--until", until
        ).returncode
        == 0
    )
    assert [x["id"] for x in lines(window)] == ["A-CORRECT"]
    # A case that ends later is outside the window that was asked for.
    later = tmp_path / "later.jsonl"
    cases.clock.now += timedelta(days=2)
    cases.audited("A-LATER", CANCELLED_CASE, "ALLOWED", auditVerdict="correct")
    assert export(engine, later, "--since", SINCE, "--until", UNTIL).returncode == 0
    assert "A-LATER" not in [x["id"] for x in lines(later)]


def test_an_audit_nobody_took_is_not_exported(
    setup: tuple[EngineEmulator, HistoryState, Cases], tmp_path: Path
) -> None:
    """Its SLA ended it: a finished instance that ran the audit task (cancelled) and has no
    verdict, which the engine's executedActivityIdIn still matches."""
    engine, _, cases = setup
    expired = cases.automatic("OLD-AUDIT", CANCELLED_CASE, "ALLOWED", refundAmount=400.0)
    expired.advance(timedelta(days=7, minutes=1))
    assert expired.ended
    out = tmp_path / "all.jsonl"
    result = export(engine, out, "--since", SINCE)
    assert result.returncode == 0, result.stderr
    assert "OLD-AUDIT" not in [x["id"] for x in lines(out)]
    assert "1 audit nobody took, skipped" in result.stdout


def test_an_engine_outage_midway_leaves_no_file_that_looks_complete(
    setup: tuple[EngineEmulator, HistoryState, Cases], tmp_path: Path
) -> None:
    engine, history, _ = setup
    out = tmp_path / "month.jsonl"
    out.write_text('{"previous": "export"}\n', encoding="utf-8")
    history.fail_after(4)  # the count, a page, its variables, one user-task list; then down
    result = export(engine, out, "--since", SINCE, "--until", UNTIL, "--page-size", "2")
    assert result.returncode == 2
    (message,) = result.stderr.strip().splitlines()
    assert message.startswith("llm-worker reviews export: the engine could not read")
    assert "HTTP 503" in message and f"{out} was not written" in message
    assert "Traceback" not in result.stderr
    assert out.read_text(encoding="utf-8") == '{"previous": "export"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["month.jsonl"]


def test_user_mistakes_are_one_line(
    setup: tuple[EngineEmulator, HistoryState, Cases], tmp_path: Path
) -> None:
    engine, _, _ = setup
    for args, wanted in [
        (["--since", "yesterday"], "--since 'yesterday' is not an ISO date or date-time"),
        (["--since", "2026-03-03", "--until", "2026-03-02"], "--since must be before --until"),
        (["--page-size", "0"], "--page-size must be 1 to 500"),
    ]:
        result = export(engine, tmp_path / "x.jsonl", *args)
        assert result.returncode == 2
        assert result.stderr.strip() == f"llm-worker reviews export: {wanted}"
    missing = export(engine, tmp_path / "no" / "x.jsonl")
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_eval_scores_the_exported_file_and_skips_the_unlabelled_lines(
    setup: tuple[EngineEmulator, HistoryState, Cases], tmp_path: Path
) -> None:
    engine, _, _ = setup
    out = tmp_path / "month.jsonl"
    assert export(engine, out, "--since", SINCE, "--until", UNTIL).returncode == 0
    result = run_cli(
        "eval", str(out), "--json", env=worker_env(DECISION_STRATEGY="rules", LOG_LEVEL="WARNING")
    )
    assert result.returncode == 0, result.stderr
    assert "skipped 3 cases without a label (expected: null)" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["cases"] == 2
    # Both labelled cases are decided as labelled: the cancelled flight ALLOWED, the fee case
    # WITH_PENALTY (whether its fee is the auditor's 75 is eval's expected_penalty reading).
    assert summary["confusion"]["ALLOWED"]["ALLOWED"] == 1
    assert summary["confusion"]["WITH_PENALTY"]["WITH_PENALTY"] == 1


def test_the_progress_bar_is_drawn_on_a_terminal_only() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        bar = Progress(4, stream)
        for done in range(1, 5):
            bar.update(done)
        bar.close()
    assert terminal.getvalue().endswith(f"\r[{'#' * 30}] 4/4 cases\n")
    assert "[#######.......................] 1/4 cases" in terminal.getvalue()
    assert pipe.getvalue() == ""


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_the_export_file_mode_follows_the_umask(umask: int, mode: int) -> None:
    previous = os.umask(umask)
    try:
        assert new_file_mode() == mode
    finally:
        os.umask(previous)
