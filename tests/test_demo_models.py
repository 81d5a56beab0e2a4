"""The offline demo models: the critic looks at the pixels and follows the instruction; answers are
deterministic; token usage is plausible; DEMO_LATENCY_MS slows every call."""

from __future__ import annotations

import asyncio
import io
import re
import time

import pytest
from autogen_core import Image
from autogen_core.models import SystemMessage, UserMessage
from PIL import Image as PILImage

from core import image_models
from core.critique import parse
from core.demo import drawing
from core.runtimes.agentchat.demo_models import (
    DemoChatCompletionClient,
    DemoImageGenerator,
    count_image_tokens,
    count_prompt_tokens,
    count_text_tokens,
    latency_s,
)
from core.scenarios.catify import DEFAULT_CRITIC_INSTRUCTION, critic_system_message

DARK = PILImage.new("RGB", (256, 256), (12, 12, 16))
BRIGHT = PILImage.new("RGB", (256, 256), (250, 235, 190))
GREY = PILImage.new("RGB", (256, 256), (128, 128, 128))
RED = PILImage.new("RGB", (256, 256), (200, 30, 30))


def _messages(prompt: str, picture: PILImage.Image | None, instruction: str = DEFAULT_CRITIC_INSTRUCTION):
    content: list = [prompt] if picture is None else [prompt, Image(picture)]
    return [SystemMessage(content=critic_system_message(instruction)), UserMessage(content=content, source="image_agent")]


def _ask(prompt: str, picture: PILImage.Image | None, instruction: str = DEFAULT_CRITIC_INSTRUCTION):
    return asyncio.run(DemoChatCompletionClient("demo-vision").create(_messages(prompt, picture, instruction)))


def _drawn(prompt: str) -> PILImage.Image:
    return image_models.downsize(drawing.draw(prompt), 512)


def test_same_text_different_pixels_different_critique():
    dark, bright = _ask("a cat", DARK), _ask("a cat", BRIGHT)
    assert dark.content != bright.content
    assert "dark" in parse(dark.content).critique
    assert "dark" not in parse(bright.content).critique
    assert "bright light" in parse(dark.content).prompt
    assert "bright light" not in parse(bright.content).prompt


def test_colour_versus_grey_changes_the_critique():
    grey, red = parse(_ask("a cat", GREY).content), parse(_ask("a cat", RED).content)
    assert grey.critique != red.critique
    assert "washed out" in grey.critique and "vivid colour" in grey.prompt
    assert "washed out" not in red.critique and "vivid colour" not in red.prompt


def test_critic_judges_real_drawings():
    """A drawing of a dark scene and one of a bright scene, sent with the same prompt text."""
    text = "a cat"
    dark = parse(_ask(text, _drawn("a cat in the matrix")).content)
    bright = parse(_ask(text, _drawn("a cat in a bright meadow")).content)
    assert dark.critique != bright.critique
    assert "too dark" in dark.critique.lower() and "too dark" not in bright.critique.lower()


@pytest.mark.parametrize("picture", [DARK, BRIGHT, GREY, RED])
@pytest.mark.parametrize("prompt", ["a cat", "The matrix with 3 cats", "a dog on a beach — warm bright light"])
def test_answers_parse_into_a_prompt(prompt, picture):
    result = parse(_ask(prompt, picture).content)
    assert result.prompt
    assert result.critique and result.critique != "(no critique given)"
    assert result.prompt.startswith(prompt.split(" — ")[0])


def test_critic_raises_the_cat_count_toward_the_instruction():
    instruction = "Add fluffy cats. I want at least 100 cats."
    prompt = "The matrix with a cat"
    counts = [drawing.count_cats(prompt)]
    for _ in range(4):
        prompt = parse(_ask(prompt, _drawn(prompt), instruction).content).prompt
        counts.append(drawing.count_cats(prompt))
    assert counts[0] == 1
    assert all(b > a for a, b in zip(counts, counts[1:4])), counts
    assert counts[-1] == 100  # reaches the brief's number and stays there, never beyond
    assert "met" in parse(_ask(prompt, _drawn(prompt), instruction).content).critique


def test_critic_follows_a_smaller_number():
    result = parse(_ask("a cat", GREY, "Add cats. Exactly 5 cats please.").content)
    assert drawing.count_cats(result.prompt) == 5


@pytest.mark.parametrize(
    "instruction, animal", [("Add dogs", "dogs"), ("Add 3 dogs.", "dogs"), ("Add some owls!", "owls"), ("Add more penguins", "penguins")]
)
def test_critic_follows_an_edited_instruction(instruction, animal):
    result = parse(_ask("a cat", GREY, instruction).content)
    assert animal in result.prompt
    assert animal in result.critique
    assert "fluffy cats" not in result.prompt
    assert drawing.count_cats(result.prompt) == 1  # no extra cats asked for


