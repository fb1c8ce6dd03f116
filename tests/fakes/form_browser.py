"""An operator in front of a Camunda form: tests/forms/driver.mjs renders it with the real
form-js viewer in headless Chromium, and this class fills, chooses and submits by visible label."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support import REPO_ROOT

DRIVER = REPO_ROOT / "tests" / "forms" / "driver.mjs"
START_TIMEOUT_S = 60.0
COMMAND_TIMEOUT_S = 20.0
_STDERR_TAIL = 4000


class FormBrowserError(RuntimeError):
    """The driver failed, hung or died; the message carries its stderr tail."""


class FormCommandError(RuntimeError):
    """The driver could not do what was asked (no such label, a disabled field...)."""


@dataclass(frozen=True)
class FieldView:
    """A rendered form field as the operator sees it."""

    id: str | None
    label: str | None
    type: str
    # The input's or textarea's text, the checked radio option's label, a checkbox's state,
    # a checklist's checked labels, or a text component's rendered text.
    value: str | bool | list[str] | None
    disabled: bool
    required: bool
    options: list[str]
    errors: list[str]
    text: str


@dataclass(frozen=True)
class Submission:
    """What form.submit() gave: the data Tasklist would complete with, the errors by field id,
    and the error messages shown under each field, by its label."""

    data: dict[str, Any]
    errors: dict[str, list[str]]
    shown_errors: dict[str, list[str]]


class FormBrowser:
    """One driver process (and its Chromium) for many forms, one at a time."""

    def __init__(self, driver: Path = DRIVER, args: Sequence[str] = ()) -> None:
        """Start `driver` (a JSON-lines driver in Node, given `args`) and wait until it is ready."""
        # Open as long as the driver runs; close() closes it.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._proc = subprocess.Popen(
            ["node", str(driver), *args],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            # Its own process group, so that a hung driver can be killed with all it started.
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.browser_pid: int | None = None
        try:
            ready = self._reply(START_TIMEOUT_S, "the driver to start")
        except BaseException:
            self.close()
            raise
        self.browser_pid = ready.get("browserPid")
        self.form_js_version = str(ready.get("formJs"))

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for raw in self._proc.stdout:
            self._lines.put(raw.decode("utf-8", errors="replace"))
        self._lines.put(None)

    def stderr_tail(self) -> str:
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - _STDERR_TAIL))
        return self._stderr.read().decode("utf-8", errors="replace")

    def _fail(self, what: str) -> FormBrowserError:
        return FormBrowserError(f"form driver: {what}; its stderr:\n{self.stderr_tail()}")

    def _reply(self, timeout: float, what: str) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise self._fail(f"no reply within {timeout:.0f}s waiting for {what}") from None
        if line is None:
            code = self._proc.wait(timeout=10)
            raise self._fail(f"exited with {code} while waiting for {what}")
        try:
            answer = json.loads(line)
        except ValueError:
            raise self._fail(f"answered {line!r}, not JSON") from None
        if not isinstance(answer, dict):
            raise self._fail(f"answered {line!r}, not an object")
        return answer

    def command(self, cmd: str, timeout: float = COMMAND_TIMEOUT_S, **args: Any) -> dict[str, Any]:
        """Send one request and return its reply; FormCommandError when it says ok: false."""
        stdin = self._proc.stdin
        if stdin is None or self._proc.poll() is not None:
            raise self._fail(f"not running (exit code {self._proc.returncode}) for {cmd!r}")
        try:
            stdin.write((json.dumps({"cmd": cmd, **args}) + "\n").encode())
            stdin.flush()
        except (BrokenPipeError, ValueError):
            raise self._fail(f"cannot take {cmd!r}") from None
        answer = self._reply(timeout, f"the reply to {cmd!r}")
        if not answer.get("ok"):
            raise FormCommandError(f"{cmd}: {answer.get('error')}")
        return answer

    def render(
        self, form: Path | Mapping[str, Any], data: Mapping[str, Any] | None = None
    ) -> list[str]:
        """Open a form (a .form file or its schema) with these variables; the import warnings."""
        schema = json.loads(form.read_text(encoding="utf-8")) if isinstance(form, Path) else form
        answer = self.command("render", schema=dict(schema), data=dict(data or {}))
        return [str(warning) for warning in answer["warnings"]]

    def fill(self, label: str, value: str) -> str:
        """Click the field, clear it, type `value` key by key, tab out; the text it then shows."""
        return str(self.command("fill", label=label, value=value)["value"])

    def choose(self, label: str, option: str) -> None:
        """Click the option labelled `option` of the radio group labelled `label`."""
        self.command("choose", label=label, option=option)

    def submit(self) -> Submission:
        """What Tasklist's Complete button does: form.submit(), validating every field."""
        answer = self.command("submit")
        return Submission(
            data=answer["data"], errors=answer["errors"], shown_errors=answer["shownErrors"]
        )

    def fields(self) -> list[FieldView]:
        return [FieldView(**field) for field in self.command("fields")["fields"]]

    def field(self, label: str) -> FieldView:
        """The one rendered field with this label."""
        matches = [field for field in self.fields() if field.label == label]
        if len(matches) != 1:
            raise FormCommandError(f"{len(matches)} fields labelled {label!r}")
        return matches[0]

    def text(self) -> str:
        """The whole form's text as the page shows it (innerText)."""
        return str(self.command("fields")["text"])

    def screenshot(self, path: Path) -> Path:
        """A full-page PNG at a 1000 px wide desktop viewport."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.command("screenshot", path=str(path.resolve()))
        return path

    def console_errors(self) -> list[str]:
        """Console errors, page errors, failed and blocked requests since the last render."""
        return [str(error) for error in self.command("consoleErrors")["errors"]]

    def style(self, selector: str, prop: str) -> str:
        """The computed value of CSS property `prop` on the first element matching `selector`."""
        return str(self.command("style", selector=selector, property=prop)["value"])

    def element_text(self, selector: str) -> str:
        """The text an operator reads in the first element matching `selector`."""
        return str(self.command("elementText", selector=selector)["text"])

    def count(self, selector: str) -> int:
        """How many elements inside the form match `selector`."""
        return int(self.command("count", selector=selector)["count"])

    def close(self) -> None:
        """Ask the driver to end (it closes Chromium); kill both if that takes too long."""
        if self._proc.poll() is None:
            with contextlib.suppress(FormBrowserError, FormCommandError):
                self.command("close", timeout=10)
            with contextlib.suppress(OSError, ValueError):
                if self._proc.stdin is not None:
                    self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._kill()
        self._reader.join(timeout=5)
        self._stderr.close()

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait(timeout=10)
        # Chromium leads a process group of its own and ends when the driver's pipe closes;
        # this is for one that hangs as well.
        if self.browser_pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.browser_pid, signal.SIGKILL)

    def __enter__(self) -> FormBrowser:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
