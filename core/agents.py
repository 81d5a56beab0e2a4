"""The runtime-neutral front of agents and teams: what every runtime's agents share (a picture's place in the lineage,
`ImageRecord`, and where pictures go, `ImageSink`; the image agent's and critic's names), what a scenario builds its
team from (`TeamContext`), the registry of agent runtimes (`RUNTIMES`, core.runtimes' protocol) and `build_team`: a
scenario's team for one turn, by its runtime. Framework-typed agents live in their runtime's folder
(core/runtimes/agentchat/agents.py: `ImageAgent`, `AskUser`, `TeamPlan`, `traced`)."""

from __future__ import annotations

import importlib
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, cast

from .image_models import GeneratedImage, ImageGenerator, downsize, png_size, to_png
from .observe import spans
from .records import ImageLookupEntry

if TYPE_CHECKING:
    from .runtimes import Models, Runtime, Team
    from .runtimes.agentchat.providers import Clients
    from .scenarios import Scenario

IMAGE_AGENT = "image_agent"
CRITIC = "critic"
CRITIC_IMAGE_SIDE = 512  # the picture the critic is shown is downsized to this side


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


def new_image_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass(frozen=True)
class Drawn:
    """A picture an image agent drew: its place in the lineage (stored already), and the smaller copy the critic sees."""

    record: ImageRecord
    small: Any  # the PIL image
    small_png: bytes


async def draw(generator: ImageGenerator, sink: ImageSink, turn: int, prompt: str, parent: str | None, critique: str | None) -> Drawn:
    """Every runtime's image agent draws here: an image span, the picture priced, stored in the sink at once (the run's
    artifacts), its lineage record, and the copy the critic is shown (one attachment for the span and the critic's call)."""
    with spans.image_span(generator.model, getattr(generator, "size", ""), getattr(generator, "quality", ""), prompt) as span:
        image: GeneratedImage = await generator.generate(prompt)
        price = image.price
        record = ImageRecord(
            image_id=new_image_id(),
            prompt=prompt,
            index=sink.next_index(),
            turn=turn,
            parent=parent,
            critique=critique,
            model=image.model,
            size=image.size,
            quality=image.quality,
            cost_usd=price.usd,
            trace_id=spans.current_trace_id(),
            usage=image.usage.attribute() if image.usage is not None else None,
            priced_from_tokens=price.from_tokens,
            price_note=price.note,
        )
        record.artifact_path = sink.store(record, image.png)
        spans.record_image(span, record.image_id, record.artifact_path, record.cost_usd, parent)
        spans.record_image_usage(span, record.usage, record.price_note)
        small = downsize(image.png, CRITIC_IMAGE_SIDE)
        small_png = image.png if small.size == png_size(image.png) else to_png(small)
        spans.image_outputs(
            span,
            small_png,
            image.revised_prompt or prompt,
            image_id=record.image_id,
            artifact_path=record.artifact_path,
            revised_prompt=image.revised_prompt,
            cost_usd=record.cost_usd,
        )
    return Drawn(record, small, small_png)


@dataclass(frozen=True)
class TeamContext:
    """What a scenario builds its team from, for one turn: fresh clients (they bind to this turn's event
    loop), where pictures go, which turn this is, the conversation's options."""

    clients: Clients  # what the scenario's runtime made (`Runtime.models`): agentchat's `Clients`
    sink: ImageSink
    turn: int
    options: Mapping[str, Any]
    label: Callable[[str], str] = lambda name: name  # an agent's name as people read it ("Image agent")


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

    def sources(self) -> list[str]:
        """Every runtime's modules that offer scenarios (core.scenarios reads them with its own package)."""
        return [source for name in self.modules for source in self.get(name).sources]


RUNTIMES = Registry(
    {
        "agentchat": "core.runtimes.agentchat",
        "agentframework": "core.runtimes.agentframework",
    }
)
# what people call each runtime (the chat's sidebar, the Compare page); the first is the default
RUNTIME_LABELS: dict[str, str] = {"agentchat": "AutoGen", "agentframework": "Agent Framework"}


def runtimes_for(scenario: Scenario) -> list[str]:
    """The runtimes that can run this scenario, its own first (the default): another runtime that has a team of its
    own by the scenario's `team` name (its `teams`; a team file has its scenario's builder, its own runtime's only)."""
    others = [
        name
        for name in RUNTIMES.modules
        if name != scenario.runtime and scenario.team and scenario.team in getattr(RUNTIMES.get(name), "teams", ())
    ]
    return [scenario.runtime, *others]


def runtime_name(scenario: Scenario, chosen: str = "") -> str:
    """The runtime a conversation runs on: its own choice, else its scenario's (AutoGen for the seed scenarios; a
    conversation saved before the choice existed has none)."""
    return chosen or scenario.runtime


def runtime_of(scenario: Scenario, chosen: str = "") -> Runtime:
    """The agent runtime that builds and runs this scenario's team (`chosen`: the conversation's choice)."""
    return RUNTIMES.get(runtime_name(scenario, chosen))


def team_context(
    scenario: Scenario,
    clients: Models,
    sink: ImageSink,
    turn: int,
    options: Mapping[str, Any],
    label: Callable[[str], str] = lambda name: name,
) -> TeamContext:
    """What a runtime builds the scenario's team from, with its options filled in from the scenario's defaults.
    `clients` are what that runtime's `models` made (its own type: agentchat's are `providers.Clients`)."""
    defaults = scenario.option_defaults(clients.settings) if clients.settings is not None else {}
    return TeamContext(clients=cast("Clients", clients), sink=sink, turn=turn, options={**defaults, **options}, label=label)


def build_team(
    scenario: Scenario,
    clients: Models,
    sink: ImageSink,
    turn: int,
    options: Mapping[str, Any],
    label: Callable[[str], str] = lambda name: name,
) -> Team:
    """The scenario's team for one turn, by its own runtime (`team_context`)."""
    return runtime_of(scenario).build(scenario, team_context(scenario, clients, sink, turn, options, label))
