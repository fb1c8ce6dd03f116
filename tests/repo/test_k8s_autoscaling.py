"""Autoscaling in k8s/: the HPA, its prometheus-adapter rule and the KEDA alternative."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import Gauge
from prometheus_client.metrics import MetricWrapperBase

from llm_worker import metrics
from llm_worker.config import Settings
from tests.k8s_helpers import Obj, render_builds, validator

REPO = Path(__file__).resolve().parents[2]
BACKLOG = "camunda_external_tasks_pending"
IN_FLIGHT = "llm_worker_tasks_in_flight"


@pytest.fixture(scope="module")
def builds() -> dict[str, list[Obj]]:
    return render_builds()


def _one(objects: list[Obj], kind: str) -> Obj:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def _exported_gauges() -> set[str]:
    """Names of the gauges the worker exports (llm_worker.metrics)."""
    names = set()
    for value in vars(metrics).values():
        if isinstance(value, Gauge):
            names |= {family.name for family in value.describe()}
    return names


def _exported_names() -> set[str]:
    names = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            names |= {family.name for family in value.describe()}
    return names


def _config(objects: list[Obj]) -> dict[str, str]:
    data: dict[str, str] = {}
    for obj in objects:
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"].startswith("llm-worker-config"):
            data.update(obj["data"])
    return data


def _adapter_rule(section: str) -> Obj:
    values = yaml.safe_load((REPO / "k8s" / "prometheus-adapter" / "values.yaml").read_text())
    (rule,) = values["rules"][section]
    assert isinstance(rule, dict)
    return rule


def _prometheus_triggers(scaled: Obj) -> dict[str, Obj]:
    """KEDA's Prometheus triggers by the worker metric their query reads."""
    triggers = {}
    for trigger in scaled["spec"]["triggers"]:
        if trigger["type"] == "prometheus":
            (metric,) = [m for m in (BACKLOG, IN_FLIGHT) if m in trigger["metadata"]["query"]]
            triggers[metric] = trigger
    return triggers


# ---- the HPA -------------------------------------------------------------------------------


def test_hpa_targets_the_worker_deployment(builds: dict[str, list[Obj]]) -> None:
    objects = builds["production"]
    hpa = _one(objects, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "llm-worker",
    }
    deployment = _one(objects, "Deployment")
    assert deployment["metadata"]["name"] == "llm-worker"
    assert "replicas" not in deployment["spec"], "the HPA owns replicas; apply must not reset it"


def test_hpa_scales_on_the_backlog_per_replica_and_cpu(builds: dict[str, list[Obj]]) -> None:
    hpa = _one(builds["production"], "HorizontalPodAutoscaler")
    by_type = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert set(by_type) == {"External", "Pods", "Resource"}
    external = by_type["External"]["external"]
    assert external["metric"]["name"] == BACKLOG
    # A gauge the worker exports; every pod reports the same engine-wide value, so only an
    # AverageValue target (total / replicas) makes it a backlog per replica.
    assert BACKLOG in _exported_gauges()
    assert external["target"]["type"] == "AverageValue"
    assert by_type["Resource"]["resource"]["name"] == "cpu"
    assert by_type["Resource"]["resource"]["target"]["type"] == "Utilization"


