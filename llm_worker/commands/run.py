"""`llm-worker run`: run the worker until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse

from llm_worker.app import App
from llm_worker.config import load_settings


def run(args: argparse.Namespace) -> int:
    return App(load_settings()).run()
