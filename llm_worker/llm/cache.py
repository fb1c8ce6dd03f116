"""A bounded, thread-safe LRU cache of LLM answers keyed by the normalised case."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any, Generic, TypeVar

V = TypeVar("V")


def cache_key(*, prompt_version: str, model: str, document: dict[str, Any]) -> str:
    """The key: prompt version, model and the case document as canonical JSON, hashed."""
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    raw = f"{prompt_version}\x00{model}\x00{canonical}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class LruCache(Generic[V]):
    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._items: OrderedDict[str, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._max:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
