"""Image models: one small interface, an OpenAI implementation over the `openai` SDK, and the Pillow steps
any generated picture goes through (downsizing for a vision model, PNG bytes). Prices are in core.costs: a
gpt-image picture is priced from the usage its server reported (`usage_of`), others per picture."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from openai import AsyncOpenAI
from PIL import Image

from .costs import PicturePrice, PictureUsage, picture_price

if TYPE_CHECKING:
    from .config import Settings


@dataclass(frozen=True)
class GeneratedImage:
    png: bytes
    model: str
    size: str
    quality: str
    revised_prompt: str | None = None
    usage: PictureUsage | None = None  # as the server reported it (gpt-image); None when it reported none
    provider: str | None = None  # the provider MLflow's catalog prices under (core.costs.catalog_provider)

    @property
    def price(self) -> PicturePrice:
        return picture_price(self.model, self.quality, self.size, self.usage, self.provider)

    @property
    def cost_usd(self) -> float | None:
        return self.price.usd


def _count(value: Any) -> int:
    """A token count as a server sent it: a non-negative int, anything else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_of(response: Any) -> PictureUsage | None:
    """A picture's usage from the images API's answer, in the shape the openai SDK types it
    (`openai/types/images_response.py`: `ImagesResponse.usage` = `Usage{input_tokens, output_tokens, total_tokens,
    input_tokens_details: {text_tokens, image_tokens}, output_tokens_details?: {image_tokens, text_tokens}}`, "for
    GPT Image models"). Without output details every output token is an image token. None: no usage (dall-e-3, most
    compatible servers)."""
    usage = getattr(response, "usage", None)
    if usage is None:
        return None
    given, made = getattr(usage, "input_tokens_details", None), getattr(usage, "output_tokens_details", None)
    text_in, image_in = _count(getattr(given, "text_tokens", 0)), _count(getattr(given, "image_tokens", 0))
    if given is None:  # no split: the input is the prompt's text
        text_in = _count(getattr(usage, "input_tokens", 0))
    if made is None:
        return PictureUsage(text_in, image_in, _count(getattr(usage, "output_tokens", 0)))
    return PictureUsage(text_in, image_in, _count(getattr(made, "image_tokens", 0)), _count(getattr(made, "text_tokens", 0)))


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
        provider: str | None = None,
    ):

        self.model, self.size, self.quality, self.provider = model, size, quality, provider
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
            usage=usage_of(response),
            provider=self.provider,
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


def openai_images(settings: Settings) -> OpenAIImageGenerator | None:
    """The sidebar's image model on OpenAI or the OpenAI-compatible server (None when none is chosen): every
    runtime's image agent draws through it."""
    if not settings.image_model:
        return None
    return OpenAIImageGenerator(
        api_key=settings.api_key,
        model=settings.image_model,
        size=settings.image_size,
        quality=settings.image_quality,
        base_url=settings.base_url or None,
        timeout_s=max(settings.request_timeout_s, 120.0),
        max_retries=settings.max_retries,
        provider="openai" if settings.provider == "openai" else None,
    )
