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
MONOCHROME_WORDS = ("black and white", "black-and-white", "black & white", "monochrome", "grayscale", "greyscale", "noir", "b&w")
_CAT = r"(?:kittens?|kitties|kitty|cats?)"
PIXEL_BLOCK = 8  # pixel art: the picture in blocks of this many pixels
# words a prompt names a style, a place, the weather or the light with (whole words; a plural s is allowed)
STYLES = {
    "pixel art": r"pixel[ -]?art|pixelated|[0-9]+[ -]?bit|retro (?:video )?game",
    "watercolour": r"water ?colou?rs?|aquarelle",
}
SCENE_WORDS = {  # the first scene the prompt names, in this order, is drawn
    "matrix": r"matrix",
    "neon": r"neon|cyberpunk",
    "alley": r"alley|street|city|town|lane|backstreet",
    "room": r"room|sofa|couch|windowsill|window|kitchen|bedroom|fireplace|library|indoors|bed",
    "space": r"space|galaxy|stars|moon",
    "beach": r"beach|sea|ocean|shore|coast|seaside|harbou?r",
    "forest": r"forest|woods|woodland|jungle|trees",
    "snow": r"snowy|snow|mountain|arctic|winter|glacier",
    "meadow": r"meadow|garden|park|field|grass|lawn",
}
WEATHER_WORDS = {
    "rain": r"rain|rainy|raining|pouring|drizzle|downpour|storm|stormy|wet",
    "snow": r"snow|snowy|snowing|snowfall|blizzard",
    "fog": r"fog|foggy|mist|misty|haze|hazy",
}
LIGHT_WORDS = {
    "dark": r"dark|darker|night|midnight|moody|dim|shadowy|shadows|gloomy|low light|candlelit|candlelight|dusk",
    "bright": r"bright|brighter|sunny|sunshine|daylight|sunlit|well lit|warm light|noon",
}


@dataclass(frozen=True)
class PromptFeatures:
    cats: int
    fluffy: bool
    monochrome: bool
    scene: str
    bright: bool
    vivid: bool
    simple: bool
    style: str | None = None  # "pixel art", "watercolour"
    weather: str | None = None  # "rain", "snow", "fog"
    light: str | None = None  # "dark", "bright"


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


def cat_counts(text: str) -> list[tuple[int, bool]]:
    """Each cat word's count, and whether a number was said for it ("two kittens": (2, True); "cats": (2, False)).

    For each cat word, the nearest number-like word among the four before it is its count; "no cats" is 0."""
    words = re.findall(r"[a-z]+|\d+", text.lower().replace(",", ""))
    counts: list[tuple[int, bool]] = []
    for i, word in enumerate(words):
        if not re.fullmatch(_CAT, word):
            continue
        count = None
        if i > 0 and words[i - 1] in ("no", "zero", "without"):
            counts.append((0, True))
            continue
        for prev in reversed(words[max(0, i - 4) : i]):
            if prev.isdigit():
                count = int(prev)
            elif prev in NUMBER_WORDS:
                count = NUMBER_WORDS[prev]
            if count is not None:
                break
        counts.append((count, True) if count is not None else (1 if word in ("cat", "kitten", "kitty") else 2, False))
    return counts


def _changes_first(prompt: str) -> list[str]:
    """Where to look for a feature: a critic's prompt is "<the user's message> — <changes>", and its changes win."""
    head, dash, tail = prompt.partition(" — ")
    return [tail, head] if dash else [prompt]


def count_cats(prompt: str) -> int:
    """How many cats a prompt asks for: the largest count named ("a cat", "12 fluffy cats", "a lot of cats"); in a
    critic's prompt, the count its changes name ("a cat — with no cats" draws none)."""
    for part in _changes_first(prompt):
        counts = cat_counts(part)
        if counts:
            return max(count for count, _ in counts)
    return 0


