"""The JUEL evaluator the diagram tests rely on follows the EL rules Camunda applies."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.juel import ELError, evaluate, identifiers_read


@pytest.mark.parametrize(
    ("expression", "variables", "expected"),
    [
        ("${execution.getVariable('n') < 3}", {}, False),
        ("${execution.getVariable('n') < 3}", {"n": 2}, True),
        ("${execution.getVariable('n') + 1}", {}, 1),
        ("${execution.getVariable('n') + 1}", {"n": 2}, 3),
        ("${execution.getVariable('x') == null}", {}, True),
        ("${execution.getVariable('x') != null}", {"x": 0}, True),
        ("${a == true}", {"a": "true"}, True),
        ("${a == true}", {"a": None}, False),
        ("${p == 5}", {"p": "5"}, True),
        ("${p > 4.5}", {"p": "5"}, True),
        ("${s == 'ALLOWED' || s == 'WITH_PENALTY'}", {"s": "WITH_PENALTY"}, True),
        ("${s eq 'A' and not (t ne 'B')}", {"s": "A", "t": "B"}, True),
        ("${empty x ? 'none' : x}", {"x": ""}, "none"),
        ("${empty x ? 'none' : x}", {"x": "y"}, "y"),
        ("${1 + 2 * 3}", {}, 7),
        ("${7 / 2}", {}, 3.5),
        ("${'PT2H'.toString().matches('PT[0-9]+H')}", {}, True),
        ("${'2 hours'.matches('PT[0-9]+H')}", {}, False),
        ("PT30S", {}, "PT30S"),
        ("due in ${n} hours", {"n": 2}, "due in 2 hours"),
        ("${0}", {}, 0),
    ],
)
def test_el_semantics(expression: str, variables: dict[str, Any], expected: Any) -> None:
    assert evaluate(expression, dict(variables)) == expected


def test_set_variable_writes_to_the_instance() -> None:
    variables: dict[str, Any] = {}
    assert evaluate("${execution.setVariable('apiErrorCount', 0)}", variables) is None
    assert variables == {"apiErrorCount": 0}


@pytest.mark.parametrize(
    "expression",
    [
        "${missing == 'x'}",
        "${'abc' > 3}",
        "${execution.getVariable('x').toString()}",
        "${true + 1}",
        "${a ==}",
    ],
)
def test_what_fails_on_the_engine_fails_here(expression: str) -> None:
    with pytest.raises(ELError):
        evaluate(expression, {"a": 1})


def test_identifiers_read_finds_bare_names_and_get_variable() -> None:
    text = "${execution.getVariable('fareRuleCheck') == 'ALLOWED' && refundAmount > x.y}"
    assert identifiers_read(text) == {"fareRuleCheck", "refundAmount", "x"}
    assert identifiers_read("${empty a ? 'b' : c.toString()}") == {"a", "c"}
