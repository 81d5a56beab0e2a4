"""One turn: build clients and team fresh, `load_state`, stream the team's events, `save_state`, persist. Runtime-
neutral: the team is whatever the scenario's agent runtime builds (core.runtimes' protocol), so nothing here is
typed against a framework.

Transport-free, like AutoGen Studio's team manager: the caller passes a callback for events and holds a
stop switch; `core.turn.handle.TurnHandle` runs a turn on a worker thread for the chat page. A turn is
admitted first (core.turn.admission), then small named steps on one `_Turn`: claim (this process, other tabs),
open (run, recorder, trace), stream (the team), then finish (save) or fail (keep the last good state)."""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import threading
import time
from typing import Any, Callable

from .. import agents, contract, costs, errors, redact, scenarios
from ..agents import ImageRecord
from ..conversations import Conversation, ConversationConflict, ConversationStore
from ..errors import InputError
from ..observe import export, spans
from ..records import TranscriptEntry, TurnOutcome, TurnRequest, TurnStatus, TurnUsage
from ..runtimes import Finished, Models, RunEvent, Spoke, Task, Team, Working, Writing
from ..store import refusal
from .admission import Admission, admit
from .events import Chunk, Opened, Progress, Said, TurnEvent, Warned

log = logging.getLogger(__name__)
BUSY = "This conversation is answering in another tab or window right now. Wait for that turn to finish, then reload the conversation."


