"""Render every kustomize build under k8s/ and validate it offline; one line per problem.

Checks, without a cluster:
- every build (k8s/base, k8s/overlays/*) renders with `kubectl kustomize`;
- every built-in object validates strictly (unknown fields are errors) against the Kubernetes
  JSON schemas shipped by kubernetes-validate, for the oldest supported Kubernetes version and
  the newest one the package knows;
- ServiceMonitor and ScaledObject validate strictly against schemas generated from their CRDs
  (the cloudcoil model packages); any other custom kind is a problem, since nothing checks it;
- references inside a build hold: autoscalers target a Deployment of the build and no
  Deployment has two autoscalers, ConfigMaps and required Secrets exist, Services and the
  ServiceMonitor select something and name real ports, probes name real ports;
- every component is used by some overlay;
- the prometheus-adapter rules have their required fields, serve every External and Pods
  metric the HPAs ask for, and (like the KEDA Prometheus queries) are valid PromQL
  (`promtool check rules`).

Usage: python scripts/validate_k8s.py [--root k8s] [-k 1.30 -k 1.37]; exit 1 on any problem.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import yaml
from cloudcoil.models.keda.v1alpha1 import ScaledObject
from cloudcoil.models.prometheus_operator.v1 import ServiceMonitor
from pydantic import BaseModel

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = REPO / "k8s"
# The oldest Kubernetes the manifests support (matchLabelKeys in topology spread constraints,
# PDB unhealthyPodEvictionPolicy) and the newest kubernetes-validate ships schemas for.
MIN_KUBERNETES = "1.30"

Obj = dict[str, Any]

_CUSTOM_MODELS: dict[tuple[str, str], type[BaseModel]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ServiceMonitor,
    ("keda.sh/v1alpha1", "ScaledObject"): ScaledObject,
}
_POD_OWNERS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
_ADAPTER_VALUES = Path("prometheus-adapter") / "values.yaml"


class RenderError(Exception):
    """`kubectl kustomize` failed; the message is its last error line (the reason)."""


@dataclass(frozen=True)
class Build:
    """One rendered kustomize directory."""

    name: str
    objects: list[Obj]


def ident(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind', '?')}/{meta.get('name', '?')}"


def render(directory: Path) -> list[Obj]:
    """The objects `kubectl kustomize DIR` renders."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise RenderError("kubectl not found on PATH (it renders the kustomizations)")
    proc = subprocess.run(
        [kubectl, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        raise RenderError(lines[-1] if lines else f"kubectl kustomize exited {proc.returncode}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def builds_under(root: Path) -> list[Path]:
    """k8s/base and every overlay: the directories a user applies."""
    found = [root / "base"] if (root / "base" / "kustomization.yaml").is_file() else []
    overlays = root / "overlays"
    if overlays.is_dir():
        found += sorted(p for p in overlays.iterdir() if (p / "kustomization.yaml").is_file())
    return found


def _versions(requested: Iterable[str] | None) -> list[str]:
    latest: str = kubernetes_validate.utils.latest_version()
    return list(requested) if requested else [MIN_KUBERNETES, latest]


def check_builtin(obj: Obj, versions: list[str]) -> list[str] | None:
    """Problems against the Kubernetes schemas; None when the kind is not a built-in one."""
    seen: dict[str, list[str]] = {}
    for version in versions:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            return None
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(part) for part in exc.path) or "(root)"
            seen.setdefault(f"{where}: {exc.message}", []).append(str(exc.version))
    return [f"{message} (Kubernetes {', '.join(vs)})" for message, vs in seen.items()]


def _forbid_unknown_fields(node: Any) -> None:
    """The generated models ignore unknown fields; the API server's CRD schemas prune them,
    which silently drops a typo. Treat them as errors instead."""
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _forbid_unknown_fields(value)
    elif isinstance(node, list):
        for value in node:
            _forbid_unknown_fields(value)


@cache
def _custom_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
    model = _CUSTOM_MODELS.get((api_version, kind))
    if model is None:
        return None
    schema = model.model_json_schema(by_alias=True)
    _forbid_unknown_fields(schema)
    validator: jsonschema.protocols.Validator = jsonschema.Draft202012Validator(schema)
    return validator


def check_custom(obj: Obj) -> list[str]:
    validator = _custom_validator(str(obj.get("apiVersion")), str(obj.get("kind")))
    if validator is None:
        return [
            f"no schema for {obj.get('apiVersion')} {obj.get('kind')}: "
            "add its CRD model to scripts/validate_k8s.py"
        ]
    problems = []
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.path))):
        where = ".".join(str(part) for part in error.path) or "(root)"
        problems.append(f"{where}: {error.message}")
    return problems


