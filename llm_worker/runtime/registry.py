"""The topic registry: which handler serves which external-task topic."""

from __future__ import annotations

from collections.abc import Iterator

from llm_worker.runtime.task import Handler


class TopicRegistry:
    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, topic: str, handler: Handler) -> None:
        if topic in self._handlers:
            raise ValueError(f"topic {topic!r} already has a handler")
        self._handlers[topic] = handler

    def handler_for(self, topic: str) -> Handler:
        return self._handlers[topic]

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(self._handlers)

    def __iter__(self) -> Iterator[str]:
        return iter(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)