class StopSwitch:
    """Stop after the agent that is speaking now (graceful); safe to flip from any thread. Each turn's team attaches
    its `stop` (core.runtimes.Team); one switch may stop several turns (a run of variants)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._callbacks: list[Callable[[], None]] = []

    def set(self) -> None:
        self._event.set()
        for callback in self._callbacks:
            callback()

    def is_set(self) -> bool:
        return self._event.is_set()

    def attach(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)
        if self._event.is_set():
            callback()


class CancelSwitch(StopSwitch):
    """The hard stop: each turn's team attaches its `cancel`; set it on the turns' event loop (TurnHandle.cancel
    does, with `call_soon_threadsafe`), and a run raises `asyncio.CancelledError`."""


def guard_notice(turn: int, step: int, guard: int) -> TranscriptEntry:
    return {
        "role": "notice",
        "name": "app",
        "turn": turn,
        "step": step + 1,
        "text": f"The team did not end by itself, so the app ended it after {guard} messages. Its termination "
        "condition may never fire: check the team file (e.g. a TextMentionTermination word its agents "
        "never say).",
    }


def stop_notice(turn: int, step: int, total_steps: int) -> TranscriptEntry:
    of = f" of {total_steps}" if total_steps else ""
    return {"role": "notice", "name": "app", "turn": turn, "step": step + 1, "text": f"Stopped by you after step {step}{of}."}


_running: set[str] = set()
_running_lock = threading.Lock()


def _claim(conversation_id: str) -> bool:
    """One turn at a time per conversation in this process (two tabs of one server)."""
    with _running_lock:
        if conversation_id in _running:
            return False
        _running.add(conversation_id)
        return True


def _release(conversation_id: str) -> None:
    with _running_lock:
        _running.discard(conversation_id)


class _Recorder:
    """The image sink of one turn: pictures go to the run's artifacts at once (when the store is there),
    and to the page through events; the lineage grows with them."""

    def __init__(self, conversations: ConversationStore | None, conversation: Conversation, warn: Callable[[str], None]):
        self.conversations, self.conversation, self.warn = conversations, conversation, warn
        self.pngs: dict[str, bytes] = {}

    def next_index(self) -> int:
        return len(self.conversation.image_lookup)

    def store(self, record: ImageRecord, png: bytes) -> str | None:
        self.pngs[record.image_id] = png
        path = None
        if self.conversations is not None and self.conversation.id:
            try:
                path = self.conversations.save_image(self.conversation.id, record.image_id, png)
            except Exception as exc:  # noqa: BLE001 - the chat goes on; the picture stays in the session
                self.warn(
                    f"A picture could not be saved to MLflow ({type(exc).__name__}); it is kept in this session, "
                    "with any later one of this turn, and saved with the conversation."
                )
                self.conversations = None  # the store is away: no more seconds lost on it this turn
        record.artifact_path = path
        self.conversation.image_lookup[record.image_id] = record.lookup_entry()
        return path


class _Turn:
    """One turn's working state. `conv` is a copy: the caller's conversation changes only through the
    outcome, so a failed turn leaves the last good one untouched, except for what is already paid for and
    stored: the pictures' lineage and a run id created on the first turn (`fail`, and `finish` on a conflict)."""

    def __init__(self, admission: Admission, emit: Callable[[TurnEvent], None], stop: StopSwitch, cancel: CancelSwitch | None):
        request = admission.request
        self.admission, self.request, self.emit, self.stop, self.cancel = admission, request, emit, stop, cancel
        self.settings = request.settings
        self.store = request.store
        self.original = request.conversation
        self.conv = copy.copy(self.original)
        self.conv.image_lookup = dict(self.original.image_lookup)
        self.conv.transcript = list(self.original.transcript)
        self.started = time.perf_counter()
        self.warnings: list[str] = []
        self.text = request.message  # admitted: cleaned and checked (core.turn.admission)
        self.turn = self.conv.turns + 1
        self.entries: list[TranscriptEntry] = []
        self.trace_id: str | None = None
        self.trace_info: spans.TurnInfo | None = None
        self.clients: Models | None = None
        self.recorder = _Recorder(None, self.conv, self.warn)
        self.state: dict[str, Any] | None = None

    def warn(self, text: str) -> None:
        self.warnings.append(text)
        self.emit(Warned(text))

    def outcome(self, status: TurnStatus, conversation: Conversation, **fields: Any) -> TurnOutcome:
        return TurnOutcome(
            status, conversation, warnings=self.warnings, seconds=time.perf_counter() - self.started, billed_usd=self.billed(), **fields
        )

    def spent(self) -> float | None:
        """This turn's pictures plus its model calls (core.costs); None when a price is unknown."""
        pictures = (self.conv.image_lookup.get(i, {}).get("cost_usd") for i in self.recorder.pngs)
        return costs.turn_cost_usd(pictures, self.clients.chat_cost_usd() if self.clients is not None else 0.0)

    def billed(self) -> float | None:
        """What the provider bills for this turn (a hosted reservation settles at it): `spent`, plus what no span
        records, the gpt-image prompt tokens of its pictures priced per picture (core.costs, counted from each
        prompt's bytes); a picture priced from the server's tokens has its prompt's tokens in its price."""
        spent = self.spent()
        if spent is None:
            return None
        entries = (self.conv.image_lookup.get(i, {}) for i in self.recorder.pngs)
        prompts = (str(e.get("prompt") or "") for e in entries if e.get("priced_from") != "tokens")
        return spent + sum(costs.picture_prompt_usd(self.settings, 1, costs.tokens_for(p)) for p in prompts)

    def picture_note(self) -> str:
        """What MLflow's catalog did not know about this turn's picture prices (each sentence once)."""
        notes = (str(self.conv.image_lookup.get(i, {}).get("price_note") or "") for i in self.recorder.pngs)
        return " ".join(dict.fromkeys(n for n in notes if n))

    # --- the steps ---------------------------------------------------------------------------------------------------
    def claim(self) -> TurnOutcome | None:
        """This process is not already running a turn of this conversation; on success it is claimed (released by
        `run_turn`). The message was admitted before (core.turn.admission): what was taken out of it is said here."""
        if removed := self.admission.removed_controls:
            self.warn(
                f"Your message had {removed} invisible control character{'' if removed == 1 else 's'} "
                "(such as NUL) that no store can keep; the agents got it without them."
            )
        if self.conv.id and not _claim(self.conv.id):
            return TurnOutcome("error", self.original, error=BUSY, seconds=time.perf_counter() - self.started)
        return None

    def check_other_tabs(self) -> TurnOutcome | None:
        """Another tab saved a turn since this one loaded the conversation: nothing runs."""
        if self.conv.id and self.store is not None:
            try:
                self.store.check_unchanged(self.conv)
            except ConversationConflict as exc:
                return TurnOutcome("conflict", self.original, error=str(exc), seconds=time.perf_counter() - self.started)
            except Exception:  # noqa: BLE001 - an unreachable store is dealt with in open(), as for any turn
                pass
        return None

    def open(self) -> None:
        """The conversation's run on its first turn, the picture recorder, and the trace's contract tags."""
        self.entries = [self.without_secrets({"role": "user", "name": "user", "text": self.text, "turn": self.turn, "step": 0})]
        if not self.conv.title:
            self.conv.title = redact.scrub(" ".join(self.text.split()[:12]))  # a run tag: kept, listed
        if self.store is not None and not self.conv.id:
            try:
                self.store.create(self.conv)
                _claim(str(self.conv.id))  # new, so nobody else holds it; released with the turn like any claim
            except Exception as exc:  # noqa: BLE001 - any store failure: a refusal is said, anything else leaves the turn unsaved but running
                refused = refusal(exc, self.settings.tracking_uri)
                if refused is not None:  # it answered: the same request would be refused again later
                    self.warn(
                        f"The MLflow store refused to save this conversation ({refused}): this turn is not "
                        "traced, and the conversation is kept in this session; start a new one to save again."
                    )
                else:
                    self.warn(
                        f"The MLflow store is unreachable ({type(exc).__name__}): this turn is not traced, and "
                        "the conversation is kept in this session until the store answers again."
                    )
                self.store = None
        self.recorder = _Recorder(self.store, self.conv, self.warn)
        if self.conv.id:
            self.emit(Opened(self.conv.id))
        request = self.request
        if request.trace and (self.store is not None or request.trace_experiment_id):
            experiment_id = self.store.experiment_id if self.store is not None else str(request.trace_experiment_id)
            predicted = self.store is None  # a model's prediction: traced for whoever asked (records.Asker)
            found = scenarios.find(self.conv.scenario)
            self.trace_info = spans.TurnInfo(
                experiment_id=experiment_id,
                conversation_id=self.conv.id or "",
                scenario=self.conv.scenario,
                turn=self.turn,
                session_id=(predicted and request.asked.session) or self.conv.session_id,
                provider=self.settings.provider,
                attempt=request.attempt,
                billed_to_owner=self.settings.billed_to_owner,
                kind=request.asked.kind if predicted else contract.TraceKind.CHAT,
                defuse_markup=request.asked.defuse_markup if predicted else self.settings.hosted is not None,
                label=getattr(found, "label", ""),
                runtime=agents.runtime_name(found, self.conv.runtime) if found is not None else self.conv.runtime,
            )

    async def build(self) -> Team:
        """Clients and team fresh for this turn (they bind to its event loop), by the scenario's agent runtime
        (core.agents.RUNTIMES), with the saved state."""
        scenario = scenarios.get(self.conv.scenario)
        runtime = agents.runtime_of(scenario, self.conv.runtime)  # the conversation's choice, else its scenario's
        self.clients = runtime.models(self.settings)
        label = functools.partial(scenarios.agent_label, scenario=scenario.key)  # as the chat names agents
        team = runtime.build(scenario, agents.team_context(scenario, self.clients, self.recorder, self.turn, self.conv.options, label))
        self.stop.attach(team.stop)
        if self.cancel is not None:
            self.cancel.attach(team.cancel)
        if self.conv.state:
            await team.load_state(self.conv.state)
        return team

    async def stream(self) -> TurnStatus:
        """Run the team on the message inside the turn's span; every entry and progress line is emitted as
        it arrives. Returns how the turn ended (ok, waiting, stopped); raises on failure. The team is built inside
        the turn's span: a team that fails to build leaves an error trace saying why (issue 31), not a bare run."""
        with spans.turn_span(self.trace_info, self.text, describe=self.describe) as span:
            self.trace_id = getattr(span, "trace_id", None)
            team = await self.build()
            self.emit(Progress(text="Starting", step=0, total_steps=team.total_steps))
            asker = next((e.get("name") for e in reversed(self.conv.transcript[-1:]) if e.get("asks_user")), None)
            finished = Finished("", 0)
            async for event in team.run(Task(self.text, resume_from=asker)):
                if isinstance(event, Finished):
                    finished = event
                else:
                    self.tell(event, team.total_steps)
            # the agents' memory is saved as an artifact: a tool's error quoting a key must not be in it
            self.state = redact.scrub_value(await team.save_state(), (self.settings.api_key,))
            if finished.stopped:
                self.entries.append(stop_notice(self.turn, finished.steps, team.total_steps))
            elif finished.guard:
                self.entries.append(guard_notice(self.turn, finished.steps, finished.guard))
            status: TurnStatus = "stopped" if finished.stopped else "waiting" if finished.waiting else "ok"
            spans.end_turn(span, self.entries[-1]["text"], status, finished.reason, finished.steps)
        return status

    def tell(self, event: RunEvent, total_steps: int) -> None:
        """What the team did, as the turn's events: progress, a piece of an answer, entries (scrubbed first)."""
        if isinstance(event, Writing):
            self.emit(Chunk(event.source, event.text, step=event.step, total_steps=total_steps))
        elif isinstance(event, Working):
            self.emit(Progress(text=event.text, step=event.step, total_steps=total_steps, **self.so_far()))
        elif isinstance(event, Spoke):
            for entry in map(self.without_secrets, event.entries):
                self.entries.append(entry)
                is_tool = entry["role"] == "tool"
                self.emit(
                    Said(
                        entry=entry,
                        step=event.step,
                        total_steps=total_steps,
                        png=None if is_tool else self.recorder.pngs.get(entry.get("image_id", "")),
                        **self.so_far(),
                    )
                )

    def without_secrets(self, entry: TranscriptEntry) -> TranscriptEntry:
        """A transcript entry as it may be shown, saved and kept for Retry: no key, token or password in it (a
        tool's error, an agent quoting a provider's error; core.redact)."""
        cleaned: TranscriptEntry = redact.scrub_value(entry, (self.settings.api_key,))
        return cleaned

    def describe(self, exc: BaseException) -> str:
        """What went wrong, in a sentence for the user, with the key and the server's address taken out."""
        if isinstance(exc, asyncio.CancelledError):
            return "The turn was cancelled."
        return errors.describe(exc, secrets=(self.settings.api_key,), base_url=self.settings.base_url)

    def fail(self, exc: BaseException) -> TurnOutcome:
        """Nothing of a failed turn is saved but the pictures it already paid for (listed in the lineage);
        the message and what the turn got done stay on screen, the state stays the last good one."""
        cancelled = isinstance(exc, asyncio.CancelledError)
        conv, original, store = self.conv, self.original, self.store
        if store is not None:
            _safe(lambda: store.save_lookup(conv), self.warn, "the picture lineage")
        original.image_lookup = conv.image_lookup  # pictures already paid for stay in the lineage
        if conv.id and not original.id:
            original.id = conv.id
        message_text = self.describe(exc)
        if not cancelled:
            log.warning("Turn %s of %s failed: %s", self.turn, conv.id, message_text)
        return TurnOutcome(
            "cancelled" if cancelled else "error",
            original,
            entries=self.entries,
            error=message_text,
            trace_id=self.trace_id,
            warnings=self.warnings,
            seconds=time.perf_counter() - self.started,
            cost_usd=self.spent(),
            billed_usd=self.billed(),
        )

    async def close(self) -> None:
        """Clients closed; by default, wait until the turn's trace is completely in the store."""
        if self.clients is not None:
            await self.clients.close()
        if self.request.wait_for_trace and self.trace_id and self.trace_info is not None:
            if not await asyncio.to_thread(export.wait_for_trace, self.settings.tracking_uri, self.trace_id):
                self.warn("The turn's trace is still being written to MLflow.")

    def so_far(self) -> dict[str, Any]:
        """The live counter: tokens used and their cost up to now."""
        totals = self.clients.totals() if self.clients is not None else costs.CallTotals()
        return {"tokens": totals.input_tokens + totals.output_tokens, "cost_usd": self.spent()}

    def usage(self) -> TurnUsage:
        """What the turn used: tokens (cached and reasoning among them), cost (pictures included), models, time
        and its trace. Calls whose server reported no usage are counted apart: their tokens are unknown, not 0."""
        totals = self.clients.totals() if self.clients is not None else costs.CallTotals()
        models = list(totals.models)
        pictures = len(self.recorder.pngs)
        if pictures and self.settings.image_model and self.settings.image_model not in models:
            models.append(self.settings.image_model)
        usage = TurnUsage(
            input_tokens=totals.input_tokens,
            output_tokens=totals.output_tokens,
            cost_usd=self.spent(),
            models=models,
            pictures=pictures,
            seconds=round(time.perf_counter() - self.started, 2),
            trace_id=self.trace_id,
        )
        if totals.cached_tokens:
            usage["cached_tokens"] = totals.cached_tokens
        if totals.reasoning_tokens:
            usage["reasoning_tokens"] = totals.reasoning_tokens
        if totals.unknown_calls:
            usage["unknown_calls"] = totals.unknown_calls
        if note := self.picture_note():
            usage["picture_note"] = note
        return usage

    def finish(self, status: TurnStatus) -> TurnOutcome:
        """The turn joins the conversation and is saved (with any turns the store missed while away)."""
        conv = self.conv
        usage = self.usage()
        if self.entries:
            self.entries[-1]["usage"] = usage  # shown under the turn, kept with the transcript
        conv.state = self.state
        conv.transcript.extend(self.entries)
        conv.turns = self.turn
        conv.images = {**self.original.images, **self.recorder.pngs}
        conv.pending_turns += 1  # the copy's count: the pre-turn check may have found an earlier save landed
        if self.store is not None:
            try:
                self.store.save_pending(conv)  # this turn, and any the store missed while it was away
            except ConversationConflict as exc:  # another tab saved a turn meanwhile: keep theirs, tell this one
                self.original.image_lookup = conv.image_lookup
                return self.outcome(
                    "conflict", self.original, entries=self.entries, error=str(exc), trace_id=self.trace_id, cost_usd=self.spent()
                )
            except Exception as exc:  # noqa: BLE001 - any store failure: the turn is kept in the session and said
                self.warn(
                    f"Could not save the conversation to MLflow ({type(exc).__name__}); it is kept in this "
                    "session and saved when the store answers again. This turn's trace may be lost."
                )
        return self.outcome(status, conv, entries=self.entries, trace_id=self.trace_id, cost_usd=usage["cost_usd"], usage=usage)


