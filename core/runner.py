"""One turn: build clients and team fresh, `load_state`, stream the team's messages, `save_state`, persist.

Transport-free, like AutoGen Studio's team manager: the caller passes a callback for events and holds a
stop switch. `TurnHandle` runs a turn on a worker thread with its own event loop, so a Streamlit script
can render events as they arrive, and a rerun (a Stop click, a reload) never orphans the turn."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import (BaseChatMessage, HandoffMessage, MultiModalMessage, SelectSpeakerEvent, TextMessage,
                                        ToolCallExecutionEvent, ToolCallRequestEvent)
from autogen_core import CancellationToken

from . import errors, tracing
from .agents import ImageRecord, build_team
from .config import MAX_MESSAGE_CHARS, ConfigError, Settings
from .conversations import Conversation, ConversationConflict, ConversationStore
from .providers import build_clients

log = logging.getLogger(__name__)


@dataclass
class TurnEvent:
    kind: str  # "progress" | "message" | "warning"
    text: str = ""
    entry: dict[str, Any] | None = None
    png: bytes | None = None
    step: int = 0
    total_steps: int = 0


@dataclass
class TurnOutcome:
    status: str  # "ok" | "waiting" (the team asks the user) | "stopped" | "error" | "cancelled" | "conflict"
    conversation: Conversation  # the updated conversation on ok/stopped; the untouched one otherwise
    entries: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    trace_id: str | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cost_usd: float | None = 0.0  # what the turn's model calls and pictures cost (None: a price is unknown)


class StopSwitch:
    """Stop after the agent that is speaking now (graceful); safe to flip from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._terminations: list[Any] = []

    def set(self) -> None:
        self._event.set()
        for termination in self._terminations:
            termination.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def attach(self, external_termination: Any) -> None:
        self._terminations.append(external_termination)
        if self._event.is_set():
            external_termination.set()


def validate_message(message: str) -> str:
    text = (message or "").strip()
    if not text:
        raise ConfigError("The message is empty: type something for the agents to work on.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ConfigError(f"The message has {len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,}. "
                          "Shorten it, or attach the text as a report.")
    return text


class _Recorder:
    """The image sink of one turn: pictures go to the run's artifacts at once (when the store is there),
    and to the page through events; the lineage grows with them."""

    def __init__(self, conversations: ConversationStore | None, conversation: Conversation,
                 warn: Callable[[str], None]):
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
                self.warn(f"A picture could not be saved to MLflow ({type(exc).__name__}); it is kept in this session, "
                          "with any later one of this turn, and saved with the conversation.")
                self.conversations = None  # the store is away: no more seconds lost on it this turn
        record.artifact_path = path
        self.conversation.image_lookup[record.image_id] = record.lookup_entry()
        return path


def _arguments(arguments: str) -> str:
    """`{"city": "Lehi"}` as `city="Lehi"`, for the chat."""
    try:
        parsed = json.loads(arguments or "{}")
        return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in parsed.items())
    except (ValueError, AttributeError):
        return str(arguments)[:200]


def _entry(message: BaseChatMessage, turn: int, step: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"role": "assistant", "name": message.source, "turn": turn, "step": step}
    if isinstance(message, MultiModalMessage):
        entry["text"] = " ".join(c for c in message.content if isinstance(c, str))
    else:  # the planner's end-of-turn word is for the team, not for the reader
        entry["text"] = re.sub(r"\s*\bTERMINATE\b\s*$", "", message.to_text()).strip() or message.to_text()
    for key in ("image_id", "note"):
        if key in message.metadata:
            entry[key] = message.metadata[key]
    return entry


