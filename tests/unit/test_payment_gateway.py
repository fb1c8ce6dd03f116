"""Payment gateway basics (llm_worker/payment/gateway.py): the idempotency key per instance."""

from __future__ import annotations

import pytest

from llm_worker.payment import idempotency_key


def test_idempotency_key_is_stable_per_instance_and_distinct_between_instances() -> None:
    assert idempotency_key("pi-1") == idempotency_key("pi-1")
    assert idempotency_key("pi-1") != idempotency_key("pi-2")
    assert len(idempotency_key("pi-1")) == 64
    assert "pi-1" not in idempotency_key("pi-1")


def test_idempotency_key_needs_an_instance() -> None:
    with pytest.raises(ValueError, match="process instance"):
        idempotency_key("")
