"""Entry point for `python -m llm_worker`."""

from llm_worker.cli import main

raise SystemExit(main())
