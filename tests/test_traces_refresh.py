"""A refresh reads only what is new: the Traces page's cached read (ui.trace_data.frames) after a new turn reads
from the newest trace it had (less a margin) and merges, and the result equals reading everything; a change
that is not a new trace (a rating) reads everything again."""

from __future__ import annotations

import asyncio
import uuid

import pandas as pd
import pytest
import streamlit as st

from core import feedback, traces
from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.reading import readers
from core.turn import TurnRequest, run_turn
from ui import trace_data


@pytest.fixture()
def reads(monkeypatch):
    """The start_ms of every read the page's cache makes."""
    seen: list[int | None] = []
    real = traces.reader_for

    class Spy:
        def __init__(self, reader):
            self.reader = reader

        def frames(self, start_ms=None, end_ms=None):
            seen.append(start_ms)
            return self.reader.frames(start_ms, end_ms)

        def version(self):
            return self.reader.version()

    monkeypatch.setattr(readers, "reader_for", lambda uri, eid: Spy(real(uri, eid)))
    st.cache_data.clear()
    trace_data._LAST.clear()
    return seen


def _same(a: traces.Frames, b: traces.Frames) -> None:
    pd.testing.assert_frame_equal(a.traces.reset_index(drop=True), b.traces.reset_index(drop=True))
    key = ["trace_id", "kind", "model", "agent"]
    pd.testing.assert_frame_equal(a.calls.sort_values(key).reset_index(drop=True), b.calls.sort_values(key).reset_index(drop=True))


def test_a_refresh_reads_only_the_new_turns_and_equals_a_full_read(tracking_uri, reads):
    store = ConversationStore.connect(tracking_uri, f"refresh-{uuid.uuid4().hex[:6]}")
    eid, settings = store.experiment_id, Settings(tracking_uri=tracking_uri)
    conversation = Conversation(scenario="catify", session_id="s", provider="demo", options={"iterations": 1})
    for message in ("a cat", "a dog"):
        conversation = asyncio.run(run_turn(TurnRequest(conversation, message, settings, store))).conversation

    def read() -> traces.Frames:
        return trace_data.frames(traces.ReadWindow(tracking_uri, eid, version=traces.reader_for(tracking_uri, eid).version()))

    first = read()
    assert len(first.traces) == 2 and reads == [None]
    outcome = asyncio.run(run_turn(TurnRequest(conversation, "a bird", settings, store)))
    second = read()
    assert len(second.traces) == 3 and outcome.trace_id in set(second.traces["trace_id"])
    assert reads[1] == traces.refresh_since(first) and reads[1] is not None, "only the newest part was read"
    _same(second, traces.SqlTraceReader(tracking_uri, eid).frames())

    feedback.rate(tracking_uri, outcome.trace_id, "local:tester", True)
    third = read()
    assert reads[2] is None, "a rating changes an old trace: everything is read again"
    assert int(third.traces.loc[third.traces["trace_id"] == outcome.trace_id, "feedback_up"].iloc[0]) == 1


def test_merged_replaces_a_trace_that_finished_and_keeps_the_order():
    def frame(rows):
        return traces.shape_traces(pd.DataFrame(rows, columns=["trace_id", "timestamp_ms", "status"]))

    old = traces.Frames(traces=frame([("a", 3, "IN_PROGRESS"), ("b", 1, "OK")]), calls=pd.DataFrame({"trace_id": ["b"], "calls": [1]}))
    assert traces.refresh_since(old) == 3 - traces.REFRESH_MARGIN_MS
    day = 86_400_000
    long_running = traces.Frames(traces=frame([("n", 2 * day, "OK"), ("r", 5, "IN_PROGRESS")]), calls=old.calls)
    assert traces.refresh_since(long_running) == 5, "a turn still running when read is read again"
    newer = traces.Frames(traces=frame([("c", 5, "OK"), ("a", 3, "OK")]), calls=pd.DataFrame({"trace_id": ["a", "c"], "calls": [2, 1]}))
    both = traces.merged(old, newer)
    assert list(both.traces["trace_id"]) == ["c", "a", "b"] and list(both.traces["status"]) == ["OK", "OK", "OK"]
    assert sorted(both.calls["trace_id"]) == ["a", "b", "c"]
