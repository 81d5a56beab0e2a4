"""The running turn on the chat page: started through core's front door (core.turn.start) and followed event by
event, one handler per event class (core.turn.events), until its outcome. The page keeps what the outcome means for
the conversation (`keep`) and reruns."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import streamlit as st

from core import hosted
from core.records import FailedTurn, TurnOutcome, TurnRequest
from core.turn.events import Chunk, Counted, Opened, Progress, Said, TurnEvent, Warned
from ui import stores, visitor
from ui.context import PageContext
from ui.transcript import render_entry, render_live, side_by_side

if TYPE_CHECKING:
    from core.conversations import Conversation
    from core.scenarios import DocumentOption
    from core.turn import DocumentGiven, TurnHandle

# sticky on the wrapper Streamlit puts around a container (the container alone is as tall as its wrapper), on the
# theme's background so the answers scroll under it
BACKGROUND = st.get_option("theme.backgroundColor") or ("#0e1117" if st.get_option("theme.base") == "dark" else "#ffffff")
STICKY = (
    "<style>[data-testid=stLayoutWrapper]:has(> .st-key-turn_controls) {position: sticky; top: 3.75rem; "
    f"z-index: 999; background-color: {BACKGROUND}; padding: 0.25rem 0;}} "
    # the header above it is see-through: answers scrolling up would show between the two
    f"[data-testid=stHeader] {{background-color: {BACKGROUND};}}</style>"
)


def start(context: PageContext, request: TurnRequest, document: DocumentGiven | None = None) -> TurnHandle:
    """The turn through core's front door (validated, admitted, in a hosted demo reserved: core.turn.admission);
    raises UserError with the sentence when it is refused. The answer shows as soon as the agents finish; the trace
    lands a moment later, off the user's wait."""
    from core import turn  # noqa: PLC0415 - here, not at the top: the chat page draws before AutoGen loads (issue 32)

    settings = context.settings
    visit = hosted.Visit(
        stores.spend_ledger(settings.tracking_uri, settings.experiment_name),
        context.viewer.owner,
        uses_owner_key=visitor.uses_owner_key(),
        rates=hosted.rates(settings.hosted, context.viewer),
    )
    return turn.start(request, visit, document)  # not a hosted demo: core.hosted admits it as it is


def so_far(event: Counted) -> str:
    """The live counter on the status line: tokens and cost of the turn so far."""
    if not event.tokens:
        return ""
    cost = "cost unknown" if event.cost_usd is None else f"\\${event.cost_usd:.4f}"  # a label is markdown
    return f" · {event.tokens:,} tokens, {cost} so far"


@dataclass
class TurnView:
    """What the view keeps between events: the status line and its bar, the columns of agents that answer side by
    side, the pictures so far, and the answers being written (agent -> [placeholder, text so far])."""

    scenario: str
    status: Any
    progress: Any
    side: dict[str, Any]
    pngs: dict[str, bytes] = field(default_factory=dict)
    step_text: str = ""
    live: dict[str, list] = field(default_factory=dict)
    written: set[str] = field(default_factory=set)  # agents with new pieces in this batch (one redraw each)


def on_chunk(view: TurnView, event: Chunk) -> None:
    if event.source not in view.live:
        view.live[event.source] = [(view.side.get(event.source) or st).empty(), ""]
    view.live[event.source][1] += event.text
    view.written.add(event.source)


def on_said(view: TurnView, event: Said) -> None:
    entry = event.entry
    if view.step_text:
        view.status.update(label=view.step_text + so_far(event))
    if event.png and entry.get("image_id"):
        view.pngs[entry["image_id"]] = event.png
    name = entry.get("name", "")
    column = view.side.get(name) if entry.get("role") == "assistant" else None
    streamed = view.live.pop(name, None) if entry.get("role") == "assistant" else None
    view.written.discard(name)
    # the finished answer takes the place of the one being written
    with streamed[0].container() if streamed else column if column is not None else nullcontext():
        render_entry(entry, view.pngs.get, view.scenario)


def on_progress(view: TurnView, event: Progress) -> None:
    of = f" of {event.total_steps}" if event.total_steps else ""
    view.step_text = f"Step {max(event.step, 1)}{of}: {event.text}…"
    view.status.update(label=view.step_text + so_far(event))
    if event.total_steps:
        view.progress.progress(min(1.0, (event.step - 1) / event.total_steps) if event.step else 0.0)


