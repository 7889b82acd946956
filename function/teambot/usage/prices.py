"""Estimated cost of an answer from the model's token counts and a price table.

Prices are USD per million tokens, (input, output). The default covers the default model
(env.DEFAULT_MODEL); Pulumi config `modelPrices` / env MODEL_PRICES adds or overrides models.
An estimate: cached-input discounts and reasoning-token details are not modelled (reasoning
tokens are billed as output and are already inside `completion_tokens`).
"""

from __future__ import annotations

# OpenAI's published price for gpt-5-mini: $0.25 per 1M input tokens, $2.00 per 1M output tokens
# (cached input $0.025, not modelled). https://platform.openai.com/docs/pricing and
# https://developers.openai.com/api/docs/models/gpt-5-mini, as of 2026-11.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {"gpt-5-mini": (0.25, 2.00)}


def price_table(overrides: dict[str, tuple[float, float]] | None = None) -> dict[str, tuple[float, float]]:
    return {**DEFAULT_PRICES, **(overrides or {})}


def price_of(model: str, table: dict[str, tuple[float, float]]) -> tuple[float, float] | None:
    """Exact name first, then the longest listed name the model starts with, so a dated
    snapshot (gpt-5-mini-2025-08-07) is priced as its family. None = unknown model (cost 0)."""
    if model in table:
        return table[model]
    family = max((name for name in table if model.startswith(name + "-")), key=len, default=None)
    return table[family] if family else None


def estimate_cost(model: str, prompt_tokens: int, completion_tokens: int, table: dict[str, tuple[float, float]]) -> float:
    price = price_of(model, table)
    if price is None:
        return 0.0
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000