def _named(patterns: dict[str, str], text: str) -> str | None:
    """The first key (in the dict's order) whose words the text names as whole words ("valley" is no alley)."""
    return next((key for key, words in patterns.items() if re.search(rf"\b(?:{words})s?\b", text)), None)


def first_named(patterns: dict[str, str], prompt: str) -> str | None:
    """What a prompt names of a kind (scene, light, weather), its changes before the user's message."""
    return next((found for part in _changes_first(prompt.lower()) if (found := _named(patterns, part)) is not None), None)


def features(prompt: str) -> PromptFeatures:
    text = prompt.lower()
    light = first_named(LIGHT_WORDS, prompt)
    return PromptFeatures(
        cats=count_cats(prompt),
        fluffy="fluff" in text,
        monochrome=any(w in text for w in MONOCHROME_WORDS),
        scene=first_named(SCENE_WORDS, prompt) or "meadow",
        bright=light == "bright",
        vivid=any(w in text for w in ("vivid", "colourful", "colorful", "rainbow", "saturated")),
        simple=any(w in text for w in ("simple", "minimal", "clean background", "plain")),
        style=_named(STYLES, text),
        weather=first_named(WEATHER_WORDS, prompt),
        light=light,
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
    "snow": ((170, 195, 230), (235, 240, 248), (120, 130, 150)),
    "meadow": ((140, 200, 255), (90, 170, 70), (250, 250, 250)),
}
EYE_WHITE = (255, 255, 255)  # nothing else above the caption is pure white: the eyes can be counted on the pixels
_NIGHT = (12, 12, 30)
_PAPER = (248, 244, 236)


