"""The LRU cache of answers and its key (normalised case + prompt version + model)."""

from __future__ import annotations

import threading

from llm_worker.llm.cache import LruCache, cache_key


def test_key_depends_on_prompt_version_model_and_case_not_on_key_order() -> None:
    doc = {"facts": {"a": 1, "b": 2}, "fare_rules": "X"}
    same = {"fare_rules": "X", "facts": {"b": 2, "a": 1}}
    key = cache_key(prompt_version="v1", model="m", document=doc)
    assert key == cache_key(prompt_version="v1", model="m", document=same)
    assert key != cache_key(prompt_version="v2", model="m", document=doc)
    assert key != cache_key(prompt_version="v1", model="m2", document=doc)
    assert key != cache_key(prompt_version="v1", model="m", document={**doc, "fare_rules": "Y"})


def test_least_recently_used_entry_is_evicted() -> None:
    cache: LruCache[str] = LruCache(2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("c", "C")
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c"), len(cache)) == ("A", "C", 2)


def test_concurrent_use_stays_bounded() -> None:
    cache: LruCache[int] = LruCache(50)

    def work(offset: int) -> None:
        for i in range(500):
            cache.put(f"{offset}-{i}", i)
            cache.get(f"{offset}-{i // 2}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(cache) == 50
