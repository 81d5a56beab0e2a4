"""Catify: an image agent draws the user's prompt, a vision critic answers `CRITICS:` / `PROMPT:`, the image agent
draws the new prompt; n iterations give 1 + n pictures and n critiques per turn. The scenario as the app shows and
bounds it; its agentchat team is core/runtimes/agentchat/teams/catify.py."""

from __future__ import annotations

from typing import Any, Mapping

from .. import costs
from ..agents import CRITIC, IMAGE_AGENT
from . import AgentInfo, CostQuestion, IntOption, Scenario, TextOption

KEY = "catify"
DEFAULT_CRITIC_INSTRUCTION = "Add fluffy cats. Like a lot of cats. If there's less than 100 cats I'll be mad."
DEFAULT_ITERATIONS = 2
MAX_ITERATIONS = 6
INSTRUCTION_MARKER = "Instruction from the user:"  # the demo critic reads the instruction after it


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
    team=KEY,
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