def _safe(action: Callable[[], None], warn: Callable[[str], None], what: str) -> None:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - any store failure: kept in the session and said
        warn(f"Could not save {what} to MLflow ({type(exc).__name__}); it is kept in this session.")


async def run_turn(
    request: TurnRequest | Admission,
    *,
    emit: Callable[[TurnEvent], None] = lambda event: None,
    stop: StopSwitch | None = None,
    cancel: CancelSwitch | None = None,
) -> TurnOutcome:
    """Run one user message through the conversation's team: claim, open, stream, then finish or fail. A request
    not admitted yet is admitted here (core.turn.admission, no hosted policy: scripts, tests, model predictions);
    a message it refuses is an "error" outcome. Without a store nothing is saved; `trace_experiment_id` still
    traces the turn there (model predictions)."""
    if isinstance(request, TurnRequest):
        try:
            admission = admit(request)
        except InputError as exc:
            return TurnOutcome("error", request.conversation, error=str(exc))
    else:
        admission = request
    turn = _Turn(admission, emit, stop or StopSwitch(), cancel)
    if (refused := turn.claim()) is not None:
        return refused
    try:
        if (conflict := turn.check_other_tabs()) is not None:
            return conflict
        turn.open()
        try:
            status = await turn.stream()
        except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - any failure ends the turn with a sentence
            return turn.fail(exc)
        finally:
            await turn.close()
        return turn.finish(status)
    finally:
        if turn.conv.id:
            _release(turn.conv.id)
