"""Prices: tokens from the model catalog MLflow ships (the same prices its store puts on every span),
pictures from our per-image table (core.images), and "what if this usage ran on another model"."""

from __future__ import annotations

import functools

import pandas as pd


@functools.lru_cache(maxsize=8)
def catalog_chat_models(provider: str = "openai") -> tuple[str, ...]:
    """Chat models of a provider that the catalog prices, for the what-if choice."""
    from mlflow.utils.providers import get_models

    models = get_models(provider)
    return tuple(sorted({m["model"] for m in models if m.get("mode") == "chat"
                         and m.get("input_cost_per_token") and m.get("output_cost_per_token")}))


def token_cost(model: str, input_tokens: int, output_tokens: int, provider: str | None = None) -> float | None:
    """USD for this usage on this model, exactly as MLflow prices a span; None when the catalog has no price."""
    from mlflow.tracing.utils import calculate_cost_by_model_and_token_usage

    if not input_tokens and not output_tokens:
        return 0.0
    cost = calculate_cost_by_model_and_token_usage(
        model, {"input_tokens": int(input_tokens), "output_tokens": int(output_tokens)}, provider)
    return None if cost is None else float(cost["total_cost"])


def what_if(calls: pd.DataFrame, model: str) -> pd.DataFrame:
    """Per model used: its tokens, what they cost, and what they would cost on `model`. Prices are linear
    in tokens, so pricing the sums equals pricing each call. Pictures keep their price."""
    chat = calls[calls["kind"] == "chat"]
    rows = []
    for used, group in chat.groupby("model", sort=True):
        input_tokens, output_tokens = int(group["input_tokens"].sum()), int(group["output_tokens"].sum())
        rows.append({"model used": used, "calls": int(group["calls"].sum()), "input_tokens": input_tokens,
                     "output_tokens": output_tokens, "cost_usd": float(group["cost_usd"].sum()),
                     f"on {model}": token_cost(model, input_tokens, output_tokens)})
    images = calls[calls["kind"] == "image"]
    if len(images):
        price = float(images["cost_usd"].sum())
        rows.append({"model used": "pictures (unchanged)", "calls": int(images["calls"].sum()), "input_tokens": 0,
                     "output_tokens": 0, "cost_usd": price, f"on {model}": price})
    return pd.DataFrame(rows, columns=["model used", "calls", "input_tokens", "output_tokens", "cost_usd", f"on {model}"])
