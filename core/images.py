"""Image generation: one small interface, an OpenAI implementation over the `openai` SDK, and the
per-image price table (MLflow's catalog prices tokens, not pictures)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Protocol

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


@dataclass(frozen=True)
class GeneratedImage:
    png: bytes
    model: str
    size: str
    quality: str
    revised_prompt: str | None = None

    @property
    def cost_usd(self) -> float | None:
        return image_price_usd(self.model, self.quality, self.size)


class ImageGenerator(Protocol):
    model: str

    async def generate(self, prompt: str) -> GeneratedImage: ...


class OpenAIImageGenerator:
    """Images through the official SDK, which brings retries with backoff and timeouts."""

    def __init__(self, *, api_key: str, model: str, size: str, quality: str, base_url: str | None = None,
                 timeout_s: float = 120.0, max_retries: int = 2):
        from openai import AsyncOpenAI

        self.model, self.size, self.quality = model, size, quality
        self._client = AsyncOpenAI(api_key=api_key or "not-needed", base_url=base_url or None,
                                   timeout=timeout_s, max_retries=max_retries)

    async def generate(self, prompt: str) -> GeneratedImage:
        kwargs: dict = {"model": self.model, "prompt": prompt, "size": self.size, "n": 1}
        if self.quality:
            kwargs["quality"] = self.quality
        if self.model.startswith("dall-e"):
            kwargs["response_format"] = "b64_json"  # gpt-image-* always answers base64 and rejects this
        response = await self._client.images.generate(**kwargs)
        if not response.data or not response.data[0].b64_json:
            raise ValueError(f"The image model {self.model} returned no image data.")
        item = response.data[0]
        return GeneratedImage(png=base64.b64decode(item.b64_json), model=self.model, size=self.size,
                              quality=self.quality, revised_prompt=getattr(item, "revised_prompt", None))

    async def close(self) -> None:
        await self._client.close()
