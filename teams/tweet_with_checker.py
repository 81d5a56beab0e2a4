"""A writer drafts a post and a checker that is plain Python (no model) counts its characters: too long, and the
writer tries again; short enough, and the team ends. An example of a Python team file: custom agents no JSON
can describe. The contract is in docs/TEAMS.md."""

from __future__ import annotations

from typing import Sequence

from autogen_agentchat.agents import AssistantAgent, BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.messages import BaseChatMessage, TextMessage
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core import CancellationToken

LABEL = "Short post, checked in Python"
DESCRIPTION = (
    "A writer drafts a short post and a checker written in plain Python counts its characters; the "
    "writer tries again until it fits in 280 (a Python team file: teams/tweet_with_checker.py)."
)
LIMIT = 280


class LengthChecker(BaseChatAgent):
    """Counts the characters of the last message: no model, no cost, always the same answer."""

    def __init__(self, name: str, limit: int):
        super().__init__(name, description=f"Checks that the post fits in {limit} characters.")
        self._limit = limit

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (TextMessage,)

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        draft = messages[-1].to_text() if messages else ""
        if len(draft) <= self._limit:
            verdict = f"{len(draft)} characters: it fits. TERMINATE"
        else:
            verdict = f"{len(draft)} characters, {len(draft) - self._limit} too many: shorten it."
        return Response(chat_message=TextMessage(content=verdict, source=self.name))

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        return None


def create_team(models):
    writer = AssistantAgent(
        "writer",
        model_client=models.client("writer", model="gpt-4o-mini"),
        system_message=f"You are a social media writer. Write the post the user asks for in under {LIMIT} "
        "characters; if the checker says it is too long, write a shorter version.",
    )
    return RoundRobinGroupChat(
        [writer, LengthChecker("checker", LIMIT)],
        termination_condition=TextMentionTermination("TERMINATE", sources=["checker"]) | MaxMessageTermination(8),
    )
