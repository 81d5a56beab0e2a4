"""Image models: one small interface, an OpenAI implementation over the `openai` SDK, and the Pillow steps
any generated picture goes through (downsizing for a vision model, PNG bytes). Prices are in core.costs."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Protocol

from openai import AsyncOpenAI
from PIL import Image

from .costs import image_price_usd


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

    async def close(self) -> None: ...


class OpenAIImageGenerator:
    """Images through the official SDK, which brings retries with backoff and timeouts."""

    def __init__(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
        self,
        *,
        api_key: str,
        model: str,
        size: str,
        quality: str,
        base_url: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 2,
    ):

        self.model, self.size, self.quality = model, size, quality
        self._client = AsyncOpenAI(api_key=api_key or "not-needed", base_url=base_url or None, timeout=timeout_s, max_retries=max_retries)

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
        return GeneratedImage(
            png=base64.b64decode(item.b64_json),
            model=self.model,
            size=self.size,
            quality=self.quality,
            revised_prompt=getattr(item, "revised_prompt", None),
        )

    async def close(self) -> None:
        await self._client.close()


def downsize(png: bytes, max_side: int = 512) -> Image.Image:
    """The copy a vision model is sent: small enough to be cheap, large enough to judge."""
    with Image.open(io.BytesIO(png)) as opened:
        img = opened.convert("RGB")
    img.thumbnail((max_side, max_side))
    return img


def to_png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header, without decoding it."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
