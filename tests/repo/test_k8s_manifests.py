"""The rendered Kubernetes manifests (k8s/) against the worker's real code and the contract."""

from __future__ import annotations

import base64
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from llm_worker.config import Settings, SettingsError, load_settings, require_payment_gateway
from llm_worker.observability.health import Health
from llm_worker.observability.server import ObservabilityServer
from llm_worker.payment import GatewayKind
from tests.k8s_helpers import Obj, render_builds

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def builds() -> dict[str, list[Obj]]:
    """Every build a user applies (k8s/base, k8s/overlays/*), rendered by kubectl kustomize."""
    rendered = render_builds()
    assert {"base", "local", "production", "production-keda"} <= rendered.keys()
    return rendered


def _all(builds: dict[str, list[Obj]], kind: str) -> Iterator[tuple[str, Obj]]:
    for name, objects in builds.items():
        for obj in objects:
            if obj["kind"] == kind:
                yield name, obj


def _one(objects: list[Obj], kind: str, name: str) -> Obj:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _worker(objects: list[Obj]) -> tuple[Obj, Obj]:
    """The worker Deployment and its container."""
    deployment = _one(objects, "Deployment", "llm-worker")
    (container,) = [
        c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "worker"
    ]
    return deployment, container


def _worker_config(objects: list[Obj]) -> dict[str, str]:
    """The worker's settings from the ConfigMap(s) it loads with envFrom."""
    _, container = _worker(objects)
    names = [e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e]
    assert names, "the worker takes its settings from a ConfigMap"
    data: dict[str, str] = {}
    for name in names:
        data.update(_one(objects, "ConfigMap", name).get("data", {}))
    return data


def _container_port(container: Obj, port: str | int) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(number)


def _is_worker_image(image: str) -> bool:
    return image.split("@")[0].split(":")[0].rsplit("/", 1)[-1] == "llm-worker"


