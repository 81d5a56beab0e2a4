"""A turn run again with other settings: one (a fork) or up to `MAX_SETTINGS` at once (a grid), each a conversation
of its own that starts from the state its origin turn started from, so the only difference is the settings.

Stored the MLflow way (docs/ARCHITECTURE.md, "Tracing contract", Variants): the variants run together are children of one group run
(MLflow's own nesting tag, so its UI draws them nested; `RunKind.VARIANTS`), and each names its origin conversation,
turn and what it changed (`contract.VariantTag`). A variant is an ordinary conversation: it opens in the chat, its
turn is an ordinary trace, and the comparison (core.compare) reads them like any other.

Transport-free like core.turn: `run_cells` runs them on one event loop, at most `limit` at once (the provider's
limits), with one stop switch for all; `GridHandle` runs that on a worker thread for a Streamlit page."""

from __future__ import annotations

import asyncio
import difflib
import logging
import re
import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from mlflow.tracking import MlflowClient

from . import agents, contract, redact, scenarios
from .config import IMAGE_QUALITIES, IMAGE_SIZES, Settings
from .conversations import Conversation, ConversationStore
from .errors import InputError
from .records import ImageLookupEntry, TranscriptEntry
from .scenarios import DocumentOption, IntOption, TextOption
from .turn import CancelSwitch, Progress, Said, StopSwitch, TurnEvent, TurnOutcome, TurnRequest, run_turn

if TYPE_CHECKING:
    from .hosted import Reservation

log = logging.getLogger(__name__)
MAX_SETTINGS = 6
DEFAULT_CONCURRENCY = 4  # turns at once; each is one model call at a time, so this is the provider's concurrency
MODEL_FIELDS = ("chat_model", "vision_model", "image_model")


@dataclass(frozen=True)
class Setting:
    """One way to run a turn: the provider, its models and the scenario's options (a document option is not a
    setting: every variant works on the same report)."""

    provider: str
    chat_model: str
    vision_model: str
    image_model: str
    options: Mapping[str, Any] = field(default_factory=dict)
    runtime: str = ""  # the agent runtime (core.agents.RUNTIMES; "": the scenario's, AutoGen for the seeds)

    @classmethod
    def of(cls, settings: Settings, options: Mapping[str, Any], runtime: str = "") -> Setting:
        """A conversation's setting: its own models when it keeps them (a variant's), else the session's."""
        models = options.get(contract.MODELS_OPTION)
        own = models if isinstance(models, Mapping) and models.get("provider") == settings.provider else {}
        return cls(
            provider=settings.provider,
            **{f: str(own.get(f) or getattr(settings, f)) for f in MODEL_FIELDS},
            options={k: v for k, v in options.items() if k != contract.MODELS_OPTION},
            runtime=runtime,
        )

    def models(self) -> dict[str, str]:
        return {"provider": self.provider, **{f: getattr(self, f) for f in MODEL_FIELDS}}

    def applied(self, settings: Settings) -> Settings:
        """The session's settings run with this one's models. The provider is the session's (its key and address):
        a setting on another provider is refused, but for the offline demo, which needs neither."""
        if self.provider == settings.provider:
            chosen = replace(settings, **{f: getattr(self, f) for f in MODEL_FIELDS})
            sizes, qualities = IMAGE_SIZES.get(self.image_model), IMAGE_QUALITIES.get(self.image_model)
            if sizes and chosen.image_size not in sizes:  # the sidebar's size is another picture model's
                chosen = replace(chosen, image_size=sizes[0])
            if qualities and chosen.image_quality not in qualities:
                chosen = replace(chosen, image_quality=qualities[0])
            return chosen
        if self.provider == "demo":
            demo = Settings.for_provider("demo")
            return replace(
                settings,
                provider="demo",
                api_key=demo.api_key,
                base_url="",
                billed_to_owner=False,
                **{f: getattr(demo, f) for f in (*MODEL_FIELDS, "image_size", "image_quality")},
            )
        raise InputError(
            f"A setting on the {self.provider} provider needs that provider chosen in the sidebar (its "
            "key and address); choose it there, or run this setting on the current provider."
        )

    def conversation_options(self) -> dict[str, Any]:
        """The options a variant's conversation keeps: the scenario's, and its models (contract.MODELS_OPTION)."""
        return {**self.options, contract.MODELS_OPTION: self.models()}


