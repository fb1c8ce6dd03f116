"""scripts/validate_k8s.py (make lint-k8s): the real tree passes, each kind of mistake is caught."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.k8s_helpers import validator

REPO = Path(__file__).resolve().parents[2]


def test_every_build_renders_and_validates() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "validate_k8s.py")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 builds" in proc.stdout


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of k8s/ to break."""
    root = tmp_path / "k8s"
    shutil.copytree(REPO / "k8s", root)
    return root


def _edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {relative}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


MISTAKES = [
    pytest.param(
        "base/deployment.yaml",
        "terminationGracePeriodSeconds: 60",
        "terminationGracePeriodSecond: 60",
        "base: Deployment/llm-worker: spec.template.spec: Additional properties are not "
        "allowed ('terminationGracePeriodSecond' was unexpected)",
        id="unknown-field",
    ),
    pytest.param(
        "base/deployment.yaml",
        "runAsUser: 10001\n        runAsGroup",
        "runAsUser: root\n        runAsGroup",
        "spec.template.spec.securityContext.runAsUser: 'root' is not of type",
        id="wrong-type",
    ),
    pytest.param(
        "components/keda/scaledobject.yaml",
        "minReplicaCount: 3",
        "minReplicas: 3",
        "overlays/production-keda: ScaledObject/llm-worker: spec: Additional properties are not "
        "allowed ('minReplicas' was unexpected)",
        id="crd-unknown-field",
    ),
    pytest.param(
        "components/keda/scaledobject.yaml",
        'threshold: "20"',
        "threshold: 20",
        "ScaledObject/llm-worker: spec.triggers.0.metadata.threshold: 20 is not of type 'string'",
        id="crd-wrong-type",
    ),
    pytest.param(
        "components/monitoring/servicemonitor.yaml",
        "- port: metrics",
        "- port: http-metrics",
        "ServiceMonitor/llm-worker: endpoint port http-metrics is no Service port",
        id="servicemonitor-port",
    ),
    pytest.param(
        "base/deployment.yaml",
        "path: /readyz\n              port: metrics",
        "path: /readyz\n              port: http",
        "Deployment/llm-worker: readinessProbe port http is no container port",
        id="probe-port",
    ),
    pytest.param(
        "base/deployment.yaml",
        "key: OPENAI_API_KEY\n                  optional: true",
        "key: OPENAI_API_KEY",
        "Deployment/llm-worker: env OPENAI_API_KEY: Secret llm-worker-secrets is not in the "
        "build and not optional",
        id="required-secret",
    ),
    pytest.param(
        "components/hpa/hpa.yaml",
        "name: llm-worker\n  minReplicas",
        "name: llm-worker-typo\n  minReplicas",
        "HorizontalPodAutoscaler/llm-worker: scaleTargetRef Deployment/llm-worker-typo not in "
        "build",
        id="hpa-target",
    ),
    pytest.param(
        "overlays/production-keda/kustomization.yaml",
        "patches:\n  - path: delete-hpa.yaml\n",
        "",
        "overlays/production-keda: Deployment/llm-worker: scaled by HorizontalPodAutoscaler/"
        "llm-worker and ScaledObject/llm-worker: use one autoscaler per workload",
        id="two-autoscalers",
    ),
    pytest.param(
        "prometheus-adapter/values.yaml",
        "as: camunda_external_tasks_pending",
        "as: backlog",
        "overlays/production: HorizontalPodAutoscaler/llm-worker: External metric "
        "camunda_external_tasks_pending is exposed by no rule",
        id="adapter-name",
    ),
    pytest.param(
        "prometheus-adapter/values.yaml",
        "(<<.Series>>{<<.LabelMatchers>>})",
        "(<<.Series>>)",
        "metricsQuery lacks <<.LabelMatchers>>",
        id="adapter-matchers",
    ),
    pytest.param(
        "components/keda/scaledobject.yaml",
        "sum(max by (topic)",
        "sum(max by (topic",
        "overlays/production-keda: ScaledObject/llm-worker: invalid PromQL:",
        id="promql",
    ),
    pytest.param(
        "base/networkpolicy.yaml",
        "app.kubernetes.io/component: worker",
        "app.kubernetes.io/component: workers",
        "base: NetworkPolicy/llm-worker: podSelector matches no pod template of the build",
        id="policy-selector",
    ),
    pytest.param(
        "base/service.yaml",
        "    app.kubernetes.io/component: worker",
        "    app.kubernetes.io/component: api",
        "base: Service/llm-worker-metrics: selector matches no pod template of the build",
        id="service-selector",
    ),
    pytest.param(
        "overlays/production/kustomization.yaml",
        "  - ../../components/hpa\n",
        "",
        "components/hpa: component used by no overlay",
        id="unused-component",
    ),
    pytest.param(
        "overlays/local/kustomization.yaml",
        "  - camunda.yaml\n",
        "  - camunda.yml\n",
        "overlays/local: does not render:",
        id="render-error",
    ),
]


@pytest.mark.parametrize(("relative", "old", "new", "expected"), MISTAKES)
def test_a_mistake_gives_one_clear_line_and_exit_1(
    tree: Path,
    relative: str,
    old: str,
    new: str,
    expected: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _edit(tree, relative, old, new)
    # One Kubernetes version keeps this fast; the real tree is checked against both above.
    assert validator().main(["--root", str(tree), "-k", "1.30"]) == 1
    lines = capsys.readouterr().out.splitlines()
    matching = [line for line in lines if expected in line]
    assert matching, "\n".join(lines)
    assert all("Traceback" not in line for line in lines)


def test_an_unknown_custom_kind_is_a_problem_not_a_pass(tree: Path) -> None:
    (tree / "base" / "rollout.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: llm-worker\n",
        encoding="utf-8",
    )
    _edit(
        tree,
        "base/kustomization.yaml",
        "  - networkpolicy.yaml\n",
        "  - networkpolicy.yaml\n  - rollout.yaml\n",
    )
    problems, _ = validator().validate_tree(tree, ["1.30"])
    assert any(
        "Rollout/llm-worker: no schema for argoproj.io/v1alpha1 Rollout" in p for p in problems
    )