def _pod_templates(objects: list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    for obj in objects:
        if obj["kind"] in {"Deployment", "StatefulSet", "Job"}:
            yield obj, obj["spec"]["template"]


# ---- probes ------------------------------------------------------------------------------


def test_probes_use_the_metrics_port_of_the_settings(builds: dict[str, list[Obj]]) -> None:
    default_port = Settings.model_fields["metrics_port"].default
    for name, objects in builds.items():
        _, container = _worker(objects)
        configured = int(_worker_config(objects).get("METRICS_PORT", default_port))
        assert configured == default_port, f"{name}: METRICS_PORT differs from the image's"
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            port = _container_port(container, container[probe]["httpGet"]["port"])
            assert port == configured, f"{name}: {probe} on {port}, worker serves {configured}"


def test_probes_name_the_contract_paths(builds: dict[str, list[Obj]]) -> None:
    for name, objects in builds.items():
        _, container = _worker(objects)
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name


def test_probe_paths_are_served_by_the_real_observability_server(
    builds: dict[str, list[Obj]],
) -> None:
    _, container = _worker(builds["production"])
    paths = {container[p]["httpGet"]["path"] for p in ("livenessProbe", "readinessProbe")}
    health = Health(liveness_window_s=60, readiness_window_s=60)
    health.beat()
    health.engine_ok()
    with ObservabilityServer(port=0, health=health, host="127.0.0.1") as server:
        for path in sorted(paths):
            with urllib.request.urlopen(f"{server.url}{path}", timeout=5) as response:  # noqa: S310
                assert response.status == 200, path
        # A probe on a path the server does not serve would fail: the check above can fail.
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{server.url}/health", timeout=5)  # noqa: S310
        assert missing.value.code == 404


def test_startup_probe_gives_the_worker_time_to_start(builds: dict[str, list[Obj]]) -> None:
    for name, objects in builds.items():
        _, container = _worker(objects)
        probe = container["startupProbe"]
        budget = probe["periodSeconds"] * probe["failureThreshold"]
        assert budget >= 30, f"{name}: startup budget {budget}s"


# ---- settings and secrets ------------------------------------------------------------------


def test_every_configmap_key_is_a_setting_and_the_values_load(
    builds: dict[str, list[Obj]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name, objects in builds.items():
        config = _worker_config(objects)
        unknown = sorted(set(config) - fields)
        assert not unknown, f"{name}: ConfigMap keys that are no setting: {unknown}"
        with monkeypatch.context() as env:
            for field in fields:
                env.delenv(field, raising=False)
            for key, value in config.items():
                env.setenv(key, value)
            settings = load_settings()
        assert settings.metrics_port == int(config["METRICS_PORT"])


def _settings_of(objects: list[Obj], monkeypatch: pytest.MonkeyPatch, **secret: str) -> Settings:
    """The settings a worker pod of this build reads: its ConfigMap, plus `secret`'s keys."""
    with monkeypatch.context() as env:
        for field in Settings.model_fields:
            env.delenv(field.upper(), raising=False)
        for key, value in {**_worker_config(objects), **secret}.items():
            env.setenv(key, value)
        return load_settings()


@pytest.mark.parametrize("build", ["production", "production-keda"])
def test_production_never_simulates_payments(
    builds: dict[str, list[Obj]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, build: str
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    objects = builds[build]
    assert _worker_config(objects).get("PAYMENT_SIMULATED", "false") == "false"
    settings = _settings_of(objects, monkeypatch)
    assert settings.deployment_environment == "production"
    # Without the gateway URL in the Secret the pods refuse to start, naming both settings.
    with pytest.raises(SettingsError, match=r"PAYMENT_GATEWAY_URL.*PAYMENT_SIMULATED=true"):
        require_payment_gateway(settings)
    paid = _settings_of(objects, monkeypatch, PAYMENT_GATEWAY_URL="https://payments.internal/r")
    assert require_payment_gateway(paid) is GatewayKind.HTTP


def test_the_local_cluster_pays_through_the_simulated_gateway(
    builds: dict[str, list[Obj]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = _settings_of(builds["local"], monkeypatch)
    assert require_payment_gateway(settings) is GatewayKind.SIMULATED
    assert settings.deployment_environment == "local"


def test_the_payment_gateway_url_comes_from_the_optional_secret(
    builds: dict[str, list[Obj]],
) -> None:
    for name, objects in builds.items():
        _, container = _worker(objects)
        env = {e["name"]: e for e in container["env"]}
        ref = env["PAYMENT_GATEWAY_URL"]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"], ref["optional"]) == (
            "llm-worker-secrets",
            "PAYMENT_GATEWAY_URL",
            True,
        ), name
        assert "PAYMENT_GATEWAY_URL" not in _worker_config(objects), name


def test_secrets_are_never_in_a_configmap(builds: dict[str, list[Obj]]) -> None:
    for name, configmap in _all(builds, "ConfigMap"):
        for key in ("OPENAI_API_KEY", "CAMUNDA_PASSWORD"):
            assert key not in configmap.get("data", {}), f"{name}: {key} in a ConfigMap"


def test_openai_key_and_engine_password_come_from_an_optional_secret(
    builds: dict[str, list[Obj]],
) -> None:
    for name, objects in builds.items():
        _, container = _worker(objects)
        env = {e["name"]: e for e in container["env"]}
        for key in ("OPENAI_API_KEY", "CAMUNDA_PASSWORD"):
            ref = env[key]["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "llm-worker-secrets", name
            assert ref["key"] == key, name
            # Optional: without the Secret the worker starts and decides from the rules alone.
            assert ref["optional"] is True, name
            assert "value" not in env[key], name


def test_the_worker_secret_is_never_rendered(builds: dict[str, list[Obj]]) -> None:
    for name, secret in _all(builds, "Secret"):
        assert secret["metadata"]["name"] != "llm-worker-secrets", (
            f"{name}: llm-worker-secrets must be created out of band, never from the repo"
        )
        values = {**secret.get("stringData", {})}
        values.update({k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()})
        assert "OPENAI_API_KEY" not in values, name


_KEY = re.compile(r"sk-[A-Za-z0-9_-]{8,}")


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def test_no_api_key_anywhere_in_the_rendered_output(builds: dict[str, list[Obj]]) -> None:
    for name, objects in builds.items():
        for obj in objects:
            texts = list(_strings(obj))
            if obj["kind"] == "Secret":
                texts += [base64.b64decode(v).decode() for v in obj.get("data", {}).values()]
            leaked = [t for t in texts if _KEY.search(t)]
            assert not leaked, f"{name}: {obj['kind']}/{obj['metadata']['name']} holds a key"


def test_worker_id_is_the_pod_name(builds: dict[str, list[Obj]]) -> None:
    for name, objects in builds.items():
        _, container = _worker(objects)
        env = {e["name"]: e for e in container["env"]}
        assert env["WORKER_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name", name
        assert "WORKER_ID" not in _worker_config(objects), name


# ---- shutdown --------------------------------------------------------------------------------


def test_grace_period_exceeds_shutdown_grace_with_a_margin(builds: dict[str, list[Obj]]) -> None:
    default = float(Settings.model_fields["shutdown_grace_s"].default)
    for name, objects in builds.items():
        deployment, _ = _worker(objects)
        shutdown_grace = float(_worker_config(objects).get("SHUTDOWN_GRACE_S", default))
        period = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        # The margin covers unlocking the tasks that did not finish and exiting.
        assert period >= shutdown_grace + 10, (
            f"{name}: {period}s vs SHUTDOWN_GRACE_S={shutdown_grace}"
        )


def test_rollouts_never_drop_a_worker_first(builds: dict[str, list[Obj]]) -> None:
    for name, objects in builds.items():
        deployment, _ = _worker(objects)
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, name


# ---- security --------------------------------------------------------------------------------


def test_every_container_of_the_worker_image_is_non_root_and_read_only(
    builds: dict[str, list[Obj]],
) -> None:
    seen = 0
    for name, objects in builds.items():
        for owner, template in _pod_templates(objects):
            pod = template["spec"]
            for container in pod["containers"] + pod.get("initContainers", []):
                if not _is_worker_image(container["image"]):
                    continue
                seen += 1
                where = f"{name}: {owner['kind']}/{owner['metadata']['name']}/{container['name']}"
                context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
                assert context.get("runAsNonRoot") is True, where
                assert context.get("runAsUser", 0) != 0, where
                assert container["securityContext"]["readOnlyRootFilesystem"] is True, where
                assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
                assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], where
                assert context["seccompProfile"]["type"] == "RuntimeDefault", where
                mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
                volumes = {v["name"]: v for v in pod.get("volumes", [])}
                assert "emptyDir" in volumes[mounts["/tmp"]], f"{where}: /tmp must be writable"
                assert pod.get("automountServiceAccountToken") is False, where
    assert seen >= 5, "the worker image runs in every build (and the local deploy Job)"


def test_service_account_has_no_token(builds: dict[str, list[Obj]]) -> None:
    for name, objects in builds.items():
        account = _one(objects, "ServiceAccount", "llm-worker")
        assert account["automountServiceAccountToken"] is False, name


def test_every_container_has_requests_and_limits(builds: dict[str, list[Obj]]) -> None:
    for name, objects in builds.items():
        for owner, template in _pod_templates(objects):
            for container in template["spec"]["containers"]:
                resources = container.get("resources", {})
                where = f"{name}: {owner['kind']}/{owner['metadata']['name']}/{container['name']}"
                assert {"cpu", "memory"} <= resources.get("requests", {}).keys(), where
                assert "memory" in resources.get("limits", {}), where


def test_pods_spread_over_zones_and_nodes(builds: dict[str, list[Obj]]) -> None:
    for name, objects in builds.items():
        deployment, _ = _worker(objects)
        template = deployment["spec"]["template"]
        constraints = template["spec"]["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in constraints} == {
            "topology.kubernetes.io/zone",
            "kubernetes.io/hostname",
        }, name
        for constraint in constraints:
            wanted = constraint["labelSelector"]["matchLabels"]
            assert wanted.items() <= template["metadata"]["labels"].items(), name


# ---- network -------------------------------------------------------------------------------


def _engine_location(objects: list[Obj], namespace: str | None) -> tuple[str | None, int]:
    """(namespace, port) of the engine from CAMUNDA_URL: `svc` or `svc.ns[.svc...]`."""
    url = urlsplit(_worker_config(objects)["CAMUNDA_URL"])
    parts = (url.hostname or "").split(".")
    return (parts[1] if len(parts) > 1 else namespace), url.port or 80


def _egress_ports(rule: Obj) -> set[tuple[int | str, str]]:
    return {(p["port"], p.get("protocol", "TCP")) for p in rule.get("ports", [])}


def test_network_policy_allows_only_dns_engine_and_https(builds: dict[str, list[Obj]]) -> None:
    for name, objects in builds.items():
        policy = _one(objects, "NetworkPolicy", "llm-worker")
        deployment, container = _worker(objects)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items(), name
        assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}, name
        egress = policy["spec"]["egress"]
        ports = [_egress_ports(rule) for rule in egress]
        assert {(53, "UDP"), (53, "TCP")} in ports, f"{name}: DNS"
        https = [r for r in egress if _egress_ports(r) == {(443, "TCP")}]
        assert https and all("ipBlock" in peer for peer in https[0]["to"]), f"{name}: HTTPS"
        assert "169.254.0.0/16" in https[0]["to"][0]["ipBlock"]["except"], "metadata address"
        engine_ns, engine_port = _engine_location(objects, deployment["metadata"].get("namespace"))
        engine = [r for r in egress if _egress_ports(r) == {(engine_port, "TCP")}]
        assert engine, f"{name}: no egress rule for the engine port {engine_port}"
        for peer in engine[0]["to"]:
            selected_ns = (
                peer.get("namespaceSelector", {})
                .get("matchLabels", {})
                .get("kubernetes.io/metadata.name", deployment["metadata"].get("namespace"))
            )
            assert selected_ns == engine_ns, f"{name}: engine in {engine_ns}, policy {selected_ns}"
        assert len(egress) == 3, f"{name}: egress beyond DNS, engine and HTTPS"
        (ingress,) = policy["spec"]["ingress"]
        ingress_ports = {_container_port(container, p["port"]) for p in ingress["ports"]}
        assert ingress_ports == {Settings.model_fields["metrics_port"].default}, name


def test_network_policy_peers_never_select_the_worker_itself(
    builds: dict[str, list[Obj]],
) -> None:
    # kustomize's includeSelectors rewrites every selector, peers included: a DNS or engine
    # peer carrying the worker's labels would select nothing in kube-system and block it.
    for name, objects in builds.items():
        deployment, _ = _worker(objects)
        own = deployment["spec"]["template"]["metadata"]["labels"]
        policy = _one(objects, "NetworkPolicy", "llm-worker")
        rules = policy["spec"]["egress"] + policy["spec"]["ingress"]
        for rule in rules:
            for peer in rule.get("to", []) + rule.get("from", []):
                wanted = peer.get("podSelector", {}).get("matchLabels", {})
                assert "app.kubernetes.io/component" not in wanted, f"{name}: {peer}"
                assert wanted.get("app.kubernetes.io/name") != own["app.kubernetes.io/name"], name


def test_disruption_budget_covers_the_workers(builds: dict[str, list[Obj]]) -> None:
    for name, objects in builds.items():
        deployment, _ = _worker(objects)
        budget = _one(objects, "PodDisruptionBudget", "llm-worker")
        wanted = budget["spec"]["selector"]["matchLabels"]
        assert wanted.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        assert budget["spec"]["maxUnavailable"] == 1, name
        assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow", name


# ---- overlays --------------------------------------------------------------------------------


def test_production_pins_the_worker_image_by_digest(builds: dict[str, list[Obj]]) -> None:
    for name in ("production", "production-keda"):
        _, container = _worker(builds[name])
        assert re.fullmatch(r"[a-z0-9./-]+/llm-worker@sha256:[0-9a-f]{64}", container["image"])


def test_production_and_local_use_their_namespace(builds: dict[str, list[Obj]]) -> None:
    for name in ("local", "production", "production-keda"):
        namespaces = {
            o["metadata"].get("namespace") for o in builds[name] if o["kind"] != "Namespace"
        }
        assert namespaces == {"llm-worker"}, f"{name}: {namespaces}"


def test_local_runs_one_worker_on_camunda_7_24_with_postgres(
    builds: dict[str, list[Obj]],
) -> None:
    objects = builds["local"]
    deployment, container = _worker(objects)
    assert deployment["spec"]["replicas"] == 1
    assert container["image"] == "llm-worker:local"
    camunda = _one(objects, "Deployment", "camunda")
    (engine,) = camunda["spec"]["template"]["spec"]["containers"]
    assert engine["image"] == "camunda/camunda-bpm-platform:run-7.24.0"
    env = {e["name"]: e for e in engine["env"]}
    assert env["DB_DRIVER"]["value"] == "org.postgresql.Driver"
    db_url = urlsplit(env["DB_URL"]["value"].removeprefix("jdbc:"))
    postgres_service = _one(objects, "Service", db_url.hostname or "")
    assert db_url.port in {p["port"] for p in postgres_service["spec"]["ports"]}
    postgres = _one(objects, "StatefulSet", db_url.hostname or "")
    assert postgres["spec"]["volumeClaimTemplates"], "the database keeps its data"
    engine_service = _one(
        objects, "Service", urlsplit(_worker_config(objects)["CAMUNDA_URL"]).hostname or ""
    )
    assert (
        engine_service["spec"]["selector"].items()
        <= camunda["spec"]["template"]["metadata"]["labels"].items()
    )
    # A bare kind/minikube cluster has neither the Prometheus operator nor KEDA.
    assert not {o["kind"] for o in objects} & {
        "ServiceMonitor",
        "ScaledObject",
        "HorizontalPodAutoscaler",
    }


def test_production_is_scraped_by_the_prometheus_operator(builds: dict[str, list[Obj]]) -> None:
    for name in ("production", "production-keda"):
        objects = builds[name]
        monitor = _one(objects, "ServiceMonitor", "llm-worker")
        service = _one(objects, "Service", "llm-worker-metrics")
        assert (
            monitor["spec"]["selector"]["matchLabels"].items()
            <= service["metadata"]["labels"].items()
        )
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_scrape_job_is_the_one_the_alert_rules_expect(builds: dict[str, list[Obj]]) -> None:
    config = yaml.safe_load((REPO / "docker" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert "llm-worker" in jobs
    alerts = (REPO / "docker" / "prometheus" / "alerts.yml").read_text()
    for name in ("production", "production-keda"):
        objects = builds[name]
        monitor = _one(objects, "ServiceMonitor", "llm-worker")
        service = _one(objects, "Service", "llm-worker-metrics")
        job = service["metadata"]["labels"][monitor["spec"]["jobLabel"]]
        assert job == "llm-worker", name
        assert 'up{job="llm-worker"}' in alerts


_RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def test_pods_meet_the_restricted_pod_security_standard_their_namespace_enforces(
    builds: dict[str, list[Obj]],
) -> None:
    """The admission checks of PSS "restricted": a pod breaking one is rejected at apply."""
    checked = 0
    for name, objects in builds.items():
        enforced = {
            o["metadata"]["name"]
            for o in objects
            if o["kind"] == "Namespace"
            and o["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce")
            == "restricted"
        }
        for owner, template in _pod_templates(objects):
            if owner["metadata"].get("namespace") not in enforced:
                continue
            checked += 1
            where = f"{name}: {owner['kind']}/{owner['metadata']['name']}"
            pod = template["spec"]
            assert not any(pod.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), where
            for volume in pod.get("volumes", []):
                assert set(volume) - {"name"} <= _RESTRICTED_VOLUMES, f"{where}: {volume}"
            pod_context = pod.get("securityContext", {})
            for container in pod["containers"] + pod.get("initContainers", []):
                context = container.get("securityContext", {})
                merged = {**pod_context, **context}
                assert merged.get("runAsNonRoot") is True, where
                assert merged.get("runAsUser", 1) != 0, where
                assert context.get("allowPrivilegeEscalation") is False, where
                assert not context.get("privileged"), where
                assert "ALL" in context.get("capabilities", {}).get("drop", []), where
                assert set(context.get("capabilities", {}).get("add", [])) <= {"NET_BIND_SERVICE"}
                assert merged["seccompProfile"]["type"] in {"RuntimeDefault", "Localhost"}, where
                assert not any(p.get("hostPort") for p in container.get("ports", [])), where
    assert checked >= 5, "local (worker, Job, Camunda, PostgreSQL) and production are checked"
