"""Drivers that let one integration test run against the emulator or a real Camunda 7.

`EmulatorDriver` wraps an in-process EngineEmulator; `RestDriver` talks to a real engine (the
session's Camunda 7.24, or CAMUNDA_TEST_URL): it deploys a tiny process per topic (one external
task, then a wait state, with an error boundary to a second wait state), for a tenant when the
task is to belong to one (a deployment with `tenant-id`, started by key and tenant), starts
instances through the REST API and reads results back through it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import requests

from tests.fakes.engine import EngineEmulator, infer_variable, normalize_variable
from tests.support import wait_until

T = TypeVar("T")


@dataclass(frozen=True)
class TaskRef:
    id: str
    process_instance_id: str


@dataclass(frozen=True)
class TaskInfo:
    """An open external task as the engine reports it."""

    worker_id: str | None
    locked: bool
    lock_expiration: str | None
    retries: int | None
    error_message: str | None


class EngineDriver(Protocol):
    url: str

    def create_task(
        self,
        topic: str,
        variables: Mapping[str, Any],
        business_key: str | None = None,
        tenant_id: str | None = None,
    ) -> TaskRef: ...

    def completed_variables(self, ref: TaskRef) -> dict[str, dict[str, Any]] | None: ...

    def task_info(self, ref: TaskRef) -> TaskInfo | None: ...

    def has_incident(self, ref: TaskRef) -> bool: ...

    def wait_for(
        self,
        condition: Callable[[], T | Literal[False] | None],
        timeout: float = 15.0,
        message: str = "condition",
    ) -> T: ...

    def cleanup(self) -> None: ...


class EmulatorDriver:
    def __init__(self, engine: EngineEmulator) -> None:
        self.engine = engine
        self.url = engine.url

    def create_task(
        self,
        topic: str,
        variables: Mapping[str, Any],
        business_key: str | None = None,
        tenant_id: str | None = None,
    ) -> TaskRef:
        task_id = self.engine.create_task(
            topic, variables, business_key=business_key, tenant_id=tenant_id
        )
        return TaskRef(task_id, self.engine.task(task_id).process_instance_id)

    def completed_variables(self, ref: TaskRef) -> dict[str, dict[str, Any]] | None:
        completion = self.engine.completion(ref.id)
        return None if completion is None else completion.variables

    def task_info(self, ref: TaskRef) -> TaskInfo | None:
        task = self.engine.task(ref.id)
        if task.state != "open":
            return None
        locked = self.engine.is_locked(ref.id)
        return TaskInfo(
            task.worker_id, locked, str(task.lock_expiration), task.retries, task.error_message
        )

    def has_incident(self, ref: TaskRef) -> bool:
        return self.engine.incident(ref.id) is not None

    def wait_for(
        self,
        condition: Callable[[], T | Literal[False] | None],
        timeout: float = 15.0,
        message: str = "condition",
    ) -> T:
        return self.engine.wait_for(condition, timeout, message)

    def cleanup(self) -> None:
        return None


_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://test">
  <bpmn:process id="{key}" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="work" camunda:type="external" camunda:topic="{topic}">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:boundaryEvent id="onError" attachedToRef="work">
      <bpmn:outgoing>f4</bpmn:outgoing><bpmn:errorEventDefinition />
    </bpmn:boundaryEvent>
    <bpmn:receiveTask id="done"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing></bpmn:receiveTask>
    <bpmn:receiveTask id="errored"><bpmn:incoming>f4</bpmn:incoming>
      <bpmn:outgoing>f5</bpmn:outgoing></bpmn:receiveTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="endError"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work" />
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="done" />
    <bpmn:sequenceFlow id="f3" sourceRef="done" targetRef="end" />
    <bpmn:sequenceFlow id="f4" sourceRef="onError" targetRef="errored" />
    <bpmn:sequenceFlow id="f5" sourceRef="errored" targetRef="endError" />
  </bpmn:process>
</bpmn:definitions>
"""


