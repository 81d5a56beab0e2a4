"""What a picture is asked to be, read from words: the demo critic's brief (core/runtimes/agentchat/demo_models.py `critic_reply`).

People write a critic instruction ("Make it film noir: black and white, one cat, a dark rainy alley, moody light")
and a first message ("A cat on a windowsill") in their own words. A `Brief` holds what the demo can draw of them:
styles, how many cats (exactly, or at least), other things to add, the place, the weather, the light and the mood,
each with the phrase the critic's next prompt carries (and `drawing.features` reads back). Deterministic: the same
words give the same brief."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from . import drawing

_NOIR = re.compile(r"\bnoir\b")
_MINIMUM = re.compile(
    r"\bat least\b|\bor more\b|\bmore than\b|\b(?:less|fewer) than\b|\ba lot\b|\blots\b|\bloads\b|\btons\b|\bplenty\b|"
    r"\bas many\b|\bhundreds\b|\bthousands\b|\bdozens\b|\bmore (?:fluffy )?(?:cats|kittens)\b"
)
_NO_CATS = re.compile(r"\b(?:remove|get rid of|take out|lose|drop)\s+(?:all\s+)?(?:the\s+)?(?:cats?|kittens?)\b|\bcat-free\b")
_ADD = re.compile(r"\badd\s+(?:(?:some|more|\d+)\s+)*([a-z][a-z -]*?)(?:[.!,;]|$)")
_CLAUSES = re.compile(r"[,.;:!?()\n]+|\s+-\s+|\s+—\s+")
_PREPOSITIONS = {"in", "on", "at", "by", "under", "inside", "into", "through", "near", "across", "over", "beside", "onto"}
_DETERMINERS = {"a", "an", "the", "some", "this", "that", "my", "our"}
_ON_PLACES = re.compile(r"\b(?:beach|sofa|couch|windowsill|mountain|lawn|roof|rooftop|shore|bed)s?\b")
_LIGHT_PHRASE = re.compile(r"\b((?:[a-z-]+\s+){0,2}?(?:light|lighting|candlelight|sunlight|moonlight|glow))\b")
_MOODS = {
    "moody": "dark",
    "gloomy": "dark",
    "melancholy": "dark",
    "eerie": "dark",
    "spooky": "dark",
    "mysterious": "dark",
    "dramatic": "dark",
    "romantic": None,
    "calm": None,
    "peaceful": None,
    "cosy": None,
    "cozy": None,
    "cheerful": "bright",
    "happy": "bright",
    "playful": "bright",
}
_WEATHER_PHRASES = {"rain": "in the rain", "snow": "falling snow", "fog": "in the fog"}
_MONOCHROME = tuple(w for w in drawing.MONOCHROME_WORDS if w != "noir")


@dataclass(frozen=True)
class Brief:
    styles: tuple[str, ...] = ()  # "film noir", "black and white", "watercolour", "pixel art"
    cats: int | None = None  # None: the words say nothing about how many cats
    at_least: bool = False  # a minimum ("at least 100", "a lot of cats"), not an exact count
    cat_word: str = "cats"  # "kittens" when they said kittens
    fluffy: bool = False
    subject: str | None = None  # something else to add ("dogs")
    place: str | None = None  # the phrase: "in a dark rainy alley"
    scene: str | None = None  # the drawing's scene for it
    weather: str | None = None
    weather_phrase: str | None = None
    light: str | None = None  # "dark" / "bright"
    light_phrase: str | None = None
    mood: str | None = None

    @property
    def monochrome(self) -> bool:
        return "black and white" in self.styles

    def over(self, other: Brief) -> Brief:
        """This brief, with what it leaves open taken from `other` (the instruction over the user's message)."""
        names: tuple[str, ...] = ("place", "scene", "weather", "weather_phrase", "light", "light_phrase", "mood")
        if self.cats is None:
            names += ("cats", "at_least", "cat_word")
        taken: dict[str, Any] = {
            name: getattr(other, name) for name in names if getattr(self, name) is None or name in ("at_least", "cat_word")
        }
        return replace(self, styles=tuple(dict.fromkeys(self.styles + other.styles)), **taken)


def read(text: str) -> Brief:
    """The brief a text gives (an instruction, or the user's message)."""
    lowered = (text or "").lower()
    light, light_phrase = _light(lowered)
    mood = next((m for m in _MOODS if re.search(rf"\b{m}\b", lowered)), None)
    if light is None and mood is not None:
        light = _MOODS[mood]
    place, scene = _place(lowered)
    weather = drawing.first_named(drawing.WEATHER_WORDS, lowered)
    in_place = place is not None and weather is not None and drawing.first_named(drawing.WEATHER_WORDS, place) == weather
    cats, at_least, cat_word = _cats(lowered)
    added = _ADD.search(lowered)
    subject = added.group(1).strip() if added and not re.search(r"\bcats?\b|kitten", added.group(1)) else None
    return Brief(
        styles=_styles(lowered),
        cats=cats,
        at_least=at_least,
        cat_word=cat_word,
        fluffy="fluff" in lowered,
        subject=subject,
        place=place,
        scene=scene,
        weather=weather,
        weather_phrase=None if weather is None or in_place else _WEATHER_PHRASES[weather],
        light=light,
        light_phrase=light_phrase,
        mood=mood if mood is not None and (light_phrase is None or mood not in light_phrase) else None,
    )


def _styles(text: str) -> tuple[str, ...]:
    styles = []
    if _NOIR.search(text):
        styles.append("film noir")
    if _NOIR.search(text) or any(w in text for w in _MONOCHROME):
        styles.append("black and white")
    styles += [style for style, words in drawing.STYLES.items() if re.search(rf"\b(?:{words})\b", text)]
    return tuple(styles)


def _cats(text: str) -> tuple[int | None, bool, str]:
    """How many cats, whether that is a minimum, and the word for them. Nothing said: None (the count stays)."""
    word = "kittens" if re.search(r"\bkitt(?:en|ie)s?\b", text) else "cats"
    if _NO_CATS.search(text):
        return 0, False, word
    counts = drawing.cat_counts(text)
    said = [count for count, explicit in counts if explicit]
    at_least = bool(_MINIMUM.search(text))
    if said:
        return (max(said) if at_least else said[-1]), at_least, word
    if counts and re.search(r"\b(?:add|more)\b", text):
        return 10, True, word  # "add cats": more of them than there are, ten at least
    return None, False, word


def _light(text: str) -> tuple[str | None, str | None]:
    light = drawing.first_named(drawing.LIGHT_WORDS, text)
    phrase = _LIGHT_PHRASE.search(text)
    if phrase is not None:
        return light or drawing.first_named(drawing.LIGHT_WORDS, phrase.group(1)), phrase.group(1).strip()
    if light is None:
        return None, None
    if re.search(r"\b(?:night|midnight)\b", text):
        return light, "at night"
    return light, "low light" if light == "dark" else "bright daylight"


def _place(text: str) -> tuple[str | None, str | None]:
    """The first clause naming a place, as a phrase ("in a dark rainy alley"), and the scene it draws."""
    for clause in _CLAUSES.split(text):
        words = clause.split()
        found = [i for i, w in enumerate(words) if drawing.first_named(drawing.SCENE_WORDS, w) is not None]
        if not found:
            continue
        start, end = found[0], found[0] + 1
        while end < len(words) and end in found:
            end += 1
        start = _left_edge(words, start)
        phrase = " ".join(words[start:end])
        if words[start] not in _PREPOSITIONS:
            phrase = f"{'on' if _ON_PLACES.search(phrase) else 'in'} {phrase}"
        return phrase, drawing.first_named(drawing.SCENE_WORDS, phrase)
    return None, None


def _left_edge(words: list[str], start: int) -> int:
    """How far left a place's phrase reaches: its adjectives, up to a determiner and the preposition before it."""
    for _ in range(3):
        if start == 0:
            break
        before = words[start - 1]
        if before in _PREPOSITIONS:
            return start - 1
        if before in drawing.NUMBER_WORDS and before not in _DETERMINERS or re.search(r"\d|cat|kitt", before):
            break
        start -= 1
        if before in _DETERMINERS:
            return start - 1 if start > 0 and words[start - 1] in _PREPOSITIONS else start
    return start


def cats_phrase(brief: Brief, count: int) -> str:
    """ "with no cats", "with one cat", "with 12 fluffy cats"."""
    fluffy = "fluffy " if brief.fluffy else ""
    if count == 0:
        return f"with no {brief.cat_word}"
    if count == 1:
        return f"with one {fluffy}{brief.cat_word[:-1]}"
    return f"with {count} {fluffy}{brief.cat_word}"


def phrases(brief: Brief) -> list[str]:
    """What a brief adds to a prompt besides the cats, in the order a person would say it."""
    found = list(brief.styles)
    found += [p for p in (brief.place, brief.weather_phrase, brief.light_phrase) if p]
    if brief.mood:
        found.append(f"{brief.mood} mood")
    return found
