"""The Weather group chat's agentchat team (the scenario: core/scenarios/weather.py): a `SelectorGroupChat` of the
planner (with an `AskUser` hand-off to the user) and the weather assistant (one traced `FunctionTool`), speakers
chosen by rules first (`weather_speakers`), ending on the planner's TERMINATE, a hand-off or the message cap."""

from __future__ import annotations

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

from ....agents import TeamContext
from ....observe import spans
from ....scenarios import weather, weather_source
from ....scenarios.weather import (
    MAX_WEATHER_MESSAGES,
    PLANNER,
    PLANNER_SYSTEM,
    SELECTOR_PROMPT,
    WEATHER_ASSISTANT,
    WEATHER_SYSTEM,
)
from ..agents import AskUser, TeamPlan, traced
from .weather_demo import planner as demo_planner
from .weather_demo import selector as demo_selector
from .weather_demo import weather_assistant as demo_weather_assistant
from .weather_speakers import WeatherSpeakerSelector


def build(context: TeamContext, source: weather_source.WeatherSource | None = None) -> TeamPlan:
    clients, options = context.clients, context.options
    get_weather = weather_source.weather_function(
        source or weather.weather_source_for(options, clients),
        timeout_s=float(options.get("weather_timeout_s", weather_source.DEFAULT_TIMEOUT_S)),
    )
    tool = FunctionTool(
        spans.traced_tool(get_weather),
        name="get_weather",
        description="Current weather for a city: temperature in °C, conditions and wind.",
    )
    planner = AssistantAgent(
        PLANNER,
        model_client=clients.for_role(PLANNER, demo_planner),
        system_message=str(options.get("planner_system") or PLANNER_SYSTEM),
        handoffs=[AskUser(target="user", description="Ask the user for something you need, such as the city.")],
        description="Talks with the user, plans, and asks the user when something is missing.",
        model_client_stream=clients.stream,
    )
    assistant = AssistantAgent(
        WEATHER_ASSISTANT,
        model_client=clients.for_role(WEATHER_ASSISTANT, demo_weather_assistant),
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
        model_client=clients.for_role("selector", demo_selector),
        selector_func=selector,
        selector_prompt=SELECTOR_PROMPT,
        allow_repeated_speaker=True,
        termination_condition=termination,
        emit_team_events=True,
    )
    return TeamPlan(team=team, stop=stop, total_steps=0, explain=selector.reason)
