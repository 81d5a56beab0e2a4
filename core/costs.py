"""Every price and cost in one place: tokens from the model catalog MLflow ships (the same prices its store
puts on every span), pictures from our per-image table (MLflow's catalog prices tokens, not pictures), what a
turn's clients spent, the pieces of a turn's worst-case bound (hosted demo; each scenario adds them up for
its own team), and "what if this usage ran on another model"."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

import pandas as pd
from mlflow.tracing.utils import calculate_cost_by_model_and_token_usage
from mlflow.utils.providers import get_models

from . import contract
from .observe.wire import CallUsage

if TYPE_CHECKING:  # only for annotations: costs must not depend on the settings module at run time
    from .config import Settings

# USD per image: (model, quality, size) -> price. Published OpenAI list prices.
IMAGE_PRICES_USD: dict[tuple[str, str, str], float] = {
    ("dall-e-3", "standard", "1024x1024"): 0.040,
    ("dall-e-3", "standard", "1024x1792"): 0.080,
    ("dall-e-3", "standard", "1792x1024"): 0.080,
    ("dall-e-3", "hd", "1024x1024"): 0.080,
    ("dall-e-3", "hd", "1024x1792"): 0.120,
    ("dall-e-3", "hd", "1792x1024"): 0.120,
    ("gpt-image-1", "low", "1024x1024"): 0.011,
    ("gpt-image-1", "low", "1024x1536"): 0.016,
    ("gpt-image-1", "low", "1536x1024"): 0.016,
    ("gpt-image-1", "medium", "1024x1024"): 0.042,
    ("gpt-image-1", "medium", "1024x1536"): 0.063,
    ("gpt-image-1", "medium", "1536x1024"): 0.063,
    ("gpt-image-1", "high", "1024x1024"): 0.167,
    ("gpt-image-1", "high", "1024x1536"): 0.250,
    ("gpt-image-1", "high", "1536x1024"): 0.250,
    ("gpt-image-1-mini", "low", "1024x1024"): 0.005,
    ("gpt-image-1-mini", "low", "1024x1536"): 0.006,
    ("gpt-image-1-mini", "low", "1536x1024"): 0.006,
    ("gpt-image-1-mini", "medium", "1024x1024"): 0.011,
    ("gpt-image-1-mini", "medium", "1024x1536"): 0.015,
    ("gpt-image-1-mini", "medium", "1536x1024"): 0.015,
    ("gpt-image-1-mini", "high", "1024x1024"): 0.036,
    ("gpt-image-1-mini", "high", "1024x1536"): 0.052,
    ("gpt-image-1-mini", "high", "1536x1024"): 0.052,
}


def image_price_usd(model: str, quality: str, size: str) -> float | None:
    """Price of one image, 0 for the demo model, None when we do not know it (never guessed)."""
    if model.startswith("demo"):
        return 0.0
    return IMAGE_PRICES_USD.get((model, quality, size))


# --- a turn's worst-case bound (hosted demo) ---------------------------------------------------------------------------
IMAGE_INPUT_TOKENS = 8_500  # one 512-px picture as gpt-4o-mini bills it (85 + 170 tokens, times its 33x factor)
SYSTEM_AND_FORMAT_TOKENS = 600  # our system messages, role descriptions, tool schemas, message framing
DEFAULT_OUTPUT_CAP = 4_000  # output tokens per call assumed when no cap is set
# gpt-image models also bill the prompt's text tokens, which the per-picture price does not include
IMAGE_PROMPT_USD_PER_TOKEN = {"gpt-image-1": 5e-6, "gpt-image-1-mini": 2e-6}


def tokens_for(text: str | int) -> int:
    """An upper estimate of a text's tokens: half its UTF-8 bytes (English averages ~4 characters a token;
    other scripts and emoji take more bytes, and more tokens, per character). A number is taken as ASCII
    characters."""
    size = text if isinstance(text, int) else len(str(text).encode("utf-8"))
    return size // 2 + 1


def output_cap(settings: Settings) -> int:
    return settings.max_output_tokens or DEFAULT_OUTPUT_CAP


def catalog_provider(settings: Settings | None) -> str | None:
    """The provider name MLflow's catalog prices under: OpenAI's prices only for OpenAI itself."""
    return "openai" if settings is not None and settings.provider == "openai" else None


def chat_bound(settings: Settings, model: str, input_tokens: int, calls: int) -> float | None:
    """The most `calls` model calls with this input can cost, each writing a capped output; None: no price."""
    one = token_cost(model, input_tokens, output_cap(settings), catalog_provider(settings))
    return None if one is None else one * calls


def picture_prompt_usd(settings: Settings, pictures: int, prompt_tokens: int) -> float:
    """What gpt-image models bill for the prompts of `pictures` pictures on top of the per-picture price
    (the app records no span for it: added to the bound, and to the settled cost)."""
    rate = IMAGE_PROMPT_USD_PER_TOKEN.get(settings.image_model or "", 0.0)
    if not rate or settings.provider == "demo":
        return 0.0
    return pictures * prompt_tokens * rate


# --- what a turn spent ------------------------------------------------------------------------------------------------
def turn_cost_usd(picture_costs: Iterable[float | None], chat_cost: float | None) -> float | None:
    """A turn's cost: its pictures (an unknown picture price counts 0, as in the trace) plus its model calls;
    None when a model call's price is unknown (a hosted reservation then keeps its bound)."""
    return None if chat_cost is None else sum(float(c or 0) for c in picture_costs) + chat_cost


