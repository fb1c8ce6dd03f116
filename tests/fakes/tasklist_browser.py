"""An operator in the real Camunda Tasklist: tests/tasklist/driver.mjs drives it in headless
Chromium (login page, filters, task list, Claim, the form Tasklist renders, Complete), and this
class sends it one command at a time, reusing the form driver's JSON-lines protocol."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fakes.form_browser import FieldView, FormBrowser
from tests.support import REPO_ROOT

DRIVER = REPO_ROOT / "tests" / "tasklist" / "driver.mjs"
# Tasklist loads, logs in and renders within seconds; a CPU shared with an engine needs more.
COMMAND_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class TaskCard:
    """A task as Tasklist lists it in the open filter."""

    id: str | None
    name: str
    process: str | None
    text: str


@dataclass(frozen=True)
class Write:
    """A request the page made that changes something (login, claim, submit-form...)."""

    method: str
    path: str
    body: str | None
    status: int | None

    def json(self) -> Any:
        return json.loads(self.body or "null")


class TasklistBrowser:
    """One driver (and its Chromium) against the Tasklist of the engine at `root_url`."""

    def __init__(self, root_url: str) -> None:
        self._driver = FormBrowser(DRIVER, args=[root_url])
        self.browser_pid = self._driver.browser_pid

    def _command(self, cmd: str, **args: Any) -> dict[str, Any]:
        return self._driver.command(cmd, timeout=COMMAND_TIMEOUT_S, **args)

    def login(self, user: str, password: str) -> None:
        """Through Tasklist's own login page, in a fresh browser session (no cookies)."""
        self._command("login", user=user, password=password)

    def filters(self) -> list[str]:
        return [str(name) for name in self._command("filters")["filters"]]

    def open_filter(self, name: str) -> None:
        self._command("openFilter", name=name)

    def tasks(self) -> list[TaskCard]:
        return [TaskCard(**card) for card in self._command("tasks")["tasks"]]

    def open_task(self, task_id: str) -> dict[str, str]:
        """Click the task's card; its name and candidate groups as the task pane shows them."""
        return {
            str(k): str(v) for k, v in self._command("openTask", id=task_id).items() if k != "ok"
        }

    def claim(self) -> str:
        """Tasklist's Claim link; the assignee it then shows."""
        return str(self._command("claim")["assignee"])

    def fields(self) -> list[FieldView]:
        return [FieldView(**field) for field in self._command("fields")["fields"]]

    def form_text(self) -> str:
        return str(self._command("fields")["text"])

    def fill(self, label: str, value: str) -> str:
        return str(self._command("fill", label=label, value=value)["value"])

    def choose(self, label: str, option: str) -> None:
        self._command("choose", label=label, option=option)

    def clipped(self) -> list[str]:
        """The form's labels and descriptions that Tasklist's layout cuts off."""
        return [str(text) for text in self._command("clipped")["clipped"]]

    def complete(self, task_id: str) -> tuple[dict[str, list[str]], list[Write]]:
        """Tasklist's Complete button: the errors the form then shows (none when it went
        through) and the requests it made."""
        answer = self._command("complete", id=task_id)
        return answer["shownErrors"], [Write(**w) for w in answer["writes"]]

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._command("screenshot", path=str(path.resolve()))
        return path

    def problems(self) -> list[str]:
        """Console errors, page errors, failed and blocked requests of this session."""
        return [str(problem) for problem in self._command("problems")["problems"]]

    def close(self) -> None:
        self._driver.close()