def on_warned(view: TurnView, event: Warned) -> None:
    st.warning(event.text)


def on_opened(view: TurnView, event: Opened) -> None:
    st.query_params["conversation"] = event.conversation_id  # the address names the conversation: a reload follows


HANDLERS: dict[type, Callable[[TurnView, Any], None]] = {
    Chunk: on_chunk,
    Said: on_said,
    Progress: on_progress,
    Warned: on_warned,
    Opened: on_opened,
}


def _controls(handle: TurnHandle, scenario: str) -> tuple[TurnView, Any]:
    """The progress line and Stop, kept in view while the answers grow below them (STICKY: a keyed container)."""
    st.html(STICKY)
    controls = st.container(key="turn_controls")
    left, right = controls.columns([5, 1], vertical_alignment="center")
    view = TurnView(scenario, status=left.status("The agents are working…", expanded=False), progress=left.progress(0.0), side={})
    stop_slot = right.empty()
    together = side_by_side(scenario)
    view.side = dict(zip(together, st.columns(len(together)))) if together else {}
    if stop_slot.button(
        "Stop", icon=":material/stop_circle:", key="stop", width="stretch", help="Stop after the agent that is working now"
    ):
        handle.stop()
    if handle.stop_switch.is_set():
        view.status.update(label="Stopping after the current step…")
    return view, stop_slot


def follow(handle: TurnHandle, scenario: str) -> tuple[TurnOutcome, dict[str, bytes]]:
    """Render the running turn's events as they arrive; (its outcome, the pictures it drew) once it has ended."""
    render_entry({"role": "user", "name": "user", "text": handle.message}, lambda image_id: None)
    view, stop_slot = _controls(handle, scenario)
    seen = 0
    while True:
        events: list[TurnEvent] = handle.events_since(seen, timeout=0.25)
        view.written = set()
        for event in events:
            seen += 1
            HANDLERS[type(event)](view, event)
        for name in view.written:  # one redraw per agent per batch of pieces
            with view.live[name][0].container():
                render_live(name, view.live[name][1], scenario)
        if handle.done and seen >= len(handle.events):
            break
    if handle.outcome is None:  # done without an outcome cannot happen: the worker leaves one however the turn ends
        raise RuntimeError("The turn ended without an outcome.")
    stop_slot.empty()
    view.progress.empty()
    return handle.outcome, view.pngs


def keep(handle: TurnHandle, outcome: TurnOutcome, pngs: dict[str, bytes]) -> tuple[str, ...] | None:
    """What the outcome means for the page's session: the conversation, the warnings, the line under the turn, or
    the failed turn kept for Retry. Returns a click made while the turn ran (New conversation, a sidebar
    conversation) that is the page's to carry out now, or None."""
    del st.session_state["turn"]
    conversation: Conversation = outcome.conversation
    st.session_state.conversation = conversation
    st.session_state.last_warnings = list(outcome.warnings)
    if conversation.pending_turns:  # the store went away: look at it afresh on the next run
        stores.store_problem.clear()
    after = st.session_state.pop("after_turn", None)
    if not outcome.saved:
        st.session_state.failed = FailedTurn.of(outcome, handle.message, handle.attempt, pngs)
        if after:  # the failure stays on screen to retry: leaving it would lose the message
            st.session_state.turn_notes = [
                "The conversation you asked to open was not opened, because this turn failed; retry it or leave it with New conversation."
            ]
        return None
    st.session_state.last_turn = {
        "ok": f"Done in {outcome.seconds:.1f} s",
        "stopped": "Stopped",
        "waiting": f"Paused after {outcome.seconds:.1f} s: the team asks you",
    }[outcome.status]
    if conversation.id:
        st.query_params["conversation"] = conversation.id
    return tuple(after) if after else None


def given(document: DocumentOption) -> DocumentGiven:
    """What the page's widgets hold for the scenario's document before the first turn (the upload wins)."""
    from core.turn import DocumentGiven  # noqa: PLC0415 - here, not at the top: the chat page draws before AutoGen loads (issue 32)

    upload = st.session_state.get(f"{document.key}_file")
    return DocumentGiven(
        text=st.session_state.get(f"{document.key}_text", ""), upload=(upload.name, upload.getvalue()) if upload is not None else None
    )
