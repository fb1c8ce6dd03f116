"""Review: a check across settings names its variable, not the pseudo-variable 'settings'."""

from __future__ import annotations

import pytest

from llm_worker.config import SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in ("OPENAI_API_KEY", "DECISION_STRATEGY", "WORKER_TOPICS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))


@pytest.mark.parametrize("strategy", ["llm", "hybrid"])
def test_a_strategy_without_a_key_names_decision_strategy(
    monkeypatch: pytest.MonkeyPatch, strategy: str
) -> None:
    monkeypatch.setenv("DECISION_STRATEGY", strategy)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == (
        f"invalid setting DECISION_STRATEGY: {strategy} needs OPENAI_API_KEY "
        "(set the key, or use rules)"
    )


def test_a_field_check_has_no_pydantic_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_TOPICS", "analyze-fare-rules,refunds")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith("invalid setting WORKER_TOPICS: unknown topic(s) refunds;")
