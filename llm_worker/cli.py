"""The `llm-worker` command line: parses arguments and dispatches to llm_worker.commands."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from llm_worker import __version__
from llm_worker.commands import UserError
from llm_worker.config import SettingsError
from llm_worker.logs import LogLevel, configure_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-worker",
        description="Camunda 7 worker that decides ticket-refund cases from fare rules.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", help="run the worker until SIGTERM/SIGINT")
    sub.add_parser("check", help="check the settings and that the engine (and the LLM) answer")

    decide = sub.add_parser("decide", help="decide one case given as a JSON object of variables")
    decide.add_argument("file", help="JSON file of input variables, or - for stdin")
    decide.add_argument(
        "--explain",
        action="store_true",
        help="show on stderr what the reader found and why it was sure or unsure",
    )

    evaluate = sub.add_parser("eval", help="evaluate the decisions on a labelled JSONL file")
    evaluate.add_argument("file", help="JSONL file: {'variables': {...}, 'expected': ...} a line")
    evaluate.add_argument("--json", action="store_true", help="print a machine-readable summary")

    deploy = sub.add_parser("deploy", help="deploy bpmn/ (and forms) to the engine")
    deploy.add_argument("--bpmn-dir", default=None, help="folder to deploy (default: bpmn/)")
    deploy.add_argument(
        "--demo-users",
        action="store_true",
        help="create the refund-operators, refund-managers and refund-auditors groups with a "
        "demo user each",
    )

    start = sub.add_parser("start", help="start a ticket-refund instance")
    start.add_argument("file", help="JSON file of process variables, or - for stdin")
    start.add_argument("--business-key", default=None, help="business key of the instance")

    reviews = sub.add_parser("reviews", help="reviewed and audited cases from the engine's history")
    reviews_sub = reviews.add_subparsers(dest="reviews_command", required=True, metavar="COMMAND")
    export = reviews_sub.add_parser(
        "export", help="write reviewed and audited cases from the engine's history as eval JSONL"
    )
    export.add_argument("--out", required=True, help="JSONL file to write (replaced when done)")
    export.add_argument(
        "--since",
        default=None,
        help="instances that ended at or after this ISO date or date-time (UTC unless it says); "
        "default: 30 days before --until",
    )
    export.add_argument(
        "--until",
        default=None,
        help="instances that ended before this ISO date or date-time; default: now",
    )
    export.add_argument(
        "--kind",
        choices=["manual", "audit", "all"],
        default="all",
        help="manual reviews, audits of automatic refunds, or both (default)",
    )
    export.add_argument(
        "--page-size",
        type=int,
        default=100,
        help="instances read per history request (1-500, default 100)",
    )
    return parser


# `eval` would shadow the builtin as a module name.
_MODULES = {"eval": "evaluate"}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Until a command reads LOG_LEVEL, only warnings reach the terminal (structlog's own
    # default would print every debug line of the libraries).
    configure_logging(LogLevel.WARNING)
    module = _MODULES.get(args.command, args.command)
    command = importlib.import_module(f"llm_worker.commands.{module}")
    try:
        code: int = command.run(args)
    except (UserError, SettingsError) as exc:
        name = " ".join(filter(None, (args.command, getattr(args, "reviews_command", None))))
        print(f"llm-worker {name}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`llm-worker eval ... | head`): nothing to report. Later writes
        # (the flush at exit) go nowhere instead of raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return code


if __name__ == "__main__":
    sys.exit(main())
