"""Offline pictures: draw a prompt with Pillow, and measure what a picture looks like.

The demo image model uses `draw`, the demo vision critic uses `analyse`; both are deterministic, so
the same prompt gives the same bytes and the same critique, and tests can rely on that."""

from __future__ import annotations

import hashlib
import io
import math
import random
import re
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageStat

SIZE = 512
MAX_DRAWN_CATS = 150
NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "single": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "dozen": 12,
    "twenty": 20,
    "fifty": 50,
    "hundred": 100,
    "many": 20,
    "several": 5,
    "lots": 40,
    "lot": 40,
    "hundreds": 200,
    "dozens": 36,
    "thousands": 1000,
    "some": 4,
    "few": 3,
}
MONOCHROME_WORDS = ("black and white", "black-and-white", "monochrome", "grayscale", "greyscale", "noir", "b&w")
_CAT = r"(?:kittens?|kitties|kitty|cats?)"


@dataclass(frozen=True)
class PromptFeatures:
    cats: int
    fluffy: bool
    monochrome: bool
    scene: str
    bright: bool
    vivid: bool
    simple: bool


@dataclass(frozen=True)
class PictureStats:
    """What the critic 'sees': all values in 0..1."""

    brightness: float
    colourfulness: float
    busyness: float
    width: int
    height: int

    def words(self) -> str:
        light = "dark" if self.brightness < 0.35 else "bright" if self.brightness > 0.65 else "evenly lit"
        colour = (
            "nearly colourless" if self.colourfulness < 0.12 else "vividly coloured" if self.colourfulness > 0.45 else "softly coloured"
        )
        busy = "very busy" if self.busyness > 0.16 else "calm" if self.busyness < 0.06 else "moderately detailed"
        return f"{light}, {colour} and {busy}"


def count_cats(prompt: str) -> int:
    """How many cats a prompt asks for: the largest count named ("a cat", "12 fluffy cats", "a lot of cats").

    For each cat word, the nearest number-like word among the four before it is its count."""
    words = re.findall(r"[a-z]+|\d+", prompt.lower().replace(",", ""))
    counts = []
    for i, word in enumerate(words):
        if not re.fullmatch(_CAT, word):
            continue
        count = None
        if i > 0 and words[i - 1] in ("no", "zero", "without"):
            counts.append(0)
            continue
        for prev in reversed(words[max(0, i - 4) : i]):
            if prev.isdigit():
                count = int(prev)
            elif prev in NUMBER_WORDS:
                count = NUMBER_WORDS[prev]
            if count is not None:
                break
        counts.append(count if count is not None else (1 if word in ("cat", "kitten", "kitty") else 2))
    return max(counts, default=0)


def features(prompt: str) -> PromptFeatures:
    text = prompt.lower()
    scene = next(
        (s for s in ("matrix", "neon", "alley", "room", "space", "beach", "forest") if re.search(rf"\b{s}s?\b", text)), "meadow"
    )  # whole words: "valley" is no alley
    return PromptFeatures(
        cats=count_cats(prompt),
        fluffy="fluff" in text,
        monochrome=any(w in text for w in MONOCHROME_WORDS),
        scene=scene,
        bright=any(w in text for w in ("bright", "sunny", "warm light", "daylight", "well lit")),
        vivid=any(w in text for w in ("vivid", "colourful", "colorful", "rainbow", "saturated")),
        simple=any(w in text for w in ("simple", "minimal", "clean background", "plain")),
    )


_SCENES = {
    # background top, background bottom, detail colour
    "matrix": ((0, 10, 0), (0, 30, 5), (40, 255, 90)),
    "neon": ((15, 5, 35), (40, 10, 60), (255, 40, 200)),
    "alley": ((35, 30, 40), (70, 55, 50), (150, 70, 50)),
    "room": ((200, 170, 130), (120, 80, 50), (90, 60, 40)),
    "space": ((0, 0, 15), (10, 10, 40), (255, 255, 230)),
    "beach": ((120, 200, 250), (240, 220, 160), (30, 120, 200)),
    "forest": ((60, 120, 70), (20, 60, 25), (10, 40, 15)),
    "meadow": ((140, 200, 255), (90, 170, 70), (250, 250, 250)),
}


