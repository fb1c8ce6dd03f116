"""Shared fixtures: no developer settings in any test, the engine emulator and the real Camunda
7.24 engine (built from tests/camunda-engine and started once a session, or CAMUNDA_TEST_URL),
the real `llm-worker run` process with a clean environment, a bounded run of any other
`llm-worker` command, a headless browser that renders the Camunda forms, and the JSON log
lines a test's handlers write."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests

from llm_worker.config import Settings
from llm_worker.logs import LogFormat, LogLevel, configure_logging
from tests.fakes.bad_gateway import BadGateway
from tests.fakes.camunda_engine import CamundaEngine, build, camunda_version
from tests.fakes.engine import EngineEmulator
from tests.fakes.form_browser import FormBrowser
from tests.fakes.real_engine import EmulatorDriver, EngineDriver, RestDriver
from tests.support import REPO_ROOT, free_port, wait_until

# An engine someone runs already (e.g. the compose stack's); without it the session starts its own.
EXTERNAL_ENGINE_URL = os.environ.get("CAMUNDA_TEST_URL")

# What a test must never inherit from the developer's shell: every setting (matched without
# regard to case, as the settings are read), and what the engine, OpenAI and OpenTelemetry
# libraries read.
_SETTINGS = frozenset(name.upper() for name in Settings.model_fields)
_SCRUBBED_PREFIXES = ("CAMUNDA_", "OPENAI_", "OTEL_")


def _is_setting(name: str) -> bool:
    return name.upper() in _SETTINGS or name.upper().startswith(_SCRUBBED_PREFIXES)


class WorkerProcess:
    """The real `python -m llm_worker run` process, with its JSON log lines."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path,
        argv: list[str] | None = None,
    ) -> None:
        self.metrics_port = int(env["METRICS_PORT"])
        self.env = dict(env)
        self.log_path = log_path
        self._log_file = log_path.open("wb")
        self.proc = subprocess.Popen(
            argv or [sys.executable, "-m", "llm_worker", "run"],
            env=self.env,
            cwd=cwd,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    def logs(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    lines.append(entry)
        return lines

    def raw_log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15.0, message: str = ""
    ) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            self._fail_if_dead()
            return next((e for e in self.logs() if predicate(e)), None)

        entry = wait_until(found, timeout, message=message or "a log line")
        assert entry is not None
        return entry

    def _fail_if_dead(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(
                f"worker exited with {self.proc.returncode}:\n{self.raw_log()[-4000:]}"
            )

    def wait_started(self, timeout: float = 20.0) -> None:
        """Until /healthz answers 200 (the loop has beaten)."""

        def healthy() -> bool:
            self._fail_if_dead()
            try:
                return requests.get(f"{self.metrics_url}/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_until(healthy, timeout, interval=0.1, message="the worker's /healthz")

    def metrics(self) -> str:
        return requests.get(f"{self.metrics_url}/metrics", timeout=5).text

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def wait_exit(self, timeout: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"worker did not exit within {timeout}s") from None

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log_file.close()


@pytest.fixture(autouse=True)
def no_settings_from_the_developer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test starts from the defaults: none of the shell's settings, and an empty folder
    as the working directory, so that no developer's .env is read."""
    for name in list(os.environ):
        if _is_setting(name):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """The JSON log lines the worker's logging writes while the test runs."""
    configure_logging(LogLevel.INFO, LogFormat.JSON)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)
    yield buffer
    handler.setStream(sys.__stderr__)


def clean_env(**settings: str | int | float) -> dict[str, str]:
    """The parent's environment without any of its settings, plus `settings` (by name)."""
    env = {k: v for k, v in os.environ.items() if not _is_setting(k)}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.update({k.upper(): str(v) for k, v in settings.items()})
    return env


def worker_env(**settings: str | int | float) -> dict[str, str]:
    """A clean environment for the worker: JSON logs, its own metrics port, then `settings`."""
    defaults: dict[str, str | int | float] = {
        "PYTHONUNBUFFERED": "1",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "METRICS_PORT": free_port(),
        "BACKLOG_POLL_INTERVAL_S": "5",
        # Nothing pays by default: the tests' workers pay through the simulated gateway.
        "PAYMENT_SIMULATED": "true",
    }
    return clean_env(**{**defaults, **{k.upper(): v for k, v in settings.items()}})


def run_cli(
    *args: str,
    env: Mapping[str, str],
    cwd: Path = REPO_ROOT,
    stdin: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """`python -m llm_worker ARGS` to its end (bounded by `timeout`), its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "llm_worker", *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def deploy_demo_users(url: str) -> None:
    """`llm-worker deploy --demo-users` to the engine at `url`, as the README tells users."""
    deployed = run_cli("deploy", "--demo-users", env=clean_env(CAMUNDA_URL=url))
    assert deployed.returncode == 0, deployed.stderr


StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[StartWorker]:
    """Start the real worker process: start_worker(CAMUNDA_URL=..., WORKER_CONCURRENCY=4)."""
    started: list[WorkerProcess] = []

    def start(
        wait: bool = True, argv: list[str] | None = None, **settings: str | int | float
    ) -> WorkerProcess:
        env = worker_env(**settings)
        number = len(started)
        worker = WorkerProcess(env, tmp_path / f"worker-{number}.log", tmp_path, argv)
        started.append(worker)
        if wait:
            worker.wait_started()
        return worker

    yield start
    for worker in started:
        worker.kill()


@pytest.fixture(scope="session")
def form_browser() -> Iterator[FormBrowser]:
    """One driver and Chromium for the session's form tests; each render opens a fresh page."""
    browser = FormBrowser()
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def engine() -> Iterator[EngineEmulator]:
    with EngineEmulator() as emulator:
        yield emulator


@pytest.fixture
def html_502() -> Iterator[str]:
    """The engine-rest URL of a proxy that answers 502 with an HTML page (no JSON)."""
    with BadGateway() as proxy:
        yield proxy.url


def pytest_report_header(config: pytest.Config) -> str:
    if EXTERNAL_ENGINE_URL:
        return f"real_engine tests: the Camunda at CAMUNDA_TEST_URL={EXTERNAL_ENGINE_URL}"
    return (
        f"real_engine tests: Camunda {camunda_version()} built from tests/camunda-engine "
        "(camunda-bom, Spring Boot starters, Spin, H2), started for the session"
    )


_session_engine: list[CamundaEngine] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for engine in _session_engine:
        terminalreporter.write_line(
            f"real_engine tests ran on Camunda {engine.version} (its /version) at {engine.url}, "
            f"started in {engine.start_seconds:.1f}s"
        )


@pytest.fixture(scope="session")
def real_engine_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The REST API of a real Camunda 7: CAMUNDA_TEST_URL, or the session's own 7.24 engine on
    a free loopback port with a fresh H2 file database. A build or start failure fails every
    test that asks for it: no real_engine test is ever skipped."""
    if EXTERNAL_ENGINE_URL:
        yield EXTERNAL_ENGINE_URL.rstrip("/")
        return
    engine = CamundaEngine(build(), tmp_path_factory.mktemp("camunda-engine"))
    engine.start()
    _session_engine.append(engine)
    try:
        yield engine.url
    finally:
        engine.stop()


@pytest.fixture(params=["emulator", pytest.param("real", marks=pytest.mark.real_engine)])
def engine_driver(request: pytest.FixtureRequest) -> Iterator[EngineDriver]:
    """The test once against the emulator and once against the real engine."""
    if request.param == "real":
        driver = RestDriver(request.getfixturevalue("real_engine_url"))
        yield driver
        driver.cleanup()
        return
    with EngineEmulator() as emulator:
        yield EmulatorDriver(emulator)


@pytest.fixture
def emulator_driver() -> Iterator[EmulatorDriver]:
    """The emulator alone, for what a real engine cannot be made to show (outages, the exact
    requests a worker sent)."""
    with EngineEmulator() as emulator:
        yield EmulatorDriver(emulator)
