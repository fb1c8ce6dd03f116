"""`llm-worker reviews export`: reviewed and audited cases from the engine's history as `eval`
JSONL, so the refund team can re-score its own traffic after every change of reader or model.

A line holds the contract's input variables (nothing else the instance carried, so no passenger
name leaves with it), the worker's decision, what the person decided and, only where it follows
without doubt, the label (`expected`, `expected_penalty`; see llm_worker/refund/labels.py);
`expected` is null otherwise and `eval` skips such lines. The file is written beside `--out`
under a temporary name and renamed when complete: an engine outage midway leaves no file that
looks finished.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from llm_worker.admin.engine import EngineAdmin, EngineAdminError
from llm_worker.admin.history import MAX_PAGE_SIZE, CaseReader, FinishedCase
from llm_worker.commands import UserError, count
from llm_worker.config import load_settings
from llm_worker.process import (
    APPROVED,
    AUDIT_COMMENT,
    AUDIT_PENALTY_AMOUNT,
    AUDIT_TASK,
    AUDIT_VERDICT,
    DECISION_VARIABLES,
    ESCALATED_REVIEW_TASK,
    FARE_RULE_CHECK,
    PENALTY_AMOUNT,
    REFUND_AMOUNT,
    REVIEW_COMMENT,
    REVIEW_TASKS,
)
from llm_worker.refund.labels import INPUT_VARIABLES, AuditVerdict, Label, audit_label

DEFAULT_WINDOW = timedelta(days=30)


class Kind(StrEnum):
    MANUAL = "manual"
    AUDIT = "audit"
    ALL = "all"

    @property
    def activity_ids(self) -> tuple[str, ...]:
        if self is Kind.MANUAL:
            return REVIEW_TASKS
        if self is Kind.AUDIT:
            return (AUDIT_TASK,)
        return (*REVIEW_TASKS, AUDIT_TASK)


@dataclass
class ExportReport:
    cases: int = 0
    labelled: int = 0
    manual: int = 0
    audited: int = 0
    not_audited: int = 0


def parse_moment(text: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{option} {text!r} is not an ISO date or date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _verdict(value: Any) -> AuditVerdict | None:
    try:
        return AuditVerdict(str(value))
    except ValueError:
        return None


def case_line(case: FinishedCase) -> dict[str, Any]:
    """One eval JSONL object for a finished case."""
    values = case.variables
    decision = {name: values[name] for name in DECISION_VARIABLES if name in values}
    audit = case.task(AUDIT_TASK)
    review = case.task(*REVIEW_TASKS)
    label: Label | None = None
    human: dict[str, Any]
    if audit is not None:
        verdict = _verdict(values.get(AUDIT_VERDICT))
        corrected = _decimal(values.get(AUDIT_PENALTY_AMOUNT))
        human = {
            "kind": Kind.AUDIT.value,
            "verdict": verdict.value if verdict else values.get(AUDIT_VERDICT),
            "correctedPenalty": _number(corrected),
            "comment": values.get(AUDIT_COMMENT),
            "by": audit.assignee,
            "at": audit.ended_at,
        }
        if verdict is not None:
            label = audit_label(
                values.get(FARE_RULE_CHECK),
                _decimal(values.get(PENALTY_AMOUNT)),
                verdict,
                corrected,
                _decimal(values.get("ticketPrice")),
            )
    else:
        assert review is not None, "the reader only returns reviewed or audited cases"
        human = {
            "kind": Kind.MANUAL.value,
            "approved": values.get(APPROVED),
            "refundAmount": values.get(REFUND_AMOUNT) if values.get(APPROVED) else None,
            "comment": values.get(REVIEW_COMMENT),
            "escalated": review.activity_id == ESCALATED_REVIEW_TASK,
            "by": review.assignee,
            "at": review.ended_at,
        }
        decision.pop(REFUND_AMOUNT, None)  # the form's amount replaced the worker's, if any
    line: dict[str, Any] = {
        "id": case.business_key or case.instance_id,
        "variables": {name: values[name] for name in INPUT_VARIABLES if name in values},
        "expected": label.expected.value if label else None,
    }
    if label is not None and label.expected_penalty is not None:
        line["expected_penalty"] = float(label.expected_penalty)
    line["decision"] = decision
    line["human"] = human
    line["processInstanceId"] = case.instance_id
    line["endTime"] = case.ended_at
    return line


class Progress:
    """A one-line progress bar on stderr, shown only when stderr is a terminal."""

    WIDTH = 30

    def __init__(self, total: int, stream: IO[str]) -> None:
        self._total = total
        self._stream = stream
        self._on = stream.isatty()

    def update(self, done: int) -> None:
        if not self._on or self._total == 0:
            return
        filled = self.WIDTH * done // self._total
        self._stream.write(
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{count(self._total, 'case')}"
        )
        self._stream.flush()

    def close(self) -> None:
        if self._on and self._total:
            self._stream.write("\n")
            self._stream.flush()


def new_file_mode() -> int:
    """The mode open() gives a new file: 0666 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def export(
    reader: CaseReader, out: Path, progress: Callable[[int], Progress] | None = None
) -> ExportReport:
    """Write every case the reader finds to `out`, atomically: all of it or nothing."""
    report = ExportReport()
    total = reader.count()
    bar = progress(total) if progress else None
    handle, temp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    temp = Path(temp_name)
    try:
        # mkstemp makes the file 0600; the export is for colleagues to read, as a file
        # written by open() would be (0644 under the usual umask 022).
        os.fchmod(handle, new_file_mode())
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            for case in reader.cases(total):
                if case.task(AUDIT_TASK, *REVIEW_TASKS) is None:
                    # An audit nobody took before its auditSla: no human answer to export.
                    report.not_audited += 1
                    continue
                line = case_line(case)
                stream.write(json.dumps(line, ensure_ascii=False) + "\n")
                report.cases += 1
                report.labelled += line["expected"] is not None
                report.audited += line["human"]["kind"] == Kind.AUDIT.value
                report.manual += line["human"]["kind"] == Kind.MANUAL.value
                if bar:
                    bar.update(report.cases)
        temp.replace(out)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    finally:
        if bar:
            bar.close()
    return report


def run(args: argparse.Namespace) -> int:
    until = parse_moment(args.until, "--until") if args.until else datetime.now(UTC)
    since = parse_moment(args.since, "--since") if args.since else until - DEFAULT_WINDOW
    if since >= until:
        raise UserError("--since must be before --until")
    if not 1 <= args.page_size <= MAX_PAGE_SIZE:
        raise UserError(f"--page-size must be 1 to {MAX_PAGE_SIZE}")
    out = Path(args.out)
    if not out.parent.is_dir():
        raise UserError(f"cannot write {out}: folder {out.parent} does not exist")
    settings = load_settings()
    admin = EngineAdmin.from_settings(settings)
    reader = CaseReader(
        admin,
        since=since,
        until=until,
        activity_ids=Kind(args.kind).activity_ids,
        page_size=args.page_size,
    )
    try:
        report = export(reader, out, lambda total: Progress(total, sys.stderr))
    except EngineAdminError as exc:
        raise UserError(f"{exc}; {out} was not written") from None
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        admin.close()
    print(
        f"exported {count(report.cases, 'case')} to {out} "
        f"({count(report.manual, 'manual review')}, {count(report.audited, 'audit')}; "
        f"{report.labelled} labelled, {report.cases - report.labelled} with expected: null)"
        + (
            f"; {count(report.not_audited, 'audit')} nobody took, skipped"
            if report.not_audited
            else ""
        )
    )
    return 0
