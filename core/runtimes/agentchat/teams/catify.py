"""Catify's agentchat team (the scenario: core/scenarios/catify.py): a `SelectorGroupChat` with a selector function
(a picture goes to the critic, anything else to the image agent) rather than round-robin, whose turn order carries
over in saved state and would start the next turn with the critic. The critic sees only the newest picture (a
one-message model context)."""

from __future__ import annotations

from typing import Sequence

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TerminationCondition
from autogen_agentchat.conditions import ExternalTermination, MaxMessageTermination
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage
from autogen_agentchat.teams import SelectorGroupChat
from autogen_core.model_context import BufferedChatCompletionContext

from ....agents import CRITIC, IMAGE_AGENT, TeamContext
from ....scenarios.catify import DEFAULT_CRITIC_INSTRUCTION, critic_system_message, iterations_of
from ..agents import ImageAgent, TeamPlan, traced
from ..providers import require_image_model


def _selector(messages: Sequence[BaseAgentEvent | BaseChatMessage]) -> str:
    """A fresh user prompt or a critique goes to the image agent; a picture goes to the critic."""
    last = next((m for m in reversed(messages) if isinstance(m, BaseChatMessage)), None)
    return CRITIC if last is not None and last.source == IMAGE_AGENT else IMAGE_AGENT


def build(context: TeamContext) -> TeamPlan:
    iterations = iterations_of(context.options)
    instruction = str(context.options.get("instruction", DEFAULT_CRITIC_INSTRUCTION))
    clients = context.clients
    image_agent = ImageAgent(require_image_model(clients), context.sink, context.turn, IMAGE_AGENT, critic=CRITIC)
    critic = AssistantAgent(
        CRITIC,
        model_client=clients.vision,
        system_message=critic_system_message(instruction),
        description="Looks at the newest picture and answers CRITICS: and PROMPT:.",
        model_client_stream=clients.stream,
        model_context=BufferedChatCompletionContext(buffer_size=1),  # only the newest picture, not every one so far
    )
    stop = ExternalTermination()
    # the user's message + (iterations + 1) pictures + iterations critiques
    termination: TerminationCondition = MaxMessageTermination(2 * iterations + 2) | stop
    team = SelectorGroupChat(
        [traced(image_agent), traced(critic)],
        model_client=clients.chat,  # never asked: the selector function always decides
        selector_func=_selector,
        allow_repeated_speaker=True,
        termination_condition=termination,
        emit_team_events=True,  # SelectSpeakerEvent: the page shows who works next
    )
    return TeamPlan(team=team, stop=stop, total_steps=2 * iterations + 1)
