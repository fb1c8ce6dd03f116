"""The real engine's REST API as the end-to-end tests of ticket-refund read it: a GET of any
path, and which end events and activities an instance's history shows."""

from __future__ import annotations

from typing import Any

import requests


class EngineRest:
    """GETs on the engine at `url` (its /engine-rest root) over one HTTP session."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(f"{self.url}{path}", params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def ends(self, pid: str) -> list[str]:
        """The ids of the end events instance `pid` reached."""
        found = self.get(
            "/history/activity-instance", processInstanceId=pid, activityType="noneEndEvent"
        )
        return sorted(str(a["activityId"]) for a in found)

    def visited(self, pid: str, activity: str, finished: bool = False) -> bool:
        """Whether instance `pid` entered `activity` (and, with `finished`, left it)."""
        params: dict[str, Any] = {"processInstanceId": pid, "activityId": activity}
        if finished:
            params["finished"] = "true"
        return bool(self.get("/history/activity-instance", **params))
