"""Catify on Agent Framework (the scenario: core/scenarios/catify.py): a `GroupChatBuilder` of the image agent and the
vision critic whose selection function sends a picture to the critic and anything else to the image agent, as
agentchat's selector function does; it ends after n+1 pictures (n critiques) of this turn, or at the user's Stop."""

from __future__ import annotations

from typing import Any

from agent_framework import Agent, InMemoryCheckpointStorage, Message
from agent_framework.orchestrations import GroupChatBuilder, GroupChatState

from ....agents import CRITIC, IMAGE_AGENT, TeamContext
from ....scenarios.catify import DEFAULT_CRITIC_INSTRUCTION, critic_system_message, iterations_of
from ..agents import ImageAgent, NewestPictureOnly, has_picture
from ..clients import AgentFrameworkClients, require_image_model
from ..plan import Plan
from ..tracing import AgentStep


def _select(state: GroupChatState) -> str:
    """A picture goes to the critic; a fresh prompt or a critique to the image agent."""
    last = state.conversation[-1] if state.conversation else None
    return CRITIC if last is not None and has_picture(last) else IMAGE_AGENT


def pictures_this_turn(conversation: list[Message]) -> int:
    """Pictures since the user's newest message (earlier turns' pictures are in the conversation too)."""
    count = 0
    for message in reversed(conversation):
        if message.author_name not in (IMAGE_AGENT, CRITIC) and str(message.role) == "user":
            break
        count += has_picture(message)
    return count


def build(context: TeamContext) -> Plan:
    iterations = iterations_of(context.options)
    instruction = str(context.options.get("instruction", DEFAULT_CRITIC_INSTRUCTION))
    clients: AgentFrameworkClients = context.clients  # type: ignore[assignment]
    image_agent = ImageAgent(require_image_model(clients), context.sink, context.turn, clients.spans)
    critic = Agent(
        client=clients.for_role(CRITIC, vision=True, before=[NewestPictureOnly()]),
        name=CRITIC,
        description="Looks at the newest picture and answers CRITICS: and PROMPT:.",
        instructions=critic_system_message(instruction),
        middleware=[AgentStep(clients.spans, CRITIC)],
    )
    stop = [False]

    def done(conversation: list[Message]) -> bool:
        return stop[0] or pictures_this_turn(conversation) >= iterations + 1

    def workflow(storage: InMemoryCheckpointStorage) -> Any:
        return GroupChatBuilder(
            participants=[image_agent, critic],
            selection_func=_select,
            termination_condition=done,
            max_rounds=None,
            checkpoint_storage=storage,
            intermediate_output_from="all",
            name="catify",
        ).build()

    return Plan(build=workflow, participants=(IMAGE_AGENT, CRITIC), total_steps=2 * iterations + 1, stop=stop)