def draw(prompt: str, size: int = SIZE) -> bytes:
    """Render the prompt as a PNG: the scene, the weather, the cats, the light, the style and colour the words
    ask for (changes after " — " win over the user's message)."""
    feats = features(prompt)
    rng = random.Random(hashlib.sha256(prompt.encode("utf-8")).hexdigest())
    top, bottom, detail = _SCENES[feats.scene]
    if feats.light == "bright":
        top, bottom = _lighten(top, 0.55), _lighten(bottom, 0.55)
    img = Image.new("RGB", (size, size))
    pen = ImageDraw.Draw(img)
    for y in range(size):  # vertical gradient
        t = y / (size - 1)
        pen.line([(0, y), (size, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
    _draw_scene_details(pen, feats, detail, rng, size)
    _draw_weather(img, pen, feats.weather, rng, size)
    eyes = _draw_cats(pen, feats, rng, size)
    if feats.light == "dark":
        img = Image.blend(img, Image.new("RGB", img.size, _NIGHT), 0.5)
        pen = ImageDraw.Draw(img)
    for (ex, ey), e in eyes:  # after the light: eyes shine in the dark too
        pen.ellipse([ex - e, ey - e, ex + e, ey + e], fill=EYE_WHITE)
        if e >= 3:  # a slit pupil that leaves the white in one piece
            pen.ellipse([ex - e / 4, ey - e * 0.6, ex + e / 4, ey + e * 0.6], fill=(20, 20, 20))
    img = _styled(img, feats.style)
    pen = ImageDraw.Draw(img)
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


def _styled(img: Image.Image, style: str | None) -> Image.Image:
    """Watercolour: soft edges and paper showing through; pixel art: blocks of PIXEL_BLOCK pixels."""
    if style == "watercolour":
        soft = img.filter(ImageFilter.GaussianBlur(6))
        return Image.blend(soft, Image.new("RGB", img.size, _PAPER), 0.3)
    if style == "pixel art":
        small = img.resize((img.width // PIXEL_BLOCK, img.height // PIXEL_BLOCK), Image.Resampling.BOX)
        return small.resize(img.size, Image.Resampling.NEAREST)
    return img


def _draw_weather(img: Image.Image, pen: ImageDraw.ImageDraw, weather: str | None, rng: random.Random, size: int) -> None:
    """Rain as slanted streaks, snow as flakes, fog as a veil; under the cats, who stay in view."""
    if weather == "rain":
        for _ in range(220):
            x, y, length = rng.randrange(-40, size), rng.randrange(size - 40), rng.randint(14, 30)
            pen.line([(x, y), (x + length * 0.35, y + length)], fill=(175, 190, 215), width=1)
    elif weather == "snow":
        for _ in range(180):
            x, y, r = rng.randrange(size), rng.randrange(size - 30), rng.choice((1, 2, 2, 3))
            pen.ellipse([x - r, y - r, x + r, y + r], fill=(240, 243, 250))
    elif weather == "fog":
        img.paste(Image.blend(img, Image.new("RGB", img.size, (200, 200, 205)), 0.4))


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


def _cells(n: int, size: int) -> tuple[int, int, float, float, float]:
    """A grid with a cell per cat (none overlaps, so each can be seen and counted): columns, rows, cell width and
    height, and the cat's radius that fits a cell with its ears and tufts."""
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    width, height = size / cols, (size - 24 - size // 8) / rows
    return cols, rows, width, height, max(4.0, min(width, height) / 3.2)


def _draw_cats(pen: ImageDraw.ImageDraw, feats: PromptFeatures, rng: random.Random, size: int) -> list[tuple[tuple[float, float], int]]:
    """The cats, each in a cell of its own; returns where their eyes go (drawn last, after the light)."""
    n = min(feats.cats, MAX_DRAWN_CATS)
    if n == 0:
        return []
    cols, _, width, height, r = _cells(n, size)
    palette = [(240, 150, 60), (60, 60, 60), (250, 250, 250), (160, 110, 70), (200, 200, 210), (30, 30, 30)]
    eyes: list[tuple[tuple[float, float], int]] = []
    for index in range(n):
        left, top = (index % cols) * width, size // 8 + (index // cols) * height
        cx = left + rng.uniform(1.3 * r, max(1.3 * r, width - 1.3 * r))
        cy = top + rng.uniform(1.45 * r, max(1.45 * r, height - 1.3 * r))
        fur = rng.choice(palette)
        if feats.fluffy:  # tufts around the head
            for k in range(12):
                a = 2 * math.pi * k / 12
                tx, ty = cx + math.cos(a) * r * 0.95, cy + math.sin(a) * r * 0.95
                pen.ellipse([tx - r * 0.3, ty - r * 0.3, tx + r * 0.3, ty + r * 0.3], fill=fur)
        pen.polygon([(cx - r, cy - r * 0.2), (cx - r * 0.7, cy - r * 1.4), (cx - r * 0.2, cy - r * 0.8)], fill=fur)
        pen.polygon([(cx + r, cy - r * 0.2), (cx + r * 0.7, cy - r * 1.4), (cx + r * 0.2, cy - r * 0.8)], fill=fur)
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fur)
        e = max(1, int(r) // 5)
        eyes += [((cx - r * 0.45, cy - r * 0.2), e), ((cx + r * 0.45, cy - r * 0.2), e)]
        pen.polygon([(cx - e, cy + r * 0.15), (cx + e, cy + r * 0.15), (cx, cy + r * 0.15 + e)], fill=(230, 120, 150))
    return eyes


def analyse(image: Image.Image) -> PictureStats:
    """Brightness, colourfulness and busyness measured on the pixels, not on any text."""
    rgb = image.convert("RGB")
    small = rgb.resize((128, 128)) if rgb.size != (128, 128) else rgb
    brightness = ImageStat.Stat(small.convert("L")).mean[0] / 255
    saturation = ImageStat.Stat(small.convert("HSV").getchannel("S")).mean[0] / 255
    edges = ImageStat.Stat(small.convert("L").filter(ImageFilter.FIND_EDGES)).mean[0] / 255
    return PictureStats(round(brightness, 3), round(saturation, 3), round(edges, 3), *rgb.size)
