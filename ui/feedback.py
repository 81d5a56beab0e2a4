"""Thumbs up or down and an optional comment under each finished turn of the chat: Streamlit glue around
core.feedback, which keeps them as MLflow assessments on the turn's trace. A conversation's ratings are read in one
search, cached; the widgets are keyed by trace id, so they keep their state over reruns and show the stored rating
when the conversation is opened again."""

from __future__ import annotations

import getpass
from typing import Callable

import streamlit as st

from core import feedback
from core.errors import UserError
from ui import visitor
from ui.text import plain

THUMBS = {1: True, 0: False}  # st.feedback("thumbs"): 1 is up, 0 is down


def who() -> str:
    """Who is rating: in a hosted demo the visitor (core.identity: a signed-in person, or an anonymous browser);
    else the signed-in user (`st.user`, only after a real login), or on one's own machine its user account: a
    reload or a new tab is still the same person, whose rating shows again."""
    if visitor.hosted():
        return visitor.session_id()
    user = st.user
    if user.get("is_logged_in") is True:
        for claim in ("email", "sub"):
            if value := user.get(claim):
                return str(value)[: feedback.MAX_WHO_CHARS]
    return f"local:{_account()}"[: feedback.MAX_WHO_CHARS]


def _account() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment (a container without one)
        return "user"


@st.cache_data(ttl=30, show_spinner=False, max_entries=64)
def _ratings(tracking_uri: str, experiment_id: str, conversation_id: str, person: str, turns: int) -> dict[str, feedback.TurnFeedback]:
    """Keyed by the turn count (a new turn is a new trace); cleared by every rating written in this process (other
    app instances' show within the 30 s)."""
    return feedback.for_conversation(tracking_uri, experiment_id, conversation_id, person)


def for_conversation(tracking_uri: str, experiment_id: str, conversation_id: str, turns: int) -> Callable[[str], None] | None:
    """What draws the rating under each turn of this conversation (given the turn's trace id), or None when the
    ratings cannot be read now (the chat goes on without them)."""
    person = who()
    try:
        known = _ratings(tracking_uri, experiment_id, conversation_id, person, turns)
    except UserError as exc:
        st.caption(plain(f"Ratings are not shown: {exc}"))
        return None

    def draw(trace_id: str) -> None:
        _widgets(tracking_uri, trace_id, person, known.get(trace_id, feedback.TurnFeedback()))

    return draw


def _widgets(tracking_uri: str, trace_id: str, person: str, turn: feedback.TurnFeedback) -> None:
    key, comment_key = f"feedback_{trace_id}", f"feedback_comment_{trace_id}"
    stored = None if turn.mine is None else int(turn.mine.up)
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")
    with row:
        # the stored rating is the default only when the widget is new (its state wins afterwards)
        value = st.feedback(
            "thumbs",
            key=key,
            default=None if key in st.session_state else stored,
            on_change=_rated,
            args=(tracking_uri, trace_id, person, st.session_state.get(key, stored)),
        )
        if value is not None:
            saved = turn.mine.comment if turn.mine is not None else ""
            with st.popover("Edit comment" if saved else "Comment", icon=":material/comment:"):
                st.text_area(
                    "Comment on this turn (optional)",
                    value=saved,
                    key=comment_key,
                    max_chars=feedback.MAX_COMMENT_CHARS,
                    placeholder="What was good, or what went wrong?",
                )
                st.button("Save comment", key=f"feedback_save_{trace_id}", on_click=_commented, args=(tracking_uri, trace_id, person))
        if turn.others:
            up = sum(r.up for r in turn.others)
            st.caption(f"Others: {feedback.mark(up, len(turn.others) - up)}")
    if value is not None and turn.mine is not None and turn.mine.comment:
        shown = turn.mine.comment if len(turn.mine.comment) <= 300 else turn.mine.comment[:300] + "…"
        st.caption(plain(f"Your comment: {shown}"))  # people's words: never markdown
    if note := st.session_state.pop(f"feedback_note_{trace_id}", None):
        st.warning(plain(note), icon=":material/thumbs_up_down:")


def _write(tracking_uri: str, trace_id: str, person: str, up: bool | None, comment: str | None) -> bool:
    try:
        feedback.rate(tracking_uri, trace_id, person, up, comment, owner=visitor.visible_session())
    except UserError as exc:
        st.session_state[f"feedback_note_{trace_id}"] = str(exc)
        return False
    _ratings.clear()  # every session's next read shows it (the same person signed in elsewhere, a reload)
    return True


def _rated(tracking_uri: str, trace_id: str, person: str, before: int | None) -> None:
    """A callback: a click on a thumb saves it (a second click on the same thumb takes the rating back). When it
    cannot be saved the thumbs go back to what is stored and the turn says why."""
    key = f"feedback_{trace_id}"
    value = st.session_state.get(key)
    if not _write(tracking_uri, trace_id, person, None if value is None else THUMBS[value], None):
        st.session_state[key] = before


def _commented(tracking_uri: str, trace_id: str, person: str) -> None:
    value = st.session_state.get(f"feedback_{trace_id}")
    if value is None:
        st.session_state[f"feedback_note_{trace_id}"] = "Choose a thumb first: a comment goes with a rating."
        return
    _write(tracking_uri, trace_id, person, THUMBS[value], str(st.session_state.get(f"feedback_comment_{trace_id}") or ""))
