"""A turn on its own thread and event loop, for a Streamlit script: it renders events as they arrive, and a
rerun (a Stop click, a reload) finds the handle again in session state and never orphans the turn."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING

from autogen_core import CancellationToken

from .. import redact
from ..config import Settings
from ..conversations import Conversation, ConversationStore
from .records import TurnEvent, TurnOutcome, TurnRequest
from .runner import StopSwitch, run

if TYPE_CHECKING:
    from ..hosted import Reservation

log = logging.getLogger(__name__)
_live: dict[str, TurnHandle] = {}  # conversation id -> its running turn, in this process
_live_lock = threading.Lock()


class TurnHandle:
    """Readers poll `events_since`; `stop()` is graceful, `cancel()` is hard. The outcome stays until someone
    takes it, even across Streamlit reruns."""

    def __init__(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
        self,
        conversation: Conversation,
        message: str,
        settings: Settings,
        store: ConversationStore | None,
        *,
        trace: bool = True,
        attempt: int = 1,
        wait_for_trace: bool = True,
        trace_experiment_id: str | None = None,
        reservation: Reservation | None = None,
    ):
        self.request = TurnRequest(
            conversation,
            message,
            settings,
            store,
            trace=trace,
            attempt=attempt,
            wait_for_trace=wait_for_trace,
            trace_experiment_id=trace_experiment_id,
        )
        self.events: list[TurnEvent] = []
        self.outcome: TurnOutcome | None = None
        self.stop_switch = StopSwitch()
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cancel: CancellationToken | None = None
        self._reservation = reservation  # a hosted-demo spend reservation (core.hosted), settled when the turn ends
        self._thread = threading.Thread(target=self._main, name="turn", daemon=True)
        self.conversation_id = conversation.id or ""  # known once the turn has opened its run

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
        if event.kind == "opened" and event.text:
            with _live_lock:
                _live[event.text] = self
            self.conversation_id = event.text
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
                self._cancel = CancellationToken()
                return await run(self.request, emit=self._emit, stop=self.stop_switch, cancel=self._cancel)

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
        if self._reservation is not None:
            self._reservation.settle(outcome.billed_usd)
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