def test_earlier_fixes_are_kept():
    first = parse(_ask("a cat", DARK).content).prompt
    assert "warm bright light" in first
    second = parse(_ask(first, BRIGHT).content).prompt  # now bright: the light fix still applies
    assert "warm bright light" in second


def test_deterministic():
    first, second = _ask("The matrix with a cat", DARK), _ask("The matrix with a cat", DARK)
    assert first.content == second.content
    assert first.usage == second.usage
    assert first.finish_reason == "stop"


def test_token_usage_is_plausible():
    short = _ask("a cat", None).usage
    long = _ask("a cat " + "sitting on a very comfortable red sofa " * 20, None).usage
    with_image = _ask("a cat", GREY).usage
    assert 0 < short.prompt_tokens < long.prompt_tokens
    assert long.prompt_tokens - short.prompt_tokens >= 100
    assert with_image.prompt_tokens - short.prompt_tokens == count_image_tokens(Image(GREY)) == 85 + 170
    assert short.completion_tokens > 0
    big = Image(PILImage.new("RGB", (1024, 1024)))
    assert count_image_tokens(big) == 85 + 170 * 4


def test_completion_tokens_follow_the_answer():
    result = _ask("a cat", DARK)
    assert result.usage.completion_tokens == count_text_tokens(result.content)
    assert result.usage.prompt_tokens == count_prompt_tokens(_messages("a cat", DARK))


def test_client_usage_accumulates():
    client = DemoChatCompletionClient("demo-vision")
    first = asyncio.run(client.create(_messages("a cat", GREY)))
    second = asyncio.run(client.create(_messages("two cats", DARK)))
    assert client.actual_usage() == second.usage
    total = client.total_usage()
    assert total.prompt_tokens == first.usage.prompt_tokens + second.usage.prompt_tokens
    assert total.completion_tokens == first.usage.completion_tokens + second.usage.completion_tokens
    assert client.count_tokens(_messages("a cat", GREY)) == first.usage.prompt_tokens


def test_count_text_tokens():
    assert count_text_tokens("") == 0
    assert count_text_tokens("a cat") == 2
    assert count_text_tokens("a cat.") == 3
    assert count_text_tokens("supercalifragilistic") == 4  # 20 chars, a token per 6
    assert count_text_tokens("cat " * 10) == 10


def test_without_a_picture_the_model_echoes():
    result = _ask("hello there", None)
    assert "CRITICS" not in result.content
    assert "hello there" in result.content


def test_stream_yields_the_same_answer():
    async def go():
        client = DemoChatCompletionClient("demo-vision")
        pieces = [item async for item in client.create_stream(_messages("a cat", DARK))]
        return pieces

    pieces = asyncio.run(go())
    final = pieces[-1]
    assert "".join(pieces[:-1]) == final.content
    assert final.content == _ask("a cat", DARK).content


def test_image_generator_draws_the_prompt():
    image = asyncio.run(DemoImageGenerator().generate("12 fluffy cats"))
    assert image.png == drawing.draw("12 fluffy cats")
    assert (image.model, image.size, image.quality, image.cost_usd) == ("demo-image", "512x512", "standard", 0.0)
    assert PILImage.open(io.BytesIO(image.png)).size == (512, 512)


def test_latency_env_adds_delay(monkeypatch):
    monkeypatch.setenv("DEMO_LATENCY_MS", "0")
    started = time.perf_counter()
    _ask("a cat", GREY)
    fast = time.perf_counter() - started
    monkeypatch.setenv("DEMO_LATENCY_MS", "50")
    started = time.perf_counter()
    _ask("a cat", GREY)
    chat = time.perf_counter() - started
    started = time.perf_counter()
    asyncio.run(DemoImageGenerator().generate("a cat"))
    image = time.perf_counter() - started
    assert chat >= 0.04 and image >= 0.04
    assert chat > fast


@pytest.mark.parametrize("value", ["nonsense", "-20"])
def test_bad_latency_values_mean_none(monkeypatch, value):
    monkeypatch.setenv("DEMO_LATENCY_MS", value)
    assert latency_s() == 0.0


def test_critic_prompt_changes_are_comma_separated_after_a_dash():
    reply = _ask("a cat", DARK).content
    prompt_line = reply.splitlines()[-1]
    assert re.fullmatch(r"PROMPT: a cat — with \d+ fluffy cats(, [a-z ]+)+", prompt_line), prompt_line