def _added_words(old: str, new: str, most: int = 4) -> str:
    """What a text option's change says in a few words: the first words of a rewrite (less than half kept), else
    the first run of words it added."""
    a, b = re.findall(r"\S+", old or ""), re.findall(r"\S+", new or "")

    def bare(words: list[str]) -> list[str]:  # "cats." and "cats" are one word here
        return [w.strip(".,;:!?\"'()").lower() for w in words]

    matcher = difflib.SequenceMatcher(a=bare(a), b=bare(b), autojunk=False)
    if matcher.ratio() < 0.5:
        words = b
    else:
        words = next((b[j1:j2] for op, _, _, j1, j2 in matcher.get_opcodes() if op in ("insert", "replace")), b)
    return " ".join(words[:most]) + ("…" if len(words) > most else "") if words else "(empty)"


def label(base: Setting, setting: Setting, scenario: scenarios.Scenario) -> str:
    """What a setting changed from the origin's, in a few words: "critic instruction: noir", "gpt-4.1-mini",
    "iterations: 3"; "same settings" for a plain rerun (a model is not deterministic)."""
    parts: list[str] = []
    ran_on, runs_on = agents.runtime_name(scenario, base.runtime), agents.runtime_name(scenario, setting.runtime)
    if runs_on != ran_on:
        parts.append(agents.RUNTIME_LABELS.get(runs_on, runs_on))
    if setting.provider != base.provider:
        parts.append(setting.provider)
    elif setting.chat_model != base.chat_model:
        parts.append(setting.chat_model)
    for name, short in (("vision_model", "vision"), ("image_model", "pictures")):
        if setting.provider == base.provider and getattr(setting, name) != getattr(base, name):
            parts.append(f"{short}: {getattr(setting, name)}")
    for option in scenario.options:
        if isinstance(option, DocumentOption):
            continue
        old, new = base.options.get(option.key), setting.options.get(option.key)
        if new is None or str(old) == str(new):
            continue
        name = option.label.lower()
        parts.append(f"{name}: {_added_words(str(old or ''), str(new))}" if isinstance(option, TextOption) else f"{name}: {new}")
    return " · ".join(parts)[:200] or "same settings"


@dataclass(frozen=True)
class Origin:
    """Where variants start: turn `turn` of `conversation` (its message, the state before it), or, with no
    conversation, a new one of `scenario` with a message of its own."""

    scenario: str
    message: str
    setting: Setting
    conversation: Conversation | None = None
    turn: int = 0
    trace_id: str | None = None  # the origin turn's own trace, compared beside its variants


def user_message(conversation: Conversation, turn: int) -> str:
    return next((str(e.get("text") or "") for e in conversation.transcript if e.get("turn") == turn and e.get("role") == "user"), "")


def trace_of_turn(conversation: Conversation, turn: int) -> str | None:
    """The trace id a turn's last line keeps in its usage (None for turns saved before usage was kept)."""
    for entry in reversed(conversation.transcript):
        if entry.get("turn") == turn and entry.get("usage"):
            return entry["usage"].get("trace_id")
    return None


def origin_of(conversation: Conversation, turn: int, settings: Settings) -> Origin:
    """Turn `turn` of a saved conversation as an origin; InputError saying why it cannot be one."""
    if not conversation.id:
        raise InputError("This conversation is not saved in MLflow yet, so its turns cannot be run again.")
    if not 1 <= turn <= conversation.turns:
        raise InputError(f"This conversation has no turn {turn} (it has {conversation.turns}).")
    message = user_message(conversation, turn)
    if not message:
        raise InputError(f"Turn {turn} of this conversation has no message of yours to send again.")
    return Origin(
        scenario=conversation.scenario,
        message=message,
        conversation=conversation,
        turn=turn,
        setting=Setting.of(settings, conversation.options, runtime=conversation.runtime),
        trace_id=trace_of_turn(conversation, turn),
    )


