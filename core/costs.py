"""Every price and cost in one place: tokens from the model catalog MLflow ships (the same prices its store
puts on every span), pictures from the tokens the server reported at the catalog's rates (gpt-image) or else
from our per-picture table (dall-e-3: the catalog has no rates for it), what a turn's clients spent, the
pieces of a turn's worst-case bound (hosted demo; each scenario adds them up for its own team), and "what if
this usage ran on another model"."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

import pandas as pd
from mlflow.tracing.utils import calculate_cost_by_model_and_token_usage
from mlflow.utils.providers import _lookup_model_info, get_models

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
    """Our per-picture price, 0 for the demo model, None when we do not know it (never guessed)."""
    if model.startswith("demo"):
        return 0.0
    return IMAGE_PRICES_USD.get((model, quality, size))


# Image tokens a gpt-image picture writes, by (quality, size): OpenAI's image generation guide, "Cost and latency"
# (platform.openai.com/docs/guides/image-generation). The bound prices these at the catalog's image output rate.
IMAGE_OUTPUT_TOKENS: dict[tuple[str, str], int] = {
    ("low", "1024x1024"): 272,
    ("low", "1024x1536"): 408,
    ("low", "1536x1024"): 400,
    ("medium", "1024x1024"): 1056,
    ("medium", "1024x1536"): 1584,
    ("medium", "1536x1024"): 1568,
    ("high", "1024x1024"): 4160,
    ("high", "1024x1536"): 6240,
    ("high", "1536x1024"): 6208,
}


@dataclass(frozen=True)
class PictureUsage:
    """A picture's usage as the images API reported it (gpt-image: `ImagesResponse.usage`, core.image_models)."""

    text_input_tokens: int
    image_input_tokens: int
    image_output_tokens: int
    text_output_tokens: int = 0

    def attribute(self) -> dict[str, int]:
        """The image span's `app.image.usage` (contract.SpanAttr.IMAGE_USAGE)."""
        given = self.text_input_tokens + self.image_input_tokens
        made = self.image_output_tokens + self.text_output_tokens
        counts = {
            "input_tokens": given,
            "output_tokens": made,
            "total_tokens": given + made,
            "text_input_tokens": self.text_input_tokens,
            "image_input_tokens": self.image_input_tokens,
            "image_output_tokens": self.image_output_tokens,
        }
        if self.text_output_tokens:
            counts["text_output_tokens"] = self.text_output_tokens
        return counts


@dataclass(frozen=True)
class ImageRates:
    """USD per token for an image model, from MLflow's catalog entry (None: the catalog has no such rate). The text
    input rate is the entry's `input_cost_per_token`, the image rates its `modality.image` prices per million tokens.
    MLflow's own cost function reads `input_cost_per_token` / `output_cost_per_token` only, so it would price image
    output tokens at $0: we price them here."""

    text_input: float | None
    image_input: float | None
    image_output: float | None
    text_output: float | None

    def missing(self, usage: PictureUsage) -> list[str]:
        """The rates these tokens need that the catalog lacks."""
        needed = (
            ("text input", usage.text_input_tokens, self.text_input),
            ("image input", usage.image_input_tokens, self.image_input),
            ("image output", usage.image_output_tokens, self.image_output),
            ("text output", usage.text_output_tokens, self.text_output),
        )
        return [name for name, tokens, rate in needed if tokens and rate is None]

    def price(self, usage: PictureUsage) -> float:
        return (
            usage.text_input_tokens * (self.text_input or 0.0)
            + usage.image_input_tokens * (self.image_input or 0.0)
            + usage.image_output_tokens * (self.image_output or 0.0)
            + usage.text_output_tokens * (self.text_output or 0.0)
        )


def _per_token(prices: Any, key: str) -> float | None:
    value = prices.get(key) if isinstance(prices, dict) else None
    return float(value) / 1e6 if value is not None else None


def image_rates(model: str, provider: str | None = None) -> ImageRates | None:
    """The catalog's rates for an image model, read as MLflow's `cost_per_token` reads its entry (the provider's
    entry, else any bundled provider's); None when the catalog has no rate at all for it (dall-e-3)."""
    info = (_lookup_model_info(model, provider) if provider else None) or _lookup_model_info(model) or {}
    image = (info.get("modality") or {}).get("image")
    text_in, text_out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    rates = ImageRates(
        text_input=float(text_in) if text_in is not None else None,
        image_input=_per_token(image, "input_per_million_tokens"),
        image_output=_per_token(image, "output_per_million_tokens"),
        text_output=float(text_out) if text_out is not None else None,
    )
    return None if rates == ImageRates(None, None, None, None) else rates


