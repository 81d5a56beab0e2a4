"""The Weather group chat on Agent Framework (the scenario: core/scenarios/weather.py): a `GroupChatBuilder` of the
planner (with a `transfer_to_user` tool: asking the user ends the run, which waits for the user's answer) and the
weather assistant (the traced `get_weather` tool), speakers chosen by the same rules as on AutoGen and by the model when
no rule applies, each choice with its reason; it ends on the planner's TERMINATE, a question to the user, the message
cap or Stop. The pause is neutral: the turn ends `waiting`, its checkpoint is the conversation's state, and the next
message, in any process, restores it and goes to the planner, which sees its own question and the answer."""

from __future__ import annotations

import re
from typing import Any, Awaitable, Callable

from agent_framework import (
    Agent,
    FunctionInvocationContext,
    FunctionMiddleware,
    InMemoryCheckpointStorage,
    Message,
    MiddlewareTermination,
    tool,
)
from agent_framework.orchestrations import GroupChatBuilder, GroupChatState
from mlflow.tracing.provider import detach_span_from_context, set_span_in_context

from ....agents import TeamContext
from ....observe import spans
from ....scenarios import weather, weather_source
from ....scenarios.weather import MAX_WEATHER_MESSAGES, PLANNER, PLANNER_SYSTEM, SELECTOR_PROMPT, WEATHER_ASSISTANT, WEATHER_SYSTEM
from ...agentchat.teams.weather_demo import planner as demo_planner
from ...agentchat.teams.weather_demo import selector as demo_selector
from ...agentchat.teams.weather_demo import weather_assistant as demo_weather_assistant
from ..clients import AgentFrameworkClients
from ..plan import Plan
from ..tracing import AgentStep, TurnSpans

ASK_USER = "transfer_to_user"
BY_MODEL = "chosen by the model: no rule applied"
WEATHER_WORDS = re.compile(r"\b(weather|forecast|temperature)\b", re.IGNORECASE)
ROLES = {
    PLANNER: "Talks with the user, plans, and asks the user when something is missing.",
    WEATHER_ASSISTANT: "Looks up the current weather of a city with get_weather.",
}


def _rule(last: Message) -> tuple[str, str] | None:
    """(speaker, why) by the rules AutoGen's Weather team uses (core/runtimes/agentchat/teams/weather_speakers.py)."""
    if last.author_name not in (PLANNER, WEATHER_ASSISTANT):
        return PLANNER, "rule: your new message goes to the planner"
    if last.author_name == PLANNER and WEATHER_WORDS.search(last.text) and weather_source.known_cities_in(last.text):
        return WEATHER_ASSISTANT, "rule: a weather question naming a known city goes to the weather assistant"
    if last.author_name == WEATHER_ASSISTANT:
        return PLANNER, "rule: the weather assistant reports back to the planner"
    return None


class Speakers:
    """The selection function, remembering why it chose (the chat shows it with the speaker's message)."""

    def __init__(self, model: Any):
        self.model, self.last_reason = model, ""

    async def __call__(self, state: GroupChatState) -> str:
        last = state.conversation[-1] if state.conversation else Message(role="user", contents=[""])
        found = _rule(last)
        if found is not None:
            self.last_reason = found[1]
            return found[0]
        history = "\n".join(f"{m.author_name or 'user'}: {m.text}" for m in state.conversation[-8:] if m.text)
        prompt = SELECTOR_PROMPT.format(
            roles="\n".join(f"{name}: {text}" for name, text in ROLES.items()), history=history, participants=str(list(ROLES))
        )
        answer = (await self.model.get_response([Message(role="user", contents=[prompt])])).text
        self.last_reason = BY_MODEL
        return WEATHER_ASSISTANT if WEATHER_ASSISTANT in answer else PLANNER

    def reason(self, speaker: str) -> str:
        return self.last_reason


class ToolInStep(FunctionMiddleware):
    """A tool's span nests in its agent's step; asking the user ends the agent's tool loop (and the run: `asked`)."""

    def __init__(self, trace: TurnSpans, agent: str, asked: list[bool]):
        self.trace, self.agent, self.asked = trace, agent, asked

    async def process(self, context: FunctionInvocationContext, call_next: Callable[[], Awaitable[None]]) -> None:
        step = self.trace.step(self.agent)
        token = set_span_in_context(step) if step is not None else None
        try:
            await call_next()
        finally:
            if token is not None:
                detach_span_from_context(token)
        if context.function.name == ASK_USER:
            self.asked[0] = True
            raise MiddlewareTermination(result=context.result)  # no model call after the question: the user answers


async def transfer_to_user(question: str) -> str:
    """Ask the user for something you need, such as the city."""
    return question


def build(context: TeamContext, source: weather_source.WeatherSource | None = None) -> Plan:
    clients: AgentFrameworkClients = context.clients  # type: ignore[assignment]
    options = context.options
    get_weather = weather_source.weather_function(
        source or weather.weather_source_for(options, clients),  # type: ignore[arg-type]
        timeout_s=float(options.get("weather_timeout_s", weather_source.DEFAULT_TIMEOUT_S)),
    )
    asked, stop = [False], [False]
    planner = Agent(
        client=clients.for_role(PLANNER, demo_planner),
        name=PLANNER,
        description=ROLES[PLANNER],
        instructions=str(options.get("planner_system") or PLANNER_SYSTEM),
        tools=[tool(spans.traced_tool(transfer_to_user), name=ASK_USER, approval_mode="never_require")],
        middleware=[AgentStep(clients.spans, PLANNER), ToolInStep(clients.spans, PLANNER, asked)],
    )
    assistant = Agent(
        client=clients.for_role(WEATHER_ASSISTANT, demo_weather_assistant),
        name=WEATHER_ASSISTANT,
        description=ROLES[WEATHER_ASSISTANT],
        instructions=WEATHER_SYSTEM,
        tools=[
            tool(
                spans.traced_tool(get_weather),
                name="get_weather",
                description="Current weather for a city: temperature in °C, conditions and wind.",
                approval_mode="never_require",
            )
        ],
        middleware=[AgentStep(clients.spans, WEATHER_ASSISTANT), ToolInStep(clients.spans, WEATHER_ASSISTANT, asked)],
    )
    speakers = Speakers(clients.for_role("selector", demo_selector))

    def done(conversation: list[Message]) -> bool:
        this_turn = 0
        for message in reversed(conversation):
            if message.author_name not in (PLANNER, WEATHER_ASSISTANT):
                break
            this_turn += 1
        last = conversation[-1] if conversation else None
        ended = last is not None and last.author_name == PLANNER and "TERMINATE" in last.text
        return stop[0] or asked[0] or ended or this_turn >= MAX_WEATHER_MESSAGES

    def workflow(storage: InMemoryCheckpointStorage) -> Any:
        return GroupChatBuilder(
            participants=[planner, assistant],
            selection_func=speakers,
            termination_condition=done,
            max_rounds=None,
            checkpoint_storage=storage,
            intermediate_output_from="all",
            name="weather",
        ).build()

    return Plan(
        build=workflow,
        participants=(PLANNER, WEATHER_ASSISTANT),
        total_steps=0,
        explain=speakers.reason,
        waiting=lambda: asked[0],
        stop=stop,
    )
