"""Deployment, process start and identity routes for the engine emulator (tests/fakes/engine.py).

`install_admin_routes(engine)` adds, with the engine's behaviour as the REST reference and the
engine's own checks describe it:
- POST /deployment/create (multipart): every part is a resource; BPMN must parse and every
  executable process needs historyTimeToLive (enforced by 7.20+); Camunda Forms need an id.
  With enable-duplicate-filtering, the same resources as the latest deployment of that name
  return that deployment and deploy nothing; with deploy-changed-only, only changed resources
  go into the new deployment.
- POST /process-definition/key/{key}/start: latest version; unknown key 404; a key deployed
  for several tenants 400 (the engine cannot choose); typed variables checked as the engine
  checks them. `on_start` callbacks see each new instance.
- tenants: `tenant-id` on a deployment gives it and its definitions that tenant (versions and
  duplicate filtering count per tenant, as on the engine);
  POST /process-definition/key/{key}/tenant-id/{tenant-id}/start starts the tenant's latest.
- groups, users, memberships (strict OpenAPI validation) and authorizations and task filters
  (not in the OpenAPI document shipped here, so checked by hand against the REST reference).
  Creating what exists fails as on the engine, so idempotency is the client's job; so does an
  id that the engine's generalResourceWhitelistPattern refuses (Camunda's default admits no '-').
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.engine import (
    EngineEmulator,
    EngineRequest,
    RestError,
    RouteResult,
    camunda_date,
    normalize_variables,
)

_DEPLOYMENT_FIELDS = frozenset(
    {
        "deployment-name",
        "deployment-source",
        "deployment-activation-time",
        "enable-duplicate-filtering",
        "deploy-changed-only",
        "tenant-id",
    }
)
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"


@dataclass
class Deployment:
    id: str
    name: str | None
    source: str | None
    resources: dict[str, bytes]
    definitions: list[dict[str, Any]]
    time: float
    tenant_id: str | None = None


@dataclass
class ProcessInstance:
    id: str
    definition_id: str
    key: str
    business_key: str | None
    variables: dict[str, dict[str, Any]]
    tenant_id: str | None = None


CAMUNDA_DEFAULT_ID_PATTERN = "[a-zA-Z0-9]+|camunda-admin"


def _check_id(state: AdminState, kind: str, resource_id: str) -> None:
    if not re.fullmatch(state.id_pattern, resource_id):
        raise RestError(
            500,
            f"{kind} has an invalid id: '{resource_id}' is not a valid resource identifier.",
            "ProcessEngineException",
        )


@dataclass
class AdminState:
    deployments: list[Deployment] = field(default_factory=list)
    definitions: list[dict[str, Any]] = field(default_factory=list)
    instances: list[ProcessInstance] = field(default_factory=list)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    memberships: set[tuple[str, str]] = field(default_factory=set)
    authorizations: list[dict[str, Any]] = field(default_factory=list)
    filters: list[dict[str, Any]] = field(default_factory=list)
    on_start: list[Callable[[ProcessInstance], None]] = field(default_factory=list)
    # Camunda's generalResourceWhitelistPattern: ids of users and groups created must match it.
    # The default admits no '-'; the compose stack and the tests' engine allow it.
    id_pattern: str = CAMUNDA_DEFAULT_ID_PATTERN

    def latest(self, key: str, tenant_id: str | None = None) -> dict[str, Any] | None:
        """The latest version of `key` deployed for `tenant_id` (None: without a tenant)."""
        versions = [d for d in self.definitions if d["key"] == key and d["tenantId"] == tenant_id]
        return max(versions, key=lambda d: d["version"]) if versions else None


def install_admin_routes(engine: EngineEmulator) -> AdminState:
    state = AdminState()
    routes: list[tuple[str, str, Callable[[EngineEmulator, EngineRequest], RouteResult], bool]] = [
        # openapi-core cannot validate this multipart body (the emulator passes no boundary,
        # and form fields are strings where the document says boolean): checked by hand.
        ("POST", "/deployment/create", lambda e, r: _deploy(state, e, r), False),
        ("POST", "/process-definition/key/{key}/start", lambda e, r: _start(state, e, r), True),
        (
            "POST",
            "/process-definition/key/{key}/tenant-id/{tenant-id}/start",
            lambda e, r: _start(state, e, r),
            True,
        ),
        # Later routes win: /group/count must come after /group/{id}.
        ("GET", "/group/{id}", lambda e, r: _group(state, e, r), True),
        ("GET", "/group/count", lambda e, r: _group_count(state, e, r), True),
        ("POST", "/group/create", lambda e, r: _group_create(state, e, r), True),
        ("PUT", "/group/{id}/members/{userId}", lambda e, r: _member(state, e, r), True),
        ("GET", "/user/{id}/profile", lambda e, r: _profile(state, e, r), True),
        ("POST", "/user/create", lambda e, r: _user_create(state, e, r), True),
        ("GET", "/authorization/count", lambda e, r: _auth_count(state, e, r), False),
        ("POST", "/authorization/create", lambda e, r: _auth_create(state, e, r), False),
        ("GET", "/filter", lambda e, r: _filters(state, e, r), False),
        ("POST", "/filter/create", lambda e, r: _filter_create(state, e, r), False),
    ]
    for method, template, handler, validate in routes:
        engine.add_route(method, template, handler, validate=validate)
    return state


# ----------------------------------------------------------------------------- deployments


def _multipart(request: EngineRequest) -> tuple[dict[str, str], dict[str, bytes]]:
    content_type = request.headers.get("Content-Type", "")
    if not content_type.startswith("multipart/form-data"):
        raise RestError(415, "deployment/create takes multipart/form-data")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request.body
    )
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        filename = part.get_filename()
        if filename:
            files[filename] = payload
        elif isinstance(name, str):
            fields[name] = payload.decode()
    return fields, files


def _processes(name: str, content: bytes) -> list[tuple[str, str | None]]:
    try:
        root = ET.fromstring(content)  # noqa: S314 - the test suite's own resources
    except ET.ParseError as exc:
        raise RestError(
            400,
            f"ENGINE-09005 Could not parse BPMN process. Errors: {name}: {exc}",
            "ParseException",
        ) from None
    found = []
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        if process.get("isExecutable") != "true":
            continue
        if not process.get(f"{{{CAMUNDA_NS}}}historyTimeToLive"):
            raise RestError(
                400,
                "ENGINE-12018 History Time To Live (TTL) cannot be null. "
                f"TTL is necessary for the History Cleanup to work. ({name})",
                "ParseException",
            )
        found.append((str(process.get("id")), process.get("name")))
    return found


def _deploy(state: AdminState, engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    fields, files = _multipart(request)
    unknown = set(fields) - _DEPLOYMENT_FIELDS
    if unknown:
        raise RestError(400, f"unknown deployment form fields: {', '.join(sorted(unknown))}")
    for flag in ("enable-duplicate-filtering", "deploy-changed-only"):
        if flag in fields and fields[flag] not in ("true", "false"):
            raise RestError(400, f"{flag} must be true or false, not {fields[flag]!r}")
    if not files:
        raise RestError(400, "No deployment resources contained in the form upload.")
    name = fields.get("deployment-name")
    tenant_id = fields.get("tenant-id") or None
    changed_only = fields.get("deploy-changed-only") == "true"
    filtering = changed_only or fields.get("enable-duplicate-filtering") == "true"
    for filename, content in files.items():
        if filename.endswith(".form"):
            try:
                form = json.loads(content)
            except ValueError:
                raise RestError(400, f"{filename} is not a Camunda Form (JSON)") from None
            if not isinstance(form, dict) or not form.get("id"):
                raise RestError(400, f"Camunda Form {filename} has no id")
    with engine.lock:
        previous = [d for d in state.deployments if d.name == name and d.tenant_id == tenant_id]
        latest_content: dict[str, bytes] = {}
        for deployment in previous:
            latest_content.update(deployment.resources)
        if filtering and previous:
            if changed_only:
                files = {n: c for n, c in files.items() if latest_content.get(n) != c}
            elif previous[-1].resources == files:
                files = {}
            if not files:
                return 200, _deployment_dto(previous[-1], with_definitions=False)
        deployment = Deployment(
            str(uuid.uuid4()),
            name,
            fields.get("deployment-source"),
            files,
            [],
            engine.now(),
            tenant_id,
        )
        for filename, content in files.items():
            if not filename.endswith((".bpmn", ".bpmn20.xml")):
                continue
            for key, process_name in _processes(filename, content):
                current = state.latest(key, tenant_id)
                version = current["version"] + 1 if current else 1
                definition = {
                    "id": f"{key}:{version}:{uuid.uuid4()}",
                    "key": key,
                    "name": process_name,
                    "version": version,
                    "deploymentId": deployment.id,
                    "resource": filename,
                    "suspended": False,
                    "tenantId": tenant_id,
                    "category": "http://bpmn.io/schema/bpmn",
                }
                deployment.definitions.append(definition)
                state.definitions.append(definition)
        state.deployments.append(deployment)
    return 200, _deployment_dto(deployment, with_definitions=True)


def _deployment_dto(deployment: Deployment, *, with_definitions: bool) -> dict[str, Any]:
    definitions = (
        {d["id"]: d for d in deployment.definitions}
        if with_definitions and deployment.definitions
        else None
    )
    return {
        "links": [],
        "id": deployment.id,
        "name": deployment.name,
        "source": deployment.source,
        "deploymentTime": camunda_date(deployment.time),
        "tenantId": deployment.tenant_id,
        "deployedProcessDefinitions": definitions,
        "deployedCaseDefinitions": None,
        "deployedDecisionDefinitions": None,
        "deployedDecisionRequirementsDefinitions": None,
    }


def _start(state: AdminState, engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    key = request.path_params["key"]
    tenant_id = request.path_params.get("tenant_id")
    body = request.json() or {}
    with engine.lock:
        if tenant_id is None:
            tenants = {d["tenantId"] for d in state.definitions if d["key"] == key}
            if len(tenants) > 1:
                raise RestError(
                    400,
                    f"Process definition with key '{key}' exists for multiple tenants.",
                    "ProcessEngineException",
                )
            # By key alone the engine takes the key's one definition, whatever its tenant.
            definition = state.latest(key, next(iter(tenants))) if tenants else None
        else:
            definition = state.latest(key, tenant_id)
        if definition is None:
            raise RestError(
                404,
                f"No matching process definition with key: {key} and "
                + (f"tenant-id: {tenant_id}" if tenant_id else "no tenant-id"),
            )
        variables = normalize_variables(body.get("variables"))
        instance = ProcessInstance(
            str(uuid.uuid4()),
            definition["id"],
            key,
            body.get("businessKey"),
            variables,
            definition["tenantId"],
        )
        state.instances.append(instance)
    for callback in list(state.on_start):
        callback(instance)
    return 200, {
        "links": [],
        "id": instance.id,
        "definitionId": instance.definition_id,
        "businessKey": instance.business_key,
        "caseInstanceId": None,
        "ended": False,
        "suspended": False,
        "tenantId": instance.tenant_id,
    }


# ----------------------------------------------------------------------------- identity


def _group(state: AdminState, engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    group = state.groups.get(request.path_params["id"])
    if group is None:
        raise RestError(404, f"Group with id {request.path_params['id']} does not exist")
    return 200, group


def _group_count(state: AdminState, engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    group_id, member = request.param("id"), request.param("member")
    count = sum(
        1
        for gid in state.groups
        if (group_id is None or gid == group_id)
        and (member is None or (gid, member) in state.memberships)
    )
    return 200, {"count": count}


def _group_create(state: AdminState, engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    body = request.json() or {}
    gid = body.get("id")
    if not gid:
        raise RestError(400, "Group id must not be null", "ProcessEngineException")
    _check_id(state, "Group", gid)
    if gid in state.groups:
        raise RestError(500, f"The group '{gid}' already exists", "ProcessEngineException")
    state.groups[gid] = {"id": gid, "name": body.get("name"), "type": body.get("type")}
    return 204, None


def _profile(state: AdminState, engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    user = state.users.get(request.path_params["id"])
    if user is None:
        raise RestError(404, f"User with id {request.path_params['id']} does not exist")
    return 200, user


def _user_create(state: AdminState, engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    body = request.json() or {}
    profile = body.get("profile") or {}
    uid = profile.get("id")
    if not uid:
        raise RestError(400, "User id must not be null", "ProcessEngineException")
    _check_id(state, "User", uid)
    if uid in state.users:
        raise RestError(500, f"The user '{uid}' already exists", "ProcessEngineException")
    password = (body.get("credentials") or {}).get("password")
    if not password:
        raise RestError(400, "password is null", "ProcessEngineException")
    state.users[uid] = {k: profile.get(k) for k in ("id", "firstName", "lastName", "email")}
    state.passwords[uid] = password
    return 204, None


def _member(state: AdminState, engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    gid, uid = request.path_params["id"], request.path_params["userId"]
    if gid not in state.groups or uid not in state.users:
        raise RestError(500, "The user or the group does not exist", "ProcessEngineException")
    if (gid, uid) in state.memberships:
        raise RestError(500, f"{uid} is already a member of {gid}", "ProcessEngineException")
    state.memberships.add((gid, uid))
    return 204, None


# ----------------------------------------------------------------------------- authorizations


def _auth_count(state: AdminState, engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    def keep(auth: dict[str, Any]) -> bool:
        checks = {
            "type": lambda v: str(auth["type"]) == v,
            "groupIdIn": lambda v: auth["groupId"] in v.split(","),
            "userIdIn": lambda v: auth["userId"] in v.split(","),
            "resourceType": lambda v: str(auth["resourceType"]) == v,
            "resourceId": lambda v: auth["resourceId"] == v,
        }
        for name, values in request.query.items():
            if name not in checks:
                raise RestError(400, f"unknown query parameter {name}")
            if not checks[name](values[0]):
                return False
        return True

    return 200, {"count": sum(1 for a in state.authorizations if keep(a))}


def _auth_create(state: AdminState, engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    body = request.json()
    if not isinstance(body, dict):
        raise RestError(400, "authorization body must be a JSON object")
    if body.get("type") not in (0, 1, 2):
        raise RestError(400, "type must be 0 (global), 1 (grant) or 2 (revoke)")
    permissions = body.get("permissions")
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise RestError(400, "permissions must be an array of strings")
    if (body.get("userId") is None) == (body.get("groupId") is None):
        raise RestError(400, "exactly one of userId and groupId must be set")
    if not isinstance(body.get("resourceType"), int) or not isinstance(body.get("resourceId"), str):
        raise RestError(400, "resourceType must be an integer and resourceId a string")
    identity = (body.get("userId"), body.get("groupId"), body["resourceType"], body["resourceId"])
    for existing in state.authorizations:
        if (
            existing["userId"],
            existing["groupId"],
            existing["resourceType"],
            existing["resourceId"],
        ) == identity:
            raise RestError(500, "ENGINE-03083 an authorization for this resource already exists")
    auth = {
        "id": str(uuid.uuid4()),
        "type": body["type"],
        "permissions": permissions,
        "userId": body.get("userId"),
        "groupId": body.get("groupId"),
        "resourceType": body["resourceType"],
        "resourceId": body["resourceId"],
        "links": [],
    }
    state.authorizations.append(auth)
    return 200, auth


def _filters(state: AdminState, engine: EngineEmulator, request: EngineRequest) -> RouteResult:
    name, resource_type = request.param("name"), request.param("resourceType")
    return 200, [
        f
        for f in state.filters
        if (name is None or f["name"] == name)
        and (resource_type is None or f["resourceType"] == resource_type)
    ]


def _filter_create(
    state: AdminState, engine: EngineEmulator, request: EngineRequest
) -> RouteResult:
    body = request.json()
    if not isinstance(body, dict) or not body.get("name"):
        raise RestError(400, "Filter name must not be null or empty")
    if body.get("resourceType") != "Task":
        raise RestError(400, "Filter resource type must be Task")
    if not isinstance(body.get("query"), dict):
        raise RestError(400, "Filter query must be a task query object")
    created = {
        "id": str(uuid.uuid4()),
        "resourceType": "Task",
        "name": body["name"],
        "owner": body.get("owner"),
        "query": body["query"],
        "properties": body.get("properties") or {},
    }
    state.filters.append(created)
    return 200, created