async def run_turn(
    conversation: Conversation,
    message: str,
    settings: Settings,
    store: ConversationStore | None,
    *,
    emit: Callable[[TurnEvent], None] = lambda event: None,
    stop: StopSwitch | None = None,
    cancel: CancellationToken | None = None,
    trace: bool = True,
    attempt: int = 1,
    wait_for_trace: bool = True,
    trace_experiment_id: str | None = None,
) -> TurnOutcome:
    """Run one user message through the conversation's team. Nothing of a failed turn is saved but the
    pictures it already paid for (listed in the lineage); the state stays the last good one. Without a
    store nothing is saved; `trace_experiment_id` still traces the turn there (model predictions)."""
    started = time.perf_counter()
    stop = stop or StopSwitch()
    original = conversation
    conv = copy.copy(conversation)
    conv.image_lookup = dict(conversation.image_lookup)
    conv.transcript = list(conversation.transcript)
    warnings: list[str] = []

    def warn(text: str) -> None:
        warnings.append(text)
        emit(TurnEvent("warning", text=text))

    try:
        text = validate_message(message)
    except ConfigError as exc:
        return TurnOutcome("error", original, error=str(exc), seconds=time.perf_counter() - started)
    if conv.id and not _claim(conv.id):
        return TurnOutcome("error", original, error="This conversation is answering in another tab or window right "
                           "now. Wait for that turn to finish, then reload the conversation.",
                           seconds=time.perf_counter() - started)
    try:
        if conv.id and store is not None:
            try:
                store.check_unchanged(conv)
            except ConversationConflict as exc:
                return TurnOutcome("conflict", original, error=str(exc), seconds=time.perf_counter() - started)
            except Exception:  # noqa: BLE001 - an unreachable store is dealt with below, as for any turn
                pass
        return await _run_claimed(conv, original, conversation, text, settings, store, emit=emit, stop=stop,
                                  cancel=cancel, trace=trace, attempt=attempt, wait_for_trace=wait_for_trace,
                                  started=started, warnings=warnings, warn=warn,
                                  trace_experiment_id=trace_experiment_id)
    finally:
        if conv.id:
            _release(conv.id)


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


