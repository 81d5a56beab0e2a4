"""What the offline demo model says in each scenario role: deterministic, content-aware, and shaped like a
real model's answers (text, tool calls, a hand-off to the user), so the real agents, teams, selector and
state code run unchanged without a key. Each role gets its own demo client (`core.providers.Clients.for_role`),
because users edit system messages and a role cannot be guessed from them."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, Optional, Sequence

from autogen_core import FunctionCall
from autogen_core.models import AssistantMessage, FunctionExecutionResultMessage, LLMMessage, SystemMessage, UserMessage

from . import weather

PLANNER = "planner"
WEATHER_ASSISTANT = "weather_assistant"
ANALYST = "analyst"
SUMMARIZER = "summarizer"
ASK_USER_TOOL = "transfer_to_user"
WEATHER_TOOL = "get_weather"
END = "TERMINATE"
WEATHER_WORDS = re.compile(r"\b(weather|forecast|temperature|rain|raining|snow|snowing|sunny|cold|hot|warm|wind|"
                           r"umbrella|degrees)\b", re.IGNORECASE)
CITY_QUESTION = "Which city should I check the weather for?"


def _text(message: LLMMessage) -> str:
    content = getattr(message, "content", "")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(c if isinstance(c, str) else getattr(c, "content", "") if hasattr(c, "content") else ""
                        for c in content)
    return str(content)


def _calls(message: LLMMessage) -> list[FunctionCall]:
    content = getattr(message, "content", None)
    return [c for c in content if isinstance(c, FunctionCall)] if isinstance(content, list) else []


def _call(name: str, **arguments: Any) -> FunctionCall:
    return FunctionCall(id=f"call_{name}_{abs(hash(json.dumps(arguments, sort_keys=True))) % 10**8}",
                        name=name, arguments=json.dumps(arguments))


def cities_in(text: str, whole_message_is_city: bool = False) -> list[str]:
    """Known cities, then "in/for/at <Capitalised Words>"; a short answer to "which city?" is the city."""
    found = weather.known_cities_in(text)
    for match in re.finditer(r"\b(?:in|for|at)\s+([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*){0,2})", text or ""):
        city = match.group(1).strip()
        if city.lower() not in {c.lower() for c in found}:
            found.append(city)
    if not found and whole_message_is_city:
        words = re.sub(r"[^\w\s'-]", " ", text or "").split()
        if 0 < len(words) <= 4:
            found.append(" ".join(w[:1].upper() + w[1:] for w in words))
    return found


# --- weather group chat ----------------------------------------------------------------------------------------------

def planner(messages: Sequence[LLMMessage], tools: Sequence[Any]) -> Optional[str | list[FunctionCall]]:
    """Route weather questions, ask the user for a missing city, and close with the weather assistant's answer."""
    conversation = [m for m in messages if not isinstance(m, SystemMessage)]
    last_other = next((m for m in reversed(conversation) if isinstance(m, UserMessage)), None)
    if last_other is None:
        return f"Hello! Ask me about the weather in any city. {END}"
    text = _text(last_other)
    if last_other.source == WEATHER_ASSISTANT:
        if text.startswith(weather.ERROR_PREFIX) or "could not" in text:
            return (f"Sorry, the weather service let us down: {text} You can try again in a moment or ask "
                    f"about another city. {END}")
        return f"Here is what I found. {text} Anything else? {END}"
    # the planner's own last step: did it just ask the user for a city?
    asked = False
    for message in reversed(conversation):
        if message is last_other:
            continue
        if isinstance(message, AssistantMessage) and any(c.name == ASK_USER_TOOL for c in _calls(message)):
            asked = True
            break
        if isinstance(message, UserMessage) and message.source == "user":
            break
    about_weather = bool(WEATHER_WORDS.search(text)) or asked
    if not about_weather:
        return (f"I am the planner of a small weather team. Ask me something like “What's the weather in Paris?” "
                f"and our weather assistant will look it up. {END}")
    cities = cities_in(text, whole_message_is_city=asked)
    if not cities:
        if any(t for t in tools if getattr(t, "name", None) == ASK_USER_TOOL or
               (isinstance(t, dict) and t.get("name") == ASK_USER_TOOL)):
            return [_call(ASK_USER_TOOL, question=CITY_QUESTION)]
        return f"{CITY_QUESTION} {END}"
    return f"{WEATHER_ASSISTANT}: please get the current weather for {', '.join(cities)}."


