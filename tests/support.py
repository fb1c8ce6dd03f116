"""Plain helpers the fixtures, the fakes and the benchmarks share: where the repository is, free
ports and bounded waits."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on right now (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], T | Literal[False] | None],
    timeout: float = 15.0,
    interval: float = 0.05,
    message: str = "",
    pause: Callable[[float], object] = time.sleep,
) -> T:
    """Check condition() until it is truthy and return that; fail after `timeout` seconds.

    Between checks it calls pause(at most `interval`): a sleep by default; a source of events
    passes a wait on its own condition variable, so a check follows each event at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(
                f"timed out after {timeout:.1f}s waiting for {message or condition}"
            )
        pause(min(interval, remaining))
