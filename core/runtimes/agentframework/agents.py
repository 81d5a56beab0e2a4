"""The agents Agent Framework teams need beyond its own `Agent`: the image agent (a `BaseAgent` that draws the newest
prompt into core.agents' `ImageSink` at once, as agentchat's ImageAgent does), and the critic's one-picture context.

Two of Agent Framework's habits shape the image agent's answer (docs/ARCHITECTURE.md, "Agent Framework"): a group chat
keeps only the text of assistant messages when it passes them on, so the picture goes out as a *user* message by the
image agent (Chat Completions takes pictures only in user messages anyway); and its picture's id rides in the message's
`additional_properties`, which the runtime reads into the transcript."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Sequence

from agent_framework import (
    AgentResponse,
    AgentResponseUpdate,
    AgentSession,
    BaseAgent,
    ChatContext,
    ChatMiddleware,
    Content,
    Message,
    ResponseStream,
)
from mlflow.tracing.provider import detach_span_from_context, set_span_in_context

from ...agents import CRITIC, IMAGE_AGENT, ImageSink, draw
from ...critique import parse as parse_critique
from ...image_models import ImageGenerator
from .tracing import TurnSpans

IMAGE_ID = "image_id"


def has_picture(message: Message) -> bool:
    return any(c.type == "data" for c in message.contents)


def _as_messages(messages: Any) -> list[Message]:
    items = [messages] if isinstance(messages, (str, Message)) else list(messages or [])
    return [Message(role="user", contents=[m]) if isinstance(m, str) else m for m in items]


class ImageAgent(BaseAgent):
    """Draws the newest prompt: the critic's `PROMPT:`, else the user's message; keeps the last prompt when the critic
    gave none, and says so. Its step is an AGENT span with the picture's span inside."""

    def __init__(self, generator: ImageGenerator, sink: ImageSink, turn: int, trace: TurnSpans):
        super().__init__(name=IMAGE_AGENT, description="Draws the newest prompt as a picture.")
        self._generator, self._sink, self._turn, self._trace = generator, sink, turn, trace
        self._last: tuple[str | None, str | None] = (None, None)  # this turn's newest picture: (prompt, id)

    def _next_prompt(self, messages: Sequence[Message]) -> tuple[str, str | None, str | None, str | None]:
        """(prompt, parent picture, critique, note for the chat) from the newest relevant message."""
        last_prompt, last_id = self._last if self._last[1] else _last_picture(messages)
        for message in reversed(messages):
            if message.author_name == CRITIC:
                parsed = parse_critique(message.text)
                if parsed.prompt:
                    return parsed.prompt, last_id, parsed.critique, None
                return last_prompt or "", last_id, parsed.critique, "The critic gave no PROMPT:, so I drew the previous prompt again."
            if message.author_name not in (IMAGE_AGENT, CRITIC) and str(message.role) == "user" and message.text.strip():
                return message.text.strip(), None, None, None
        if last_prompt:
            return last_prompt, last_id, None, "No new prompt, so I drew the previous one again."
        raise ValueError("There is nothing to draw yet: send a prompt first.")

    async def _draw(self, messages: Sequence[Message]) -> AgentResponse:
        step = self._trace.begin_step(IMAGE_AGENT, messages)
        token = set_span_in_context(step) if step is not None else None  # the picture's span nests in the step
        try:
            response = await self._picture(messages)
        except BaseException as exc:
            self._trace.end(step, exc)
            raise
        finally:
            if token is not None:
                detach_span_from_context(token)
        if step is not None:
            said = response.messages[0]
            step.set_outputs({"messages": [{"role": "assistant", "name": IMAGE_AGENT, "content": said.text}]})
            self._trace.end(step)
        return response

    async def _picture(self, messages: Sequence[Message]) -> AgentResponse:
        prompt, parent, critique, note = self._next_prompt(messages)
        drawn = await draw(self._generator, self._sink, self._turn, prompt, parent, critique)
        record, small_png = drawn.record, drawn.small_png
        self._last = (prompt, record.image_id)
        properties: dict[str, Any] = {IMAGE_ID: record.image_id, "prompt": prompt}
        if note:
            properties["note"] = note
        contents = [Content.from_text(prompt), Content.from_data(small_png, "image/png")]
        # the id rides in the message id too: a streamed answer is rebuilt from its updates, which keep that, not the properties
        said = Message(
            role="user",
            contents=contents,
            author_name=IMAGE_AGENT,
            message_id=f"{IMAGE_ID}:{record.image_id}",
            additional_properties=properties,
        )
        return AgentResponse(messages=[said])

    def run(self, messages: Any = None, *, stream: bool = False, session: AgentSession | None = None, **kwargs: Any) -> Any:
        """Agent Framework's `run`: a coroutine of the answer, or a stream of it (one update: a picture is whole)."""
        given = _as_messages(messages)
        if not stream:
            return self._draw(given)

        async def updates() -> Any:
            response = await self._draw(given)
            for message in response.messages:
                yield AgentResponseUpdate(
                    contents=list(message.contents),
                    role=message.role,
                    author_name=message.author_name,
                    message_id=message.message_id,
                    additional_properties=message.additional_properties,
                )

        return ResponseStream(updates(), finalizer=AgentResponse.from_updates)


def picture_id(message: Message) -> str:
    """The id of the picture a message of the image agent shows ("" when it shows none)."""
    found = (message.additional_properties or {}).get(IMAGE_ID)
    if not found and str(message.message_id or "").startswith(f"{IMAGE_ID}:"):
        found = str(message.message_id).split(":", 1)[1]
    return str(found or "")


def _last_picture(messages: Sequence[Message]) -> tuple[str | None, str | None]:
    """The newest picture's prompt and id in what the agent was given (the conversation so far)."""
    for message in reversed(messages):
        properties = message.additional_properties or {}
        if message.author_name == IMAGE_AGENT and IMAGE_ID in properties:
            return str(properties.get("prompt") or message.text), str(properties[IMAGE_ID])
    return None, None


class NewestPictureOnly(ChatMiddleware):
    """The critic sees its instructions and only the newest picture (agentchat's one-message model context)."""

    async def process(self, context: ChatContext, call_next: Callable[[], Awaitable[None]]) -> None:
        pictures = [m for m in context.messages if has_picture(m)]
        if pictures:
            context.messages = [m for m in context.messages if str(m.role) == "system"] + pictures[-1:]
        await call_next()
