"""The read side's front: what the pages ask of traces, one name each. The work is in `core/reading/`
(docs/ARCHITECTURE.md, "Reading traces"): the readers (`sql`: every raw SQL statement on MLflow's tables;
`api`: MLflow's client), the frames and the page's sums over them, the store's own aggregates, one trace as a
story, the picture lineage, and the window of a read with its refresh (read only what is new) and prefetch.

Two readers give the same frames:
- `SqlTraceReader` for database stores (the default sqlite, PostgreSQL, MySQL) reads the columns MLflow's
  own store keeps for every trace and span (token totals, cost, model, session) and our summary tags; of
  span bodies only the usage attribute, and only for traces without a summary. This is what keeps the
  page's first load fast at 100,000 traces (benchmarks/traces_page.py).
- `ApiTraceReader` for tracking servers (http/https) pages through `search_traces` without spans; the
  model and agent breakdowns read the spans of the newest `span_limit` traces and say so when they stop.
Trace totals are MLflow's own (`TraceInfo.token_usage`, `TraceInfo.cost`); a trace's call rows add up to them
(`summary.calls` counts what MLflow counts, span by span), and breakdowns by model and agent keep an
"(unattributed)" row for any rest, so they always add up to those totals.

Who may see what is checked here, once, where a thing is opened by id (a trace, a conversation, turns to compare):
`viewer` is a hosted visitor's owner key (core.identity; None: the app's owner or an admin, who see everything);
lists are a visitor's own already (their window's `owner`: core.reading.window)."""

from __future__ import annotations

from typing import Any, Iterable

from . import hosted
from .conversations import Conversation, ConversationError, ConversationStore, is_valid_run_id
from .errors import UserError
from .reading.api import ApiTraceReader, conversation_traces, load_trace, search_ids
from .reading.errors import TraceReadError
from .reading.frames import (
    CALL_SPAN_TYPES,
    FEEDBACK_CHOICES,
    OTHER,
    REFRESH_MARGIN_MS,
    TAG_KEYS,
    TIME_RANGES,
    UNATTRIBUTED,
    Frames,
    TraceFilter,
    apply_filter,
    empty_frames,
    from_summaries,
    kinds,
    merged,
    refresh_since,
    scenario_labels,
    shape_calls,
    shape_traces,
    time_window,
)
from .reading.lineage import ConversationFacts, lineage_choices, picture_conversations
from .reading.readers import DATABASE_SCHEMES, TraceReader, reader_for
from .reading.sql import SqlTraceReader
from .reading.story import span_io, span_table, trace_conversation, trace_json, trace_owner, ui_link
from .reading.sums import BREAKDOWNS, LATENCY_COLUMNS, LIST_COLUMNS, SORTS, Totals, breakdown, over_time, page, totals
from .reading.window import ReadWindow, store_version

__all__ = [
    "BREAKDOWNS",
    "CALL_SPAN_TYPES",
    "DATABASE_SCHEMES",
    "FEEDBACK_CHOICES",
    "LATENCY_COLUMNS",
    "LIST_COLUMNS",
    "OTHER",
    "REFRESH_MARGIN_MS",
    "SORTS",
    "TAG_KEYS",
    "TIME_RANGES",
    "UNATTRIBUTED",
    "ApiTraceReader",
    "NotYours",
    "ReadWindow",
    "Frames",
    "SqlTraceReader",
    "Totals",
    "TraceFilter",
    "TraceReadError",
    "TraceReader",
    "apply_filter",
    "conversation_facts",
    "breakdown",
    "conversation_traces",
    "empty_frames",
    "from_summaries",
    "kinds",
    "lineage_choices",
    "load_trace",
    "merged",
    "open_conversation",
    "open_trace",
    "open_turns",
    "over_time",
    "page",
    "picture_conversations",
    "reader_for",
    "refresh_since",
    "scenario_labels",
    "search_ids",
    "shape_calls",
    "shape_traces",
    "span_io",
    "span_table",
    "store_version",
    "time_window",
    "totals",
    "trace_conversation",
    "trace_json",
    "trace_owner",
    "ui_link",
]


# --- what a viewer opens by id: their access checked here (core.hosted.may_open) --------------------------------------


def open_trace(tracking_uri: str, trace_id: str, viewer: str | None) -> Any:
    """The trace with its spans, if `viewer` may see it; TraceReadError saying why not (unknown id, still running,
    store down, another visitor's: said as unknown to them)."""
    trace = load_trace(tracking_uri, trace_id)
    if not hosted.may_open(viewer, trace_owner(trace)):
        raise TraceReadError(f"There is no trace {trace_id} among your traces in this demo.")
    return trace


def open_turns(tracking_uri: str, trace_ids: Iterable[str], viewer: str | None) -> list[Any]:
    """Turns to compare side by side, each with its spans; UserError when one is another visitor's."""
    opened = []
    for trace_id in trace_ids:
        trace = load_trace(tracking_uri, trace_id)
        if not hosted.may_open(viewer, trace_owner(trace)):
            raise UserError("One of these turns belongs to another visitor of this demo.")
        opened.append(trace)
    return opened


NOT_YOURS = "There is no conversation {id} among your conversations in this demo."


class NotYours(ConversationError):
    """A conversation that is another visitor's: said to this one as unknown (or in the page's own words)."""


def open_conversation(store: ConversationStore, run_id: str, viewer: str | None, refusal: str = NOT_YOURS) -> Conversation:
    """A conversation (its run, transcript and pictures), if `viewer` may see it; ConversationError otherwise, with
    `refusal` (its `{id}` filled in): the page's own words for another visitor's."""
    conversation = store.load(run_id)
    if not hosted.may_open(viewer, conversation.session_id):
        raise NotYours(refusal.format(id=run_id))
    return conversation


def conversation_facts(store: ConversationStore, run_id: str, viewer: str | None) -> ConversationFacts | None:
    """What the lineage picker says of a conversation asked for by the address but not among the traces listed
    (another time range, a filter): None when it is not a conversation of this store or not `viewer`'s."""
    found = store.summaries([run_id]).get(run_id) if is_valid_run_id(run_id) else None
    if found is None or not hosted.may_open(viewer, found.session):
        return None
    return ConversationFacts(found.id, found.title, found.updated_ms)