@dataclass(frozen=True)
class PicturePrice:
    """One picture's price: `usd` (None: unknown), whether it came from the server's tokens, and what the catalog
    did not know (a sentence, or "")."""

    usd: float | None
    from_tokens: bool = False
    note: str = ""


def picture_price(model: str, quality: str, size: str, usage: PictureUsage | None, provider: str | None = None) -> PicturePrice:
    """What one picture cost: the server's tokens at the catalog's rates when it reported them and the catalog knows
    every rate they need; else our per-picture table (and a sentence saying why)."""
    if model.startswith("demo"):
        return PicturePrice(0.0)
    table = image_price_usd(model, quality, size)
    rates = image_rates(model, provider)
    if rates is None:
        known = f"priced per picture (${table:.3f})" if table is not None else "not priced (our per-picture table does not list it)"
        return PicturePrice(table, note=f"MLflow's model catalog has no rates for {model}: {known}.")
    if usage is None:
        priced = "priced per picture" if table is not None else "not priced"
        return PicturePrice(table, note=f"The server reported no usage for this {model} picture: {priced}.")
    if missing := rates.missing(usage):
        per_picture = "priced per picture" if table is not None else "not priced"
        return PicturePrice(table, note=f"MLflow's model catalog has no {' or '.join(missing)} rate for {model}: {per_picture}.")
    return PicturePrice(rates.price(usage), from_tokens=True)


def picture_bound(settings: Settings) -> float | None:
    """The most one picture of these settings costs, its prompt's text tokens apart (`picture_prompt_usd`): the larger
    of our per-picture price and the image output tokens of its size and quality at the catalog's rate, so a bound
    stays an upper bound however the picture is priced; None when neither is known."""
    model = settings.image_model or ""
    if not model or model.startswith("demo"):
        return 0.0
    table = image_price_usd(model, settings.image_quality, settings.image_size)
    rates = image_rates(model, catalog_provider(settings))
    tokens = IMAGE_OUTPUT_TOKENS.get((settings.image_quality, settings.image_size))
    by_tokens = tokens * rates.image_output if rates is not None and rates.image_output is not None and tokens else None
    known = [p for p in (table, by_tokens) if p is not None]
    return max(known) if known else None


# --- a turn's worst-case bound (hosted demo) ---------------------------------------------------------------------------
IMAGE_INPUT_TOKENS = 8_500  # one 512-px picture as gpt-4o-mini bills it (85 + 170 tokens, times its 33x factor)
SYSTEM_AND_FORMAT_TOKENS = 600  # our system messages, role descriptions, tool schemas, message framing
DEFAULT_OUTPUT_CAP = 4_000  # output tokens per call assumed when no cap is set


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
    """What gpt-image models bill for the text of `pictures` prompts on top of the per-picture price, at the catalog's
    text input rate: part of the bound; settled only for pictures priced per picture (one priced from the server's
    tokens has its prompt's tokens in its price)."""
    if settings.provider == "demo" or not settings.image_model:
        return 0.0
    rates = image_rates(settings.image_model, catalog_provider(settings))
    rate = rates.text_input if rates is not None else None
    return pictures * prompt_tokens * rate if rate else 0.0


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
    if not attribute[contract.Usage.INPUT_TOKENS] and not attribute[contract.Usage.OUTPUT_TOKENS]:
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


def model_for(settings: Settings, asked: str) -> str:
    """The model an agent gets when its team file asks for `asked`: the same on OpenAI when MLflow's catalog
    prices it as an OpenAI chat model (so its cost is known); the sidebar's chat model otherwise (the demo
    provider, and an OpenAI-compatible server, which serves the models its owner chose)."""
    if settings.provider == "openai" and asked and asked in catalog_chat_models("openai"):
        return asked
    return settings.chat_model


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


def money(value: Any) -> str:
    """One way to write a cost everywhere: $0.0123; tiny amounts keep their first digits ($0.0000093)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    if number != number:  # NaN
        return ""
    if 0 < abs(number) < 0.0001:
        digits = f"{abs(number):.2g}"  # the first two significant digits, written out
        return "$" + ("-" if number < 0 else "") + f"{float(digits):.12f}".rstrip("0")
    return f"${number:,.4f}"
