"""Outcome encoding: every value reaches the engine with an explicit Camunda type."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum

import pytest

from llm_worker.runtime.task import TypedValue
from llm_worker.runtime.variables import decode_variables, encode_value, encode_variables


class Decision(StrEnum):
    ALLOWED = "ALLOWED"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (100.0, {"value": 100.0, "type": "Double"}),
        (12.5, {"value": 12.5, "type": "Double"}),
        (Decimal("7.25"), {"value": 7.25, "type": "Double"}),
        (3, {"value": 3, "type": "Integer"}),
        (2**40, {"value": 2**40, "type": "Long"}),
        (True, {"value": True, "type": "Boolean"}),
        ("MANUAL", {"value": "MANUAL", "type": "String"}),
        (Decision.ALLOWED, {"value": "ALLOWED", "type": "String"}),
        (None, {"value": None, "type": "Null"}),
        (
            datetime(2024, 5, 1, 10, 30, 15, 123000, tzinfo=UTC),
            {"value": "2024-05-01T10:30:15.123+0000", "type": "Date"},
        ),
        (date(2024, 5, 1), {"value": "2024-05-01T00:00:00.000+0000", "type": "Date"}),
        (TypedValue(5, "Long"), {"value": 5, "type": "Long"}),
        (
            TypedValue('{"a": 1}', "Json", {"x": 1}),
            {"value": '{"a": 1}', "type": "Json", "valueInfo": {"x": 1}},
        ),
    ],
)
def test_values_are_typed_explicitly(value: object, expected: dict[str, object]) -> None:
    assert encode_value(value) == expected


def test_a_bool_is_never_taken_for_an_integer() -> None:
    assert encode_variables({"noShow": False})["noShow"]["type"] == "Boolean"


def test_unknown_types_are_refused() -> None:
    with pytest.raises(TypeError, match="list"):
        encode_value([1, 2])


def test_decode_keeps_type_and_value_info() -> None:
    decoded = decode_variables(
        {
            "ticketPrice": {"value": 450.0, "type": "Double", "valueInfo": {}},
            "blob": {"value": "{}", "type": "Object", "valueInfo": {"objectTypeName": "X"}},
            "broken": "not a dto",
        }
    )
    assert decoded["ticketPrice"] == TypedValue(450.0, "Double", {})
    assert decoded["blob"].value_info == {"objectTypeName": "X"}
    assert "broken" not in decoded
    assert decode_variables(None) == {}
