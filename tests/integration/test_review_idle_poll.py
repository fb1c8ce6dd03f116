"""Review: with ASYNC_RESPONSE_TIMEOUT_MS=0 (allowed) an idle worker does not spin on the engine."""

from __future__ import annotations

import itertools

import pytest

from tests.conftest import StartWorker
from tests.fakes.engine import EngineEmulator, RecordedRequest

pytestmark = pytest.mark.integration


def test_empty_polls_without_long_polling_are_paced(
    start_worker: StartWorker, engine: EngineEmulator
) -> None:
    worker = start_worker(CAMUNDA_URL=engine.url, ASYNC_RESPONSE_TIMEOUT_MS=0)

    def four_fetches() -> list[RecordedRequest] | None:
        found = engine.fetch_requests()
        return found[:4] if len(found) >= 4 else None

    fetches = engine.wait_for(four_fetches, timeout=20, message="four empty fetches")
    gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(fetches)]
    # Unpaced, the next fetch follows within milliseconds (hundreds a second); paced, about 1 s.
    assert min(gaps) > 0.25, gaps
    # A task that arrives is still taken on the next poll.
    task_id = engine.create_task("process-refund-payment", {})
    engine.wait_for(
        lambda: engine.bpmn_error(task_id) or engine.completion(task_id),
        timeout=15,
        message="the task handled",
    )
    assert worker.stop() == 0
