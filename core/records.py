"""What crosses modules, in one place: what a conversation holds as the store keeps it (docs/ARCHITECTURE.md,
"Tracing contract": transcript entries and picture-lineage entries, `TypedDict`s because they are stored as JSON and
old files must still load as they are), and a turn's request and outcome (what goes into core.turn and comes out of
it; its events while it runs are core.turn.events). Statuses are `Literal`s, so a typo is a type error, not a silent
branch."""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Literal, TypedDict

if TYPE_CHECKING:
    from .config import Settings
    from .conversations import Conversation, ConversationStore

Role = Literal["user", "assistant", "tool", "notice"]


class _EntryRequired(TypedDict):
    role: Role
    name: str  # "user", an agent's name, "app" for notices
    text: str


class TurnUsage(TypedDict, total=False):
    """What one turn used, kept on its last transcript line: the chat shows it under the turn."""

    input_tokens: int
    output_tokens: int
    cached_tokens: int  # of the input tokens, read from the provider's prompt cache (billed at its cache rate)
    reasoning_tokens: int  # of the output tokens
    unknown_calls: int  # model calls whose server reported no usage: the tokens above leave them out
    cost_usd: float | None  # pictures included; None when a model used has no price or a call's tokens are unknown
    models: list[str]  # the chat models that answered, then the picture model (if any)
    pictures: int
    picture_note: str  # how the pictures were priced when MLflow's catalog did not know (core.costs.picture_price)
    seconds: float
    trace_id: str | None


class TranscriptEntry(_EntryRequired, total=False):
    """One line of the chat. `turn` and `step` place it; the rest say what kind of line it is."""

    turn: int
    step: int
    image_id: str  # a picture the line shows (artifact images/<id>.png)
    note: str  # the image agent's remark (e.g. it kept the previous prompt)
    why: str  # why this speaker was chosen (Weather: a rule, or the model)
    asks_user: bool  # the team handed over to the user and waits
    tool: str  # role "tool": the function's name
    is_error: bool  # role "tool": the call failed
    usage: TurnUsage  # on a turn's last line: tokens, cost, models, time and trace of the turn


class ImageLookupEntry(TypedDict, total=False):
    """One picture's place in the lineage (`image_lookup.json`, keyed by image id)."""

    prompt: str
    index: int
    turn: int
    parent: str | None
    critique: str | None
    trace_id: str | None
    model: str
    size: str
    quality: str
    cost_usd: float | None
    artifact_path: str | None
    # since issue 30: the server's tokens for a gpt-image picture (contract.SpanAttr.IMAGE_USAGE's counts), "tokens" when its
    # price is those tokens at MLflow's catalog rates (absent: our per-picture price), and what the catalog did not know
    usage: dict[str, int]
    priced_from: str
    price_note: str


ImageLookup = dict[str, ImageLookupEntry]


# --- a turn: its request and outcome ---------------------------------------------------------------------------
TurnStatus = Literal["ok", "waiting", "stopped", "error", "cancelled", "conflict"]
# ok: done; waiting: the team asks the user; stopped: by the user, after a step; error: failed (history and
# state stay the last good ones); cancelled: hard stop; conflict: another tab saved a turn meanwhile
SAVED_STATUSES: tuple[TurnStatus, ...] = ("ok", "waiting", "stopped")


@dataclass(frozen=True)
class Asker:
    """Who asked for a model's prediction and what its trace is, as the app knows it around an in-process predict
    (core.mlflow_model.registry.predict and core.evaluation set it; a served model or a script asks as nobody in
    particular). A context variable, not a parameter: a logged version runs the model file it was logged with, whose
    call of TurnHandle learns no new arguments; the handle reads it where it is made, on the predicting thread."""

    session: str = ""  # whose prediction (a visitor's owner key); "" keeps the model's own (contract.TraceKind.PREDICTION_SESSION)
    kind: str = field(default_factory=lambda: _prediction())  # or contract.TraceKind.EVALUATION
    defuse_markup: bool = False  # a hosted demo: markdown pictures in the spans become links (core.observe.spans)


def _prediction() -> str:
    from . import contract  # noqa: PLC0415 - here, not at the top: the contract imports MLflow, and pages read these records before they need it

    return contract.TraceKind.PREDICTION


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
