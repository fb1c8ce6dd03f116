"""The engine emulator keeps the Camunda 7 REST reference's external-task rules (the runtime's
tests are only as good as it is)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fakes.engine import EngineEmulator, EngineRequest, typed

TOPIC = "t"


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def fetch(
    http: requests.Session,
    engine: EngineEmulator,
    worker: str = "w1",
    lock_ms: int = 1_000,
    wait_ms: int = 0,
    **topic: Any,
) -> list[dict[str, Any]]:
    body = {
        "workerId": worker,
        "maxTasks": 5,
        "asyncResponseTimeout": wait_ms,
        "topics": [{"topicName": TOPIC, "lockDuration": lock_ms, **topic}],
    }
    response = http.post(f"{engine.url}/external-task/fetchAndLock", json=body, timeout=30)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


def post(http: requests.Session, engine: EngineEmulator, path: str, body: Any) -> requests.Response:
    return http.post(f"{engine.url}{path}", json=body, timeout=10)


def test_a_lock_expires_by_time_and_the_old_owner_is_then_refused(
    engine: EngineEmulator, http: requests.Session
) -> None:
    task_id = engine.create_task(TOPIC, {})
    assert len(fetch(http, engine, "w1")) == 1
    assert fetch(http, engine, "w2") == []  # locked
    engine.advance(2)
    assert [t["id"] for t in fetch(http, engine, "w2")] == [task_id]
    refused = post(http, engine, f"/external-task/{task_id}/complete", {"workerId": "w1"})
    assert refused.status_code == 400
    assert refused.json()["type"] == "InvalidRequestException"
    assert "It is locked by worker 'w2'" in refused.json()["message"]


def test_the_owner_of_an_expired_lock_may_complete_if_nobody_took_the_task(
    engine: EngineEmulator, http: requests.Session
) -> None:
    task_id = engine.create_task(TOPIC, {})
    fetch(http, engine, "w1")
    engine.advance(5)
    done = post(http, engine, f"/external-task/{task_id}/complete", {"workerId": "w1"})
    assert done.status_code == 204
    gone = post(http, engine, f"/external-task/{task_id}/complete", {"workerId": "w1"})
    assert gone.status_code == 404


def test_extend_lock_rules(engine: EngineEmulator, http: requests.Session) -> None:
    task_id = engine.create_task(TOPIC, {})
    fetch(http, engine, "w1")
    path = f"/external-task/{task_id}/extendLock"
    other = post(http, engine, path, {"workerId": "w2", "newDuration": 1000})
    assert other.status_code == 400 and "cannot be extended" in other.json()["message"]
    assert post(http, engine, path, {"workerId": "w1", "newDuration": 60_000}).status_code == 204
    engine.advance(61)
    expired = post(http, engine, path, {"workerId": "w1", "newDuration": 1000})
    assert expired.status_code == 400 and "expired" in expired.json()["message"]
    missing = post(
        http, engine, "/external-task/nope/extendLock", {"workerId": "w1", "newDuration": 1}
    )
    assert missing.status_code == 404


def test_failure_retry_timeout_and_incident(engine: EngineEmulator, http: requests.Session) -> None:
    task_id = engine.create_task(TOPIC, {})
    fetch(http, engine)
    failure = {"workerId": "w1", "errorMessage": "boom", "retries": 1, "retryTimeout": 30_000}
    assert post(http, engine, f"/external-task/{task_id}/failure", failure).status_code == 204
    assert fetch(http, engine) == []  # waits for the retry timeout
    engine.advance(31)
    again = fetch(http, engine)
    assert again[0]["retries"] == 1 and again[0]["errorMessage"] == "boom"
    last = {**failure, "retries": 0, "retryTimeout": 0}
    assert post(http, engine, f"/external-task/{task_id}/failure", last).status_code == 204
    incident = engine.incident(task_id)
    assert incident is not None and incident.message == "boom"
    engine.advance(3600)
    assert fetch(http, engine) == []  # no retries left: never fetched again
    count = http.get(
        f"{engine.url}/external-task/count",
        params={"topicName": TOPIC, "withRetriesLeft": "true"},
        timeout=10,
    )
    assert count.json() == {"count": 0}


def test_unlock_makes_a_task_available_again(
    engine: EngineEmulator, http: requests.Session
) -> None:
    task_id = engine.create_task(TOPIC, {})
    fetch(http, engine, "w1", lock_ms=600_000)
    assert post(http, engine, f"/external-task/{task_id}/unlock", None).status_code == 204
    assert [t["id"] for t in fetch(http, engine, "w2")] == [task_id]


def test_long_poll_answers_when_a_task_arrives(
    engine: EngineEmulator, http: requests.Session
) -> None:
    got: list[list[dict[str, Any]]] = []
    poller = threading.Thread(target=lambda: got.append(fetch(http, engine, wait_ms=20_000)))
    poller.start()
    engine.wait_for(lambda: engine.waiting_fetches == 1, message="the poll waiting")
    task_id = engine.create_task(TOPIC, {"a": 1})
    poller.join(timeout=10)
    assert not poller.is_alive()
    assert [t["id"] for t in got[0]] == [task_id]


def test_long_poll_limit(engine: EngineEmulator, http: requests.Session) -> None:
    body = {"workerId": "w", "maxTasks": 1, "asyncResponseTimeout": 1_800_001, "topics": []}
    assert post(http, engine, "/external-task/fetchAndLock", body).status_code == 400


def test_typed_variables_and_deserialize_values(
    engine: EngineEmulator, http: requests.Session
) -> None:
    blob = typed(
        json.dumps({"k": [1, 2]}),
        "Object",
        objectTypeName="java.util.HashMap",
        serializationDataFormat="application/json",
    )
    engine.create_task(TOPIC, {"price": 12.5, "count": 3, "blob": blob, "skip": "x"})
    raw = fetch(http, engine, deserializeValues=False, variables=["price", "count", "blob"])[0]
    assert raw["variables"]["price"] == {"type": "Double", "value": 12.5, "valueInfo": {}}
    assert raw["variables"]["count"]["type"] == "Integer"
    assert isinstance(raw["variables"]["blob"]["value"], str)
    assert "skip" not in raw["variables"]
    engine.advance(5)
    parsed = fetch(http, engine, deserializeValues=True)[0]
    assert parsed["variables"]["blob"]["value"] == {"k": [1, 2]}


@pytest.mark.parametrize(
    ("variable", "ok"),
    [
        ({"value": 1.5, "type": "Double"}, True),
        ({"value": "1.5", "type": "Double"}, True),
        ({"value": "abc", "type": "Double"}, False),
        ({"value": 2**31, "type": "Integer"}, False),
        ({"value": 2**31, "type": "Long"}, True),
        ({"value": "yes", "type": "Boolean"}, False),
        ({"value": "2024-05-01T10:00:00.000+0000", "type": "Date"}, True),
        ({"value": "01/05/2024", "type": "Date"}, False),
        ({"value": "x", "type": "NoSuchType"}, False),
        ({"value": "x", "type": "string"}, True),
    ],
)
def test_completion_variables_are_checked_like_the_engine(
    engine: EngineEmulator, http: requests.Session, variable: dict[str, Any], ok: bool
) -> None:
    task_id = engine.create_task(TOPIC, {})
    fetch(http, engine)
    body = {"workerId": "w1", "variables": {"v": variable}}
    response = post(http, engine, f"/external-task/{task_id}/complete", body)
    assert response.status_code == (204 if ok else 400), response.text


def test_requests_are_validated_against_the_openapi_document(
    engine: EngineEmulator, http: requests.Session
) -> None:
    bad = post(http, engine, "/external-task/fetchAndLock", {"workerId": 7, "maxTasks": "x"})
    assert bad.status_code == 400 and "OpenAPI" in bad.json()["message"]
    assert http.get(f"{engine.url}/no/such/path", timeout=10).status_code == 404
    assert http.get(f"{engine.url}/process-instance", timeout=10).status_code == 404  # not emulated


def test_other_helpers_can_add_routes(engine: EngineEmulator, http: requests.Session) -> None:
    started: list[str] = []

    def start(emulator: EngineEmulator, request: EngineRequest) -> tuple[int, Any]:
        key = request.path_params["key"]
        started.append(key)
        body = request.json() or {}
        task_id = emulator.create_task(TOPIC, body.get("variables", {}), business_key="bk")
        return 200, {"id": emulator.task(task_id).process_instance_id, "definitionId": key}

    engine.add_route("POST", "/process-definition/key/{key}/start", start)
    response = post(
        http,
        engine,
        "/process-definition/key/ticket-refund/start",
        {"variables": {"bookingId": {"value": "B1", "type": "String"}}},
    )
    assert response.status_code == 200 and started == ["ticket-refund"]
    assert fetch(http, engine)[0]["businessKey"] == "bk"
    invalid = post(http, engine, "/process-definition/key/x/start", {"variables": []})
    assert invalid.status_code == 400  # still validated against the document


def test_outages(engine: EngineEmulator, http: requests.Session) -> None:
    with engine.down("503"):
        assert http.get(f"{engine.url}/version", timeout=5).status_code == 503
    with engine.down("refuse"), pytest.raises(requests.ConnectionError):
        requests.get(f"{engine.url}/version", timeout=5)
    assert http.get(f"{engine.url}/version", timeout=5).json() == {"version": "7.24.0"}


def test_tenants_select_tasks_in_fetch_count_and_list(
    engine: EngineEmulator, http: requests.Session
) -> None:
    # tenantIdIn / withoutTenantId are fields of the document's FetchExternalTaskTopicDto and
    # tenantIdIn a parameter of its count and list queries: these requests validate.
    a = engine.create_task(TOPIC, {}, tenant_id="a")
    b = engine.create_task(TOPIC, {}, tenant_id="b")
    none = engine.create_task(TOPIC, {})
    count = http.get(
        f"{engine.url}/external-task/count", params={"topicName": TOPIC, "tenantIdIn": "a,b"}
    )
    assert count.json() == {"count": 2}
    listed = http.get(f"{engine.url}/external-task", params={"tenantIdIn": "b"}).json()
    assert [(t["id"], t["tenantId"]) for t in listed] == [(b, "b")]
    posted = post(http, engine, "/external-task/count", {"tenantIdIn": ["a"]})
    assert posted.json() == {"count": 1}
    assert [t["id"] for t in fetch(http, engine, "w1", tenantIdIn=["a"])] == [a]
    assert [t["id"] for t in fetch(http, engine, "w1", withoutTenantId=True)] == [none]
    (got,) = fetch(http, engine, "w1")
    assert (got["id"], got["tenantId"]) == (b, "b")
    # The document types it: a string where a list of tenant ids belongs is a 400.
    wrong = post(
        http,
        engine,
        "/external-task/fetchAndLock",
        {
            "workerId": "w1",
            "maxTasks": 1,
            "topics": [{"topicName": TOPIC, "lockDuration": 1000, "tenantIdIn": "a"}],
        },
    )
    assert wrong.status_code == 400 and "OpenAPI" in wrong.json()["message"]
