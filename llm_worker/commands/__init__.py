"""One module per `llm-worker` sub-command; each exposes `run(args) -> int`."""


class UserError(Exception):
    """A mistake the user can fix; the CLI prints its message as one line and exits 2."""
