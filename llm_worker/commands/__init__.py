"""One module per `llm-worker` sub-command; each exposes `run(args) -> int`."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`1 case`, `2 cases`, `0 cases`: a number with its noun, singular or plural."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


class UserError(Exception):
    """A mistake the user can fix; the CLI prints its message as one line and exits 2."""


def read_json(source: str) -> Any:
    """JSON from a file, or from stdin for `-`; a user mistake raises a one-line UserError."""
    name = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read {name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{name} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


# Camunda's REST start body (POST /process-definition/key/{key}/start), as `curl` sends it.
_START_BODY_KEYS = frozenset({"businessKey", "variables"})


@dataclass(frozen=True)
class CaseInput:
    """A case as `decide` and `start` read it: its process variables, and a business key when
    the file is a REST start body."""

    variables: dict[str, Any]
    business_key: str | None = None


def read_case(source: str) -> CaseInput:
    """A JSON object of process variables, or a REST start body {"businessKey", "variables"}
    (stdin for `-`); `decide` and `start` both read these two shapes and refuse anything else
    with one line."""
    name = "stdin" if source == "-" else source
    data = read_json(source)
    if not isinstance(data, dict):
        raise UserError(f"{name} must hold a JSON object of process variables")
    business_key = None
    if isinstance(data.get("variables"), dict):
        extra = sorted(set(data) - _START_BODY_KEYS)
        if extra:
            raise UserError(
                f"{name} looks like a REST start body but also holds {', '.join(extra)}: give "
                'either {"businessKey": ..., "variables": {...}} or the process variables alone'
            )
        business_key = data.get("businessKey")
        if business_key is not None and not isinstance(business_key, str):
            raise UserError(f"{name}: businessKey must be a string")
        data = data["variables"]
    if not data:
        raise UserError(f"{name} holds no process variables (a case needs at least bookingId)")
    return CaseInput(dict(data), business_key)
