"""The agents our agentchat teams need beyond agentchat's own, and a scenario's agentchat team for one turn.

- `ImageAgent`: draws the newest prompt (the user's, or a critic's `PROMPT:`), puts the picture in the run's
  artifacts the moment it exists (core.agents' `ImageSink`), and passes a small copy on for a vision model.
- `AskUser`: a hand-off to the user that carries the question, so the chat shows what the team wants.
- `TeamPlan`: what a scenario's agentchat builder returns: the team and what the runtime needs besides it.
- `traced`: an agent whose every step is an AGENT span."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Handoff, Response
from autogen_agentchat.conditions import ExternalTermination
from autogen_agentchat.messages import BaseChatMessage, MultiModalMessage, TextMessage
from autogen_core import CancellationToken
from autogen_core import Image as AGImage
from autogen_core.tools import FunctionTool

from ...agents import CRITIC, IMAGE_AGENT, ImageSink, draw
from ...critique import parse as parse_critique
from ...image_models import ImageGenerator
from ...observe import spans
from .spans import TracedAgent


class EncodedImage(AGImage):
    """An agentchat Image that encodes its PNG once. agentchat serialises every message it routes (for its
    event log, even when nobody listens), and plain `Image` re-encodes the picture each time: ~0.5 s a turn."""

    def __init__(self, image: Any, png: bytes | None = None):
        super().__init__(image)
        self._base64 = base64.b64encode(png).decode("ascii") if png else None

    def to_base64(self) -> str:
        if self._base64 is None:
            self._base64 = super().to_base64()
        return self._base64


class ImageAgent(BaseChatAgent):
    """Draws the newest prompt: the user's message, or the critic's `PROMPT:`; keeps the last prompt
    when the critic gave none, and says so."""

    def __init__(self, generator: ImageGenerator, sink: ImageSink, turn: int, name: str = IMAGE_AGENT, critic: str = CRITIC):
        super().__init__(name, "Draws the newest prompt as a picture.")
        self._critic = critic
        self._generator = generator
        self._sink = sink
        self._turn = turn
        self._last_prompt: str | None = None
        self._last_image_id: str | None = None

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (MultiModalMessage,)

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        prompt, parent, critique_text, note = self._next_prompt(messages)
        drawn = await draw(self._generator, self._sink, self._turn, prompt, parent, critique_text)
        record, small, small_png = drawn.record, drawn.small, drawn.small_png
        self._last_prompt, self._last_image_id = prompt, record.image_id
        metadata = {"image_id": record.image_id}
        if note:
            metadata["note"] = note
        return Response(
            chat_message=MultiModalMessage(source=self.name, content=[prompt, EncodedImage(small, small_png)], metadata=metadata)
        )

    def _next_prompt(self, messages: Sequence[BaseChatMessage]) -> tuple[str, str | None, str | None, str | None]:
        """(prompt, parent image, critique, note for the chat) from the newest relevant message."""
        for message in reversed(messages):
            if message.source == self._critic and isinstance(message, TextMessage):
                parsed = parse_critique(message.content)
                if parsed.prompt:
                    return parsed.prompt, self._last_image_id, parsed.critique, None
                kept = self._last_prompt or ""
                return kept, self._last_image_id, parsed.critique, "The critic gave no PROMPT:, so I drew the previous prompt again."
            if message.source not in (self.name, self._critic):
                text = message.to_text().strip()
                if text:
                    return text, None, None, None
        if self._last_prompt:
            return self._last_prompt, self._last_image_id, None, "No new prompt, so I drew the previous one again."
        raise ValueError("There is nothing to draw yet: send a prompt first.")

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        self._last_prompt, self._last_image_id = None, None

    async def save_state(self) -> Mapping[str, Any]:
        return {"type": "ImageAgentState", "last_prompt": self._last_prompt, "last_image_id": self._last_image_id}

    async def load_state(self, state: Mapping[str, Any]) -> None:
        self._last_prompt = state.get("last_prompt")
        self._last_image_id = state.get("last_image_id")


@dataclass
class TeamPlan:
    """What the runner needs besides the team: its stop switch, how many steps to expect (0: unknown), the
    task message for the user's text, and why a speaker was chosen (what each agent is doing is declared by
    the scenario: `AgentInfo.doing`)."""

    team: Any
    stop: ExternalTermination
    total_steps: int
    task: Callable[[str], str] = lambda text: text
    explain: Callable[[str], str] | None = None
    guard: int = 0  # the app's own message cap on a team that may never end by itself (a team file); 0: none
    # the task message for the user's text when the team needs more than a TextMessage: a Swarm that handed
    # over to the user resumes only on a HandoffMessage back to the agent that asked (its name, or None)
    task_message: Callable[[str, str | None], Any] | None = None


class AskUser(Handoff):
    """A hand-off to the user that carries the question, so the chat shows what the team wants to know."""

    @property
    def handoff_tool(self) -> FunctionTool:
        async def ask_user(question: str) -> str:
            return question

        return FunctionTool(spans.traced_tool(ask_user), name=self.name, description=self.description, strict=True)


def traced(agent: BaseChatAgent) -> TracedAgent:
    """An agent whose every step is an AGENT span (model, tool and picture spans nest inside)."""
    return TracedAgent(agent)
