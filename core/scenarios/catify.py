"""Catify: an image agent draws the user's prompt, a vision critic answers `CRITICS:` / `PROMPT:`, the image agent
draws the new prompt; n iterations give 1 + n pictures and n critiques per turn.

A `SelectorGroupChat` with a selector function (a picture goes to the critic, anything else to the image
agent) rather than round-robin, whose turn order carries over in saved state and would start the next turn
with the critic. The critic sees only the newest picture (a one-message model context)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TerminationCondition
from autogen_agentchat.conditions import ExternalTermination, MaxMessageTermination
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage
from autogen_agentchat.teams import SelectorGroupChat
from autogen_core.model_context import BufferedChatCompletionContext

from .. import costs
from ..agents import CRITIC, IMAGE_AGENT, TeamContext
from ..runtimes.agentchat.agents import ImageAgent, TeamPlan, traced
from ..runtimes.agentchat.demo_models import INSTRUCTION_MARKER
from ..runtimes.agentchat.providers import require_image_model
from . import AgentInfo, CostQuestion, IntOption, Scenario, TextOption

KEY = "catify"
DEFAULT_CRITIC_INSTRUCTION = "Add fluffy cats. Like a lot of cats. If there's less than 100 cats I'll be mad."
DEFAULT_ITERATIONS = 2
MAX_ITERATIONS = 6


def critic_system_message(instruction: str) -> str:
    return (
        "You are a demanding art critic. You get a picture and the prompt it was drawn from. "
        "Criticise the picture against the user's instruction and write a better prompt for the image model.\n"
        f"{INSTRUCTION_MARKER} {instruction.strip() or DEFAULT_CRITIC_INSTRUCTION}\n"
        "Answer in exactly this format and nothing else:\n"
        "CRITICS: <what is wrong and what to change>\n"
        "PROMPT: <the complete new prompt for the image model>"
    )


def iterations_of(options: Mapping[str, Any]) -> int:
    return max(1, min(int(options.get("iterations", DEFAULT_ITERATIONS)), MAX_ITERATIONS))


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


def _picture_prompt_tokens(question: CostQuestion) -> int:
    """The first prompt is the message; later ones are the critic's, at most one capped output long."""
    return question.message_tokens + costs.output_cap(question.settings)


def unrecorded_cost(question: CostQuestion) -> float:
    """The prompt tokens gpt-image models bill on top of the picture price (n + 1 pictures)."""
    return costs.picture_prompt_usd(question.settings, iterations_of(question.options) + 1, _picture_prompt_tokens(question))


def cost_bound(question: CostQuestion) -> float | None:
    """(n + 1) pictures, n critic calls that each see one picture and its prompt (however long the chat is),
    and the picture prompts' tokens."""
    settings, n = question.settings, iterations_of(question.options)
    picture = costs.picture_bound(settings)  # the larger of its tokens' price and our per-picture price
    critic = costs.chat_bound(
        settings,
        settings.vision_model,
        _picture_prompt_tokens(question) + costs.IMAGE_INPUT_TOKENS + costs.SYSTEM_AND_FORMAT_TOKENS + question.written_tokens,
        n,
    )
    if picture is None or critic is None:
        return None
    return (n + 1) * picture + critic + unrecorded_cost(question)


SCENARIO = Scenario(
    key=KEY,
    label="Catify",
    description="An image agent draws your prompt; a vision critic judges the picture and writes a better "
    "prompt; the picture is drawn again, as many times as you choose.",
    build=build,
    cost_bound=cost_bound,
    unrecorded_cost=unrecorded_cost,
    agents=(
        AgentInfo(IMAGE_AGENT, "Image agent", ":material/palette:", "drawing"),
        AgentInfo(CRITIC, "Critic", ":material/rate_review:", "critiquing"),
    ),
    options=(
        IntOption("iterations", "Critique iterations", DEFAULT_ITERATIONS, 1, MAX_ITERATIONS),
        TextOption("instruction", "Critic instruction", DEFAULT_CRITIC_INSTRUCTION, height=110),
    ),
    icon=":material/palette:",
    draws_pictures=True,
    placeholder="Describe a picture, e.g. “The matrix with a cat”",
    example="The matrix with a cat",
    order=1,
)
