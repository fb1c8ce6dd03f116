"""Runs bpmn/ticket-refund.bpmn as written, with SpiffWorkflow (a Python BPMN engine that
parses Camunda diagrams), so tests can walk its routes without a Camunda engine.

Spiff executes the diagram's own flow: gateways with their conditions and default flows,
boundary events, timers, user tasks and end events. What Spiff leaves to the host is supplied
here, each as Camunda 7 does it:
- expressions (conditions, timer durations, listeners, expression tasks) are JUEL, evaluated
  by tests/fakes/juel.py, not Python;
- `camunda:type="external"` service tasks wait for a worker: `complete_external` sets the
  worker's output variables, `throw_bpmn_error` raises the error on the task and the boundary
  event for its errorCode catches it, storing the message in camunda:errorMessageVariable (no
  matching boundary fails the test: on the engine the error would end the instance silently);
- `camunda:expression` service tasks evaluate and store camunda:resultVariable;
- `camunda:executionListener` start/end listeners on start events, end events and exclusive
  gateways run around them (any other listener makes the runner refuse the diagram rather
  than ignore it);
- time is a fake clock: `advance()` moves it, so a PT2H timer is seen firing after 2 hours;
- the instance has an id and a business key (for `execution.getProcessInstanceId()` and
  `getProcessBusinessKey()`), and leaves history as the engine's does: `activities` lists every
  activity instance with its start, end and (user tasks) assignee, `started_at` / `ended_at`
  the instance's own times, so tests/fakes/engine_history.py can answer the history REST API.
"""

from __future__ import annotations

import copy
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from SpiffWorkflow.bpmn.parser.TaskParser import TaskParser
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.util.task import TaskState

from tests.fakes import juel

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"
DIAGRAM = Path(__file__).resolve().parents[2] / "bpmn" / "ticket-refund.bpmn"
# The id of an instance whose test does not choose one. It hashes outside the default 5% audit
# sample (bucket 1304 of 10000), so such a test sees no audit task unless it sets auditRate.
DEFAULT_INSTANCE_ID = "instance-0"


class JuelScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    """Spiff's expression hook, answering in JUEL over the task's variables."""

    def __init__(self, instance: juel.InstanceInfo | None = None) -> None:
        super().__init__()
        self.instance = instance

    def evaluate(self, task: Any, expression: str, external_context: Any = None) -> Any:
        return juel.evaluate(expression, task.data, self.instance)

    def execute(self, task: Any, script: str, external_context: Any = None) -> Any:
        raise NotImplementedError("the diagram has no script tasks; Camunda would need an engine")