class RestDriver:
    """A real Camunda 7 engine reached over its REST API."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._http = requests.Session()
        self._deployed: dict[tuple[str, str | None], str] = {}
        self._instances: list[str] = []

    def _key(self, topic: str, tenant_id: str | None) -> str:
        if (topic, tenant_id) not in self._deployed:
            key = "llmWorkerRuntimeTest_" + "".join(c if c.isalnum() else "_" for c in topic)
            if tenant_id is not None:
                # A key of its own: a key deployed for several tenants (or for one and for none)
                # can no longer be started by key alone, as the untenanted tests do.
                key += "_" + "".join(c if c.isalnum() else "_" for c in tenant_id)
            xml = _BPMN.replace("{key}", key).replace("{topic}", topic)
            form = {"deployment-name": key, "enable-duplicate-filtering": "true"}
            if tenant_id is not None:
                form["tenant-id"] = tenant_id
            response = self._http.post(
                f"{self.url}/deployment/create",
                data=form,
                files={f"{key}.bpmn": (f"{key}.bpmn", xml.encode(), "application/xml")},
                timeout=30,
            )
            response.raise_for_status()
            self._deployed[(topic, tenant_id)] = key
        return self._deployed[(topic, tenant_id)]

    def create_task(
        self,
        topic: str,
        variables: Mapping[str, Any],
        business_key: str | None = None,
        tenant_id: str | None = None,
    ) -> TaskRef:
        key = self._key(topic, tenant_id)
        typed = {
            name: normalize_variable(name, v) if isinstance(v, Mapping) else infer_variable(v)
            for name, v in variables.items()
        }
        body: dict[str, Any] = {
            "variables": typed,
            "businessKey": business_key or str(uuid.uuid4()),
        }
        # By key and tenant; by key alone the engine refuses a key deployed for several tenants.
        tenant = f"/tenant-id/{tenant_id}" if tenant_id is not None else ""
        response = self._http.post(
            f"{self.url}/process-definition/key/{key}{tenant}/start", json=body, timeout=30
        )
        response.raise_for_status()
        pid = response.json()["id"]
        self._instances.append(pid)

        def external_tasks() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = self._http.get(
                f"{self.url}/external-task", params={"processInstanceId": pid}, timeout=30
            ).json()
            return found

        found = wait_until(external_tasks, 10, message=f"an external task of instance {pid}")
        return TaskRef(found[0]["id"], pid)

    def completed_variables(self, ref: TaskRef) -> dict[str, dict[str, Any]] | None:
        waiting = self._http.get(
            f"{self.url}/execution",
            params={"processInstanceId": ref.process_instance_id, "activityId": "done"},
            timeout=30,
        ).json()
        if not waiting:
            return None
        variables: dict[str, dict[str, Any]] = self._http.get(
            f"{self.url}/process-instance/{ref.process_instance_id}/variables", timeout=30
        ).json()
        return variables

    def task_info(self, ref: TaskRef) -> TaskInfo | None:
        response = self._http.get(f"{self.url}/external-task/{ref.id}", timeout=30)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        task = response.json()
        expiry = task.get("lockExpirationTime")
        locked = bool(
            self._http.get(
                f"{self.url}/external-task/count",
                params={"externalTaskId": ref.id, "locked": "true"},
                timeout=30,
            ).json()["count"]
        )
        return TaskInfo(
            task.get("workerId"), locked, expiry, task.get("retries"), task.get("errorMessage")
        )

    def has_incident(self, ref: TaskRef) -> bool:
        incidents = self._http.get(
            f"{self.url}/incident",
            params={
                "processInstanceId": ref.process_instance_id,
                "incidentType": "failedExternalTask",
            },
            timeout=30,
        ).json()
        return bool(incidents)

    def wait_for(
        self,
        condition: Callable[[], T | Literal[False] | None],
        timeout: float = 15.0,
        message: str = "condition",
    ) -> T:
        return wait_until(condition, timeout, interval=0.1, message=message)

    def cleanup(self) -> None:
        for pid in self._instances:
            self._http.delete(f"{self.url}/process-instance/{pid}", timeout=30)
        self._instances.clear()
        self._http.close()
