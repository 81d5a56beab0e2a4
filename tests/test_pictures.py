"""The offline image model: deterministic, and the words of a prompt visibly change the picture."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageStat

from core import image_models
from core.demo import drawing
from core.demo.drawing import analyse, count_cats, draw
from tests.pictures_seen import eyes


def _image(prompt: str) -> Image.Image:
    img = Image.open(io.BytesIO(draw(prompt)))
    img.load()
    return img


def _stats(prompt: str) -> drawing.PictureStats:
    return analyse(_image(prompt))


def _mean_rgb(prompt: str) -> tuple[float, float, float]:
    """Mean colour of the picture above the caption bar."""
    img = _image(prompt).convert("RGB")
    body = img.crop((0, 0, img.width, img.height - 24))
    return tuple(ImageStat.Stat(body).mean)  # type: ignore[return-value]


def test_draw_is_a_png_of_the_documented_size():
    img = _image("a cat")
    assert img.format == "PNG"
    assert img.size == (drawing.SIZE, drawing.SIZE)


@pytest.mark.parametrize("prompt", ["a cat", "The matrix with 12 fluffy cats", "a dog in a bright room, monochrome"])
def test_draw_is_deterministic(prompt):
    assert draw(prompt) == draw(prompt)
    assert analyse(_image(prompt)) == analyse(_image(prompt))


def test_different_prompts_give_different_bytes():
    assert draw("a cat") != draw("a cat!")
    assert draw("a cat") != draw("12 cats")


def test_more_cats_make_a_busier_picture():
    one, twelve, hundred = _stats("a cat").busyness, _stats("12 cats").busyness, _stats("100 cats").busyness
    assert one < twelve < hundred
    assert hundred > one * 2


@pytest.mark.parametrize("prompt, cats", [("a dog", 0), ("a cat", 1), ("12 cats", 12), ("7 fluffy kittens in the rain", 7)])
def test_cats_are_drawn_as_many_as_asked(prompt, cats):
    """Each cat in a cell of its own, with two white eyes: counted on the pixels."""
    assert eyes(_image(prompt)) == cats


def test_a_critics_changes_win_over_the_users_message():
    prompt = "Three cats on a sunny beach — with one cat, in a dark rainy alley, at night"
    feats = drawing.features(prompt)
    assert (feats.cats, feats.scene, feats.weather, feats.light) == (1, "alley", "rain", "dark")
    assert eyes(_image(prompt)) == 1


def _pixels_of(prompt: str, colour: tuple[int, int, int]) -> int:
    return sum(1 for px in _image(prompt).convert("RGB").getdata() if px == colour)


def test_rain_is_drawn_as_streaks_and_night_darkens():
    rain = (175, 190, 215)
    assert _pixels_of("a cat in a meadow in the rain", rain) > 1000 and _pixels_of("a cat in a meadow", rain) == 0
    assert _stats("a cat in a meadow at night").brightness < _stats("a cat in a meadow").brightness * 0.6


def test_pixel_art_is_blocks_and_watercolour_is_soft():
    picture = _image("a cat in a meadow, pixel art").convert("RGB")
    block = drawing.PIXEL_BLOCK
    corners = [(x, y) for x in range(0, 480, block) for y in range(0, 480, block)]
    assert all(picture.getpixel((x, y)) == picture.getpixel((x + block - 1, y + block - 1)) for x, y in corners)
    soft, sharp = (analyse(_image(p).crop((0, 0, 512, 480))) for p in ("12 cats in a meadow, watercolour", "12 cats in a meadow"))
    assert soft.busyness < sharp.busyness * 0.75  # above the caption, which stays sharp (edges of the frame remain)


@pytest.mark.parametrize(
    "prompt", ["a cat in black and white", "a cat, monochrome", "12 cats in the matrix, greyscale", "a neon alley with cats, b&w"]
)
def test_black_and_white_has_no_colour(prompt):
    assert _stats(prompt).colourfulness == pytest.approx(0.0, abs=0.01)
    plain = prompt.split(",")[0].replace(" in black and white", "")
    assert _stats(plain).colourfulness > 0.1  # the same picture in colour is coloured


# no cats here: one big cat of a random fur colour would move the brightness more than the light does
@pytest.mark.parametrize("scene", ["a meadow", "a room", "the matrix", "an alley", "neon signs", "a beach", "space"])
@pytest.mark.parametrize("light", ["bright", "in warm light", "sunny"])
def test_bright_words_raise_brightness(scene, light):
    assert _stats(f"{scene}, {light}").brightness > _stats(scene).brightness + 0.01


def test_bright_light_lifts_dark_scenes_a_lot():
    for scene in ("the matrix", "an alley", "neon signs", "space"):
        assert _stats(f"{scene}, bright").brightness > _stats(scene).brightness + 0.15


def test_bright_words_with_many_cats():
    assert _stats("40 cats in the matrix, in warm light").brightness > _stats("40 cats in the matrix").brightness


def test_vivid_raises_colourfulness():
    for scene in ("a room", "a meadow", "an alley"):
        assert _stats(f"{scene}, vivid").colourfulness > _stats(scene).colourfulness + 0.05


SCENES = ["a meadow", "the matrix", "neon signs", "a room", "an alley", "a beach", "space"]


def test_scene_words_change_the_picture():
    pictures_by_scene = {p: draw(p) for p in SCENES}
    assert len(set(pictures_by_scene.values())) == len(SCENES)
    means = [_mean_rgb(p) for p in SCENES]
    for i in range(len(means)):
        for j in range(i + 1, len(means)):
            distance = sum(abs(a - b) for a, b in zip(means[i], means[j]))
            assert distance > 15, (SCENES[i], SCENES[j], means[i], means[j])


def test_scene_colours_look_like_the_scene():
    r, g, b = _mean_rgb("the matrix")
    assert g > r and g > b and max(r, g, b) < 80  # dark and green
    assert _stats("the matrix").brightness < 0.35
    r, g, b = _mean_rgb("neon signs")
    assert r > g and b > g  # magenta/purple
    assert _stats("a room").brightness > _stats("an alley").brightness
    r, g, b = _mean_rgb("a beach")
    assert b > r and _stats("a beach").brightness > 0.6  # sky and sand
    assert _stats("space").brightness < _stats("the matrix").brightness + 0.05


def test_scene_words_change_a_picture_with_cats():
    with_cats = {draw(f"12 cats in {scene}") for scene in SCENES}
    assert len(with_cats) == len(SCENES)


@pytest.mark.parametrize(
    "prompt, cats",
    [
        ("a cat", 1),
        ("A cat", 1),
        ("an old kitten", 1),
        ("12 fluffy cats", 12),
        ("A lot of cats", 40),
        ("lots of cats", 40),
        ("a dog", 0),
        ("", 0),
        ("a catalogue of concatenated scatterplots", 0),
        ("twelve cats", 12),
        ("a dozen cats", 12),
        ("two kittens", 2),
        ("three fluffy kitties", 3),
        ("cats", 2),
        ("Hundreds of cats", 200),
        ("100 cats", 100),
        ("1,000 cats", 1000),
        ("several small grey cats", 5),
        ("a cat and 3 dogs", 1),
        ("a cat with twelve kittens", 12),
        ("The matrix with a cat — with 96 fluffy cats, warm bright light", 96),
    ],
)
def test_count_cats(prompt, cats):
    assert count_cats(prompt) == cats


def test_features_follow_the_words():
    f = drawing.features("12 fluffy cats in a bright neon room, black and white, simple")
    assert (f.cats, f.fluffy, f.monochrome, f.bright, f.simple) == (12, True, True, True, True)
    assert f.scene == "neon"  # the first scene word in the list wins
    g = drawing.features("a dog")
    assert (g.cats, g.fluffy, g.monochrome, g.bright, g.vivid, g.simple, g.scene) == (0, False, False, False, False, False, "meadow")


def test_analyse_measures_pixels():
    black = analyse(Image.new("RGB", (64, 64), (0, 0, 0)))
    white = analyse(Image.new("RGB", (64, 64), (255, 255, 255)))
    red = analyse(Image.new("RGB", (64, 64), (255, 0, 0)))
    assert black.brightness == 0 and white.brightness == 1
    assert white.colourfulness == 0 and red.colourfulness == 1
    assert black.busyness == 0
    stripes = Image.new("RGB", (128, 128), (0, 0, 0))
    for x in range(0, 128, 4):
        stripes.paste((255, 255, 255), (x, 0, x + 2, 128))
    assert analyse(stripes).busyness > 0.3
    assert (black.width, black.height) == (64, 64)
    assert "dark" in black.words() and "bright" in white.words() and "vividly coloured" in red.words()


def test_downsize_keeps_aspect_and_limits_size():
    big = Image.new("RGB", (1024, 512), (10, 20, 30))
    small = image_models.downsize(image_models.to_png(big), 256)
    assert small.size == (256, 128)
    assert small.getpixel((5, 5)) == (10, 20, 30)


@pytest.mark.parametrize("prompt, scene", [("a valley", "meadow"), ("a mushroom", "meadow"), ("two rooms", "room"), ("an alley", "alley")])
def test_scene_words_match_whole_words_only(prompt, scene):
    assert drawing.features(prompt).scene == scene


@pytest.mark.parametrize("prompt, cats", [("no cats", 0), ("a garden without cats", 0), ("a cat and no dogs", 1)])
def test_negated_cats_count_zero(prompt, cats):
    assert drawing.count_cats(prompt) == cats
