"""Engine administration over the REST API: deploy bpmn/, start instances, create demo users;
with a tenant, deployments and instances belong to it and queries see only its instances."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from llm_worker.config import Settings, engine_url_hint, without_credentials
from llm_worker.process import AUDITORS, MANAGERS, OPERATORS, PROCESS_KEY
from llm_worker.tls import certificate_problem, requests_verify

DEPLOYMENT_NAME = "ticket-refund"
DEPLOYMENT_SOURCE = "llm-worker deploy"
# What a deployment carries: diagrams, decision tables and Camunda Forms.
RESOURCE_SUFFIXES = (".bpmn", ".dmn", ".form")

TASK_FILTER_NAME = "Refund cases"

# Authorization resource types and the grant type, as the engine numbers them.
_GRANT = 1
_APPLICATION = 0
_FILTER = 5
_PROCESS_DEFINITION = 6
_MAX_MESSAGE = 400


# Camunda's default generalResourceWhitelistPattern ("[a-zA-Z0-9]+|camunda-admin") refuses the
# '-' in the contract's group ids (refund-operators, ...): an engine where demo users are created
# must allow it. Camunda Run takes it from this environment variable (docker-compose.yml).
ID_PATTERN_WITH_HYPHENS = "[a-zA-Z0-9-]+|camunda-admin"
ID_PATTERN_VARIABLE = "CAMUNDA_BPM_GENERICPROPERTIES_PROPERTIES_GENERALRESOURCEWHITELISTPATTERN"
_INVALID_ID = "is not a valid resource identifier"


class EngineAdminError(Exception):
    """The engine refused a request; the message is one line an operator can act on."""


class EngineUnreachableError(EngineAdminError):
    """The engine did not answer at all."""


class ProcessNotDeployedError(EngineAdminError):
    """The process to start has no deployed definition."""


@dataclass(frozen=True)
class DeployedDefinition:
    key: str
    version: int
    id: str


@dataclass(frozen=True)
class DeploymentResult:
    id: str
    resources: tuple[str, ...]
    # Empty when the engine found the same resources already deployed (nothing new).
    definitions: tuple[DeployedDefinition, ...]

    @property
    def changed(self) -> bool:
        return bool(self.definitions)


@dataclass(frozen=True)
class StartedInstance:
    id: str
    definition_id: str
    business_key: str | None


@dataclass(frozen=True)
class DemoUser:
    id: str
    group: str
    first_name: str
    last_name: str


DEMO_USERS = (
    DemoUser("demo-operator", OPERATORS, "Demo", "Operator"),
    DemoUser("demo-manager", MANAGERS, "Demo", "Manager"),
    DemoUser("demo-auditor", AUDITORS, "Demo", "Auditor"),
)
GROUP_NAMES = {
    OPERATORS: "Refund operators",
    MANAGERS: "Refund managers",
    AUDITORS: "Refund auditors",
}


@dataclass
class DemoSetup:
    """What `ensure_demo_users` changed; an empty report means all was already in place."""

    created: list[str] = field(default_factory=list)


def deployment_resources(directory: Path) -> list[Path]:
    """The files of `directory` that go into the deployment, in a stable order."""
    return sorted(
        p for p in directory.iterdir() if p.is_file() and p.name.endswith(RESOURCE_SUFFIXES)
    )


class EngineAdmin:
    """Thin client for the administrative engine-rest calls the CLI needs."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: tuple[str, str] | None = None,
        timeout_s: float = 30.0,
        session: requests.Session | None = None,
        tenant_id: str | None = None,
        ca: Path | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self.tenant_id = tenant_id
        self._verify = requests_verify(ca)
        self._shown = without_credentials(self._base)
        self._timeout = (min(5.0, timeout_s), timeout_s)
        self._session = session or requests.Session()
        if auth is not None:
            self._session.auth = auth

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineAdmin:
        auth = None
        if settings.camunda_username:
            password = (
                settings.camunda_password.get_secret_value() if settings.camunda_password else ""
            )
            auth = (settings.camunda_username, password)
        return cls(
            settings.engine_url,
            auth=auth,
            tenant_id=settings.camunda_tenant_id,
            ca=settings.engine_ca,
        )

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------ deploy

    def deploy(self, resources: list[Path], *, name: str = DEPLOYMENT_NAME) -> DeploymentResult:
        """Deploy all resources as one deployment; unchanged resources create no new version.

        Duplicate filtering compares the whole set with the latest deployment of the same
        name. Per-resource filtering (deploy-changed-only) is deliberately off: it would deploy
        a changed diagram without its unchanged forms, and the diagram's
        formRefBinding="deployment" would then find no form.
        """
        if not resources:
            raise ValueError("nothing to deploy")
        files = [
            (path.name, (path.name, path.read_bytes(), _content_type(path))) for path in resources
        ]
        data = {
            "deployment-name": name,
            "deployment-source": DEPLOYMENT_SOURCE,
            "enable-duplicate-filtering": "true",
            "deploy-changed-only": "false",
        }
        if self.tenant_id:
            data["tenant-id"] = self.tenant_id
        body = self._request("POST", "/deployment/create", "deploy", data=data, files=files)
        definitions = tuple(
            DeployedDefinition(str(d.get("key")), int(d.get("version") or 0), str(d.get("id")))
            for d in (body.get("deployedProcessDefinitions") or {}).values()
        )
        return DeploymentResult(
            id=str(body.get("id")),
            resources=tuple(p.name for p in resources),
            definitions=definitions,
        )

    # ------------------------------------------------------------------ start

    def start(
        self,
        variables: Mapping[str, Mapping[str, Any]],
        *,
        business_key: str | None = None,
        key: str = PROCESS_KEY,
    ) -> StartedInstance:
        """Start the latest version of process `key` (the tenant's, with one) with typed
        variables (VariableValueDtos)."""
        payload: dict[str, Any] = {"variables": dict(variables)}
        if business_key:
            payload["businessKey"] = business_key
        path = f"/process-definition/key/{quote(key, safe='')}"
        if self.tenant_id:
            path += f"/tenant-id/{quote(self.tenant_id, safe='')}"
        path += "/start"
        try:
            body = self._request(
                "POST", path, "start the process", may_be_missing=True, json=payload
            )
        except _NotFoundError:
            tenant = f" for tenant {self.tenant_id}" if self.tenant_id else ""
            raise ProcessNotDeployedError(
                f"process '{key}' is not deployed on the engine{tenant}; run `llm-worker deploy` "
                f"first{engine_url_hint(self._base)}"
            ) from None
        return StartedInstance(
            id=str(body.get("id")),
            definition_id=str(body.get("definitionId")),
            business_key=body.get("businessKey"),
        )

    # ------------------------------------------------------------------ demo identities

    def ensure_demo_users(self, password_for: Mapping[str, str] | None = None) -> DemoSetup:
        """Groups, one demo user each, memberships, Tasklist access and a task filter.

        Idempotent: everything that exists already is left as it is (a demo user's password
        is never reset). The demo password is the user id unless `password_for` names one.
        """
        try:
            return self._ensure_demo_users(password_for)
        except EngineAdminError as exc:
            if _INVALID_ID not in str(exc):
                raise
            raise EngineAdminError(
                f"{exc} (the engine's generalResourceWhitelistPattern refuses '-' in ids, as "
                f"Camunda's default does: allow it, e.g. '{ID_PATTERN_WITH_HYPHENS}'; on Camunda "
                f"Run set {ID_PATTERN_VARIABLE})"
            ) from None

    def _ensure_demo_users(self, password_for: Mapping[str, str] | None) -> DemoSetup:
        report = DemoSetup()
        for group, group_name in GROUP_NAMES.items():
            if not self._exists(f"/group/{quote(group, safe='')}", "read a group"):
                self._request(
                    "POST",
                    "/group/create",
                    "create a group",
                    json={"id": group, "name": group_name, "type": "WORKFLOW"},
                )
                report.created.append(f"group {group}")
        for user in DEMO_USERS:
            uid = quote(user.id, safe="")
            if not self._exists(f"/user/{uid}/profile", "read a user"):
                password = (password_for or {}).get(user.id, user.id)
                self._request(
                    "POST",
                    "/user/create",
                    "create a user",
                    json={
                        "profile": {
                            "id": user.id,
                            "firstName": user.first_name,
                            "lastName": user.last_name,
                            "email": f"{user.id}@example.com",
                        },
                        "credentials": {"password": password},
                    },
                )
                report.created.append(f"user {user.id}")
            members = self._count(
                "/group/count", {"id": user.group, "member": user.id}, "read memberships"
            )
            if members == 0:
                self._request(
                    "PUT",
                    f"/group/{quote(user.group, safe='')}/members/{uid}",
                    "add a group member",
                )
                report.created.append(f"membership {user.id} in {user.group}")
        filter_id = self._ensure_task_filter(report)
        for group in GROUP_NAMES:
            self._ensure_grant(group, _APPLICATION, "tasklist", ["ACCESS"], report)
            self._ensure_grant(group, _PROCESS_DEFINITION, PROCESS_KEY, ["READ"], report)
            self._ensure_grant(group, _FILTER, filter_id, ["READ"], report)
        return report

    def _ensure_task_filter(self, report: DemoSetup) -> str:
        found = self._request(
            "GET",
            "/filter",
            "read task filters",
            params={"resourceType": "Task", "name": TASK_FILTER_NAME},
        )
        if isinstance(found, list) and found:
            return str(found[0].get("id"))
        created = self._request(
            "POST",
            "/filter/create",
            "create a task filter",
            json={
                "resourceType": "Task",
                "name": TASK_FILTER_NAME,
                "owner": None,
                "query": {
                    "processDefinitionKey": PROCESS_KEY,
                    "candidateGroupsExpression": "${currentUserGroups()}",
                    "includeAssignedTasks": True,
                },
                "properties": {
                    "description": "Refund reviews, payments and audits waiting for my groups",
                    "priority": -10,
                    "refresh": True,
                    "variables": [
                        {"name": "bookingId", "label": "Booking"},
                        {"name": "fareRuleCheck", "label": "Decision"},
                        {"name": "ticketPrice", "label": "Price"},
                        {"name": "currency", "label": "Currency"},
                    ],
                },
            },
        )
        report.created.append(f"task filter '{TASK_FILTER_NAME}'")
        return str(created.get("id"))

    def _ensure_grant(
        self,
        group: str,
        resource_type: int,
        resource_id: str,
        permissions: list[str],
        report: DemoSetup,
    ) -> None:
        query = {
            "type": str(_GRANT),
            "groupIdIn": group,
            "resourceType": str(resource_type),
            "resourceId": resource_id,
        }
        if self._count("/authorization/count", query, "read authorizations") > 0:
            return
        self._request(
            "POST",
            "/authorization/create",
            "create an authorization",
            json={
                "type": _GRANT,
                "permissions": permissions,
                "groupId": group,
                "resourceType": resource_type,
                "resourceId": resource_id,
            },
        )
        report.created.append(f"authorization {'/'.join(permissions)} on {resource_id} for {group}")

    # ------------------------------------------------------------------ queries

    def query(self, path: str, operation: str, params: Mapping[str, str]) -> Any:
        """GET a query endpoint below engine-rest (e.g. /history/process-instance); the JSON."""
        return self._request("GET", path, operation, params=dict(params))

    # ------------------------------------------------------------------ HTTP

    def _exists(self, path: str, operation: str) -> bool:
        try:
            self._request("GET", path, operation, may_be_missing=True)
        except _NotFoundError:
            return False
        return True

    def _count(self, path: str, params: Mapping[str, str], operation: str) -> int:
        body = self._request("GET", path, operation, params=params)
        return int(body.get("count", 0)) if isinstance(body, dict) else 0

    def _request(
        self, method: str, path: str, operation: str, *, may_be_missing: bool = False, **kwargs: Any
    ) -> Any:
        url = self._base + path
        try:
            response = self._session.request(
                method, url, timeout=self._timeout, verify=self._verify, **kwargs
            )
        except requests.Timeout:
            raise EngineUnreachableError(
                f"the engine at {self._shown} did not answer within {self._timeout[1]:g} s"
            ) from None
        except requests.RequestException as exc:
            problem = (
                certificate_problem(exc) if isinstance(exc, requests.exceptions.SSLError) else None
            )
            if problem is not None:
                raise EngineUnreachableError(
                    f"the engine at {self._shown}: TLS {problem}; set CAMUNDA_CA_BUNDLE to the "
                    "CA that signed its certificate"
                ) from None
            raise EngineUnreachableError(
                f"cannot reach the engine at {self._shown} ({type(exc).__name__})"
            ) from None
        if response.status_code == 404 and may_be_missing:
            raise _NotFoundError(path)
        if response.status_code == 401:
            raise EngineAdminError(
                f"the engine refused the credentials while trying to {operation} "
                "(check CAMUNDA_USERNAME and CAMUNDA_PASSWORD)"
            )
        if response.status_code >= 400:
            hint = engine_url_hint(self._base) if response.status_code == 404 else ""
            raise EngineAdminError(
                f"the engine could not {operation}: HTTP {response.status_code}"
                f"{_engine_message(response)}{hint}"
            )
        if response.status_code == 204 or not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise EngineAdminError(
                f"the engine answered {operation} with something that is not JSON "
                f"(is CAMUNDA_URL {self._shown} the engine-rest base?)"
            ) from None


class _NotFoundError(EngineAdminError):
    """A 404 the caller asked to see (the thing looked up does not exist)."""


def _content_type(path: Path) -> str:
    return "application/json" if path.suffix == ".form" else "application/xml"


def _engine_message(response: requests.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        text = response.text
    else:
        text = ""
        if isinstance(body, dict):
            text = str(body.get("message") or "")
            details = body.get("details")
            if isinstance(details, dict):
                for resource, problems in details.items():
                    errors = problems.get("errors") if isinstance(problems, dict) else None
                    if errors:
                        first = errors[0]
                        text += f" ({resource} line {first.get('line')}: {first.get('message')})"
                        break
    text = " ".join(text.split())
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    return f": {text}" if text else ""
