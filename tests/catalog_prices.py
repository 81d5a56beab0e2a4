"""Prices computed from MLflow's bundled model catalog's own fields: the independent side of every cost check."""

from __future__ import annotations

from mlflow.utils.providers import _lookup_model_info

from tests.openai_server import count_words


def catalog_entry(model: str, provider: str | None = "openai") -> dict:
    """MLflow's bundled catalog entry for a model, as its own cost function looks it up."""
    return dict(_lookup_model_info(model, provider) or {})


def picture_usd_from_catalog(prompt: str, image_output_tokens: int, provider: str | None = "openai") -> float:
    """A gpt-image-1 picture's price from the catalog's own fields: the prompt's text tokens (a word a token, as the
    stub counts) at `input_cost_per_token`, its image output tokens at `modality.image.output_per_million_tokens`."""
    entry = catalog_entry("gpt-image-1", provider)
    return (
        count_words(prompt) * entry["input_cost_per_token"]
        + image_output_tokens * entry["modality"]["image"]["output_per_million_tokens"] / 1e6
    )
