"""What the offline demo model says as each agent of the Weather group chat (planner, weather assistant, the
group chat's selector): deterministic, content-aware, and shaped like a real model's answers (text, tool
calls, a hand-off to the user), so the real agents, team, selector and state code run unchanged without a
key. Each role gets its own demo client (`core.runtimes.agentchat.providers.Clients.for_role`), because users edit system
messages and a role cannot be guessed from them."""

from __future__ import annotations

import re
from typing import Any, Optional, Sequence

from autogen_core import FunctionCall
from autogen_core.models import AssistantMessage, FunctionExecutionResultMessage, LLMMessage, SystemMessage, UserMessage

from ....scenarios import weather_source as weather
from ....scenarios.weather import PLANNER, WEATHER_ASSISTANT
from ..demo_replies import call, calls_in, text_of

ASK_USER_TOOL = "transfer_to_user"
WEATHER_TOOL = "get_weather"
END = "TERMINATE"
WEATHER_WORDS = re.compile(
    r"\b(weather|forecast|temperature|rain|raining|snow|snowing|sunny|cold|hot|warm|wind|"
    r"umbrella|degrees)\b",
    re.IGNORECASE,
)
CITY_QUESTION = "Which city should I check the weather for?"
FOLLOW_UP = re.compile(r"^\s*(?:and|what about|how about|also|same for|now|then)\b", re.IGNORECASE)
_NOT_CITIES = set("today tomorrow tonight monday tuesday wednesday thursday friday saturday sunday i there".split())


def _talked_weather(conversation: Sequence[LLMMessage], last: LLMMessage) -> bool:
    """Earlier in this conversation someone asked about the weather or the weather assistant answered."""
    return any(m is not last and isinstance(m, UserMessage) and WEATHER_WORDS.search(text_of(m)) for m in conversation)


def cities_in(text: str, whole_message_is_city: bool = False) -> list[str]:
    """Known cities, then "in/for/at <Capitalised Words>"; a short answer to "which city?" is the city."""
    found = weather.known_cities_in(text)
    for match in re.finditer(r"\b(?i:in|for|at|about|and)\s+([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*){0,2})", text or ""):
        city = match.group(1).strip()
        if city.lower() not in {c.lower() for c in found} and city.lower() not in _NOT_CITIES:
            found.append(city)
    if not found and whole_message_is_city:
        words = re.sub(r"[^\w\s'-]", " ", text or "").split()
        if 0 < len(words) <= 4:
            found.append(" ".join(w[:1].upper() + w[1:] for w in words))
    return found


def planner(messages: Sequence[LLMMessage], tools: Sequence[Any]) -> Optional[str | list[FunctionCall]]:  # noqa: C901 - over the complexity limit when it came on (issue 28); split it when it next changes
    """Route weather questions, ask the user for a missing city, and close with the weather assistant's answer."""
    conversation = [m for m in messages if not isinstance(m, SystemMessage)]
    last_other = next((m for m in reversed(conversation) if isinstance(m, UserMessage)), None)
    if last_other is None:
        return f"Hello! Ask me about the weather in any city. {END}"
    text = text_of(last_other)
    if last_other.source == WEATHER_ASSISTANT:
        if text.startswith(weather.ERROR_PREFIX) or "could not" in text:
            return f"Sorry, the weather service let us down: {text} You can try again in a moment or ask about another city. {END}"
        return f"Here is what I found. {text} Anything else? {END}"
    # the planner's own last step: did it just ask the user for a city?
    asked = False
    for message in reversed(conversation):
        if message is last_other:
            continue
        if isinstance(message, AssistantMessage) and any(c.name == ASK_USER_TOOL for c in calls_in(message)):
            asked = True
            break
        if isinstance(message, UserMessage) and message.source == "user":
            break
    # a follow-up ("And in Oslo?", "What about Tokyo?") is about the weather when the conversation was
    follow_up = bool(FOLLOW_UP.search(text)) and _talked_weather(conversation, last_other)
    about_weather = bool(WEATHER_WORDS.search(text)) or asked or follow_up
    if not about_weather:
        return (
            f"I am the planner of a small weather team. Ask me something like “What's the weather in Paris?” "
            f"and our weather assistant will look it up. {END}"
        )
    cities = cities_in(text, whole_message_is_city=asked)
    if not cities:
        if any(t for t in tools if getattr(t, "name", None) == ASK_USER_TOOL or (isinstance(t, dict) and t.get("name") == ASK_USER_TOOL)):
            return [call(ASK_USER_TOOL, question=CITY_QUESTION)]
        return f"{CITY_QUESTION} {END}"
    return f"{WEATHER_ASSISTANT}: please get the current weather for {', '.join(cities)}."


def weather_assistant(messages: Sequence[LLMMessage], tools: Sequence[Any]) -> Optional[str | list[FunctionCall]]:
    """Call get_weather for each city asked about; then report the results, or what went wrong."""
    conversation = [m for m in messages if not isinstance(m, SystemMessage)]
    if conversation and isinstance(conversation[-1], FunctionExecutionResultMessage):
        results = [r.content for r in conversation[-1].content]
        good = [r for r in results if not r.startswith(weather.ERROR_PREFIX)]
        bad = [r[len(weather.ERROR_PREFIX) :].strip() for r in results if r.startswith(weather.ERROR_PREFIX)]
        parts = ([" ".join(good)] if good else []) + ([f"I could not get everything: {' '.join(bad)}"] if bad else [])
        return " ".join(parts)
    last = next((m for m in reversed(conversation) if isinstance(m, UserMessage)), None)
    cities = cities_in(text_of(last)) if last is not None else []
    if not cities:
        return "Which city? I need a city name to look up the weather."
    return [call(WEATHER_TOOL, city=city) for city in cities]


def selector(messages: Sequence[LLMMessage], tools: Sequence[Any]) -> Optional[str]:
    """The group chat's model, asked who speaks next: the weather assistant after talk of weather, else the
    planner. Only consulted when no rule decided."""
    prompt = "\n".join(text_of(m) for m in messages)
    if "select the next role" not in prompt:
        return None
    history = prompt.split("Read the above conversation")[0]
    lines = [line for line in history.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return WEATHER_ASSISTANT if WEATHER_WORDS.search(last) and not last.startswith(WEATHER_ASSISTANT) else PLANNER
