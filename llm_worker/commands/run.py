"""`llm-worker run`: run the worker until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse

from llm_worker.app import App, StartupError
from llm_worker.commands import UserError
from llm_worker.config import load_settings


def run(args: argparse.Namespace) -> int:
    try:
        return App(load_settings()).run()
    except StartupError as exc:
        raise UserError(str(exc)) from None
