"""`llm-worker deploy`: deploy bpmn/ (diagrams and forms) as one deployment; demo users."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llm_worker.admin.engine import DEMO_USERS, EngineAdmin, EngineAdminError, deployment_resources
from llm_worker.commands import UserError
from llm_worker.config import load_settings

# Beside the package in a source checkout or `pip install -e`; ./bpmn in the container.
_PACKAGED_BPMN = Path(__file__).resolve().parents[2] / "bpmn"


def resolve_bpmn_dir(option: str | None) -> Path:
    if option is not None:
        folder = Path(option)
        if not folder.is_dir():
            raise UserError(f"--bpmn-dir {option}: no such folder")
        return folder
    for folder in (Path("bpmn"), _PACKAGED_BPMN):
        if folder.is_dir():
            return folder
    raise UserError("no bpmn/ folder here; run from the repository or pass --bpmn-dir")


def run(args: argparse.Namespace) -> int:
    folder = resolve_bpmn_dir(args.bpmn_dir)
    resources = deployment_resources(folder)
    if not resources:
        raise UserError(f"{folder} holds no .bpmn, .dmn or .form file to deploy")
    settings = load_settings()
    admin = EngineAdmin.from_settings(settings)
    try:
        result = admin.deploy(resources)
        names = ", ".join(result.resources)
        if result.changed:
            versions = ", ".join(f"{d.key} version {d.version}" for d in result.definitions)
            print(f"deployed {versions} (deployment {result.id}: {names})")
        else:
            print(
                f"unchanged: {folder} is already deployed (deployment {result.id}); no new version"
            )
        if args.demo_users:
            setup = admin.ensure_demo_users()
            if setup.created:
                print("demo users: created " + "; ".join(setup.created))
            else:
                print("demo users: already in place")
            logins = ", ".join(f"{u.id} ({u.group})" for u in DEMO_USERS)
            print(f"Tasklist logins: {logins}; a new demo user's password is its user id")
    except EngineAdminError as exc:
        print(f"llm-worker deploy: {exc}", file=sys.stderr)
        return 1
    finally:
        admin.close()
    return 0
