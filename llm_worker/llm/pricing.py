"""Token prices per model (USD per million tokens) and the cost of one call's usage."""

from __future__ import annotations

import math
from dataclasses import dataclass

from llm_worker.config import SettingsError


@dataclass(frozen=True)
class Price:
    prompt_per_million: float
    completion_per_million: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.prompt_per_million
            + completion_tokens * self.completion_per_million
        ) / 1_000_000


# OpenAI's published standard prices; dated snapshots match by prefix (gpt-4o-mini-2024-07-18).
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-5-nano": Price(0.05, 0.40),
    "gpt-5-mini": Price(0.25, 2.00),
    "gpt-5": Price(1.25, 10.00),
    "o4-mini": Price(1.10, 4.40),
    "o3-mini": Price(1.10, 4.40),
    "gpt-3.5-turbo": Price(0.50, 1.50),
}


class PriceTable:
    """Looks up a model's price: exact name, else the longest known prefix, else free."""

    def __init__(self, prices: dict[str, Price]) -> None:
        self._prices = dict(prices)

    def price(self, model: str) -> Price | None:
        if model in self._prices:
            return self._prices[model]
        matches = [name for name in self._prices if model.startswith(name)]
        return self._prices[max(matches, key=len)] if matches else None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price = self.price(model)
        return 0.0 if price is None else price.cost(prompt_tokens, completion_tokens)


def parse_overrides(raw: str | None) -> dict[str, Price]:
    """LLM_PRICE_OVERRIDES: `model=prompt/completion,...` in USD per million tokens."""
    prices: dict[str, Price] = {}
    if raw is None or not raw.strip():
        return prices
    for item in raw.split(","):
        if not item.strip():
            continue
        name, sep, pair = item.partition("=")
        parts = pair.split("/")
        try:
            if not sep or not name.strip() or len(parts) != 2:
                raise ValueError
            prompt, completion = float(parts[0]), float(parts[1])
            if not all(math.isfinite(p) and p >= 0 for p in (prompt, completion)):
                raise ValueError
        except ValueError:
            raise SettingsError(
                f"invalid setting LLM_PRICE_OVERRIDES: {item.strip()[:60]!r} is not "
                "model=PROMPT/COMPLETION in USD per million tokens (e.g. gpt-4o-mini=0.15/0.60)"
            ) from None
        prices[name.strip()] = Price(prompt, completion)
    return prices


def price_table(overrides: str | None) -> PriceTable:
    return PriceTable({**DEFAULT_PRICES, **parse_overrides(overrides)})
