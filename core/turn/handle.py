"""A turn on its own thread and event loop, for a Streamlit script: it renders events as they arrive, and a
rerun (a Stop click, a reload) finds the handle again in session state and never orphans the turn."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING, Any

from .. import redact
from ..conversations import Conversation
from ..records import TurnOutcome, TurnRequest
from .admission import Admission, DocumentGiven, admit
from .events import Opened, TurnEvent
from .runner import CancelSwitch, StopSwitch, run_turn

if TYPE_CHECKING:
    from ..hosted import Visit

log = logging.getLogger(__name__)
_live: dict[str, TurnHandle] = {}  # conversation id -> its running turn, in this process
_live_lock = threading.Lock()


class TurnHandle:
    """Readers poll `events_since`; `stop()` is graceful, `cancel()` is hard. The outcome stays until someone
    takes it, even across Streamlit reruns."""

    def __init__(self, request: TurnRequest | Admission | Conversation, *legacy: Any, **legacy_fields: Any):
        """`request`: admitted at the front door (`start`), or a request the turn admits itself (an
        "error" outcome when it refuses the message). Model versions logged before issue 33 run the model file they
        were logged with against this core in-process, and it calls `TurnHandle(conversation, prompt, settings,
        store, trace_experiment_id=...)`: that call still makes its request."""
        if isinstance(request, Conversation):
            request = TurnRequest(request, *legacy, **legacy_fields)
        self.admission = request if isinstance(request, Admission) else None
        self.request = request.request if isinstance(request, Admission) else request
        self.events: list[TurnEvent] = []
        self.outcome: TurnOutcome | None = None
        self.stop_switch = StopSwitch()
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cancel = CancelSwitch()
        self._thread = threading.Thread(target=self._main, name="turn", daemon=True)
        self.conversation_id = self.request.conversation.id or ""  # known once the turn has opened its run

    @property
    def message(self) -> str:
        return self.request.message

    @property
    def attempt(self) -> int:
        return self.request.attempt

    def start(self) -> TurnHandle:
        self._thread.start()
        return self

    def _emit(self, event: TurnEvent) -> None:
        if isinstance(event, Opened) and event.conversation_id:
            with _live_lock:
                _live[event.conversation_id] = self
            self.conversation_id = event.conversation_id
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    @staticmethod
    def running(conversation_id: str) -> TurnHandle | None:
        """The turn running now for this conversation in this process (a reload or a second tab follows it
        instead of losing sight of it, or starting it again)."""
        with _live_lock:
            handle = _live.get(conversation_id or "")
        return handle if handle is not None and not handle.done else None

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:

            async def go() -> TurnOutcome:
                return await run_turn(self.admission or self.request, emit=self._emit, stop=self.stop_switch, cancel=self._cancel)

            outcome = loop.run_until_complete(go())
        except BaseException as exc:
            log.exception("Turn crashed")
            outcome = TurnOutcome(
                "error",
                self.request.conversation,
                error=redact.scrub(f"The turn crashed: {type(exc).__name__}: {exc}"),
                cost_usd=None,
                billed_usd=None,
            )  # unknown: a reservation keeps its bound
        finally:
            loop.close()
        if self.admission is not None:
            self.admission.settle(outcome)  # a hosted demo's reservation becomes what the turn was billed
        with self._cond:
            self.outcome = outcome
            self._cond.notify_all()
        with _live_lock:
            if _live.get(self.conversation_id) is self:
                del _live[self.conversation_id]

    @property
    def done(self) -> bool:
        return self.outcome is not None

    def stop(self) -> None:
        self.stop_switch.set()

    def cancel(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._cancel.set)  # on the turn's loop: the team's cancel touches its futures

    def events_since(self, index: int, timeout: float = 0.2) -> list[TurnEvent]:
        """New events after `index`, waiting up to `timeout` for one to arrive."""
        with self._cond:
            if len(self.events) <= index and self.outcome is None:
                self._cond.wait(timeout)
            return self.events[index:]

    def wait(self, timeout: float | None = None) -> TurnOutcome | None:
        self._thread.join(timeout)
        return self.outcome


def start(request: TurnRequest, visit: Visit | None = None, document: DocumentGiven | None = None) -> TurnHandle:
    """The chat's front door: the turn admitted (core.turn.admission: raises UserError with the sentence, nothing
    runs), then started on its worker thread; its reservation is settled when it ends."""
    return TurnHandle(admit(request, visit, document)).start()