def _pod_templates(objects: Iterable[Obj]) -> Iterator[tuple[Obj, Obj]]:
    """(owner, pod template) for every workload of the build."""
    for obj in objects:
        if obj.get("kind") in _POD_OWNERS:
            template = (obj.get("spec") or {}).get("template") or {}
            template.setdefault("metadata", {})
            yield obj, template


def _selects(selector: Mapping[str, Any] | None, labels: Mapping[str, Any] | None) -> bool:
    """matchLabels semantics (the manifests use no matchExpressions); empty selects nothing."""
    if not selector:
        return False
    wanted = selector.get("matchLabels", selector)
    return bool(wanted) and all((labels or {}).get(k) == v for k, v in wanted.items())


def _container_ports(template: Obj) -> set[Any]:
    ports: set[Any] = set()
    for container in (template.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            ports.update({port.get("name"), port.get("containerPort")})
    ports.discard(None)
    return ports


Problems = list[tuple[str, str]]
ByKind = dict[str, dict[str, Obj]]


def _autoscaler_problems(by_kind: ByKind) -> Problems:
    """Every autoscaler targets a workload of the build; no workload has two."""
    problems: Problems = []
    targets: dict[str, list[str]] = {}
    for kind in ("HorizontalPodAutoscaler", "ScaledObject"):
        for name, obj in by_kind.get(kind, {}).items():
            ref = (obj.get("spec") or {}).get("scaleTargetRef") or {}
            target = f"{ref.get('kind', 'Deployment')}/{ref.get('name')}"
            if ref.get("name") not in by_kind.get(ref.get("kind", "Deployment"), {}):
                problems.append((ident(obj), f"scaleTargetRef {target} not in build"))
            targets.setdefault(target, []).append(f"{kind}/{name}")
    for target, scalers in targets.items():
        if len(scalers) > 1:
            problems.append(
                (target, f"scaled by {' and '.join(scalers)}: use one autoscaler per workload")
            )
    return problems


def _missing(ref: Mapping[str, Any] | None, kind: str, by_kind: ByKind) -> bool:
    """A required ConfigMap or Secret reference that the build does not hold."""
    if not ref or ref.get("optional"):
        return False
    return ref.get("name") not in by_kind.get(kind, {})


def _container_problems(owner: Obj, template: Obj, by_kind: ByKind) -> Problems:
    """Each container's ConfigMaps and required Secrets exist; its probes name its ports."""
    problems: Problems = []
    spec = template.get("spec") or {}
    ports = _container_ports(template)
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        for env_from in container.get("envFrom") or []:
            kind = "ConfigMap" if "configMapRef" in env_from else "Secret"
            ref = env_from.get("configMapRef") or env_from.get("secretRef") or {}
            if _missing(ref, kind, by_kind):
                problems.append((ident(owner), f"envFrom {kind} {ref.get('name')} not in build"))
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                ref = source.get(key) or {}
                if _missing(ref, kind, by_kind):
                    problems.append(
                        (
                            ident(owner),
                            f"env {env.get('name')}: {kind} {ref.get('name')} "
                            "is not in the build and not optional",
                        )
                    )
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            port = ((container.get(probe) or {}).get("httpGet") or {}).get("port")
            if port is not None and port not in ports:
                problems.append((ident(owner), f"{probe} port {port} is no container port"))
    return problems


def _selector_problems(by_kind: ByKind, templates: list[Obj]) -> Problems:
    """Services, the ServiceMonitor and NetworkPolicies select something and name real ports."""
    problems: Problems = []
    for service in by_kind.get("Service", {}).values():
        spec = service.get("spec") or {}
        chosen = [
            t for t in templates if _selects(spec.get("selector"), t["metadata"].get("labels"))
        ]
        if not chosen:
            problems.append((ident(service), "selector matches no pod template of the build"))
        for port in spec.get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            if chosen and not any(target in _container_ports(t) for t in chosen):
                problems.append((ident(service), f"targetPort {target} is no container port"))
    for monitor in by_kind.get("ServiceMonitor", {}).values():
        spec = monitor.get("spec") or {}
        services = [
            s
            for s in by_kind.get("Service", {}).values()
            if _selects(spec.get("selector"), (s.get("metadata") or {}).get("labels"))
        ]
        if not services:
            problems.append((ident(monitor), "selector matches no Service of the build"))
        names = {p.get("name") for s in services for p in (s.get("spec") or {}).get("ports", [])}
        for endpoint in spec.get("endpoints") or []:
            if services and endpoint.get("port") not in names:
                problems.append(
                    (ident(monitor), f"endpoint port {endpoint.get('port')} is no Service port")
                )
    for policy in by_kind.get("NetworkPolicy", {}).values():
        selector = (policy.get("spec") or {}).get("podSelector")
        if not any(_selects(selector, t["metadata"].get("labels")) for t in templates):
            problems.append((ident(policy), "podSelector matches no pod template of the build"))
    return problems


def check_references(objects: list[Obj]) -> Problems:
    """Cross-object problems inside one build, as (object, message)."""
    by_kind: ByKind = {}
    for obj in objects:
        name = (obj.get("metadata") or {}).get("name", "")
        by_kind.setdefault(str(obj.get("kind")), {})[name] = obj
    problems = _autoscaler_problems(by_kind)
    templates = []
    for owner, template in _pod_templates(objects):
        problems += _container_problems(owner, template, by_kind)
        templates.append(template)
    return problems + _selector_problems(by_kind, templates)


def validate_build(name: str, objects: list[Obj], versions: list[str]) -> list[str]:
    """Every problem of one rendered build, one line each."""
    problems: list[str] = []
    for obj in objects:
        found = check_builtin(obj, versions)
        if found is None:
            found = check_custom(obj)
        problems += [f"{name}: {ident(obj)}: {message}" for message in found]
    problems += [f"{name}: {where}: {message}" for where, message in check_references(objects)]
    return problems


def _component_paths(kustomization: Path) -> set[Path]:
    data = yaml.safe_load(kustomization.read_text(encoding="utf-8")) or {}
    return {(kustomization.parent / c).resolve() for c in data.get("components") or []}


def check_components(root: Path, build_dirs: list[Path]) -> list[str]:
    """A component no overlay uses is dead configuration that nothing renders or checks."""
    components = root / "components"
    if not components.is_dir():
        return []
    used: set[Path] = set()
    for directory in build_dirs:
        used |= _component_paths(directory / "kustomization.yaml")
    return [
        f"{path.relative_to(root.parent)}: component used by no overlay, so never checked"
        for path in sorted(components.iterdir())
        if (path / "kustomization.yaml").is_file() and path.resolve() not in used
    ]


# prometheus-adapter rule sections: which HPA metric types they serve, and the resources a rule
# must map for them (a Pods metric is asked for per pod of the HPA's namespace).
_ADAPTER_SECTIONS = {
    "custom": ({"Pods", "Object"}, ("namespace", "pod")),
    "external": ({"External"}, ("namespace",)),
}
_SERIES_NAME = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")


def series_name(series_query: str) -> str | None:
    """The metric a rule's seriesQuery names (`name{...}`), if it names exactly one."""
    match = _SERIES_NAME.match(series_query)
    return match.group(1) if match else None


def render_adapter_query(rule: Mapping[str, Any], section: str, namespace: str) -> str:
    """The PromQL prometheus-adapter sends for a metric request in NAMESPACE: an External
    metric is asked for by namespace, a Pods metric for the HPA's pods, grouped by pod."""
    series = series_name(str(rule.get("seriesQuery", ""))) or "unknown_series"
    if section == "external":
        matchers, group_by = f'namespace="{namespace}"', "namespace"
    else:
        matchers, group_by = f'namespace="{namespace}",pod=~"llm-worker-.*"', "pod"
    return (
        str(rule.get("metricsQuery", ""))
        .replace("<<.Series>>", series)
        .replace("<<.LabelMatchers>>", matchers)
        .replace("<<.GroupBy>>", group_by)
    )


def adapter_rules(root: Path) -> dict[str, list[Obj]]:
    """The adapter rules by section (custom, external) of k8s/prometheus-adapter/values.yaml."""
    path = root / _ADAPTER_VALUES
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    sections = data.get("rules") or {}
    return {
        section: [rule for rule in sections.get(section) or [] if isinstance(rule, dict)]
        for section in _ADAPTER_SECTIONS
    }


def _check_rule(rule: Obj, section: str, where: str) -> list[str]:
    problems = []
    for key in ("seriesQuery", "metricsQuery", "resources", "name"):
        if not rule.get(key):
            problems.append(f"{where}: {key} is required")
    if rule.get("seriesQuery") and series_name(str(rule["seriesQuery"])) is None:
        problems.append(f'{where}: seriesQuery must name one metric, as in name{{label!=""}}')
    query = str(rule.get("metricsQuery", ""))
    for placeholder in ("<<.Series>>", "<<.LabelMatchers>>"):
        if query and placeholder not in query:
            problems.append(
                f"{where}: metricsQuery lacks {placeholder}, so the HPA's namespace, pods and "
                "selector would be ignored"
            )
    if section == "custom" and query and "<<.GroupBy>>" not in query:
        problems.append(f"{where}: metricsQuery lacks <<.GroupBy>>: one value per pod is needed")
    resources = rule.get("resources") or {}
    overrides = resources.get("overrides") or {}
    if resources and "template" not in resources:
        for label in _ADAPTER_SECTIONS[section][1]:
            if label not in overrides:
                problems.append(f"{where}: resources must map the {label} label")
    name = rule.get("name") or {}
    if name and not name.get("matches"):
        problems.append(f"{where}: name.matches is required")
    return problems


def check_adapter(root: Path, builds: list[Build]) -> tuple[list[str], list[tuple[str, str]]]:
    """Problems of the prometheus-adapter values, and the PromQL queries to syntax-check."""
    values = str(Path(root.name) / _ADAPTER_VALUES)
    problems: list[str] = []
    queries: list[tuple[str, str]] = []
    exposed: dict[str, set[str]] = {}
    for section, rules in adapter_rules(root).items():
        for index, rule in enumerate(rules):
            where = f"{values}: rules.{section}[{index}]"
            problems += _check_rule(rule, section, where)
            name = rule.get("name") or {}
            exposed_name = name.get("as") or series_name(str(rule.get("seriesQuery", "")))
            for metric_type in _ADAPTER_SECTIONS[section][0]:
                exposed.setdefault(metric_type, set()).add(str(exposed_name))
            if rule.get("metricsQuery"):
                queries.append((where, render_adapter_query(rule, section, "llm-worker")))
    for build in builds:
        for obj in build.objects:
            if obj.get("kind") != "HorizontalPodAutoscaler":
                continue
            for metric in (obj.get("spec") or {}).get("metrics") or []:
                metric_type = str(metric.get("type"))
                if metric_type not in {"External", "Pods", "Object"}:
                    continue
                source = metric.get(metric_type[0].lower() + metric_type[1:]) or {}
                metric_name = (source.get("metric") or {}).get("name")
                if metric_name not in exposed.get(metric_type, set()):
                    problems.append(
                        f"{build.name}: {ident(obj)}: {metric_type} metric {metric_name} is "
                        f"exposed by no rule in {values}"
                    )
    return problems, queries


def keda_queries(builds: list[Build]) -> list[tuple[str, str]]:
    """(where, query) of every Prometheus trigger of every ScaledObject."""
    found = []
    for build in builds:
        for obj in build.objects:
            if obj.get("kind") != "ScaledObject":
                continue
            for trigger in (obj.get("spec") or {}).get("triggers") or []:
                if trigger.get("type") == "prometheus":
                    query = (trigger.get("metadata") or {}).get("query", "")
                    found.append((f"{build.name}: {ident(obj)}", str(query)))
    return found


def check_promql(queries: list[tuple[str, str]]) -> list[str]:
    """Syntax-check each (where, PromQL) offline: promtool loads it as a recording rule."""
    if not queries:
        return []
    promtool = shutil.which("promtool")
    if promtool is None:
        return [
            "promtool not found on PATH: install Debian's `prometheus` package (make setup does)"
        ]
    problems = []
    for where, query in queries:
        rules = {"groups": [{"name": "k8s", "rules": [{"record": "k8s_query", "expr": query}]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yml", encoding="utf-8") as handle:
            yaml.safe_dump(rules, handle)
            handle.flush()
            proc = subprocess.run(
                [promtool, "check", "rules", handle.name],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr).splitlines()
            reason = next((ln for ln in output if "parse" in ln or "error" in ln), output[-1])
            reason = reason.split("could not parse expression: ")[-1].strip()
            problems.append(f"{where}: invalid PromQL: {reason}")
    return problems


def validate_tree(root: Path, versions: list[str]) -> tuple[list[str], list[Build]]:
    """All problems under ROOT and the builds that rendered."""
    problems: list[str] = []
    builds: list[Build] = []
    build_dirs = builds_under(root)
    if not build_dirs:
        return [f"{root}: no kustomization in base/ or overlays/*/"], []
    for directory in build_dirs:
        name = str(directory.relative_to(root.parent))
        try:
            objects = render(directory)
        except RenderError as exc:
            problems.append(f"{name}: does not render: {exc}")
            continue
        except subprocess.TimeoutExpired:
            problems.append(f"{name}: kubectl kustomize did not finish in 120 s")
            continue
        builds.append(Build(name, objects))
        problems += validate_build(name, objects, versions)
    problems += check_components(root, build_dirs)
    adapter_problems, queries = check_adapter(root, builds)
    problems += adapter_problems
    problems += check_promql(queries + keda_queries(builds))
    return problems, builds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="the k8s/ folder")
    parser.add_argument(
        "-k",
        "--kubernetes-version",
        action="append",
        dest="versions",
        help=f"Kubernetes version to check (default: {MIN_KUBERNETES} and the newest known)",
    )
    args = parser.parse_args(argv)
    try:
        versions = _versions(args.versions)
        problems, builds = validate_tree(args.root.resolve(), versions)
    except kubernetes_validate.utils.VersionNotSupportedError as exc:
        print(f"validate_k8s: {exc.message}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    if problems:
        print(f"validate_k8s: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    count = sum(len(b.objects) for b in builds)
    print(
        f"validate_k8s: {len(builds)} builds, {count} objects valid "
        f"(Kubernetes {', '.join(versions)}; ServiceMonitor, ScaledObject; adapter rules; PromQL)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
