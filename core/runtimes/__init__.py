"""The seam between a turn and the agent framework that runs its team: a small protocol, no framework's types in it.

A runtime builds a scenario's team for one turn from the turn's context (core.agents.TeamContext: fresh clients,
the picture sink, the turn number, the options), and that team runs one message as a stream of the events below,
saves and loads its state (plain JSON-able data, kept with the conversation), and stops: gracefully after the agent
speaking now, or at once. Pausing for the human is neutral too: a run that hands over to the user ends with
`Finished(waiting=True)`, its state is saved as for any turn, and the next message resumes it as `Task(text,
resume_from=<the agent that asked>)`. The turn (core.turn.runner) turns these events into its own (core.turn.events),
counts, traces and saves; it never sees the framework.

Runtimes are registered by name in core.agents (`RUNTIMES`, imported when a turn first needs one); agentchat is
the first (core/runtimes/agentchat/). A second one is a folder here with a module-level `RUNTIME` and one line in
that registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator, Mapping, Protocol

if TYPE_CHECKING:
    from ..agents import TeamContext
    from ..config import Settings
    from ..costs import CallTotals
    from ..records import TranscriptEntry
    from ..scenarios import Scenario


# --- what a team's run streams -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunEvent:
    """Any event of a team's run."""


@dataclass(frozen=True)
class Working(RunEvent):
    """Who works next and why ("critic is critiquing (a rule)"), as step `step`."""

    text: str
    step: int


@dataclass(frozen=True)
class Writing(RunEvent):
    """A piece of an answer still being written by `source` (token streaming), during step `step`."""

    source: str
    text: str
    step: int


@dataclass(frozen=True)
class Spoke(RunEvent):
    """Transcript entries one step added (an agent's message, its tool calls), as the chat shows and keeps them."""

    entries: list[TranscriptEntry]
    step: int


@dataclass(frozen=True)
class Finished(RunEvent):
    """The run ended: how many steps it took, why (the framework's words, for the trace), and how: handed over to the
    user (`waiting`), stopped by the user's Stop before its end (`stopped`), or cut at the app's message guard."""

    reason: str
    steps: int
    waiting: bool = False
    stopped: bool = False
    guard: int = 0  # the app's message cap the run was cut at (0: it ended by itself)


@dataclass(frozen=True)
class Task:
    """One user message for a team: its text, and the agent that asked the user when the team paused for them (the
    framework decides how to resume it: agentchat hands back to that agent)."""

    text: str
    resume_from: str | None = None


# --- the protocol ------------------------------------------------------------------------------------------------------
class Models(Protocol):
    """A turn's model clients, as the turn counts them: built fresh for each turn (clients bind to its event loop)."""

    settings: Settings | None  # what they were built from (a scenario's option defaults read it)

    def totals(self) -> CallTotals: ...

    def chat_cost_usd(self) -> float | None: ...

    async def close(self) -> None: ...


class Team(Protocol):
    """A scenario's team for one turn."""

    total_steps: int  # how many steps a run takes (0: unknown)

    async def load_state(self, state: Mapping[str, Any]) -> None: ...

    async def save_state(self) -> dict[str, Any]: ...

    def run(self, task: Task) -> AsyncIterator[RunEvent]: ...

    def stop(self) -> None:
        """Stop after the agent speaking now (safe from any thread); the run ends with `Finished(stopped=...)`."""
        ...

    def cancel(self) -> None:
        """Stop at once (called on the run's event loop); the run raises `asyncio.CancelledError`."""
        ...


class Runtime(Protocol):
    """An agent framework behind the seam."""

    name: str
    # modules offering scenarios in the framework's own formats (agentchat: team files), each with
    # `discover_scenarios()` and `fingerprint()` as core.scenarios reads its sources
    sources: tuple[str, ...]

    def models(self, settings: Settings) -> Models:
        """The turn's model clients for the chosen provider (traced, counted)."""
        ...

    def build(self, scenario: Scenario, context: TeamContext) -> Team:
        """The scenario's team for one turn, every agent traced."""
        ...