def draw(prompt: str, size: int = SIZE) -> bytes:
    """Render the prompt as a PNG: the scene, the cats, the light and colour the words ask for."""
    feats = features(prompt)
    rng = random.Random(hashlib.sha256(prompt.encode("utf-8")).hexdigest())
    top, bottom, detail = _SCENES[feats.scene]
    if feats.bright:
        top, bottom = _lighten(top, 0.55), _lighten(bottom, 0.55)
    img = Image.new("RGB", (size, size))
    pen = ImageDraw.Draw(img)
    for y in range(size):  # vertical gradient
        t = y / (size - 1)
        pen.line([(0, y), (size, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
    _draw_scene_details(pen, feats, detail, rng, size)
    _draw_cats(pen, feats, rng, size)
    # the built-in bitmap font has Latin-1 only
    caption = prompt.strip().replace("\n", " ").replace("—", "-").encode("latin-1", "replace").decode("latin-1")
    caption = caption if len(caption) <= 70 else caption[:67] + "..."
    pen.rectangle([0, size - 22, size, size], fill=(0, 0, 0))
    pen.text((6, size - 17), caption, fill=(255, 255, 255))
    if feats.monochrome:
        img = img.convert("L").convert("RGB")
    elif feats.vivid:
        img = _saturate(img)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _lighten(rgb: tuple[int, int, int], amount: float, warm: tuple[int, int, int] = (255, 205, 130)) -> tuple[int, int, int]:
    """Toward a warm light, not toward white: a brighter picture keeps its colour."""
    r, g, b = (int(c + (w - c) * amount) for c, w in zip(rgb, warm))
    return r, g, b


def _saturate(img: Image.Image) -> Image.Image:
    return ImageEnhance.Color(img).enhance(1.8)


def _draw_scene_details(  # noqa: C901 - over the complexity limit when it came on (issue 28); split it when it next changes
    pen: ImageDraw.ImageDraw, feats: PromptFeatures, colour: tuple[int, int, int], rng: random.Random, size: int
) -> None:
    amount = 8 if feats.simple else 60
    if feats.scene == "matrix":
        for _ in range(amount * 2):
            x, y = rng.randrange(size), rng.randrange(size - 40)
            for k in range(rng.randint(3, 12)):
                pen.text((x, y + k * 11), rng.choice("01$#%&@ZXK"), fill=colour)
    elif feats.scene == "neon":
        for _ in range(amount // 4):
            x, y = rng.randrange(size), rng.randrange(size // 2)
            pen.rectangle([x, y, x + rng.randint(30, 120), y + 8], outline=rng.choice([colour, (40, 220, 255)]), width=3)
    elif feats.scene == "alley":
        for row in range(0, size, 18):
            for col in range(-(row % 36), size, 36):
                pen.rectangle([col, row, col + 34, row + 16], outline=colour)
    elif feats.scene == "room":
        pen.rectangle([size * 0.6, size * 0.15, size * 0.9, size * 0.45], fill=(170, 210, 240), outline=colour, width=6)
        pen.rectangle([0, size * 0.7, size, size], fill=(110, 70, 40))
    elif feats.scene == "space":
        for _ in range(amount * 3):
            x, y = rng.randrange(size), rng.randrange(size)
            pen.point((x, y), fill=colour)
    else:
        for _ in range(amount):
            x, y = rng.randrange(size), rng.randrange(size // 2, size)
            pen.ellipse([x, y, x + 4, y + 4], fill=colour)


def _draw_cats(pen: ImageDraw.ImageDraw, feats: PromptFeatures, rng: random.Random, size: int) -> None:
    n = min(feats.cats, MAX_DRAWN_CATS)
    if n == 0:
        return
    radius = max(7, int(size / (2.2 * math.sqrt(n) + 2)))
    palette = [(240, 150, 60), (60, 60, 60), (250, 250, 250), (160, 110, 70), (200, 200, 210), (30, 30, 30)]
    for _ in range(n):
        cx = rng.randint(radius, size - radius)
        cy = rng.randint(radius + size // 8, size - 24 - radius)
        fur = rng.choice(palette)
        r = radius
        if feats.fluffy:  # tufts around the head
            for k in range(12):
                a = 2 * math.pi * k / 12
                tx, ty = cx + math.cos(a) * r * 0.95, cy + math.sin(a) * r * 0.95
                pen.ellipse([tx - r * 0.3, ty - r * 0.3, tx + r * 0.3, ty + r * 0.3], fill=fur)
        pen.polygon([(cx - r, cy - r * 0.2), (cx - r * 0.7, cy - r * 1.4), (cx - r * 0.2, cy - r * 0.8)], fill=fur)
        pen.polygon([(cx + r, cy - r * 0.2), (cx + r * 0.7, cy - r * 1.4), (cx + r * 0.2, cy - r * 0.8)], fill=fur)
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fur)
        eye = (80, 200, 60)
        e = max(1, r // 5)
        pen.ellipse([cx - r * 0.45 - e, cy - r * 0.2 - e, cx - r * 0.45 + e, cy - r * 0.2 + e], fill=eye)
        pen.ellipse([cx + r * 0.45 - e, cy - r * 0.2 - e, cx + r * 0.45 + e, cy - r * 0.2 + e], fill=eye)
        pen.polygon([(cx - e, cy + r * 0.15), (cx + e, cy + r * 0.15), (cx, cy + r * 0.15 + e)], fill=(230, 120, 150))


def analyse(image: Image.Image) -> PictureStats:
    """Brightness, colourfulness and busyness measured on the pixels, not on any text."""
    rgb = image.convert("RGB")
    small = rgb.resize((128, 128)) if rgb.size != (128, 128) else rgb
    brightness = ImageStat.Stat(small.convert("L")).mean[0] / 255
    saturation = ImageStat.Stat(small.convert("HSV").getchannel("S")).mean[0] / 255
    edges = ImageStat.Stat(small.convert("L").filter(ImageFilter.FIND_EDGES)).mean[0] / 255
    return PictureStats(round(brightness, 3), round(saturation, 3), round(edges, 3), *rgb.size)