def start_of(origin: Origin, store: ConversationStore | None, session_id: str) -> Conversation:
    """A new conversation as the origin's was just before its turn: the earlier turns' transcript, pictures and
    team state (the state after the turn before, core.conversations.state_after). InputError when that state was
    not kept (turns saved before 2026-11-26): the variant would start with a team that forgot them."""
    source = origin.conversation
    if source is None or origin.turn <= 1:
        return Conversation(scenario=origin.scenario, session_id=session_id, provider=origin.setting.provider)
    state = store.state_after(str(source.id), origin.turn - 1) if store is not None and source.id else None
    if state is None:
        raise InputError(
            f"The team's memory after turn {origin.turn - 1} was not kept (the conversation was saved "
            "before each turn's state was), so only its first turn can be run again."
        )
    earlier: list[TranscriptEntry] = [e.copy() for e in source.transcript if int(e.get("turn") or 0) < origin.turn]
    for entry in earlier:
        entry.pop("usage", None)  # the origin's figures, not this conversation's
    lookup: dict[str, ImageLookupEntry] = {
        i: {**r, "artifact_path": None} for i, r in source.image_lookup.items() if int(r.get("turn") or 0) < origin.turn
    }
    images = {}
    for image_id in lookup:
        png = source.images.get(image_id) or (store.load_image(str(source.id), image_id) if store is not None else None)
        if png:
            images[image_id] = png
    return Conversation(
        scenario=origin.scenario,
        session_id=session_id,
        provider=origin.setting.provider,
        state=state,
        transcript=earlier,
        image_lookup=lookup,
        images=images,
        turns=origin.turn - 1,
        pending_turns=origin.turn - 1,
    )


@dataclass
class Cell:
    """One setting of a run of variants, its conversation, and what it did."""

    setting: Setting
    label: str
    conversation: Conversation
    events: list[TurnEvent] = field(default_factory=list)
    outcome: TurnOutcome | None = None
    started: float = 0.0

    @property
    def last_progress(self) -> Progress | None:
        """The newest step and live counter (a message the team said counts with no text of its own)."""
        last = next((e for e in reversed(self.events) if isinstance(e, (Progress, Said))), None)
        if isinstance(last, Said):
            return Progress(text="", step=last.step, total_steps=last.total_steps, tokens=last.tokens, cost_usd=last.cost_usd)
        return last


def open_group(store: ConversationStore, origin: Origin, session_id: str, count: int) -> str:
    """The group run every variant of one run is a child of (one per fork or grid); its id."""
    tags = {
        contract.RunTag.KIND: contract.RunKind.VARIANTS,
        contract.RunTag.SESSION: session_id,
        contract.VariantTag.MESSAGE: redact.scrub(origin.message)[:250],
    }
    if origin.conversation is not None and origin.conversation.id:
        tags |= {contract.VariantTag.OF: origin.conversation.id, contract.VariantTag.TURN: str(origin.turn)}
    words = " ".join(origin.message.split()[:8])
    run = store.client.create_run(store.experiment_id, run_name=f"{count} variant{'s' * (count != 1)}: {words}"[:250], tags=tags)
    return str(run.info.run_id)