async def _run_claimed(conv: Conversation, original: Conversation, conversation: Conversation, text: str,
                       settings: Settings, store: ConversationStore | None, *, emit: Callable[[TurnEvent], None],
                       stop: StopSwitch, cancel: CancellationToken | None, trace: bool, attempt: int,
                       wait_for_trace: bool, started: float, warnings: list[str],
                       warn: Callable[[str], None], trace_experiment_id: str | None) -> TurnOutcome:
    turn = conv.turns + 1
    user_entry = {"role": "user", "name": "user", "text": text, "turn": turn, "step": 0}
    if not conv.title:
        conv.title = " ".join(text.split()[:12])

    if store is not None and not conv.id:
        try:
            store.create(conv)
            _claim(conv.id)  # new, so nobody else holds it; released with the turn like any claim
        except Exception as exc:  # noqa: BLE001
            warn(f"The MLflow store is unreachable ({type(exc).__name__}): this turn is not traced, and the "
                 "conversation is kept in this session until the store answers again.")
            store = None
    recorder = _Recorder(store, conv, warn)
    info = None
    if trace and (store is not None or trace_experiment_id):
        info = tracing.TurnInfo(experiment_id=store.experiment_id if store is not None else str(trace_experiment_id),
                                conversation_id=conv.id or "", scenario=conv.scenario, turn=turn,
                                session_id=conv.session_id, provider=settings.provider, attempt=attempt,
                                billed_to_owner=settings.billed_to_owner)
    entries = [user_entry]
    trace_id = None
    clients = None

    def spent() -> float | None:
        pictures = sum(float(conv.image_lookup.get(i, {}).get("cost_usd") or 0) for i in recorder.pngs)
        chat = clients.chat_cost_usd() if clients is not None else 0.0
        return None if chat is None else pictures + chat

    try:
        clients = build_clients(settings)
        plan = build_team(conv.scenario, clients, recorder, turn, conv.options)
        stop.attach(plan.stop)
        if conv.state:
            await plan.team.load_state(conv.state)
        emit(TurnEvent("progress", text="Starting", step=0, total_steps=plan.total_steps))
        stop_reason = ""
        with tracing.turn_span(info, text) as span:
            trace_id = getattr(span, "trace_id", None)
            step = 0
            waiting = False
            reasons: dict[str, str] = {}  # speaker -> why it was chosen, shown with its message
            requested: dict[str, tuple[str, str]] = {}  # tool call id -> (name, arguments)
            task = TextMessage(content=plan.task(text), source="user")
            async for item in plan.team.run_stream(task=task, cancellation_token=cancel):
                if isinstance(item, TaskResult):
                    stop_reason = item.stop_reason or ""
                elif isinstance(item, SelectSpeakerEvent) and item.content:
                    speakers = list(item.content)
                    why = plan.explain(speakers[0]) if plan.explain else ""
                    reasons.update({name: why for name in speakers if why})
                    doing = " and ".join(f"{name} is {plan.step_labels.get(name, 'working')}" for name in speakers)
                    emit(TurnEvent("progress", text=doing + (f" ({why})" if why else ""), step=step + 1,
                                   total_steps=plan.total_steps))
                elif isinstance(item, ToolCallRequestEvent):
                    requested.update({call.id: (call.name, call.arguments) for call in item.content})
                elif isinstance(item, ToolCallExecutionEvent):
                    for result in item.content:
                        name, arguments = requested.get(result.call_id, (result.name, ""))
                        if name.startswith("transfer_to_"):
                            continue  # a hand-off shows as the agent's message
                        entry = {"role": "tool", "name": item.source, "tool": name, "turn": turn, "step": step + 1,
                                 "text": f"{name}({_arguments(arguments)}) → {result.content}",
                                 "is_error": bool(result.is_error or str(result.content).startswith(
                                     tracing.TOOL_ERROR_PREFIX))}
                        entries.append(entry)
                        emit(TurnEvent("message", entry=entry, step=step, total_steps=plan.total_steps))
                elif isinstance(item, BaseChatMessage) and item.source != "user":
                    step += 1
                    entry = _entry(item, turn, step)
                    if why := reasons.pop(item.source, ""):
                        entry["why"] = why
                    if isinstance(item, HandoffMessage) and item.target == "user":
                        entry["asks_user"] = waiting = True
                    entries.append(entry)
                    emit(TurnEvent("message", entry=entry, png=recorder.pngs.get(entry.get("image_id", "")),
                                   step=step, total_steps=plan.total_steps))
            state = await plan.team.save_state()
            stopped = not waiting and stop.is_set() and (step < plan.total_steps if plan.total_steps
                                                         else "External termination" in stop_reason)
            if stopped:
                of = f" of {plan.total_steps}" if plan.total_steps else ""
                entries.append({"role": "notice", "name": "app", "turn": turn, "step": step + 1,
                                "text": f"Stopped by you after step {step}{of}."})
            status = "stopped" if stopped else "waiting" if waiting else "ok"
            if span is not None:
                span.set_outputs({"status": status, "stop_reason": stop_reason,
                                  "steps": step, "last_message": tracing.clip(entries[-1]["text"], 2000)})
    except (Exception, asyncio.CancelledError) as exc:
        cancelled = isinstance(exc, asyncio.CancelledError)
        if store is not None:
            _safe(lambda: store.save_lookup(conv), warn, "the picture lineage")
        original.image_lookup = conv.image_lookup  # pictures already paid for stay in the lineage
        if conv.id and not original.id:
            original.id = conv.id
        message_text = "The turn was cancelled." if cancelled else errors.describe(
            exc, secrets=(settings.api_key,), base_url=settings.base_url)
        if not cancelled:
            log.warning("Turn %s of %s failed: %s", turn, conv.id, message_text)
        return TurnOutcome("cancelled" if cancelled else "error", original, entries=entries, error=message_text,
                           trace_id=trace_id, warnings=warnings, seconds=time.perf_counter() - started,
                           cost_usd=spent())
    finally:
        if clients is not None:
            await clients.close()
        if wait_for_trace and trace_id and info is not None:
            if not await asyncio.to_thread(tracing.wait_for_trace, settings.tracking_uri, trace_id):
                warn("The turn's trace is still being written to MLflow.")

    conv.state = state
    conv.transcript.extend(entries)
    conv.turns = turn
    conv.images = {**conversation.images, **recorder.pngs}
    conv.pending_turns += 1  # the copy's count: the pre-turn check may have found an earlier save landed
    if store is not None:
        try:
            store.save_pending(conv)  # this turn, and any the store missed while it was away
        except ConversationConflict as exc:  # another tab saved a turn meanwhile: keep theirs, tell this one
            original.image_lookup = conv.image_lookup
            return TurnOutcome("conflict", original, entries=entries, error=str(exc), trace_id=trace_id,
                               warnings=warnings, seconds=time.perf_counter() - started, cost_usd=spent())
        except Exception as exc:  # noqa: BLE001
            warn(f"Could not save the conversation to MLflow ({type(exc).__name__}); it is kept in this session "
                 "and saved when the store answers again. This turn's trace may be lost.")
    return TurnOutcome(status, conv, entries=entries, trace_id=trace_id, warnings=warnings,
                       seconds=time.perf_counter() - started, cost_usd=spent())


