"""Build the clients one turn needs (chat, vision, image) for the chosen provider.

Built fresh for every turn: agentchat clients bind to the event loop they first ran on
(docs/ARCHITECTURE.md, "Data flow of one turn")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autogen_core.models import ChatCompletionClient, ModelInfo
from autogen_ext.models.openai import (
    OpenAIChatCompletionClient,
    _model_info,  # agentchat's own table of OpenAI models
)

from ... import costs
from ...config import Settings
from ...costs import model_for as model_for  # where it was before Agent Framework's factories used it too
from ...errors import ConfigError
from ...image_models import ImageGenerator, openai_images
from ...observe import wire
from .demo_models import DemoChatCompletionClient, DemoImageGenerator, Responder
from .spans import TracedChatCompletionClient


@dataclass
class Clients:
    chat: ChatCompletionClient
    vision: ChatCompletionClient
    image: ImageGenerator | None
    settings: Settings | None = None
    _roles: list[ChatCompletionClient] = field(default_factory=list)

    def for_role(self, role: str, demo: Responder) -> ChatCompletionClient:
        """The chat model for one agent of a team. With a real provider that is the chat model; the demo
        provider gives each role its own offline model answering with `demo` (the scenario's script for
        that agent), since a role cannot be guessed from a system message the user may have rewritten."""
        if self.settings is None or self.settings.provider != "demo":
            return self.chat
        client = TracedChatCompletionClient(
            DemoChatCompletionClient(self.settings.chat_model, (demo,)), self.settings.chat_model, free=True
        )
        self._roles.append(client)
        return client

    def for_model(self, role: str, model: str, demo: Responder) -> ChatCompletionClient:
        """The chat model for one agent of a user's team that asked for `model`: that model where the provider
        has it (see `model_for`), else the sidebar's chat model; on the demo provider, `for_role`."""
        chosen = model_for(self.settings, model) if self.settings is not None else ""
        if self.settings is None or self.settings.provider == "demo" or chosen == self.settings.chat_model:
            return self.for_role(role, demo)
        client = TracedChatCompletionClient(_openai_chat(self.settings, chosen, vision=False), chosen, provider="openai")
        self._roles.append(client)
        return client

    def usage(self) -> tuple[int, int, list[str]]:
        """Input and output tokens of this turn's model calls, and the models that answered, in first-use order."""
        totals = self.totals()
        return totals.input_tokens, totals.output_tokens, totals.models

    def totals(self) -> costs.CallTotals:
        """This turn's model calls as billed: tokens (cached and reasoning among them), calls whose server reported
        no usage, the models that answered (core.costs)."""
        return costs.call_totals(self._traced())

    def _traced(self) -> list[TracedChatCompletionClient]:
        return [c for c in {id(c): c for c in (self.chat, self.vision, *self._roles)}.values() if isinstance(c, TracedChatCompletionClient)]

    @property
    def stream(self) -> bool:
        """Whether agents stream their answers token by token (the settings'; on by default)."""
        return self.settings is None or self.settings.stream_tokens

    def chat_cost_usd(self) -> float | None:
        """What this turn's model calls cost (core.costs); None when a model used has no price."""
        return costs.clients_cost_usd(self._traced(), self.settings)

    async def close(self) -> None:
        for client in (self.chat, self.vision, self.image, *self._roles):
            if client is not None:
                await client.close()


def model_info_for(model: str, *, vision: bool) -> ModelInfo | None:
    """None for names agentchat knows; otherwise a sensible guess so Ollama/vLLM names just work."""
    if _model_info.resolve_model(model) in _model_info._MODEL_INFO:
        return None
    return ModelInfo(
        vision=vision, function_calling=True, json_output=True, family="unknown", structured_output=False, multiple_system_messages=True
    )


def _openai_chat(settings: Settings, model: str, *, vision: bool) -> ChatCompletionClient:
    kwargs: dict[str, Any] = dict(
        model=model,
        api_key=settings.api_key or "not-needed",
        timeout=settings.request_timeout_s,
        max_retries=settings.max_retries,
        http_client=wire.http_client(),  # reads what the server sent: cached tokens, finish, [DONE] (core.observe.wire)
    )
    if settings.max_output_tokens:
        kwargs["max_tokens"] = int(settings.max_output_tokens)
    if settings.base_url:
        kwargs["base_url"] = settings.base_url
    if (info := model_info_for(model, vision=vision)) is not None:
        kwargs["model_info"] = info
    return OpenAIChatCompletionClient(**kwargs)


def build_clients(settings: Settings) -> Clients:
    """Every model call made through these clients is traced with its model name and token usage."""
    settings.validate()
    if settings.provider == "demo":
        return Clients(
            chat=TracedChatCompletionClient(DemoChatCompletionClient(settings.chat_model), settings.chat_model, free=True),
            vision=TracedChatCompletionClient(DemoChatCompletionClient(settings.vision_model), settings.vision_model, free=True),
            image=DemoImageGenerator(settings.image_model or "demo-image"),
            settings=settings,
        )
    provider_name = "openai" if settings.provider == "openai" else None
    chat = TracedChatCompletionClient(
        _openai_chat(settings, settings.chat_model, vision=False), settings.chat_model, provider=provider_name
    )
    vision = TracedChatCompletionClient(
        _openai_chat(settings, settings.vision_model, vision=True), settings.vision_model, provider=provider_name
    )
    image = openai_images(settings)
    return Clients(chat=chat, vision=vision, image=image, settings=settings)


def require_image_model(clients: Clients) -> ImageGenerator:
    if clients.image is None:
        raise ConfigError("This scenario draws pictures: choose an image model in the sidebar.")
    return clients.image
