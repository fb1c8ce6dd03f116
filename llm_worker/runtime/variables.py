"""Conversion between Camunda typed variables (engine JSON) and the values handlers use."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from llm_worker.runtime.task import TypedValue

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def decode_variables(raw: Mapping[str, Any] | None) -> dict[str, TypedValue]:
    """The `variables` of a fetched task as TypedValues (value, Camunda type, valueInfo)."""
    result: dict[str, TypedValue] = {}
    for name, dto in (raw or {}).items():
        if isinstance(dto, Mapping):
            result[name] = TypedValue(
                value=dto.get("value"),
                type=dto.get("type"),
                value_info=dict(dto.get("valueInfo") or {}),
            )
    return result


def camunda_date(moment: datetime | date) -> str:
    """The engine's default date format, yyyy-MM-dd'T'HH:mm:ss.SSSZ."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (
        moment.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{moment.microsecond // 1000:03d}"
        + (moment.strftime("%z") or "+0000")
    )


def encode_value(value: Any) -> dict[str, Any]:
    """One output value as an explicitly typed VariableValueDto.

    Types are always sent: left to the engine, a whole-number amount would become an Integer
    and a large count a Long, and BPMN expressions comparing them to Doubles would misbehave.
    """
    if isinstance(value, TypedValue):
        dto: dict[str, Any] = {"value": value.value, "type": value.type}
        if value.value_info:
            dto["valueInfo"] = dict(value.value_info)
        return dto
    if value is None:
        return {"value": None, "type": "Null"}
    if isinstance(value, bool):
        return {"value": value, "type": "Boolean"}
    if isinstance(value, Enum):
        return encode_value(value.value)
    if isinstance(value, int):
        kind = "Integer" if _INT32_MIN <= value <= _INT32_MAX else "Long"
        return {"value": value, "type": kind}
    if isinstance(value, float | Decimal):
        return {"value": float(value), "type": "Double"}
    if isinstance(value, str):
        return {"value": value, "type": "String"}
    if isinstance(value, datetime | date):
        return {"value": camunda_date(value), "type": "Date"}
    raise TypeError(f"cannot send a {type(value).__name__} as a process variable")


def encode_variables(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: encode_value(value) for name, value in values.items()}
