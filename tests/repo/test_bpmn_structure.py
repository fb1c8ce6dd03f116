"""Structure of bpmn/ticket-refund.bpmn and its forms: the contract's topics, variables, error
codes, SLA, groups, history time to live, names and diagram interchange."""

from __future__ import annotations

import itertools
import json
import re
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from llm_worker.handlers.payment import PAYMENT_ERROR_CODES
from llm_worker.process import ALL_TOPICS, MANAGERS, OPERATORS, PAYMENT_TOPIC, PROCESS_KEY
from tests.contract import START_INPUTS
from tests.fakes import juel

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
DIAGRAM = BPMN_DIR / "ticket-refund.bpmn"
B = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
C = "{http://camunda.org/schema/1.0/bpmn}"
DI = "{http://www.omg.org/spec/BPMN/20100524/DI}"
DC = "{http://www.omg.org/spec/DD/20100524/DC}"
DDI = "{http://www.omg.org/spec/DD/20100524/DI}"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"

FLOW_NODES = (
    "startEvent",
    "endEvent",
    "serviceTask",
    "userTask",
    "exclusiveGateway",
    "boundaryEvent",
    "intermediateCatchEvent",
    "scriptTask",
    "task",
    "parallelGateway",
    "inclusiveGateway",
)
# CONTRACT.md sections 2 and 3: the outputs the worker sets.
WORKER_OUTPUTS = {
    "fareRuleCheck",
    "decisionSource",
    "llmReasoning",
    "llmProvider",
    "llmModel",
    "penaltyAmount",
    "refundAmount",
    "llmError",
    "paymentStatus",
    "paymentId",
}


@cache
def root() -> ET.Element:
    return ET.parse(DIAGRAM).getroot()  # noqa: S314 - the repository's own diagram


def process() -> ET.Element:
    (found,) = root().findall(f"{B}process")
    return found


def nodes() -> list[ET.Element]:
    return [el for el in process() if el.tag.removeprefix(B) in FLOW_NODES]


def flows() -> list[ET.Element]:
    return process().findall(f"{B}sequenceFlow")


def by_id(element_id: str) -> ET.Element:
    found = root().find(f".//*[@id='{element_id}']")
    assert found is not None, element_id
    return found


def by_name(name: str) -> ET.Element:
    (found,) = [el for el in nodes() if el.get("name") == name]
    return found


def kind(element: ET.Element) -> str:
    return element.tag.removeprefix(B)


def conditions() -> list[tuple[ET.Element, str]]:
    found = []
    for flow in flows():
        expression = flow.find(f"{B}conditionExpression")
        if expression is not None:
            found.append((flow, expression.text or ""))
    return found


def expressions() -> list[str]:
    """Every JUEL text in the process: conditions, timers, listeners, expression tasks."""
    texts = [text for _, text in conditions()]
    texts += [el.text or "" for el in process().iter(f"{B}timeDuration")]
    texts += [str(el.get("expression")) for el in process().iter(f"{C}executionListener")]
    texts += [str(el.get(f"{C}expression")) for el in nodes() if el.get(f"{C}expression")]
    return texts


def form(form_ref: str) -> dict[str, Any]:
    matches = []
    for path in BPMN_DIR.glob("*.form"):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("id") == form_ref:
            matches.append(data)
    assert len(matches) == 1, f"exactly one form with id {form_ref}"
    return matches[0]


