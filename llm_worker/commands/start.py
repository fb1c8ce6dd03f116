"""`llm-worker start FILE`: start a ticket-refund instance with the variables in a JSON file."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

from llm_worker.admin.engine import EngineAdmin, EngineAdminError
from llm_worker.commands import UserError, read_case
from llm_worker.config import load_settings
from llm_worker.runtime.variables import encode_value

_TYPED_KEYS = frozenset({"value", "type", "valueInfo"})


def typed_variables(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Plain JSON values get explicit Camunda types; {"value", "type"} objects pass as given."""
    typed: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        if isinstance(value, dict):
            if "value" not in value or not set(value) <= _TYPED_KEYS:
                raise UserError(
                    f"variable {name}: an object must be a typed value "
                    '{"value": ..., "type": ...}; use strings, numbers or booleans otherwise'
                )
            typed[name] = dict(value)
        elif isinstance(value, list):
            raise UserError(f"variable {name}: lists are not process variables of this process")
        else:
            typed[name] = encode_value(value)
    return typed


def run(args: argparse.Namespace) -> int:
    case = read_case(args.file)
    variables = typed_variables(case.variables)
    booking = case.variables.get("bookingId")
    business_key = (
        args.business_key or case.business_key or (booking if isinstance(booking, str) else None)
    )
    admin = EngineAdmin.from_settings(load_settings())
    try:
        started = admin.start(variables, business_key=business_key)
    except EngineAdminError as exc:
        print(f"llm-worker start: {exc}", file=sys.stderr)
        return 1
    finally:
        admin.close()
    print(
        json.dumps(
            {
                "processInstanceId": started.id,
                "definitionId": started.definition_id,
                "businessKey": started.business_key,
            }
        )
    )
    return 0
