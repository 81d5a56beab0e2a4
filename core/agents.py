"""The agents our teams need beyond agentchat's own, and building a team from a scenario.

- `ImageAgent`: draws the newest prompt (the user's, or a critic's `PROMPT:`), puts the picture in the run's
  artifacts the moment it exists, and passes a small copy on for a vision model.
- `AskUser`: a hand-off to the user that carries the question, so the chat shows what the team wants.
- `build_team`: a scenario's team for one turn (core.scenarios), every agent wrapped for tracing.
The scenarios themselves (which agents, which termination, which speaker order) are in core/scenarios/."""

from __future__ import annotations

import base64
import importlib
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence, cast

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Handoff, Response
from autogen_agentchat.conditions import ExternalTermination
from autogen_agentchat.messages import BaseChatMessage, MultiModalMessage, TextMessage
from autogen_core import CancellationToken
from autogen_core import Image as AGImage
from autogen_core.tools import FunctionTool

from .critique import parse as parse_critique
from .image_models import GeneratedImage, ImageGenerator, downsize, png_size, to_png
from .observe import spans
from .providers import Clients
from .records import ImageLookupEntry

if TYPE_CHECKING:
    from .runtimes import Models, Runtime, Team
    from .scenarios import Scenario

IMAGE_AGENT = "image_agent"
CRITIC = "critic"
CRITIC_IMAGE_SIDE = 512


@dataclass
class ImageRecord:
    """One picture's place in the lineage: the seed's {prompt, index} and what connects it to the rest."""

    image_id: str
    prompt: str
    index: int
    turn: int
    parent: str | None
    critique: str | None
    model: str
    size: str
    quality: str
    cost_usd: float | None
    trace_id: str | None = None
    artifact_path: str | None = None
    usage: dict[str, int] | None = None  # the server's tokens for it (gpt-image), when it reported them
    priced_from_tokens: bool = False  # its price is those tokens at the catalog's rates (its prompt's text included)
    price_note: str = ""  # what MLflow's catalog did not know about its price

    def lookup_entry(self) -> ImageLookupEntry:
        entry: ImageLookupEntry = {
            "prompt": self.prompt,
            "index": self.index,
            "turn": self.turn,
            "parent": self.parent,
            "critique": self.critique,
            "trace_id": self.trace_id,
            "model": self.model,
            "size": self.size,
            "quality": self.quality,
            "cost_usd": self.cost_usd,
            "artifact_path": self.artifact_path,
        }
        if self.usage is not None:
            entry["usage"] = self.usage
        if self.priced_from_tokens:
            entry["priced_from"] = "tokens"
        if self.price_note:
            entry["price_note"] = self.price_note
        return entry


class ImageSink(Protocol):
    """Where pictures go the moment they exist (the run's artifacts, the page); returns the artifact path."""

    def next_index(self) -> int: ...

    def store(self, record: ImageRecord, png: bytes) -> str | None: ...


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


def new_image_id() -> str:
    return uuid.uuid4().hex[:16]


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
        with spans.image_span(
            self._generator.model, getattr(self._generator, "size", ""), getattr(self._generator, "quality", ""), prompt
        ) as span:
            image: GeneratedImage = await self._generator.generate(prompt)
            price = image.price
            record = ImageRecord(
                image_id=new_image_id(),
                prompt=prompt,
                index=self._sink.next_index(),
                turn=self._turn,
                parent=parent,
                critique=critique_text,
                model=image.model,
                size=image.size,
                quality=image.quality,
                cost_usd=price.usd,
                trace_id=spans.current_trace_id(),
                usage=image.usage.attribute() if image.usage is not None else None,
                priced_from_tokens=price.from_tokens,
                price_note=price.note,
            )
            record.artifact_path = self._sink.store(record, image.png)
            spans.record_image(span, record.image_id, record.artifact_path, record.cost_usd, parent)
            spans.record_image_usage(span, record.usage, record.price_note)
            small = downsize(image.png, CRITIC_IMAGE_SIDE)
            small_png = image.png if small.size == png_size(image.png) else to_png(small)
            # the picture the critic is shown: one attachment for the image span and the critic's call
            spans.image_outputs(
                span,
                small_png,
                image.revised_prompt or prompt,
                image_id=record.image_id,
                artifact_path=record.artifact_path,
                revised_prompt=image.revised_prompt,
                cost_usd=record.cost_usd,
            )
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


@dataclass(frozen=True)
class TeamContext:
    """What a scenario builds its team from, for one turn: fresh clients (they bind to this turn's event
    loop), where pictures go, which turn this is, the conversation's options."""

    clients: Clients
    sink: ImageSink
    turn: int
    options: Mapping[str, Any]


class AskUser(Handoff):
    """A hand-off to the user that carries the question, so the chat shows what the team wants to know."""

    @property
    def handoff_tool(self) -> FunctionTool:
        async def ask_user(question: str) -> str:
            return question

        return FunctionTool(spans.traced_tool(ask_user), name=self.name, description=self.description, strict=True)


def traced(agent: BaseChatAgent) -> spans.TracedAgent:
    """An agent whose every step is an AGENT span (model, tool and picture spans nest inside)."""
    return spans.TracedAgent(agent)


# --- the registry of agent runtimes (core.runtimes: the protocol) ------------------------------------------------------
@dataclass
class Registry:
    """Runtimes by name, each imported when a turn first asks for it (a runtime loads its framework: only the one a
    turn uses), from the module that holds its `RUNTIME`."""

    modules: dict[str, str]
    _loaded: dict[str, Runtime] = field(default_factory=dict)

    def get(self, name: str) -> Runtime:
        if name not in self._loaded:
            if name not in self.modules:
                raise KeyError(f"No agent runtime named {name!r}; known: {', '.join(sorted(self.modules))}.")
            self._loaded[name] = importlib.import_module(self.modules[name]).RUNTIME
        return self._loaded[name]


RUNTIMES = Registry(
    {
        "agentchat": "core.runtimes.agentchat",
    }
)


def runtime_of(scenario: Scenario) -> Runtime:
    """The agent runtime that builds and runs this scenario's team."""
    return RUNTIMES.get(scenario.runtime)


def build_team(scenario: Scenario, clients: Models, sink: ImageSink, turn: int, options: Mapping[str, Any]) -> Team:
    """The scenario's team for one turn, by its runtime, with its options filled in from the scenario's defaults.
    `clients` are what that runtime's `models` made (its own type: agentchat's are `providers.Clients`)."""
    own = cast("Clients", clients)
    defaults = scenario.option_defaults(own.settings) if own.settings is not None else {}
    return runtime_of(scenario).build(scenario, TeamContext(clients=own, sink=sink, turn=turn, options={**defaults, **options}))
