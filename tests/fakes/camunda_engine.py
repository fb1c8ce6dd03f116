"""The real Camunda 7.24 engine for the tests and `make demo`: built once with Maven from
tests/camunda-engine (Spring Boot starters + Spin + H2, as Camunda Run), cached outside the
repository, and started on a free loopback port with its own H2 file database.

`python -m tests.fakes.camunda_engine build` builds it (`make camunda-engine`).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import requests

from llm_worker.admin.engine import ID_PATTERN_VARIABLE, ID_PATTERN_WITH_HYPHENS
from tests.support import REPO_ROOT, free_port, wait_until

PROJECT = REPO_ROOT / "tests" / "camunda-engine"
CACHE = Path(os.environ.get("LLM_WORKER_CACHE") or "~/.cache/llm-worker").expanduser()
# JIT tier 1 and the serial collector: the engine starts in about half the time on 2 shared
# cores, and the tests never run long enough for the optimising compiler to pay off.
JAVA_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx768m", "-Xss512k")
START_TIMEOUT_S = float(os.environ.get("CAMUNDA_ENGINE_START_TIMEOUT_S", "240"))


class EngineBuildError(Exception):
    """The engine could not be built or started; the message says what failed."""


def camunda_version() -> str:
    """The Camunda version the project pins (camunda.version in its pom.xml)."""
    found = re.search(
        r"<camunda\.version>([^<]+)</camunda\.version>", (PROJECT / "pom.xml").read_text()
    )
    assert found, "tests/camunda-engine/pom.xml sets no camunda.version"
    return found.group(1)


def _sources_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted([PROJECT / "pom.xml", *(PROJECT / "src").rglob("*")]):
        if path.is_file():
            digest.update(str(path.relative_to(PROJECT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def jar_path() -> Path:
    """Where the jar built from the current sources is cached (shared by every checkout)."""
    return CACHE / f"camunda-engine-{camunda_version()}-{_sources_digest()}.jar"


def build(quiet: bool = True) -> Path:
    """The engine's jar, built with Maven unless the cache holds one from the same sources.

    Maven's downloads go to its own cache (~/.m2), so only the first build on a machine fetches.
    """
    jar = jar_path()
    if jar.exists():
        return jar
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise EngineBuildError("building the Camunda engine needs Java 17 and Maven (mvn)")
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / "camunda-engine.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another checkout may be building the same jar
        if jar.exists():
            return jar
        with tempfile.TemporaryDirectory(prefix="camunda-engine-") as work:
            # Built in a copy: concurrent checkouts never share a target/ folder.
            copy = Path(work) / "project"
            shutil.copytree(PROJECT, copy, ignore=shutil.ignore_patterns("target"))
            command = ["mvn", "-q", "-B", "package", "-DskipTests"]
            result = subprocess.run(command, cwd=copy, capture_output=quiet, text=True)
            if result.returncode != 0:
                tail = ((result.stdout or "") + (result.stderr or ""))[-4000:]
                raise EngineBuildError(f"mvn package failed ({result.returncode}):\n{tail}")
            built = copy / "target" / "camunda-test-engine.jar"
            partial = jar.with_suffix(".partial")
            shutil.copyfile(built, partial)
            partial.replace(jar)
    return jar


class CamundaEngine:
    """One engine process on 127.0.0.1:`port` with its H2 database in `db_dir`.

    `stop()` then `start()` again is an engine restart on the same database.
    """

    def __init__(self, jar: Path, db_dir: Path, port: int | None = None) -> None:
        self.jar = jar
        self.db_dir = db_dir
        self.port = port or free_port()
        self.log_path = db_dir / "engine.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.version = ""
        self.start_seconds = 0.0

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.root_url}/engine-rest"

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start the engine and wait until its REST API answers /version."""
        self.db_dir.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                ["java", *JAVA_OPTIONS, "-jar", str(self.jar), f"--server.port={self.port}"],
                env={
                    **os.environ,
                    "ENGINE_DB_DIR": str(self.db_dir / "h2"),
                    # As docker-compose.yml configures Camunda Run: ids with '-' (the demo
                    # groups), set the same way, through the environment.
                    ID_PATTERN_VARIABLE: ID_PATTERN_WITH_HYPHENS,
                },
                cwd=self.db_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches it through stop()
            )
        try:
            self.version = wait_until(self._answers, timeout, 0.25, "the engine's /version")
        except AssertionError as error:
            self.stop()
            raise EngineBuildError(f"{error}\n{self.log_tail()}") from None
        self.start_seconds = time.monotonic() - began

    def _answers(self) -> str | None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise EngineBuildError(
                f"the engine exited with {self.proc.returncode}:\n{self.log_tail()}"
            )
        try:
            response = requests.get(f"{self.url}/version", timeout=2)
        except requests.RequestException:
            return None
        return str(response.json()["version"]) if response.status_code == 200 else None

    def log_tail(self, chars: int = 4000) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM (Spring closes the engine and the database cleanly), SIGKILL if it hangs."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self) -> CamundaEngine:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.camunda_engine")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build the engine's jar once (cached) and print its path")
    parser.parse_args(argv)
    try:
        print(build(quiet=False))
    except EngineBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