def _safe(action: Callable[[], None], warn: Callable[[str], None], what: str) -> None:
    try:
        action()
    except Exception as exc:  # noqa: BLE001
        warn(f"Could not save {what} to MLflow ({type(exc).__name__}); it is kept in this session.")


class TurnHandle:
    """A turn running on its own thread and event loop. Readers poll `events_since`; `stop()` is graceful,
    `cancel()` is hard. The outcome stays until someone takes it, even across Streamlit reruns."""

    def __init__(self, conversation: Conversation, message: str, settings: Settings,
                 store: ConversationStore | None, *, trace: bool = True, attempt: int = 1,
                 wait_for_trace: bool = True, trace_experiment_id: str | None = None, reservation: Any = None):
        self.message = message
        self.attempt = attempt
        self.events: list[TurnEvent] = []
        self.outcome: TurnOutcome | None = None
        self.stop_switch = StopSwitch()
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cancel: CancellationToken | None = None
        self._args = (conversation, message, settings, store, trace, attempt, wait_for_trace, trace_experiment_id)
        self._reservation = reservation  # a hosted-demo spend reservation (core.budget), settled when the turn ends
        self._thread = threading.Thread(target=self._main, name="turn", daemon=True)

    def start(self) -> "TurnHandle":
        self._thread.start()
        return self

    def _emit(self, event: TurnEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def _main(self) -> None:
        conversation, message, settings, store, trace, attempt, wait_for_trace, trace_experiment_id = self._args
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            async def go() -> TurnOutcome:
                self._cancel = CancellationToken()
                return await run_turn(conversation, message, settings, store, emit=self._emit,
                                      stop=self.stop_switch, cancel=self._cancel, trace=trace, attempt=attempt,
                                      wait_for_trace=wait_for_trace, trace_experiment_id=trace_experiment_id)
            outcome = loop.run_until_complete(go())
        except BaseException as exc:  # noqa: BLE001 - a bug must still end the turn with a message
            log.exception("Turn crashed")
            outcome = TurnOutcome("error", conversation, error=f"The turn crashed: {type(exc).__name__}: {exc}",
                                  cost_usd=None)  # unknown: a reservation keeps its bound
        finally:
            loop.close()
        if self._reservation is not None:
            self._reservation.settle(outcome.cost_usd)
        with self._cond:
            self.outcome = outcome
            self._cond.notify_all()

    @property
    def done(self) -> bool:
        return self.outcome is not None

    def stop(self) -> None:
        self.stop_switch.set()

    def cancel(self) -> None:
        loop, token = self._loop, self._cancel
        if loop is not None and token is not None and not loop.is_closed():
            loop.call_soon_threadsafe(token.cancel)

    def events_since(self, index: int, timeout: float = 0.2) -> list[TurnEvent]:
        """New events after `index`, waiting up to `timeout` for one to arrive."""
        with self._cond:
            if len(self.events) <= index and self.outcome is None:
                self._cond.wait(timeout)
            return self.events[index:]

    def wait(self, timeout: float | None = None) -> TurnOutcome | None:
        self._thread.join(timeout)
        return self.outcome

