"""The model clients of one Agent Framework turn: an `OpenAIChatCompletionClient` per agent (agent-framework-openai,
Chat Completions) over the openai SDK, on OpenAI or the owner's OpenAI-compatible base URL, or on the offline demo
model served in process over the same wire format (core/runtimes/agentchat/demo_wire.py: the same deterministic
replies agentchat's teams get, each agent its scripted role). Every call is counted and traced by the client's
`tracing.ModelCall` middleware. Built fresh for every turn, like agentchat's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from agent_framework import ChatMiddleware, Message
from agent_framework.openai import OpenAIChatCompletionClient
from openai import AsyncOpenAI

from ... import costs
from ...config import Settings
from ...errors import ConfigError
from ...image_models import ImageGenerator, openai_images
from ..agentchat import demo_wire
from ..agentchat.demo_models import DEFAULT_RESPONDERS, DemoImageGenerator, Responder
from .tracing import ModelCall, TurnSpans


def one_user_message(message: Message, prepared: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The client writes one chat message per content of a user message (its text, then its picture); a vision
    model gets them as one message with both parts, as agentchat sends a picture with its prompt."""
    if str(message.role) != "user" or len(prepared) < 2:
        return prepared
    parts: list[dict[str, Any]] = []
    for chat in prepared:
        content = chat.get("content")
        parts.extend([{"type": "text", "text": content}] if isinstance(content, str) else list(content or []))
    first = {k: v for k, v in prepared[0].items() if k != "content"}
    return [{**first, "content": parts}]


@dataclass
class AgentFrameworkClients:
    """One turn's clients (core.runtimes.Models): what each agent calls, and what the turn counts of them."""

    settings: Settings
    image: ImageGenerator | None
    spans: TurnSpans = field(default_factory=TurnSpans)
    _calls: list[ModelCall] = field(default_factory=list)
    _openai: list[AsyncOpenAI] = field(default_factory=list)

    @property
    def stream(self) -> bool:
        return self.settings.stream_tokens

    def for_role(
        self,
        role: str,
        demo: Responder | None = None,
        *,
        vision: bool = False,
        before: Sequence[ChatMiddleware] = (),
        model: str = "",
    ) -> OpenAIChatCompletionClient:
        """The chat (or vision) model for one agent; on the demo provider, the demo model answering as `demo` (the
        scenario's script for that agent; the demo vision model critiques any picture it is shown). `before`: chat
        middlewares that shape a call before it is recorded (the critic's one-picture context). `model`: another model
        than the sidebar's (a team factory's, as `costs.model_for` chose it)."""
        settings = self.settings
        model = model or (settings.vision_model if vision else settings.chat_model)
        demo_provider = settings.provider == "demo"
        if demo_provider:
            responders: Sequence[Responder] = (demo,) if demo is not None else DEFAULT_RESPONDERS
            sdk = AsyncOpenAI(api_key="demo", base_url=demo_wire.DEMO_BASE_URL, http_client=demo_wire.http_client(model, responders, role))
        else:
            sdk = AsyncOpenAI(
                api_key=settings.api_key or "not-needed",
                base_url=settings.base_url or None,
                timeout=settings.request_timeout_s,
                max_retries=settings.max_retries,
            )
        self._openai.append(sdk)
        recorder = ModelCall(self.spans, model, role, "openai" if settings.provider == "openai" else None, free=demo_provider)
        self._calls.append(recorder)
        return OpenAIChatCompletionClient(
            model=model, async_client=sdk, middleware=[*before, recorder], message_preparer=one_user_message if vision else None
        )

    def totals(self) -> costs.CallTotals:
        return costs.call_totals(self._calls)

    def chat_cost_usd(self) -> float | None:
        return costs.clients_cost_usd(self._calls, self.settings)

    async def close(self) -> None:
        self.spans.close()
        for sdk in self._openai:
            await sdk.close()
        if self.image is not None:
            await self.image.close()


def build_clients(settings: Settings) -> AgentFrameworkClients:
    settings.validate()
    if settings.provider == "demo":
        return AgentFrameworkClients(settings, DemoImageGenerator(settings.image_model or "demo-image"))
    return AgentFrameworkClients(settings, openai_images(settings))


def require_image_model(clients: AgentFrameworkClients) -> ImageGenerator:
    if clients.image is None:
        raise ConfigError("This scenario draws pictures: choose an image model in the sidebar.")
    return clients.image
