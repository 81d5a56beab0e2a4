"""Weather group chat: a planner (with a hand-off to the user whose question is the tool argument) and a weather
assistant whose only power is one `FunctionTool`, `get_weather`; no code execution anywhere.

Speaker selection (`weather_speakers`) uses rules first and the group chat's model only when no rule applies,
and says why. The turn ends on the planner's `TERMINATE`, on a hand-off to the user, or after 8 messages. A
hand-off ends the turn with status `waiting`: the state is saved as for any turn, and the next message is
simply the next turn's task (no blocking input inside a run, so a reload or a restart loses nothing)."""

from __future__ import annotations

from typing import Any, Mapping

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TerminationCondition
from autogen_agentchat.conditions import (
    ExternalTermination,
    HandoffTermination,
    MaxMessageTermination,
    TextMentionTermination,
)
from autogen_agentchat.teams import SelectorGroupChat
from autogen_core.tools import FunctionTool

from .. import costs
from ..agents import TeamContext
from ..config import Settings
from ..observe import spans
from ..runtimes.agentchat.agents import AskUser, TeamPlan, traced
from ..runtimes.agentchat.providers import Clients
from . import AgentInfo, ChoiceOption, CostQuestion, Scenario, TextOption, weather_demo, weather_source
from .weather_speakers import PLANNER, WEATHER_ASSISTANT, WeatherSpeakerSelector

KEY = "weather"
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
    return weather_source.source_for(str(options.get("weather_source") or default_source(clients.settings)))


def build(context: TeamContext, source: weather_source.WeatherSource | None = None) -> TeamPlan:
    clients, options = context.clients, context.options
    get_weather = weather_source.weather_function(
        source or weather_source_for(options, clients), timeout_s=float(options.get("weather_timeout_s", weather_source.DEFAULT_TIMEOUT_S))
    )
    tool = FunctionTool(
        spans.traced_tool(get_weather),
        name="get_weather",
        description="Current weather for a city: temperature in °C, conditions and wind.",
    )
    planner = AssistantAgent(
        PLANNER,
        model_client=clients.for_role(PLANNER, weather_demo.planner),
        system_message=str(options.get("planner_system") or PLANNER_SYSTEM),
        handoffs=[AskUser(target="user", description="Ask the user for something you need, such as the city.")],
        description="Talks with the user, plans, and asks the user when something is missing.",
        model_client_stream=clients.stream,
    )
    assistant = AssistantAgent(
        WEATHER_ASSISTANT,
        model_client=clients.for_role(WEATHER_ASSISTANT, weather_demo.weather_assistant),
        system_message=WEATHER_SYSTEM,
        tools=[tool],
        reflect_on_tool_use=True,
        description="Looks up the current weather of a city with get_weather.",
        model_client_stream=clients.stream,
    )
    selector = WeatherSpeakerSelector()
    stop = ExternalTermination()
    termination: TerminationCondition = (
        HandoffTermination(target="user")
        | TextMentionTermination("TERMINATE", sources=[PLANNER])
        | MaxMessageTermination(MAX_WEATHER_MESSAGES)
        | stop
    )
    team = SelectorGroupChat(
        [traced(planner), traced(assistant)],
        model_client=clients.for_role("selector", weather_demo.selector),
        selector_func=selector,
        selector_prompt=SELECTOR_PROMPT,
        allow_repeated_speaker=True,
        termination_condition=termination,
        emit_team_events=True,
    )
    return TeamPlan(team=team, stop=stop, total_steps=0, explain=selector.reason)


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
    build=build,
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
