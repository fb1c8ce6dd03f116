"""What the k8s/ tests share: scripts/validate_k8s.py loaded as a module, and the builds it
renders (k8s/base and every overlay, through `kubectl kustomize`)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any

from tests.support import REPO_ROOT

Obj = dict[str, Any]


def validator() -> ModuleType:
    """scripts/validate_k8s.py (not a package), imported once per test session."""
    if "validate_k8s" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "validate_k8s", REPO_ROOT / "scripts" / "validate_k8s.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["validate_k8s"] = module
        spec.loader.exec_module(module)
    return sys.modules["validate_k8s"]


def render_builds() -> dict[str, list[Obj]]:
    """Every build a user applies, by folder name ("base", "local", "production", ...)."""
    module = validator()
    return {path.name: module.render(path) for path in module.builds_under(REPO_ROOT / "k8s")}
