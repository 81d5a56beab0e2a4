"""Weather group chat: a planner (with a hand-off to the user whose question is the tool argument) and a weather
assistant whose only power is one `FunctionTool`, `get_weather`; no code execution anywhere.

Speaker selection (core/runtimes/agentchat/teams/weather_speakers.py) uses rules first and the group chat's model
only when no rule applies, and says why. The turn ends on the planner's `TERMINATE`, on a hand-off to the user, or after 8 messages. A
hand-off ends the turn with status `waiting`: the state is saved as for any turn, and the next message is
simply the next turn's task (no blocking input inside a run, so a reload or a restart loses nothing). The scenario as
the app shows and bounds it; its agentchat team: core/runtimes/agentchat/teams/weather.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from .. import costs
from ..config import Settings
from . import AgentInfo, ChoiceOption, CostQuestion, Scenario, TextOption, weather_source

if TYPE_CHECKING:
    from ..runtimes.agentchat.providers import Clients

KEY = "weather"
PLANNER = "planner"
WEATHER_ASSISTANT = "weather_assistant"
MAX_WEATHER_MESSAGES = 8  # a normal turn takes 4-5 messages; the rest is room for one detour
CALLS_PER_WEATHER_MESSAGE = 5  # a speaker choice (retried up to 3 times) and a tool call with its reflection
PLANNER_SYSTEM = (
    "You are the planner of a small team that answers questions about the weather. When the user asks about the "
    "weather, make sure you know the city: if it is missing, call transfer_to_user with your question. When you "
    "know the city, ask the weather assistant for it, writing 'weather_assistant: please get the current weather "
    "for <city>.' When the weather assistant has answered, give the user the answer in one or two sentences and "
    "end your message with TERMINATE. For anything else, answer briefly and end with TERMINATE."
)
WEATHER_SYSTEM = (
    "You are the weather assistant. Use the get_weather tool for each city you are asked about, then "
    "report what it returned. If it returned an ERROR, say plainly what failed."
)
SELECTOR_PROMPT = """Choose who speaks next in a weather team.
Roles:
{roles}

Conversation so far:
{history}

Read the above conversation. Then select the next role from {participants} to play. Only return the role."""
WEATHER_SOURCES = {"offline": "Offline demo source (deterministic)", "open-meteo": "Open-Meteo (online, keyless)"}


def default_source(settings: Settings | None) -> str:
    """The offline source with the demo provider, Open-Meteo with real ones."""
    return "offline" if settings is None or settings.provider == "demo" else "open-meteo"


def weather_source_for(options: Mapping[str, Any], clients: Clients) -> weather_source.WeatherSource:
    """The source the weather assistant's tool asks (the team's builder calls it here, so a test can swap it)."""
    return weather_source.source_for(str(options.get("weather_source") or default_source(clients.settings)))


def cost_bound(question: CostQuestion) -> float | None:
    """Every message can be a speaker choice plus a model call with a tool round trip; each sees the turn so
    far (messages of at most one capped output each)."""
    grown = MAX_WEATHER_MESSAGES * costs.output_cap(question.settings)
    return costs.chat_bound(
        question.settings, question.settings.chat_model, question.context_tokens + grown, CALLS_PER_WEATHER_MESSAGE * MAX_WEATHER_MESSAGES
    )


SCENARIO = Scenario(
    key=KEY,
    label="Weather group chat",
    description="A planner and a weather assistant with one tool, get_weather(city). Ask about the weather: "
    "the team asks you for the city when it needs one, waits for your answer, and carries on.",
    team=KEY,
    cost_bound=cost_bound,
    agents=(
        AgentInfo(PLANNER, "Planner", ":material/route:", "planning"),
        AgentInfo(WEATHER_ASSISTANT, "Weather assistant", ":material/partly_cloudy_day:", "checking the weather"),
    ),
    options=(
        ChoiceOption(
            "weather_source",
            "Weather source",
            WEATHER_SOURCES,
            default_source,
            help="The only power of the weather assistant: a function tool get_weather(city). No code runs.",
        ),
        TextOption(
            "planner_system",
            "Planner's system message",
            PLANNER_SYSTEM,
            height=130,
            help="How the planner talks, plans and when it asks you (what a real model reads; the offline demo's planner is scripted).",
        ),
    ),
    icon=":material/partly_cloudy_day:",
    placeholder="Ask the team, e.g. “What's the weather?”",
    example="What's the weather?",
    order=3,
)
