"""What a running turn tells its reader, one small class per event (as AutoGen's `autogen_agentchat/messages.py`
has one class per message and event): a page handles each class in a handler of its own (ui/turn_view.py), and a
new kind of event is a new class, not one more optional field on a shared one. Runtime-neutral: these are the
turn's events, made by core.turn.runner from what any agent runtime streams."""

from __future__ import annotations

from dataclasses import dataclass

from ..records import TranscriptEntry


@dataclass(frozen=True)
class TurnEvent:
    """Any event of a turn (the type a reader's list holds)."""


@dataclass(frozen=True)
class Opened(TurnEvent):
    """The conversation's id is known (its run exists), so a reload or a second tab can follow the turn."""

    conversation_id: str


@dataclass(frozen=True)
class Warned(TurnEvent):
    """Something the user should know that does not stop the turn (a picture not saved, a store away)."""

    text: str


@dataclass(frozen=True, kw_only=True)
class Counted(TurnEvent):
    """An event that carries the live counter: tokens the turn has used so far (in + out) and their cost."""

    step: int = 0
    total_steps: int = 0
    tokens: int = 0
    cost_usd: float | None = 0.0  # pictures included; None: a price is unknown


@dataclass(frozen=True, kw_only=True)
class Progress(Counted):
    """Who works next, and why: "critic is critiquing (a rule)", as step `step` of `total_steps` (0: unknown)."""

    text: str


@dataclass(frozen=True, kw_only=True)
class Said(Counted):
    """A transcript entry the turn added (an agent's message, a tool call, a notice), with its picture if it drew one."""

    entry: TranscriptEntry
    png: bytes | None = None


@dataclass(frozen=True)
class Chunk(TurnEvent):
    """A piece of an answer still being written (token streaming): `source` is the agent writing."""

    source: str
    text: str
    step: int = 0
    total_steps: int = 0
