"""Reads finished ticket-refund cases from the engine's history REST API, page by page.

Finished instances come from /history/process-instance (sorted by end time, `page_size` at a
time, filtered by the user tasks they executed), their variables from
/history/variable-instance (latest values, one paged query per page of instances) and their
user tasks (who completed them and when) from /history/activity-instance. Every request is
bounded by the page size and the engine client's timeout; the number of instances is counted
first, so the reader knows how far it has to go and never reads past it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from llm_worker.admin.engine import EngineAdmin, EngineAdminError
from llm_worker.process import PROCESS_KEY

MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class UserTaskRecord:
    activity_id: str
    assignee: str | None
    ended_at: str | None


@dataclass(frozen=True)
class FinishedCase:
    instance_id: str
    business_key: str | None
    ended_at: str | None
    variables: dict[str, Any]
    tasks: tuple[UserTaskRecord, ...]

    def task(self, *activity_ids: str) -> UserTaskRecord | None:
        """The last completed of these user tasks, if the instance ran one."""
        found = [t for t in self.tasks if t.activity_id in activity_ids]
        return found[-1] if found else None


def engine_date(moment: datetime) -> str:
    """The engine's query date format, yyyy-MM-dd'T'HH:mm:ss.SSSZ, in UTC."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


class CaseReader:
    """The finished cases that ran one of `activity_ids`, ended in [since, until)."""

    def __init__(
        self,
        admin: EngineAdmin,
        *,
        since: datetime,
        until: datetime,
        activity_ids: Sequence[str],
        page_size: int = 100,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1 to {MAX_PAGE_SIZE}")
        self._admin = admin
        self._page_size = page_size
        # finishedBefore is inclusive on the engine: one millisecond less makes `until` exclusive.
        self._filter = {
            "processDefinitionKey": PROCESS_KEY,
            "finished": "true",
            "finishedAfter": engine_date(since),
            "finishedBefore": engine_date(until - timedelta(milliseconds=1)),
            "executedActivityIdIn": ",".join(activity_ids),
        }
        if admin.tenant_id:
            # Only the tenant's instances; their variables and tasks are read by instance id.
            self._filter["tenantIdIn"] = admin.tenant_id

    def count(self) -> int:
        body = self._admin.query(
            "/history/process-instance/count", "count finished instances", self._filter
        )
        try:
            return int(body["count"])
        except (KeyError, TypeError, ValueError):
            raise EngineAdminError("the engine's instance count has no count") from None

    def cases(self, total: int) -> Iterator[FinishedCase]:
        """Every matching case, oldest end first, at most `total` (the count read before)."""
        first = 0
        while first < total:
            params = {
                **self._filter,
                "sortBy": "endTime",
                "sortOrder": "asc",
                "firstResult": str(first),
                "maxResults": str(min(self._page_size, total - first)),
            }
            page = self._admin.query("/history/process-instance", "read finished instances", params)
            if not isinstance(page, list) or not page:
                return  # fewer than counted: history cleanup removed some meanwhile
            variables = self._variables([str(i["id"]) for i in page])
            for instance in page:
                instance_id = str(instance["id"])
                yield FinishedCase(
                    instance_id=instance_id,
                    business_key=instance.get("businessKey"),
                    ended_at=instance.get("endTime"),
                    variables=variables.get(instance_id, {}),
                    tasks=self._user_tasks(instance_id),
                )
            first += len(page)

    def _variables(self, instance_ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        first = 0
        while True:
            params = {
                "processInstanceIdIn": ",".join(instance_ids),
                "deserializeValues": "false",
                "firstResult": str(first),
                "maxResults": str(MAX_PAGE_SIZE),
            }
            page = self._admin.query(
                "/history/variable-instance", "read instance variables", params
            )
            if not isinstance(page, list):
                raise EngineAdminError("the engine's variable list is not a list")
            for variable in page:
                found.setdefault(str(variable.get("processInstanceId")), {})[
                    str(variable.get("name"))
                ] = _plain(variable)
            if len(page) < MAX_PAGE_SIZE:
                return found
            first += len(page)

    def _user_tasks(self, instance_id: str) -> tuple[UserTaskRecord, ...]:
        params = {
            "processInstanceId": instance_id,
            "activityType": "userTask",
            "finished": "true",
            "sortBy": "startTime",
            "sortOrder": "asc",
            "maxResults": str(MAX_PAGE_SIZE),
        }
        page = self._admin.query("/history/activity-instance", "read user tasks", params)
        if not isinstance(page, list):
            raise EngineAdminError("the engine's activity list is not a list")
        return tuple(
            UserTaskRecord(str(a.get("activityId")), a.get("assignee"), a.get("endTime"))
            for a in page
            if not a.get("canceled")
        )


def _plain(variable: Mapping[str, Any]) -> Any:
    """A history variable's value as plain JSON (dates stay in the engine's text form)."""
    return variable.get("value")