def plan(
    origin: Origin, settings: Sequence[Setting], store: ConversationStore | None, session_id: str, session_settings: Settings
) -> list[Cell]:
    """The cells of a run: each setting checked (InputError saying which and why) and given its conversation."""
    if not 1 <= len(settings) <= MAX_SETTINGS:
        raise InputError(f"Run between 1 and {MAX_SETTINGS} settings at once; this has {len(settings)}.")
    scenario = scenarios.get(origin.scenario)
    cells = []
    for number, setting in enumerate(settings, 1):
        try:
            setting.applied(session_settings)
            for option in scenario.options:
                if (
                    isinstance(option, IntOption)
                    and option.key in setting.options
                    and not option.min <= int(setting.options[option.key]) <= option.max
                ):
                    raise InputError(f"{option.label} must be between {option.min} and {option.max}.")
        except InputError as exc:
            raise InputError(f"Setting {number}: {exc}") from None
        _same_memory(origin, setting, scenario, number)
        start = start_of(origin, store, session_id)
        start.runtime = agents.runtime_name(scenario, setting.runtime)
        start.options = {**(origin.conversation.options if origin.conversation else {}), **setting.conversation_options()}
        name = label(origin.setting, setting, scenario)
        title = (
            origin.conversation.title
            if origin.conversation is not None and origin.conversation.title
            else " ".join(origin.message.split()[:12])
        )
        start.title = f"{title} · {name}"[:250]
        cells.append(Cell(setting=setting, label=name, conversation=start))
    return cells


def _same_memory(origin: Origin, setting: Setting, scenario: scenarios.Scenario, number: int) -> None:
    """A turn after the first starts from its team's memory, which is in the format of the runtime it ran on: another
    runtime can run the conversation's first turn, or a new prompt, not a later turn."""
    ran_on, runs_on = agents.runtime_name(scenario, origin.setting.runtime), agents.runtime_name(scenario, setting.runtime)
    if origin.turn > 1 and runs_on != ran_on:
        raise InputError(
            f"Setting {number}: turn {origin.turn} ran on {agents.RUNTIME_LABELS.get(ran_on, ran_on)}, whose memory of the "
            f"turns before it another runtime cannot read; run it on {agents.RUNTIME_LABELS.get(ran_on, ran_on)}, or "
            "compare the runtimes on a first turn or a new prompt."
        )
    if runs_on not in agents.runtimes_for(scenario):
        raise InputError(f"Setting {number}: {agents.RUNTIME_LABELS.get(runs_on, runs_on)} has no team for “{scenario.label}”.")


def open_runs(store: ConversationStore, cells: Sequence[Cell], origin: Origin, group: str) -> None:
    """Each cell's conversation as a run before it starts: a child of the group, tagged with its origin and label,
    and holding the state it starts from as the state after the turn before, so its own turns can be run again."""
    for cell in cells:
        conversation = cell.conversation
        conversation.run_tags = {contract.RunTag.PARENT: group, contract.VariantTag.GROUP: group, contract.VariantTag.LABEL: cell.label}
        if origin.conversation is not None and origin.conversation.id:
            conversation.run_tags |= {contract.VariantTag.OF: origin.conversation.id, contract.VariantTag.TURN: str(origin.turn)}
        run_id = store.create(conversation)
        if conversation.state is not None and conversation.turns:
            store.client.log_dict(run_id, conversation.state, contract.state_after_path(conversation.turns))


async def run_cells(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
    cells: Sequence[Cell],
    message: str,
    settings: Settings,
    store: ConversationStore | None,
    *,
    emit: Callable[[int, TurnEvent], None] = lambda index, event: None,
    stop: StopSwitch | None = None,
    cancel: CancelSwitch | None = None,
    limit: int = DEFAULT_CONCURRENCY,
    wait_for_trace: bool = True,
) -> list[TurnOutcome]:
    """Every cell's turn on this event loop, at most `limit` at once; `stop` stops them all after their current
    agent, and a cell not started by then does not start. Outcomes in the cells' order."""
    stop = stop or StopSwitch()
    gate = asyncio.Semaphore(max(1, limit))

    async def one(index: int, cell: Cell) -> TurnOutcome:
        async with gate:
            if stop.is_set() or (cancel is not None and cancel.is_set()):
                cell.outcome = TurnOutcome("stopped", cell.conversation, error="Stopped before it started.")
                return cell.outcome
            cell.started = time.perf_counter()

            def told(event: TurnEvent) -> None:
                cell.events.append(event)
                emit(index, event)

            request = TurnRequest(cell.conversation, message, cell.setting.applied(settings), store, wait_for_trace=wait_for_trace)
            cell.outcome = await run_turn(request, emit=told, stop=stop, cancel=cancel)
            return cell.outcome

    return list(await asyncio.gather(*(one(i, c) for i, c in enumerate(cells))))


