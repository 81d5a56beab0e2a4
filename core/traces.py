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
"(unattributed)" row for any rest, so they always add up to those totals."""

from __future__ import annotations

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
from .reading.lineage import lineage_choices, picture_conversations
from .reading.readers import DATABASE_SCHEMES, TraceReader, reader_for
from .reading.sql import SqlTraceReader
from .reading.story import span_io, span_table, trace_conversation, trace_json, trace_owner, ui_link
from .reading.sums import BREAKDOWNS, LATENCY_COLUMNS, LIST_COLUMNS, SORTS, Totals, breakdown, over_time, page, totals

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
    "Frames",
    "SqlTraceReader",
    "Totals",
    "TraceFilter",
    "TraceReadError",
    "TraceReader",
    "apply_filter",
    "breakdown",
    "conversation_traces",
    "empty_frames",
    "from_summaries",
    "kinds",
    "lineage_choices",
    "load_trace",
    "merged",
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
    "time_window",
    "totals",
    "trace_conversation",
    "trace_json",
    "trace_owner",
    "ui_link",
]