class CamundaServiceTask(ServiceTask):  # type: ignore[misc]
    """An external task (waits for a worker) or an expression task (runs at once)."""

    def __init__(
        self,
        wf_spec: Any,
        bpmn_id: str,
        topic: str | None = None,
        expression: str | None = None,
        result_variable: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.topic = topic
        self.expression = expression
        self.result_variable = result_variable
        self.manual = topic is not None

    def _run_hook(self, my_task: Any) -> bool:
        if self.expression is not None:
            value = juel.evaluate(self.expression, my_task.data)
            if self.result_variable:
                my_task.data[self.result_variable] = value
        return True


class CamundaServiceTaskParser(TaskParser):  # type: ignore[misc]
    def create_task(self) -> CamundaServiceTask:
        node = self.node
        kind = node.get(f"{CAMUNDA}type")
        expression = node.get(f"{CAMUNDA}expression")
        if kind != "external" and expression is None:
            raise NotImplementedError(f"service task {node.get('id')}: only external or expression")
        return CamundaServiceTask(
            self.spec,
            self.bpmn_id,
            topic=node.get(f"{CAMUNDA}topic") if kind == "external" else None,
            expression=expression,
            result_variable=node.get(f"{CAMUNDA}resultVariable"),
            **self.bpmn_attributes,
        )


class _Parser(CamundaParser):  # type: ignore[misc]
    OVERRIDE_PARSER_CLASSES: ClassVar[dict[str, Any]] = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("serviceTask"): (CamundaServiceTaskParser, CamundaServiceTask),
    }


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def datetime_class(self) -> type[datetime]:
        clock = self

        class ClockDatetime(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> ClockDatetime:  # type: ignore[override]
                moment = clock.now if tz is None else clock.now.astimezone(tz)
                return cls.fromtimestamp(moment.timestamp(), tz=moment.tzinfo)

        return ClockDatetime


@dataclass(frozen=True)
class UserTaskInfo:
    id: str
    name: str
    candidate_groups: tuple[str, ...]
    form_ref: str | None
    variables: dict[str, Any]


@dataclass
class ActivityRecord:
    """One activity instance, as the engine's history keeps it."""

    id: str
    activity_id: str
    activity_name: str | None
    activity_type: str  # Camunda's names: userTask, serviceTask, noneEndEvent, ...
    started_at: datetime
    ended_at: datetime | None = None
    assignee: str | None = None
    canceled: bool = False


# The engine's activityType for the element tags of the diagram.
_ACTIVITY_TYPES = {"endEvent": "noneEndEvent"}


def _activity_type(element: Any, tag: str) -> str:
    """The engine's activityType: boundary events by their kind (boundaryTimer, ...)."""
    if tag == "boundaryEvent":
        timer = element.find(f"{BPMN}timerEventDefinition") is not None
        return "boundaryTimer" if timer else "boundaryError"
    return _ACTIVITY_TYPES.get(tag, tag)


@dataclass(frozen=True)
class ExternalTaskInfo:
    id: str
    name: str
    topic: str
    variables: dict[str, Any]


class ProcessRun:
    """One instance of the diagram, driven step by step by a test."""

    def __init__(
        self,
        variables: Mapping[str, Any],
        clock: FakeClock,
        path: Path = DIAGRAM,
        process_id: str = "ticket-refund",
        *,
        business_key: str | None = None,
        instance_id: str | None = None,
    ) -> None:
        self.clock = clock
        self.id = instance_id or DEFAULT_INSTANCE_ID
        self.business_key = business_key
        self.started_at = clock.now
        self.ended_at: datetime | None = None
        self.activities: list[ActivityRecord] = []
        self._records: dict[Any, ActivityRecord] = {}
        self.xml = ET.parse(path).getroot()  # noqa: S314 - the repository's own diagram
        self._elements = {el.get("id"): el for el in self.xml.iter() if el.get("id") is not None}
        parser = _Parser()
        parser.add_bpmn_file(str(path))
        spec = parser.get_spec(process_id)
        self._install_listeners(spec)
        self.workflow = BpmnWorkflow(
            spec, script_engine=JuelScriptEngine(juel.InstanceInfo(self.id, business_key))
        )
        start = self.workflow.get_next_task(state=TaskState.READY)
        start.data.update(copy.deepcopy(dict(variables)))
        # Topics in the order their external tasks were created, one entry per task.
        self.external_log: list[str] = []
        self._offered: set[Any] = set()
        # Wait states the instance entered, even if a boundary event cancelled them later.
        self._entered: set[str] = set()
        self._step()

    # ------------------------------------------------------------------ setup

    def _install_listeners(self, spec: Any) -> None:
        for element in self.xml.iter():
            for listener in element.iter(f"{CAMUNDA}executionListener"):
                owner = element.get("id")
                if listener.get("event") not in ("start", "end") or not listener.get("expression"):
                    raise NotImplementedError(
                        f"{owner}: only start/end expression listeners are emulated"
                    )
        for task_spec in spec.task_specs.values():
            element = self._elements.get(getattr(task_spec, "bpmn_id", None))
            if element is None:
                continue
            listeners = element.findall(f"{BPMN}extensionElements/{CAMUNDA}executionListener")
            if not listeners:
                continue
            if element.tag not in (
                f"{BPMN}startEvent",
                f"{BPMN}endEvent",
                f"{BPMN}exclusiveGateway",
            ):
                raise NotImplementedError(f"listeners on {element.tag} are not emulated")
            starts = [str(x.get("expression")) for x in listeners if x.get("event") == "start"]
            ends = [str(x.get("expression")) for x in listeners if x.get("event") == "end"]
            original = task_spec._run_hook

            def hooked(
                my_task: Any, original: Any = original, starts: Any = starts, ends: Any = ends
            ) -> Any:
                for expression in starts:
                    juel.evaluate(expression, my_task.data)
                result = original(my_task)
                for expression in ends:
                    juel.evaluate(expression, my_task.data)
                return result

            task_spec._run_hook = hooked

    def _step(self) -> None:
        self.workflow.refresh_timers()
        self.workflow.do_engine_steps()
        for task in self.workflow.get_tasks(state=TaskState.READY):
            spec = task.task_spec
            external = isinstance(spec, CamundaServiceTask) and spec.topic is not None
            self._entered.add(str(task.task_spec.bpmn_id))
            if external and task.id not in self._offered:
                self._offered.add(task.id)
                self.external_log.append(spec.topic)
        self._record_history()

    def _record_history(self) -> None:
        for task in self.workflow.get_tasks():
            element = self._elements.get(getattr(task.task_spec, "bpmn_id", None))
            if element is None or element.tag == f"{BPMN}process":
                continue
            done = task.state in (TaskState.COMPLETED, TaskState.CANCELLED)
            live = task.state in (TaskState.READY, TaskState.WAITING, TaskState.STARTED)
            record = self._records.get(task.id)
            if record is None and (done or live):
                if task.state == TaskState.CANCELLED:
                    continue  # never entered: a boundary event or branch that did not happen
                if element.tag == f"{BPMN}boundaryEvent" and not done:
                    continue  # a boundary waits with its task; it is an activity once it fires
                tag = element.tag.removeprefix(BPMN)
                record = ActivityRecord(
                    id=str(uuid.uuid4()),
                    activity_id=str(element.get("id")),
                    activity_name=element.get("name"),
                    activity_type=_activity_type(element, tag),
                    started_at=self.clock.now,
                )
                self._records[task.id] = record
                self.activities.append(record)
            if record is not None and done and record.ended_at is None:
                record.ended_at = self.clock.now
                record.canceled = task.state == TaskState.CANCELLED
        if self.ended_at is None and self.workflow.is_completed():
            self.ended_at = self.clock.now

    # ------------------------------------------------------------------ inspection

    def _ready(self) -> list[Any]:
        return list(self.workflow.get_tasks(state=TaskState.READY))

    def waiting_external(self) -> ExternalTaskInfo | None:
        for task in self._ready():
            spec = task.task_spec
            if isinstance(spec, CamundaServiceTask) and spec.topic is not None:
                return ExternalTaskInfo(spec.bpmn_id, spec.bpmn_name, spec.topic, dict(task.data))
        return None

    def user_tasks(self) -> list[UserTaskInfo]:
        found = []
        for task in self._ready():
            element = self._elements.get(task.task_spec.bpmn_id)
            if element is None or element.tag != f"{BPMN}userTask":
                continue
            groups = tuple(
                g.strip() for g in (element.get(f"{CAMUNDA}candidateGroups") or "").split(",") if g
            )
            found.append(
                UserTaskInfo(
                    task.task_spec.bpmn_id,
                    task.task_spec.bpmn_name,
                    groups,
                    element.get(f"{CAMUNDA}formRef"),
                    dict(task.data),
                )
            )
        return found

    @property
    def ended(self) -> bool:
        return bool(self.workflow.is_completed())

    @property
    def end_events(self) -> list[str]:
        """Names of the end events reached so far, in the order they were reached (an audited
        refund reaches Refunded first, then Audited when the audit is done)."""
        return [
            str(r.activity_name)
            for r in self.activities
            if r.activity_type == "noneEndEvent" and r.ended_at is not None
        ]

    @property
    def end_event_ids(self) -> set[str]:
        """Ids of every end event reached so far (an audited refund has two)."""
        return {
            r.activity_id
            for r in self.activities
            if r.activity_type == "noneEndEvent" and r.ended_at is not None
        }

    @property
    def end_event(self) -> str | None:
        """The name of the end event the refund reached, once the instance has ended."""
        if not self.ended:
            return None
        ends = [name for name in self.end_events if name != "Audited"]
        assert len(ends) == 1, f"exactly one end event besides the audit's is reached: {ends}"
        return ends[0]

    @property
    def end_event_id(self) -> str | None:
        if self.end_event is None:
            return None
        (end,) = [
            t.task_spec.bpmn_id
            for t in self.workflow.get_tasks(state=TaskState.COMPLETED)
            if t.task_spec.bpmn_name == self.end_event
            and self._elements[t.task_spec.bpmn_id].tag == f"{BPMN}endEvent"
        ]
        return str(end)

    def visited(self) -> set[str]:
        """Ids of the elements the instance has entered so far (as the engine's history of
        activity instances lists them, interrupted ones included)."""
        completed = {
            str(t.task_spec.bpmn_id)
            for t in self.workflow.get_tasks(state=TaskState.COMPLETED)
            if getattr(t.task_spec, "bpmn_id", None) in self._elements
        }
        return completed | self._entered

    @property
    def variables(self) -> dict[str, Any]:
        """The variables where the instance stands (its last completed or waiting step)."""
        if self.ended:
            return dict(self.workflow.last_task.data)
        ready = self._ready()
        return dict(ready[0].data) if ready else dict(self.workflow.last_task.data)

    # ------------------------------------------------------------------ driving

    def _external(self, topic: str) -> Any:
        for task in self._ready():
            spec = task.task_spec
            if isinstance(spec, CamundaServiceTask) and spec.topic == topic:
                return task
        raise AssertionError(f"no external task waits on topic {topic}; waiting: {self._waits()}")

    def _waits(self) -> list[str]:
        return [str(t.task_spec.bpmn_name) for t in self._ready()]

    def complete_external(self, topic: str, **variables: Any) -> None:
        task = self._external(topic)
        task.data.update(variables)
        task.run()
        self._step()

    def throw_bpmn_error(self, topic: str, code: str, message: str) -> None:
        task = self._external(topic)
        task_id = task.task_spec.bpmn_id
        catcher = None
        for element in self.xml.iter(f"{BPMN}boundaryEvent"):
            if element.get("attachedToRef") != task_id:
                continue
            definition = element.find(f"{BPMN}errorEventDefinition")
            if definition is None:
                continue
            error_ref = definition.get("errorRef")
            error = self._elements.get(error_ref) if error_ref else None
            if error is None or error.get("errorCode") == code:
                catcher = (element, definition)
                break
        if catcher is None:
            pytest.fail(f"BPMN error {code} thrown by {task_id} is caught by no boundary event")
        element, definition = catcher
        boundary = next(
            t
            for t in self.workflow.get_tasks(state=TaskState.WAITING)
            if t.task_spec.bpmn_id == element.get("id")
        )
        payload = dict(task.data)
        message_variable = definition.get(f"{CAMUNDA}errorMessageVariable")
        if message_variable:
            payload[message_variable] = message
        code_variable = definition.get(f"{CAMUNDA}errorCodeVariable")
        if code_variable:
            payload[code_variable] = code
        event = BpmnEvent(boundary.task_spec.event_definition, payload=payload)
        boundary.task_spec.catch(boundary, event)
        boundary.task_spec._update(boundary)
        self._step()

    def complete_user_task(self, task_id: str, *, by: str | None = None, **form: Any) -> None:
        """Complete a user task with the form's variables; `by` is the assignee (Tasklist has
        the user claim the task before completing it)."""
        task = next((t for t in self._ready() if t.task_spec.bpmn_id == task_id), None)
        if task is None:
            raise AssertionError(f"user task {task_id} is not open; waiting: {self._waits()}")
        record = self._records.get(task.id)
        if record is not None:
            record.assignee = by
        task.data.update(form)
        task.run()
        self._step()

    def advance(self, delta: timedelta) -> None:
        self.clock.now += delta
        self._step()


@contextmanager
def fake_time() -> Iterator[FakeClock]:
    """Spiff's timers read this clock while the context is open."""
    clock = FakeClock()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(spiff_timer, "datetime", clock.datetime_class())
        yield clock
