"""A `Task` as the worker hands it to a handler, for tests that call the handlers directly."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from llm_worker.runtime.task import Task, TypedValue


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
