"""`llm-worker decide FILE|-`: decides one case given as a JSON object of input variables."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from typing import Any

from llm_worker.commands import read_case
from llm_worker.config import Settings, load_settings
from llm_worker.handlers.fare_rules import build_decider, output_variables
from llm_worker.logs import configure_logging
from llm_worker.refund.audit import record
from llm_worker.refund.inputs import PlainVariable


def to_variables(data: Mapping[str, Any]) -> dict[str, PlainVariable]:
    """Input variables from JSON: plain values, or Camunda's {"value": ..., "type": ...}."""
    variables: dict[str, PlainVariable] = {}
    for name, raw in data.items():
        if isinstance(raw, Mapping) and "value" in raw:
            kind = raw.get("type")
            variables[str(name)] = PlainVariable(raw["value"], str(kind) if kind else None)
        else:
            variables[str(name)] = PlainVariable(raw)
    return variables


def plain_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: getattr(v, "value", v) for k, v in outputs.items()}


def task_budget_s(settings: Settings) -> float:
    """The time a task would have: the lock duration (the runtime's deadline)."""
    return settings.lock_duration_ms / 1000.0


def run(args: argparse.Namespace) -> int:
    variables = to_variables(read_case(args.file).variables)
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    decider = build_decider(settings)
    if args.explain:
        print(decider.explain(variables), file=sys.stderr)
    started = time.monotonic()
    verdict = decider.decide(variables, deadline=started + task_budget_s(settings))
    record(verdict, time.monotonic() - started)
    print(json.dumps(plain_outputs(output_variables(verdict)), indent=2, ensure_ascii=False))
    return 0