def test_busy_pods_with_an_empty_queue_are_not_scaled_in(builds: dict[str, list[Obj]]) -> None:
    """Tasks in flight per pod, below WORKER_CONCURRENCY: pods that just keep up stay."""
    objects = builds["production"]
    hpa = _one(objects, "HorizontalPodAutoscaler")
    (pods,) = [m["pods"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    assert pods["metric"]["name"] == IN_FLIGHT
    assert IN_FLIGHT in _exported_gauges()
    assert pods["target"]["type"] == "AverageValue"
    concurrency = int(_config(objects)["WORKER_CONCURRENCY"])
    target = float(pods["target"]["averageValue"])
    # Below C, so fully busy pods ask for more; not far below, so half-idle ones may go.
    assert concurrency / 2 <= target < concurrency


@pytest.mark.parametrize(("section", "metric"), [("external", BACKLOG), ("custom", IN_FLIGHT)])
def test_the_adapter_serves_the_metrics_the_hpa_asks_for(section: str, metric: str) -> None:
    rule = _adapter_rule(section)
    assert validator().series_name(rule["seriesQuery"]) == metric
    assert metric in _exported_names()
    assert rule["name"]["as"] == metric
    assert re.fullmatch(rule["name"]["matches"], metric)
    overrides = rule["resources"]["overrides"]
    assert overrides["namespace"] == {"resource": "namespace"}
    if section == "custom":
        assert overrides["pod"] == {"resource": "pod"}


def test_scale_down_is_slow_and_scale_up_fast(builds: dict[str, list[Obj]]) -> None:
    hpa = _one(builds["production"], "HorizontalPodAutoscaler")
    down = hpa["spec"]["behavior"]["scaleDown"]
    assert down["stabilizationWindowSeconds"] >= 300
    assert down["selectPolicy"] == "Min"
    assert {(p["type"], p["value"], p["periodSeconds"]) for p in down["policies"]} >= {
        ("Pods", 1, 60)
    }
    up = hpa["spec"]["behavior"]["scaleUp"]
    assert up["stabilizationWindowSeconds"] == 0
    assert up["selectPolicy"] == "Max"


def test_replica_range_keeps_a_worker_per_zone(builds: dict[str, list[Obj]]) -> None:
    hpa = _one(builds["production"], "HorizontalPodAutoscaler")
    assert hpa["spec"]["minReplicas"] >= 2, "one pod is a single point of failure"
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]


@pytest.mark.parametrize("build", ["production", "production-keda"])
def test_llm_rate_limit_is_the_provider_budget_shared_by_max_replicas(
    builds: dict[str, list[Obj]], build: str
) -> None:
    objects = builds[build]
    kind = "HorizontalPodAutoscaler" if build == "production" else "ScaledObject"
    scaler = _one(objects, kind)
    spec = scaler["spec"]
    max_replicas = spec.get("maxReplicas", spec.get("maxReplicaCount"))
    budget = int(scaler["metadata"]["annotations"]["llm-worker/provider-calls-per-minute"])
    config = _config(objects)
    calls = int(
        config.get("LLM_RATE_LIMIT_CALLS", Settings.model_fields["llm_rate_limit_calls"].default)
    )
    period = float(
        config.get(
            "LLM_RATE_LIMIT_PERIOD_S", Settings.model_fields["llm_rate_limit_period_s"].default
        )
    )
    per_minute_at_max = calls * 60 / period * max_replicas
    assert per_minute_at_max <= budget, (
        f"{build}: {max_replicas} pods x {calls}/{period:g}s = {per_minute_at_max:g}/min "
        f"exceeds the provider budget {budget}/min"
    )


def test_target_backlog_is_drained_in_seconds(builds: dict[str, list[Obj]]) -> None:
    """The README's rule: a pod drains C/L tasks a second; its target backlog in <= 10 s."""
    objects = builds["production"]
    hpa = _one(objects, "HorizontalPodAutoscaler")
    (external,) = [m["external"] for m in hpa["spec"]["metrics"] if m["type"] == "External"]
    target = float(external["target"]["averageValue"])
    config = _config(objects)
    concurrency = int(config["WORKER_CONCURRENCY"])
    calls_per_s = int(config["LLM_RATE_LIMIT_CALLS"]) / float(config["LLM_RATE_LIMIT_PERIOD_S"])
    llm_latency_s = 2.0  # gpt-4o-mini, p50 of one structured decision (k8s/README.md)
    drain_per_s = min(concurrency / llm_latency_s, calls_per_s)
    assert 1 <= target / drain_per_s <= 10


# ---- KEDA, the alternative -----------------------------------------------------------------


def test_never_two_autoscalers_on_one_deployment(builds: dict[str, list[Obj]]) -> None:
    for name, objects in builds.items():
        kinds = {o["kind"] for o in objects}
        assert not {"HorizontalPodAutoscaler", "ScaledObject"} <= kinds, name


def test_keda_mirrors_the_hpa(builds: dict[str, list[Obj]]) -> None:
    hpa = _one(builds["production"], "HorizontalPodAutoscaler")["spec"]
    scaled = _one(builds["production-keda"], "ScaledObject")
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == hpa["scaleTargetRef"]["name"]
    assert spec["minReplicaCount"] == hpa["minReplicas"] >= 1, "never 0: no pod, no backlog metric"
    assert spec["maxReplicaCount"] == hpa["maxReplicas"]
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"] == hpa["behavior"]
    assert sorted(t["type"] for t in spec["triggers"]) == ["cpu", "prometheus", "prometheus"]
    prometheus = _prometheus_triggers(scaled)
    (external,) = [m["external"] for m in hpa["metrics"] if m["type"] == "External"]
    (pods,) = [m["pods"] for m in hpa["metrics"] if m["type"] == "Pods"]
    for metric, hpa_target in ((BACKLOG, external), (IN_FLIGHT, pods)):
        trigger = prometheus[metric]
        assert trigger["metricType"] == "AverageValue"
        assert trigger["metadata"]["threshold"] == hpa_target["target"]["averageValue"]
        assert trigger["metadata"]["ignoreNullValues"] == "false"
    (cpu_trigger,) = [t for t in spec["triggers"] if t["type"] == "cpu"]
    (cpu,) = [m["resource"] for m in hpa["metrics"] if m["type"] == "Resource"]
    assert cpu_trigger["metadata"]["value"] == str(cpu["target"]["averageUtilization"])


def test_keda_query_reads_the_worker_metric_in_its_own_namespace(
    builds: dict[str, list[Obj]],
) -> None:
    scaled = _one(builds["production-keda"], "ScaledObject")
    triggers = _prometheus_triggers(scaled)
    assert set(triggers) == {BACKLOG, IN_FLIGHT}
    for trigger in triggers.values():
        namespaces = re.findall(r'namespace="([^"]+)"', trigger["metadata"]["query"])
        assert namespaces == [scaled["metadata"]["namespace"]], "kustomize does not rewrite it"


# ---- the queries, evaluated by promtool on the series several pods report --------------------


def _queries(builds: dict[str, list[Obj]], metric: str) -> dict[str, str]:
    """The adapter's and KEDA's query for METRIC, as sent for the production namespace."""
    triggers = _prometheus_triggers(_one(builds["production-keda"], "ScaledObject"))
    namespace = _one(builds["production"], "HorizontalPodAutoscaler")["metadata"]["namespace"]
    section = "external" if metric == BACKLOG else "custom"
    adapter = validator().render_adapter_query(_adapter_rule(section), section, namespace)
    return {"adapter": adapter, "keda": triggers[metric]["metadata"]["query"]}


def _series(metric: str, namespace: str, pod: str, topic: str, values: str) -> Obj:
    labels = f'namespace="{namespace}",pod="{pod}",topic="{topic}"'
    return {"series": f"{metric}{{{labels}}}", "values": values}


def _promtool_eval(tmp_path: Path, series: list[Obj], expr: str, samples: list[Obj]) -> None:
    """promtool evaluates EXPR on SERIES (15 s apart) at 30 s and compares with SAMPLES."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is needed: install Debian's prometheus package (make setup)"
    test = {
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": series,
                "promql_expr_test": [{"expr": expr, "eval_time": "30s", "exp_samples": samples}],
            }
        ],
    }
    path = tmp_path / "query_test.yml"
    path.write_text(yaml.safe_dump(test), encoding="utf-8")
    proc = subprocess.run(
        [promtool, "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("source", ["adapter", "keda"])
def test_backlog_query_counts_the_engine_backlog_once_not_once_per_pod(
    builds: dict[str, list[Obj]], source: str, tmp_path: Path
) -> None:
    query = _queries(builds, BACKLOG)[source]
    # Three pods poll the engine at slightly different times; another namespace's workers
    # have their own engine and must not count.
    series = [
        _series(BACKLOG, "llm-worker", "llm-worker-a", "analyze-fare-rules", "60 60 60"),
        _series(BACKLOG, "llm-worker", "llm-worker-b", "analyze-fare-rules", "58 58 58"),
        _series(BACKLOG, "llm-worker", "llm-worker-c", "analyze-fare-rules", "61 61 61"),
        _series(BACKLOG, "llm-worker", "llm-worker-a", "process-refund-payment", "6 6 6"),
        _series(BACKLOG, "llm-worker", "llm-worker-b", "process-refund-payment", "6 6 6"),
        _series(BACKLOG, "llm-worker", "llm-worker-c", "process-refund-payment", "5 5 5"),
        _series(BACKLOG, "staging", "llm-worker-x", "analyze-fare-rules", "500 500 500"),
    ]
    # max per topic across pods (61 + 6), not the sum over pods (185).
    _promtool_eval(tmp_path, series, f"sum({query})", [{"labels": "{}", "value": 67}])


def test_adapter_in_flight_query_gives_each_pod_its_own_tasks(
    builds: dict[str, list[Obj]], tmp_path: Path
) -> None:
    query = _queries(builds, IN_FLIGHT)["adapter"]
    series = [
        _series(IN_FLIGHT, "llm-worker", "llm-worker-a", "analyze-fare-rules", "7 7 7"),
        _series(IN_FLIGHT, "llm-worker", "llm-worker-a", "process-refund-payment", "1 1 1"),
        _series(IN_FLIGHT, "llm-worker", "llm-worker-b", "analyze-fare-rules", "3 3 3"),
        _series(IN_FLIGHT, "staging", "llm-worker-x", "analyze-fare-rules", "8 8 8"),
    ]
    samples = [
        {"labels": '{pod="llm-worker-a"}', "value": 8},
        {"labels": '{pod="llm-worker-b"}', "value": 3},
    ]
    _promtool_eval(tmp_path, series, query, samples)


def test_keda_in_flight_query_gives_the_namespace_total(
    builds: dict[str, list[Obj]], tmp_path: Path
) -> None:
    query = _queries(builds, IN_FLIGHT)["keda"]
    series = [
        _series(IN_FLIGHT, "llm-worker", "llm-worker-a", "analyze-fare-rules", "7 7 7"),
        _series(IN_FLIGHT, "llm-worker", "llm-worker-a", "process-refund-payment", "1 1 1"),
        _series(IN_FLIGHT, "llm-worker", "llm-worker-b", "analyze-fare-rules", "3 3 3"),
        _series(IN_FLIGHT, "staging", "llm-worker-x", "analyze-fare-rules", "8 8 8"),
    ]
    # KEDA divides the total by the replicas itself (AverageValue).
    _promtool_eval(tmp_path, series, query, [{"labels": "{}", "value": 11}])
