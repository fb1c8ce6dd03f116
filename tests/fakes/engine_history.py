"""History routes for the engine emulator (tests/fakes/engine.py), answered from diagram runs.

`install_history_routes(engine)` returns a `HistoryState`; `state.add(run)` puts a
tests/fakes/bpmn_runner.py ProcessRun (live: an open instance goes on changing) into the history
the routes answer from, as the engine's history service keeps it:
- GET /history/process-instance and GET and POST /history/process-instance/count (validated
  against the OpenAPI document, but for the POST body, checked by hand: the document mistypes
  a variable filter's value):
  processDefinitionKey, finished / unfinished / completed, finishedAfter (end >= it),
  finishedBefore (end <= it), executedActivityIdIn, variables (GET: `name_eq_value`, split on
  '_' as the engine does, so no '_' in the value; POST: `{name, operator: eq, value}`), sortBy /
  sortOrder (both or neither, as the engine insists), firstResult / maxResults, tenantIdIn
  (an instance's tenant is given to `state.add(run, tenant_id=...)`).
- GET /history/activity-instance (validated): processInstanceId, activityId, activityType,
  finished, sortBy / sortOrder, paging.
- GET /history/variable-instance (not in the 7.15 document shipped here; checked by hand against
  the REST reference): processInstanceId, processInstanceIdIn, variableName, deserializeValues,
  paging; the latest value of every variable of the instance.
A query parameter the emulator does not implement is a 400, so a client relying on one fails
here instead of being answered as if it were honoured. Dates must be in the engine's format
(yyyy-MM-dd'T'HH:mm:ss.SSSZ). `state.fail_after(n)` makes the engine answer 503 to every request
from the n+1-th history request on (an outage in the middle of a paged read).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from tests.fakes.bpmn_runner import ActivityRecord, ProcessRun
from tests.fakes.engine import (
    EngineEmulator,
    EngineRequest,
    RestError,
    RouteResult,
    camunda_date,
    infer_variable,
    validate_against_openapi,
)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}")
_PROCESS_FILTERS = {
    "processDefinitionKey",
    "finished",
    "unfinished",
    "completed",
    "finishedAfter",
    "finishedBefore",
    "executedActivityIdIn",
    "variables",
    "tenantIdIn",
}
_PAGING = {"sortBy", "sortOrder", "firstResult", "maxResults"}


@dataclass
class HistoryState:
    runs: list[ProcessRun] = field(default_factory=list)
    tenants: dict[str, str | None] = field(default_factory=dict)  # run id -> its tenant
    definition_key: str = "ticket-refund"
    requests: int = 0
    _fail_after: int | None = None

    def add(self, run: ProcessRun, tenant_id: str | None = None) -> ProcessRun:
        if any(r.id == run.id for r in self.runs):
            raise ValueError(f"an instance with id {run.id} is in the history already")
        self.runs.append(run)
        self.tenants[run.id] = tenant_id
        return run

    def fail_after(self, requests: int) -> None:
        self._fail_after = self.requests + requests


def install_history_routes(engine: EngineEmulator) -> HistoryState:
    state = HistoryState()

    def counted(handler: Callable[[HistoryState, EngineRequest], RouteResult]) -> Any:
        def route(e: EngineEmulator, request: EngineRequest) -> RouteResult:
            with e.lock:
                state.requests += 1
                failing = state._fail_after is not None and state.requests > state._fail_after
            if failing:
                e.outage("503")
                raise RestError(503, "engine unavailable", "ProcessEngineException")
            with e.lock:
                return handler(state, request)

        return route

    # The document gives date parameters the format date-time (RFC 3339, +00:00), while the
    # engine takes its own yyyy-MM-dd'T'HH:mm:ss.SSSZ (+0000), as the document's own examples
    # show: these routes are validated with the dates written the document's way.
    engine.add_route(
        "GET", "/history/process-instance", counted(_dated(_instances)), validate=False
    )
    engine.add_route(
        "GET",
        "/history/process-instance/count",
        counted(_dated(_instance_count)),
        validate=False,
    )
    # The 7.15 document types a variable filter's `value` as an object while saying "boolean,
    # string or number" (what the engine takes): this body is checked by _query_from_body.
    engine.add_route(
        "POST",
        "/history/process-instance/count",
        counted(_instance_count_post),
        validate=False,
    )
    engine.add_route("GET", "/history/activity-instance", counted(_activities))
    engine.add_route("GET", "/history/variable-instance", counted(_variables), validate=False)
    return state


# ----------------------------------------------------------------------------- parameters


def _dated(
    handler: Callable[[HistoryState, EngineRequest], RouteResult],
) -> Callable[[HistoryState, EngineRequest], RouteResult]:
    def validated(state: HistoryState, request: EngineRequest) -> RouteResult:
        for name in ("finishedAfter", "finishedBefore"):
            _parse_date(name, request.param(name))  # the engine's own format, or a 400
        query = urlencode(
            [
                (name, re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", value))
                for name, values in request.query.items()
                for value in values
            ]
        )
        validate_against_openapi(request.method, request.path, query, request.headers, b"")
        return handler(state, request)

    return validated


def _check_params(request: EngineRequest, allowed: set[str]) -> None:
    unknown = set(request.query) - allowed
    if unknown:
        raise RestError(400, f"emulator: query parameters not implemented: {sorted(unknown)}")
    if ("sortBy" in request.query) != ("sortOrder" in request.query):
        raise RestError(
            400, "Only a single sorting parameter specified. sortBy and sortOrder required"
        )


def _flag(request: EngineRequest, name: str) -> bool:
    value = request.param(name)
    if value not in (None, "true", "false"):
        raise RestError(400, f"Cannot set query parameter '{name}' to value '{value}'")
    return value == "true"


def _page(request: EngineRequest, items: list[Any]) -> list[Any]:
    first = int(request.param("firstResult") or 0)
    maximum = request.param("maxResults")
    return items[first : first + int(maximum)] if maximum is not None else items[first:]


def _when(moment: datetime | None) -> str | None:
    return camunda_date(moment.timestamp()) if moment is not None else None


# ----------------------------------------------------------------------------- instances


@dataclass(frozen=True)
class _InstanceQuery:
    key: str | None
    finished: bool
    unfinished: bool
    after: datetime | None
    before: datetime | None
    executed: tuple[str, ...]
    variables: tuple[tuple[str, str], ...]
    tenants: tuple[str, ...] = ()


def _parse_date(name: str, text: Any) -> datetime | None:
    if text is None:
        return None
    if not isinstance(text, str) or not _DATE.fullmatch(text):
        raise RestError(400, f"Cannot set query parameter '{name}' to value '{text}'")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def _query_from_params(request: EngineRequest) -> _InstanceQuery:
    """GET: the engine splits each `variables` item on '_' into exactly name, operator, value,
    so a value with an underscore (wrong_amount) cannot be asked for this way."""
    variables = []
    for part in (request.param("variables") or "").split(","):
        if not part:
            continue
        pieces = part.split("_")
        if len(pieces) != 3:
            raise RestError(400, "variable query parameter has to have format KEY_OPERATOR_VALUE")
        if pieces[1] != "eq":
            raise RestError(400, f"emulator: only the eq operator, not {pieces[1]!r}")
        variables.append((pieces[0], pieces[2]))
    return _InstanceQuery(
        key=request.param("processDefinitionKey"),
        finished=_flag(request, "finished") or _flag(request, "completed"),
        unfinished=_flag(request, "unfinished"),
        after=_parse_date("finishedAfter", request.param("finishedAfter")),
        before=_parse_date("finishedBefore", request.param("finishedBefore")),
        executed=tuple(a for a in (request.param("executedActivityIdIn") or "").split(",") if a),
        variables=tuple(variables),
        tenants=tuple(t for t in (request.param("tenantIdIn") or "").split(",") if t),
    )


def _query_from_body(request: EngineRequest) -> _InstanceQuery:
    body = request.json() or {}
    if not isinstance(body, dict):
        raise RestError(400, "the query must be a JSON object")
    unknown = set(body) - _PROCESS_FILTERS
    if unknown:
        raise RestError(400, f"emulator: query properties not implemented: {sorted(unknown)}")
    variables = []
    for item in body.get("variables") or []:
        if item.get("operator") != "eq" or not isinstance(item.get("name"), str):
            raise RestError(400, f"emulator: only eq variable filters, not {item!r}")
        variables.append((item["name"], str(item.get("value"))))
    return _InstanceQuery(
        key=body.get("processDefinitionKey"),
        finished=bool(body.get("finished")) or bool(body.get("completed")),
        unfinished=bool(body.get("unfinished")),
        after=_parse_date("finishedAfter", body.get("finishedAfter")),
        before=_parse_date("finishedBefore", body.get("finishedBefore")),
        executed=tuple(body.get("executedActivityIdIn") or ()),
        variables=tuple(variables),
        tenants=tuple(body.get("tenantIdIn") or ()),
    )


def _matching(state: HistoryState, query: _InstanceQuery) -> list[ProcessRun]:
    found = []
    for run in state.runs:
        ended = run.ended_at
        if query.key is not None and query.key != state.definition_key:
            continue
        if query.tenants and state.tenants.get(run.id) not in query.tenants:
            continue
        if query.finished and ended is None:
            continue
        if query.unfinished and ended is not None:
            continue
        if query.after is not None and (ended is None or ended < query.after):
            continue
        if query.before is not None and (ended is None or ended > query.before):
            continue
        if query.executed and not any(
            r.activity_id in query.executed and r.ended_at is not None for r in run.activities
        ):
            continue
        values = run.variables
        if any(not isinstance(values.get(n), str) or values[n] != v for n, v in query.variables):
            continue
        found.append(run)
    return found


def _sorted(request: EngineRequest, runs: list[ProcessRun]) -> list[ProcessRun]:
    sort_by = request.param("sortBy")
    if sort_by is None:
        return runs
    keys: dict[str, Callable[[ProcessRun], Any]] = {
        "instanceId": lambda r: r.id,
        "startTime": lambda r: r.started_at,
        "endTime": lambda r: (r.ended_at is None, r.ended_at or r.started_at, r.id),
    }
    if sort_by not in keys or request.param("sortOrder") not in ("asc", "desc"):
        raise RestError(400, f"emulator: cannot sort by {sort_by}")
    return sorted(runs, key=keys[sort_by], reverse=request.param("sortOrder") == "desc")


def _instance_dto(state: HistoryState, run: ProcessRun) -> dict[str, Any]:
    ended = run.ended_at
    return {
        "id": run.id,
        "businessKey": run.business_key,
        "processDefinitionId": f"{state.definition_key}:1:definition",
        "processDefinitionKey": state.definition_key,
        "processDefinitionName": "Ticket refund",
        "processDefinitionVersion": 1,
        "startTime": _when(run.started_at),
        "endTime": _when(ended),
        "removalTime": None,
        "durationInMillis": (
            int((ended - run.started_at).total_seconds() * 1000) if ended else None
        ),
        "startUserId": None,
        "startActivityId": "StartEvent_RefundRequested",
        "deleteReason": None,
        "rootProcessInstanceId": run.id,
        "superProcessInstanceId": None,
        "superCaseInstanceId": None,
        "caseInstanceId": None,
        "tenantId": state.tenants.get(run.id),
        "state": "COMPLETED" if ended is not None else "ACTIVE",
    }


def _instances(state: HistoryState, request: EngineRequest) -> RouteResult:
    _check_params(request, _PROCESS_FILTERS | _PAGING)
    runs = _page(request, _sorted(request, _matching(state, _query_from_params(request))))
    return 200, [_instance_dto(state, run) for run in runs]


def _instance_count(state: HistoryState, request: EngineRequest) -> RouteResult:
    _check_params(request, _PROCESS_FILTERS)
    return 200, {"count": len(_matching(state, _query_from_params(request)))}


def _instance_count_post(state: HistoryState, request: EngineRequest) -> RouteResult:
    _check_params(request, set())
    return 200, {"count": len(_matching(state, _query_from_body(request)))}


# ----------------------------------------------------------------------------- activities


def _activity_dto(state: HistoryState, run: ProcessRun, record: ActivityRecord) -> dict[str, Any]:
    ended = record.ended_at
    return {
        "id": record.id,
        "parentActivityInstanceId": run.id,
        "activityId": record.activity_id,
        "activityName": record.activity_name,
        "activityType": record.activity_type,
        "processDefinitionKey": state.definition_key,
        "processDefinitionId": f"{state.definition_key}:1:definition",
        "processInstanceId": run.id,
        "executionId": run.id,
        "taskId": record.id if record.activity_type == "userTask" else None,
        "assignee": record.assignee,
        "calledProcessInstanceId": None,
        "calledCaseInstanceId": None,
        "startTime": _when(record.started_at),
        "endTime": _when(ended),
        "durationInMillis": (
            int((ended - record.started_at).total_seconds() * 1000) if ended else None
        ),
        "canceled": record.canceled,
        "completeScope": record.activity_type == "noneEndEvent",
        "tenantId": None,
        "removalTime": None,
        "rootProcessInstanceId": run.id,
    }


def _activities(state: HistoryState, request: EngineRequest) -> RouteResult:
    _check_params(
        request, {"processInstanceId", "activityId", "activityType", "finished"} | _PAGING
    )
    instance, activity = request.param("processInstanceId"), request.param("activityId")
    kind, finished = request.param("activityType"), _flag(request, "finished")
    found = [
        _activity_dto(state, run, record)
        for run in state.runs
        if instance is None or run.id == instance
        for record in run.activities
        if (activity is None or record.activity_id == activity)
        and (kind is None or record.activity_type == kind)
        and (not finished or record.ended_at is not None)
    ]
    if request.param("sortBy") is not None:
        if request.param("sortBy") != "startTime":
            raise RestError(400, "emulator: activity instances sort by startTime only")
        found.sort(key=lambda a: a["startTime"], reverse=request.param("sortOrder") == "desc")
    return 200, _page(request, found)


# ----------------------------------------------------------------------------- variables


def _variable_dtos(state: HistoryState, runs: Iterable[ProcessRun]) -> list[dict[str, Any]]:
    found = []
    for run in runs:
        for name, value in sorted(run.variables.items()):
            typed = infer_variable(value)
            found.append(
                {
                    "id": f"{run.id}:{name}",
                    "name": name,
                    "type": typed["type"],
                    "value": typed["value"],
                    "valueInfo": typed.get("valueInfo", {}),
                    "processDefinitionKey": state.definition_key,
                    "processDefinitionId": f"{state.definition_key}:1:definition",
                    "processInstanceId": run.id,
                    "executionId": run.id,
                    "activityInstanceId": run.id,
                    "caseDefinitionKey": None,
                    "caseDefinitionId": None,
                    "caseInstanceId": None,
                    "caseExecutionId": None,
                    "taskId": None,
                    "tenantId": None,
                    "errorMessage": None,
                    "state": "CREATED",
                    "createTime": _when(run.started_at),
                    "removalTime": None,
                    "rootProcessInstanceId": run.id,
                }
            )
    return found


def _variables(state: HistoryState, request: EngineRequest) -> RouteResult:
    _check_params(
        request,
        {"processInstanceId", "processInstanceIdIn", "variableName", "deserializeValues"}
        | {"firstResult", "maxResults"},
    )
    ids: set[str] = set()
    if request.param("processInstanceId"):
        ids.add(str(request.param("processInstanceId")))
    ids |= {i for i in (request.param("processInstanceIdIn") or "").split(",") if i}
    name = request.param("variableName")
    runs = [run for run in state.runs if not ids or run.id in ids]
    found = [v for v in _variable_dtos(state, runs) if name is None or v["name"] == name]
    return 200, _page(request, found)