def weather_assistant(messages: Sequence[LLMMessage], tools: Sequence[Any]) -> Optional[str | list[FunctionCall]]:
    """Call get_weather for each city asked about; then report the results, or what went wrong."""
    conversation = [m for m in messages if not isinstance(m, SystemMessage)]
    if conversation and isinstance(conversation[-1], FunctionExecutionResultMessage):
        results = [r.content for r in conversation[-1].content]
        good = [r for r in results if not r.startswith(weather.ERROR_PREFIX)]
        bad = [r[len(weather.ERROR_PREFIX):].strip() for r in results if r.startswith(weather.ERROR_PREFIX)]
        parts = ([" ".join(good)] if good else []) + ([f"I could not get everything: {' '.join(bad)}"] if bad else [])
        return " ".join(parts)
    last = next((m for m in reversed(conversation) if isinstance(m, UserMessage)), None)
    cities = cities_in(_text(last)) if last is not None else []
    if not cities:
        return "Which city? I need a city name to look up the weather."
    return [_call(WEATHER_TOOL, city=city) for city in cities]


def selector(messages: Sequence[LLMMessage], tools: Sequence[Any]) -> Optional[str]:
    """The group chat's model, asked who speaks next: the weather assistant after talk of weather, else the
    planner. Only consulted when no rule decided."""
    prompt = "\n".join(_text(m) for m in messages)
    if "select the next role" not in prompt:
        return None
    history = prompt.split("Read the above conversation")[0]
    lines = [line for line in history.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return WEATHER_ASSISTANT if WEATHER_WORDS.search(last) and not last.startswith(WEATHER_ASSISTANT) else PLANNER


# --- analyst & summarizer --------------------------------------------------------------------------------------------

STOP_WORDS = set("""a an and are as at be by for from has have in into is it its of on or that the this to was were
will with our we you your their they than then there these those not but also more less per""".split())


def _report_and_question(messages: Sequence[LLMMessage]) -> tuple[str, str]:
    users = [_text(m) for m in messages if isinstance(m, UserMessage) and m.source == "user"]
    first = users[0] if users else ""
    report = first.split("REPORT:", 1)[1] if "REPORT:" in first else first
    report = report.split("QUESTION:", 1)[0].strip()
    last = users[-1] if users else ""
    question = last.split("QUESTION:", 1)[1].strip() if "QUESTION:" in last else last.strip()
    return report, question


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if len(s.strip()) > 2]


def _stems(text: str) -> set[str]:
    return {w[:4] for w in re.findall(r"[a-z]{3,}", text.lower()) if w not in STOP_WORDS}


def _relevant(sentences: list[str], question: str, n: int) -> list[str]:
    """The sentences sharing most word stems with the question ("growth" finds "grew": both start "gr…")."""
    words = _stems(question)
    scored = sorted(((len(words & _stems(s)), -i, s) for i, s in enumerate(sentences)), reverse=True)
    return [s for score, _, s in scored[:n] if score > 0]


def analyst(messages: Sequence[LLMMessage], tools: Sequence[Any]) -> str:
    report, question = _report_and_question(messages)
    sentences = _sentences(report)
    words = re.findall(r"[A-Za-z][A-Za-z'-]+", report)
    terms = Counter(w.lower() for w in words if w.lower() not in STOP_WORDS and len(w) > 3).most_common(5)
    figures = [s for s in sentences if re.search(r"\d", s)]
    lines = [f"Analysis of {len(words):,} words in {len(sentences)} sentences."]
    if figures:
        lines.append("Key figures: " + " ".join(figures[:4]))
    if terms:
        lines.append("Recurring themes: " + ", ".join(t for t, _ in terms) + ".")
    hits = _relevant(sentences, question, 2)
    if question and hits:
        lines.append(f"On “{question[:120]}”: " + " ".join(hits))
    elif question:
        lines.append(f"The report does not speak to “{question[:120]}”.")
    return "\n".join(lines)


def summarizer(messages: Sequence[LLMMessage], tools: Sequence[Any]) -> str:
    report, question = _report_and_question(messages)
    sentences = _sentences(report)
    if not sentences:
        return "There is no report to summarise yet: paste or upload one."
    hits = _relevant(sentences, question, 1)
    head = " ".join(sentences[:2])
    lines = [f"Summary: {head[:400]}"]
    if len(sentences) > 2:
        lines.append(f"It ends: {sentences[-1][:200]}")
    if question and hits:
        lines.append(f"In short, on your question: {hits[0][:300]}")
    return "\n".join(lines)


ROLES = {PLANNER: (planner,), WEATHER_ASSISTANT: (weather_assistant,), "selector": (selector,),
         ANALYST: (analyst,), SUMMARIZER: (summarizer,)}
