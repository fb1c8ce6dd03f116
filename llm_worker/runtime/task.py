"""The task model handlers receive and the outcomes they return."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TypedValue:
    """A Camunda variable as the engine sends it: value plus its Camunda type name."""

    value: Any
    type: str | None = None
    value_info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """One locked external task, as a handler sees it."""

    id: str
    topic: str
    worker_id: str
    process_instance_id: str | None
    business_key: str | None
    retries: int | None
    variables: Mapping[str, TypedValue]
    # time.monotonic() by which the handler should have answered; the runtime extends the
    # engine's lock past it if needed, but work that plans retries stays inside it.
    deadline: float

    def value(self, name: str, default: Any = None) -> Any:
        var = self.variables.get(name)
        return default if var is None or var.value is None else var.value


@dataclass(frozen=True)
class Complete:
    """Complete the task and set these process variables (plain Python values or TypedValue)."""

    variables: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BpmnError:
    """Throw a BPMN error that a boundary event in the process catches."""

    code: str
    message: str
    variables: Mapping[str, Any] = field(default_factory=dict)


TaskOutcome = Complete | BpmnError
Handler = Callable[[Task], TaskOutcome]