class GridHandle:
    """A run of variants on its own thread and event loop, polled by a Streamlit page like core.turn.TurnHandle:
    per-cell events as they arrive, `stop()` for all, the outcomes when done."""

    def __init__(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
        self,
        origin: Origin,
        cells: list[Cell],
        settings: Settings,
        store: ConversationStore | None,
        *,
        group: str | None = None,
        limit: int = DEFAULT_CONCURRENCY,
        reservation: Reservation | None = None,
    ):
        self.origin, self.cells, self.settings, self.store = origin, cells, settings, store
        self.group, self.limit, self._reservation = group, limit, reservation
        self.stop_switch = StopSwitch()
        self.outcomes: list[TurnOutcome] | None = None
        self.started = time.perf_counter()
        self.seconds = 0.0
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cancel = CancelSwitch()
        self._thread = threading.Thread(target=self._main, name="variants", daemon=True)

    def start(self) -> GridHandle:
        self._thread.start()
        return self

    def _emit(self, index: int, event: TurnEvent) -> None:
        with self._cond:
            self._cond.notify_all()

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:

            async def go() -> list[TurnOutcome]:
                return await run_cells(
                    self.cells,
                    self.origin.message,
                    self.settings,
                    self.store,
                    emit=self._emit,
                    stop=self.stop_switch,
                    cancel=self._cancel,
                    limit=self.limit,
                )

            outcomes = loop.run_until_complete(go())
        except BaseException as exc:  # every cell without an outcome says why
            log.exception("Variants crashed")
            why = redact.scrub(f"The run crashed: {type(exc).__name__}: {exc}")
            outcomes = [c.outcome or TurnOutcome("error", c.conversation, error=why, cost_usd=None, billed_usd=None) for c in self.cells]
        finally:
            loop.close()
        if self._reservation is not None:  # what each cell cost; a cell whose cost is unknown keeps its bound
            parts = self._reservation.parts or (None,) * len(outcomes)
            billed = [o.billed_usd if o.billed_usd is not None else part for o, part in zip(outcomes, parts)]
            self._reservation.settle(None if any(b is None for b in billed) else sum(b or 0.0 for b in billed))
        with self._cond:
            self.outcomes = outcomes
            self.seconds = time.perf_counter() - self.started
            self._cond.notify_all()

    @property
    def done(self) -> bool:
        return self.outcomes is not None

    def stop(self) -> None:
        self.stop_switch.set()

    def wait_a_moment(self, timeout: float = 0.3) -> None:
        with self._cond:
            if self.outcomes is None:
                self._cond.wait(timeout)

    def wait(self, timeout: float | None = None) -> list[TurnOutcome] | None:
        self._thread.join(timeout)
        return self.outcomes

    def trace_ids(self) -> list[str]:
        """The origin turn's trace (when known) and every finished variant's, in the cells' order."""
        ids = [self.origin.trace_id] if self.origin.trace_id else []
        return ids + [c.outcome.trace_id for c in self.cells if c.outcome is not None and c.outcome.trace_id]


def variants_of(client: MlflowClient, experiment_id: str, conversation_id: str, limit: int = 50) -> list[dict[str, str]]:
    """The variants made of a conversation's turns, newest first: run id, turn, label."""
    if not re.fullmatch(r"[0-9a-f]{32}", conversation_id or ""):
        return []
    runs = client.search_runs(
        [experiment_id],
        max_results=limit,
        order_by=["attributes.start_time DESC"],
        filter_string=f"tags.`{contract.VariantTag.OF}` = '{conversation_id}' and tags.`{contract.RunTag.SCENARIO}` != ''",
    )
    return [
        {
            "id": r.info.run_id,
            "turn": r.data.tags.get(contract.VariantTag.TURN, ""),
            "label": r.data.tags.get(contract.VariantTag.LABEL, ""),
        }
        for r in runs
    ]
