"""A `Task` as the worker hands it to a handler, for tests that call the handlers directly."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from llm_worker.runtime.task import Complete, Task, TypedValue


def handler_task(
    topic: str,
    variables: Mapping[str, Any],
    *,
    process_instance_id: str | None = "instance-1",
    deadline_s: float = 30.0,
) -> Task:
    """A locked task of `topic`; a plain value becomes an untyped TypedValue, as a variable the
    engine sent without a type name, and a TypedValue is kept as it is."""
    return Task(
        id="task-1",
        topic=topic,
        worker_id="test-worker",
        process_instance_id=process_instance_id,
        business_key=None,
        retries=None,
        variables={
            name: value if isinstance(value, TypedValue) else TypedValue(value)
            for name, value in variables.items()
        },
        deadline=time.monotonic() + deadline_s,
    )


def fare_rules_task(
    rules: str, *, booking: str, ticket_price: float, deadline_s: float = 10.0
) -> Task:
    """An analyze-fare-rules task for a USD ticket departing 2030-12-15, asked on 2030-11-20."""
    variables = {
        "bookingId": TypedValue(booking, "String"),
        "fareRules": TypedValue(rules, "String"),
        "ticketPrice": TypedValue(ticket_price, "Double"),
        "currency": TypedValue("USD", "String"),
        "departureDate": TypedValue("2030-12-15T09:00:00Z", "String"),
        "requestDate": TypedValue("2030-11-20T12:00:00Z", "String"),
    }
    return handler_task("analyze-fare-rules", variables, deadline_s=deadline_s)


def completed_values(result: object) -> dict[str, Any]:
    """The output variables of a handler's Complete, as plain values."""
    assert isinstance(result, Complete)
    return {k: getattr(v, "value", v) for k, v in result.variables.items()}
