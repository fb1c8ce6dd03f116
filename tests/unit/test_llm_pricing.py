"""Token prices: defaults, dated model names, overrides and bad override values."""

from __future__ import annotations

import pytest

from llm_worker.config import SettingsError
from llm_worker.llm.pricing import Price, parse_overrides, price_table


def test_cost_from_usage_for_the_default_model() -> None:
    table = price_table(None)
    # gpt-4o-mini: $0.15 per million prompt tokens, $0.60 per million completion tokens
    assert table.cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert table.cost("gpt-4o-mini", 800, 60) == pytest.approx(0.000156)


def test_dated_snapshot_uses_the_longest_known_prefix() -> None:
    table = price_table(None)
    assert table.price("gpt-4o-mini-2024-07-18") == Price(0.15, 0.60)
    assert table.price("gpt-4o-2024-08-06") == Price(2.50, 10.00)


def test_unknown_model_costs_nothing_rather_than_guessing() -> None:
    assert price_table(None).cost("my-local-llama", 1000, 1000) == 0.0


def test_overrides_replace_and_add_prices() -> None:
    table = price_table("gpt-4o-mini=1/2, my-local-llama=0.5/0.5")
    assert table.price("gpt-4o-mini") == Price(1.0, 2.0)
    assert table.cost("my-local-llama", 2_000_000, 0) == pytest.approx(1.0)


@pytest.mark.parametrize("raw", ["gpt-4o-mini", "gpt-4o-mini=1", "=1/2", "m=a/b", "m=-1/2"])
def test_bad_overrides_name_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError, match="LLM_PRICE_OVERRIDES"):
        parse_overrides(raw)


def test_empty_overrides() -> None:
    assert parse_overrides("") == {}
    assert parse_overrides(None) == {}


@pytest.mark.parametrize("raw", ["gpt-4o-mini=nan/0.6", "gpt-4o-mini=0.15/inf", "m=-inf/1"])
def test_non_finite_prices_are_a_bad_setting(raw: str) -> None:
    with pytest.raises(SettingsError, match="invalid setting LLM_PRICE_OVERRIDES"):
        parse_overrides(raw)
