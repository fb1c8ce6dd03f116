"""Review: LLM_PRICE_OVERRIDES takes finite prices only, and `check` validates it."""

from __future__ import annotations

import pytest

from llm_worker.cli import main
from llm_worker.config import SettingsError
from llm_worker.llm.pricing import parse_overrides


@pytest.mark.parametrize("raw", ["gpt-4o-mini=nan/0.6", "gpt-4o-mini=0.15/inf", "m=-inf/1"])
def test_non_finite_prices_are_a_bad_setting(raw: str) -> None:
    with pytest.raises(SettingsError, match="invalid setting LLM_PRICE_OVERRIDES"):
        parse_overrides(raw)


def test_check_reports_a_bad_price_override(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    monkeypatch.chdir(str(tmp_path))
    for name in ("OPENAI_API_KEY", "DECISION_STRATEGY"):
        monkeypatch.delenv(name, raising=False)
    # The engine is never asked: the settings are checked first.
    monkeypatch.setenv("CAMUNDA_URL", "http://127.0.0.1:9/engine-rest")
    monkeypatch.setenv("LLM_PRICE_OVERRIDES", "gpt-4o-mini=cheap")
    assert main(["check"]) == 2
    out, err = capsys.readouterr()
    assert "settings: ok" not in out
    assert err.strip() == (
        "llm-worker check: invalid setting LLM_PRICE_OVERRIDES: 'gpt-4o-mini=cheap' is not "
        "model=PROMPT/COMPLETION in USD per million tokens (e.g. gpt-4o-mini=0.15/0.60)"
    )
