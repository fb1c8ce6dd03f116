"""One module per `llm-worker` sub-command; each exposes `run(args) -> int`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


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
