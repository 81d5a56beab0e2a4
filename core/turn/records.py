"""What crosses the turn's boundary: the request, the events a page renders while the team works, and the
outcome. Statuses and event kinds are `Literal`s, so a typo is a type error, not a silent branch."""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Literal

from .. import contract
from ..config import Settings
from ..conversations import Conversation
from ..records import TranscriptEntry, TurnUsage

if TYPE_CHECKING:
    from ..conversations import ConversationStore

TurnStatus = Literal["ok", "waiting", "stopped", "error", "cancelled", "conflict"]
# ok: done; waiting: the team asks the user; stopped: by the user, after a step; error: failed (history and
# state stay the last good ones); cancelled: hard stop; conflict: another tab saved a turn meanwhile
SAVED_STATUSES: tuple[TurnStatus, ...] = ("ok", "waiting", "stopped")
# chunk: a piece of an answer being written; opened: the conversation's id is known (its text), so a reload can follow
EventKind = Literal["progress", "message", "warning", "chunk", "opened"]


@dataclass(frozen=True)
class Asker:
    """Who asked for a model's prediction and what its trace is, as the app knows it around an in-process predict
    (core.mlflow_model.registry.predict and core.evaluation set it; a served model or a script asks as nobody in
    particular). A context variable, not a parameter: a logged version runs the model file it was logged with, whose
    call of TurnHandle learns no new arguments; the handle reads it where it is made, on the predicting thread."""

    session: str = ""  # whose prediction (a visitor's owner key); "" keeps the model's own (contract.PREDICTION_SESSION)
    kind: str = contract.PREDICTION  # or contract.EVALUATION_ANSWER
    defuse_markup: bool = False  # a hosted demo: markdown pictures in the spans become links (core.observe.spans)


NOBODY_IN_PARTICULAR = Asker()
_asker: ContextVar[Asker | None] = ContextVar("app_prediction_asker", default=None)


def asker() -> Asker:
    return _asker.get() or NOBODY_IN_PARTICULAR


@contextlib.contextmanager
def asked_by(who: Asker) -> Iterator[None]:
    """Predictions made inside the block are `who`'s."""
    token = _asker.set(who)
    try:
        yield
    finally:
        _asker.reset(token)


@dataclass(frozen=True)
class TurnRequest:
    """One user message for one conversation, and how to run it."""

    conversation: Conversation
    message: str
    settings: Settings
    store: ConversationStore | None
    trace: bool = True
    attempt: int = 1  # 2, 3, ... for retries (the trace's app.attempt)
    wait_for_trace: bool = True  # until the trace is complete in the store (the chat page does not wait)
    trace_experiment_id: str | None = None  # trace without a store (model predictions)
    asked: Asker = field(default_factory=asker)  # a prediction's: who asked, as which kind of trace


@dataclass
class TurnEvent:
    kind: EventKind
    text: str = ""
    entry: TranscriptEntry | None = None
    png: bytes | None = None
    step: int = 0
    total_steps: int = 0
    source: str = ""  # chunk: the agent writing
    tokens: int = 0  # progress and message: tokens the turn has used so far (in + out)
    cost_usd: float | None = 0.0  # ... and what they cost so far (pictures included; None: a price unknown)


@dataclass
class TurnOutcome:
    status: TurnStatus
    conversation: Conversation  # the updated conversation on ok/stopped/waiting; the untouched one otherwise
    entries: list[TranscriptEntry] = field(default_factory=list)
    error: str | None = None
    trace_id: str | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cost_usd: float | None = 0.0  # what the turn's model calls and pictures cost (None: a price is unknown)
    # what the provider bills for it: cost_usd and the gpt-image prompt tokens no span records (the spend ledger's)
    billed_usd: float | None = 0.0
    usage: TurnUsage | None = None  # tokens, cost, models, time and trace (a finished turn's)

    @property
    def saved(self) -> bool:
        return self.status in SAVED_STATUSES


@dataclass
class FailedTurn:
    """A turn that failed, kept for the page until Retry: its message, what it got done and why it failed."""

    message: str
    error: str
    entries: list[TranscriptEntry]
    attempt: int
    pngs: dict[str, bytes] = field(default_factory=dict)
    conflict: bool = False  # another tab saved a turn meanwhile: Reload, not Retry

    @classmethod
    def of(cls, outcome: TurnOutcome, message: str, attempt: int, pngs: dict[str, bytes]) -> FailedTurn:
        return cls(
            message=message,
            error=outcome.error or "The turn failed.",
            entries=outcome.entries,
            attempt=attempt,
            pngs=pngs,
            conflict=outcome.status == "conflict",
        )