def clients_cost_usd(clients: Iterable[Any], settings: Settings | None) -> float | None:
    """What these traced model clients' calls cost, each priced as MLflow prices its span (`usage_cost`: cached
    input tokens at the cache-read rate); None when a model used has no price or a call's tokens are unknown.
    Each client counts once, however often it is listed."""
    if settings is not None and settings.provider == "demo":
        return 0.0  # offline models cost nothing (the catalog has no price for them)
    total = 0.0
    for client in {id(c): c for c in clients}.values():
        for call in client.calls:
            cost = usage_cost(getattr(client, "model", ""), call, catalog_provider(settings))
            if cost is None:
                return None
            total += cost
    return total


def usage_cost(model: str, usage: CallUsage, provider: str | None = None) -> float | None:
    """USD for one call's usage, by MLflow's own function on the very usage attribute its span carries; None when
    the tokens are unknown or the catalog has no price."""
    attribute = usage.attribute()
    if attribute is None:
        return None
    if not attribute[contract.INPUT_TOKENS] and not attribute[contract.OUTPUT_TOKENS]:
        return 0.0
    cost = calculate_cost_by_model_and_token_usage(model, attribute, provider)
    return None if cost is None else float(cost["total_cost"])


@dataclass
class CallTotals:
    """A turn's model calls as billed (the turn's line under it in the chat)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0  # of the input tokens, read from the provider's prompt cache
    reasoning_tokens: int = 0  # of the output tokens
    unknown_calls: int = 0  # calls whose server reported no usage
    models: list[str] = field(default_factory=list)  # the models that answered, in first-use order


def call_totals(clients: Iterable[Any]) -> CallTotals:
    """The calls of these traced clients added up, each client once."""
    totals = CallTotals()
    for client in {id(c): c for c in clients}.values():
        for call in client.calls:
            if not call.known:
                totals.unknown_calls += 1
            totals.input_tokens += call.input_tokens or 0
            totals.output_tokens += call.output_tokens or 0
            totals.cached_tokens += call.cached_tokens
            totals.reasoning_tokens += call.reasoning_tokens
            if (
                (model := str(getattr(client, "model", "") or ""))
                and model not in totals.models
                and (call.input_tokens or call.output_tokens or not call.known)
            ):
                totals.models.append(model)
    return totals


@functools.lru_cache(maxsize=8)
def catalog_chat_models(provider: str = "openai") -> tuple[str, ...]:
    """Chat models of a provider that the catalog prices, for the what-if choice."""
    models = get_models(provider)
    return tuple(
        sorted({m["model"] for m in models if m.get("mode") == "chat" and m.get("input_cost_per_token") and m.get("output_cost_per_token")})
    )


def token_cost(model: str, input_tokens: int, output_tokens: int, provider: str | None = None) -> float | None:
    """USD for this usage on this model, exactly as MLflow prices a span; None when the catalog has no price."""
    if not input_tokens and not output_tokens:
        return 0.0
    cost = calculate_cost_by_model_and_token_usage(
        model, {"input_tokens": int(input_tokens), "output_tokens": int(output_tokens)}, provider
    )
    return None if cost is None else float(cost["total_cost"])


def what_if(calls: pd.DataFrame, model: str) -> pd.DataFrame:
    """Per model used: its tokens, what they cost, and what they would cost on `model`. Prices are linear
    in tokens, so pricing the sums equals pricing each call. Pictures keep their price."""
    chat = calls[calls["kind"] == "chat"]
    rows = []
    for used, group in chat.groupby("model", sort=True):
        input_tokens, output_tokens = int(group["input_tokens"].sum()), int(group["output_tokens"].sum())
        rows.append(
            {
                "model used": used,
                "calls": int(group["calls"].sum()),
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cost_usd": float(group["cost_usd"].sum()),
                f"on {model}": token_cost(model, input_tokens, output_tokens),
            }
        )
    images = calls[calls["kind"] == "image"]
    if len(images):
        price = float(images["cost_usd"].sum())
        rows.append(
            {
                "model used": "pictures (unchanged)",
                "calls": int(images["calls"].sum()),
                "input_tokens": 0,
                "output_tokens": 0,
                "cost_usd": price,
                f"on {model}": price,
            }
        )
    return pd.DataFrame(rows, columns=["model used", "calls", "input_tokens", "output_tokens", "cost_usd", f"on {model}"])