def form_fields(form_ref: str) -> dict[str, dict[str, Any]]:
    def walk(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for c in components:
            out.append(c)
            out += walk(c.get("components", []))
        return out

    return {c["key"]: c for c in walk(form(form_ref)["components"]) if "key" in c}


def process_set_variables() -> set[str]:
    names = {str(el.get(f"{C}resultVariable")) for el in nodes() if el.get(f"{C}resultVariable")}
    for text in expressions():
        names |= set(re.findall(r"setVariable\('([^']+)'", text))
    for definition in process().iter(f"{B}errorEventDefinition"):
        for attribute in ("errorMessageVariable", "errorCodeVariable"):
            if definition.get(f"{C}{attribute}"):
                names.add(str(definition.get(f"{C}{attribute}")))
    return names


def form_outputs() -> set[str]:
    names: set[str] = set()
    for task in process().iter(f"{B}userTask"):
        for key, field in form_fields(str(task.get(f"{C}formRef"))).items():
            if not field.get("disabled"):
                names.add(key)
    return names


# ----------------------------------------------------------------------------- the process


def test_process_is_executable_with_history_time_to_live() -> None:
    p = process()
    assert p.get("id") == PROCESS_KEY
    assert p.get("isExecutable") == "true"
    ttl = p.get(f"{C}historyTimeToLive")
    assert ttl is not None and ((ttl.isdigit() and int(ttl) > 0) or ttl.startswith("P"))
    assert root().get("{http://camunda.org/schema/modeler/1.0}executionPlatformVersion") == "7.24.0"


def test_external_task_topics_are_exactly_the_workers() -> None:
    external = [el for el in nodes() if el.get(f"{C}type") == "external"]
    assert sorted(str(el.get(f"{C}topic")) for el in external) == sorted(ALL_TOPICS)
    for el in nodes():
        if kind(el) == "serviceTask":
            assert el.get(f"{C}type") == "external" or el.get(f"{C}expression"), el.get("id")


def test_every_flow_node_is_named_and_so_is_every_branch() -> None:
    for el in nodes():
        assert (el.get("name") or "").strip(), f"{el.get('id')} has no name"
    for flow in flows():
        source = by_id(str(flow.get("sourceRef")))
        if kind(source) == "exclusiveGateway" and len(source.findall(f"{B}outgoing")) > 1:
            assert (flow.get("name") or "").strip(), f"branch {flow.get('id')} has no name"


def test_every_path_ends_at_a_named_end_event() -> None:
    ends = {el.get("name") for el in nodes() if kind(el) == "endEvent"}
    assert ends == {"Refunded", "Rejected", "Payment escalated", "Audited", "Not audited"}
    sources = {flow.get("sourceRef") for flow in flows()}
    for el in nodes():
        if kind(el) != "endEvent":
            assert el.get("id") in sources, f"{el.get('name')} leads nowhere"


def test_incoming_and_outgoing_references_match_the_flows() -> None:
    for el in nodes():
        incoming = {e.text for e in el.findall(f"{B}incoming")}
        outgoing = {e.text for e in el.findall(f"{B}outgoing")}
        assert incoming == {f.get("id") for f in flows() if f.get("targetRef") == el.get("id")}
        assert outgoing == {f.get("id") for f in flows() if f.get("sourceRef") == el.get("id")}


def test_forking_gateways_have_a_default_flow_and_conditions_elsewhere() -> None:
    for gateway in nodes():
        outgoing = [f for f in flows() if f.get("sourceRef") == gateway.get("id")]
        if kind(gateway) != "exclusiveGateway" or len(outgoing) < 2:
            continue
        default = gateway.get("default")
        assert default in {f.get("id") for f in outgoing}, gateway.get("name")
        for flow in outgoing:
            has_condition = flow.find(f"{B}conditionExpression") is not None
            assert has_condition == (flow.get("id") != default), flow.get("id")


def test_conditions_are_juel_and_survive_missing_variables() -> None:
    """A condition reading a variable that is not there must not stop the instance."""
    assert conditions()
    for flow, text in conditions():
        expression = flow.find(f"{B}conditionExpression")
        assert expression is not None
        assert expression.get(f"{XSI}type") == "bpmn:tFormalExpression"
        assert text.startswith("${") and text.endswith("}")
        assert isinstance(juel.evaluate(text, {}), bool), flow.get("id")


def test_every_variable_an_expression_reads_has_a_producer() -> None:
    produced = START_INPUTS | WORKER_OUTPUTS | process_set_variables() | form_outputs()
    for text in expressions():
        missing = juel.identifiers_read(text) - produced
        assert not missing, f"{text} reads {missing}, which nothing sets"


def test_counters_and_defaults_are_set_by_the_process_at_start() -> None:
    (start,) = [el for el in nodes() if kind(el) == "startEvent"]
    listeners = start.findall(f"{B}extensionElements/{C}executionListener")
    variables: dict[str, Any] = {}
    for listener in listeners:
        juel.evaluate(str(listener.get("expression")), variables)
    assert variables == {
        "apiErrorCount": 0,
        "reviewSla": "PT2H",
        "auditSla": "P7D",
        "auditRate": 0.05,
    }
    variables = {"reviewSla": "PT45M", "auditSla": "P2D"}
    for listener in listeners:
        juel.evaluate(str(listener.get("expression")), variables)
    assert (variables["reviewSla"], variables["auditSla"]) == ("PT45M", "P2D")
    assert "apiErrorCount" not in WORKER_OUTPUTS


# ----------------------------------------------------------------------------- payment


def test_payment_errors_are_caught_by_the_payment_task() -> None:
    payment = next(el for el in nodes() if el.get(f"{C}topic") == PAYMENT_TOPIC)
    caught = {}
    for boundary in nodes():
        if kind(boundary) != "boundaryEvent" or boundary.get("attachedToRef") != payment.get("id"):
            continue
        definition = boundary.find(f"{B}errorEventDefinition")
        assert definition is not None
        error = by_id(str(definition.get("errorRef")))
        caught[error.get("errorCode")] = definition
    assert set(caught) == set(PAYMENT_ERROR_CODES)
    for definition in caught.values():
        assert definition.get(f"{C}errorMessageVariable") == "paymentError"
    declared = {el.get("errorCode") for el in root().findall(f"{B}error")}
    assert declared == set(PAYMENT_ERROR_CODES)


def test_retry_loop_counts_attempts_and_stops_after_three() -> None:
    count = by_name("Count failed attempt")
    assert count.get(f"{C}resultVariable") == "apiErrorCount"
    assert juel.evaluate(str(count.get(f"{C}expression")), {"apiErrorCount": 2}) == 3
    (retry,) = [t for f, t in conditions() if f.get("targetRef") == "Timer_PaymentBackoff"]
    assert [juel.evaluate(retry, {"apiErrorCount": n}) for n in (1, 2, 3)] == [True, True, False]
    backoff = by_name("Wait before retry").find(f"{B}timerEventDefinition/{B}timeDuration")
    assert backoff is not None and backoff.text == "PT30S"


# ----------------------------------------------------------------------------- review


def test_manual_review_groups_form_and_sla_timer() -> None:
    review, escalated = by_name("Manual review"), by_name("Escalated review")
    resolve = by_name("Resolve payment")
    assert review.get(f"{C}candidateGroups") == OPERATORS
    assert escalated.get(f"{C}candidateGroups") == MANAGERS
    assert resolve.get(f"{C}candidateGroups") == OPERATORS
    for task in (review, escalated, resolve):
        assert task.get(f"{C}formRefBinding") == "deployment"
    assert review.get(f"{C}formRef") == escalated.get(f"{C}formRef") == "ticket-refund-review"
    (timer,) = [
        el
        for el in nodes()
        if kind(el) == "boundaryEvent" and el.get("attachedToRef") == review.get("id")
    ]
    assert timer.get("cancelActivity", "true") == "true"
    duration = timer.find(f"{B}timerEventDefinition/{B}timeDuration")
    assert duration is not None and duration.text == "${reviewSla}"
    (escalation,) = [f for f in flows() if f.get("sourceRef") == timer.get("id")]
    assert escalation.get("targetRef") == escalated.get("id")


def test_review_form_asks_only_for_the_decision_the_process_routes_on() -> None:
    """The case is shown as read-only text (html/text components): the only fields Tasklist
    submits are the operator's. How they render and validate is tested in a real browser
    (tests/integration/test_forms_browser.py)."""
    fields = form_fields("ticket-refund-review")
    assert set(fields) == {"approved", "refundAmount", "reviewComment"}
    approved = fields["approved"]
    assert approved["type"] == "radio" and approved["validate"]["required"] is True
    assert "defaultValue" not in approved
    (to_pay,) = [t for f, t in conditions() if f.get("id") == "Flow_Approved"]
    outcomes = {
        v["value"]: juel.evaluate(to_pay, {"approved": v["value"]}) for v in approved["values"]
    }
    assert outcomes == {True: True, False: False}
    amount = fields["refundAmount"]
    assert amount["type"] == "number" and amount["decimalDigits"] == 2
    assert amount["validate"] == {"required": True, "min": 0.01, "max": "=ticketPrice"}
    assert amount["conditional"]["hide"] == "=approved != true"


def test_payment_form_decides_retry_or_close() -> None:
    fields = form_fields("ticket-refund-payment")
    resolution = fields["paymentResolution"]
    assert resolution["type"] == "radio"
    assert resolution["validate"]["required"] is True
    values = {v["value"] for v in resolution["values"]}
    (retry,) = [t for f, t in conditions() if f.get("targetRef") == "Task_ResetAttempts"]
    assert "RETRY" in values and juel.evaluate(retry, {"paymentResolution": "RETRY"}) is True
    assert all(not juel.evaluate(retry, {"paymentResolution": v}) for v in values - {"RETRY"})
    assert set(fields) == {"paymentResolution", "refundAmount", "currency", "paymentComment"}
    assert fields["refundAmount"]["validate"] == {
        "required": True,
        "min": 0.01,
        "max": "=ticketPrice",
    }


def test_every_form_is_deployable_camunda_form_json() -> None:
    for path in BPMN_DIR.glob("*.form"):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["type"] == "default" and data["id"] and data["components"]
        ids = [c["id"] for c in data["components"]]
        assert len(ids) == len(set(ids)), path.name
        keys = [c["key"] for c in data["components"] if "key" in c]
        assert len(keys) == len(set(keys)), path.name


# ----------------------------------------------------------------------------- diagram


def _bounds(shape: ET.Element) -> tuple[float, float, float, float]:
    b = shape.find(f"{DC}Bounds")
    assert b is not None
    return tuple(float(str(b.get(k))) for k in ("x", "y", "width", "height"))  # type: ignore[return-value]


def _on_border(point: tuple[float, float], box: tuple[float, float, float, float]) -> bool:
    x, y, w, h = box
    px, py = point
    inside = x - 1 <= px <= x + w + 1 and y - 1 <= py <= y + h + 1
    near_edge = min(abs(px - x), abs(px - x - w), abs(py - y), abs(py - y - h)) <= 1
    # Round shapes and diamonds are met at their extreme points, which lie on the box edge too.
    return inside and near_edge


@pytest.fixture(scope="module")
def di() -> tuple[dict[str, ET.Element], dict[str, ET.Element]]:
    plane = root().find(f"{DI}BPMNDiagram/{DI}BPMNPlane")
    assert plane is not None and plane.get("bpmnElement") == PROCESS_KEY
    shapes = {str(s.get("bpmnElement")): s for s in plane.findall(f"{DI}BPMNShape")}
    edges = {str(e.get("bpmnElement")): e for e in plane.findall(f"{DI}BPMNEdge")}
    return shapes, edges


def test_diagram_interchange_covers_every_node_and_flow(
    di: tuple[dict[str, ET.Element], dict[str, ET.Element]],
) -> None:
    shapes, edges = di
    assert set(shapes) == {str(el.get("id")) for el in nodes()}
    assert set(edges) == {str(f.get("id")) for f in flows()}


def test_edges_start_and_end_on_their_shapes(
    di: tuple[dict[str, ET.Element], dict[str, ET.Element]],
) -> None:
    shapes, edges = di
    for flow in flows():
        points = [
            (float(str(p.get("x"))), float(str(p.get("y"))))
            for p in edges[str(flow.get("id"))].findall(f"{DDI}waypoint")
        ]
        assert len(points) >= 2
        source, target = shapes[str(flow.get("sourceRef"))], shapes[str(flow.get("targetRef"))]
        assert _on_border(points[0], _bounds(source)), f"{flow.get('id')} start"
        assert _on_border(points[-1], _bounds(target)), f"{flow.get('id')} end"
        for (x1, y1), (x2, y2) in itertools.pairwise(points):
            assert x1 == x2 or y1 == y2, f"{flow.get('id')} has a diagonal segment"


def test_shapes_do_not_overlap_and_boundaries_sit_on_their_task(
    di: tuple[dict[str, ET.Element], dict[str, ET.Element]],
) -> None:
    shapes, _ = di
    boxes = {k: _bounds(v) for k, v in shapes.items()}
    attached = {
        str(el.get("id")): str(el.get("attachedToRef"))
        for el in nodes()
        if kind(el) == "boundaryEvent"
    }
    for boundary, host in attached.items():
        x, y, w, h = boxes[boundary]
        assert _on_border((x + w / 2, y + h / 2), boxes[host]), boundary
    names = sorted(boxes)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if attached.get(a) == b or attached.get(b) == a:
                continue
            ax, ay, aw, ah = boxes[a]
            bx, by, bw, bh = boxes[b]
            overlap = ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah
            assert not overlap, f"{a} overlaps {b}"
