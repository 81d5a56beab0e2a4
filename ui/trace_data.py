"""Cached reads for the Traces page: one read of the store per window (core.reading.window.ReadWindow: store,
experiment, time range, whose traces, Refresh, store version) shared by reruns and browser sessions for a minute;
everything after that (filters, sorting, paging) is pandas in memory. Streamlit glue only: what each read does is
core's (core.traces, core.reading.window); a window is a frozen dataclass, which Streamlit's cache hashes by value."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
from mlflow import MlflowClient

from core import compare, contract, traces, variants
from core.conversations import Conversation, ConversationStore, ConversationSummary
from core.reading import aggregates, rollups, window
from core.reading.window import ReadWindow
from ui import sidebar

TTL_S = 60
_LAST = window.LastReads()  # the last frames read per window, for a refresh that reads only what is new


@st.cache_data(ttl=TTL_S, show_spinner="Reading your traces…", max_entries=64)
def own_frames(w: ReadWindow) -> traces.Frames:
    """A hosted visitor's traces only (w.owner), searched by the store (core.reading.window.own_frames)."""
    return window.own_frames(w)


@st.cache_data(ttl=TTL_S, show_spinner="Reading traces…", max_entries=16)
def frames(w: ReadWindow) -> traces.Frames:
    """Keyed by the store's version too: a turn that lands after the page was read shows on the next rerun. A
    refresh reads only what is new since the last read (core.reading.window.LastReads)."""
    return _LAST.frames(w)


def whole(w: ReadWindow) -> traces.Frames:
    """Every trace of the window this person may see: their own (a hosted visitor), else all of them."""
    return own_frames(w) if w.owner else frames(w)


@st.cache_data(ttl=300, show_spinner=False)
def experiments(tracking_uri: str) -> list[tuple[str, str]]:
    """(id, name) of every active experiment, for reading traces other code wrote elsewhere; not a chat experiment's
    models experiment (contract.ExperimentTag.MODELS_OF), whose traces the page's Show choice reads with its chats'."""
    return [
        (e.experiment_id, e.name)
        for e in MlflowClient(tracking_uri).search_experiments(max_results=1000)
        if contract.ExperimentTag.MODELS_OF not in (e.tags or {})
    ]


# --- predictions and evaluations: the chat experiment's models experiment (issue 32) ---------------------------------

KIND_LABELS = {
    contract.TraceKind.CHAT: "Chat turns",
    contract.TraceKind.PREDICTION: "Model predictions",
    contract.TraceKind.EVALUATION: "Evaluations",
}


def choose_kind(experiment_name: str | None, evaluations: bool) -> str:
    """Which traces the page shows, chat turns by default (`?kind=` on arrival: the Models page's links), and a
    sentence saying so. `evaluations`: whether this person may see evaluations (core.hosted.sees_evaluations);
    `experiment_name`: the chat experiment's, to name where the others are (None: a hosted visitor, told no names)."""
    kinds = [k for k in contract.TraceKind.ALL if evaluations or k != contract.TraceKind.EVALUATION]
    if "trace_kind" not in st.session_state and st.query_params.get("kind") in kinds:
        st.session_state.trace_kind = st.query_params["kind"]
    kind = st.radio("Show", kinds, format_func=KIND_LABELS.__getitem__, horizontal=True, key="trace_kind") or contract.TraceKind.CHAT
    models = f"“{contract.models_experiment_name(experiment_name)}”" if experiment_name else "of their own"
    said = {
        contract.TraceKind.CHAT: "Chat turns only: model predictions and evaluations are counted apart (choose them above).",
        contract.TraceKind.PREDICTION: f"Model predictions only: answers of logged model versions (the Models page, `mlflow models serve`, "
        f"scripts), from experiment {models} and, written before it, from this one.",
        contract.TraceKind.EVALUATION: f"Evaluations only: each version's answer to each prompt of an evaluation, from experiment "
        f"{models} and, written before it, from this one.",
    }
    st.caption(said[kind])
    return kind


@st.cache_data(ttl=TTL_S, show_spinner="Reading traces…", max_entries=16)
def kind_frames(w: ReadWindow, kind: str, read_whole: bool) -> traces.Frames:
    """The predictions or evaluations of the chats in the window's experiment (core.reading.window.kind_frames)."""
    return window.kind_frames(w, kind, read_whole, whole)


def refresh() -> None:
    st.session_state.traces_nonce = st.session_state.get("traces_nonce", 0) + 1


def nonce() -> int:
    return st.session_state.get("traces_nonce", 0)


@st.cache_data(ttl=TTL_S, show_spinner="Searching…", max_entries=32)
def search_ids(w: ReadWindow, filter_string: str) -> tuple[frozenset[str], bool]:
    return traces.search_ids(w.tracking_uri, w.experiment_id, filter_string, start_ms=w.start_ms, end_ms=w.end_ms)


def conversation_summaries(store: ConversationStore, w: ReadWindow, ids: tuple[str, ...]) -> dict[str, ConversationSummary]:
    """The runs of the lineage picker's conversations (titles, owners), a search per 100, in the app's experiment;
    kept as long as the window's reads (its Refresh count and store version). A rename shows within a minute or on
    Refresh."""
    return _summaries(store, w.tracking_uri, store.experiment_id, ids, w.nonce, w.version)


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=32)
def _summaries(
    _store: ConversationStore, tracking_uri: str, experiment_id: str, ids: tuple[str, ...], nonce: int, version: str | None
) -> dict[str, ConversationSummary]:
    """`_store` is the app's store for `tracking_uri` (not hashed)."""
    return _store.summaries(ids)


# --- large stores: the store's own aggregates (core.reading.aggregates) ----------------------------------------------

READ_ALL_MAX_DATABASE = 25_000  # a database store reads this many traces whole in about half a second
READ_ALL_MAX_SERVER = 2_000  # a tracking server sends about 1,500 trace records a second (benchmarks/traces_page.py)
reads_rows = window.reads_rows


def read_all_max(tracking_uri: str) -> int:
    database = tracking_uri.split(":", 1)[0].split("+", 1)[0] in traces.DATABASE_SCHEMES
    return READ_ALL_MAX_DATABASE if database else READ_ALL_MAX_SERVER


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=32)
def trace_count(w: ReadWindow, scope: aggregates.Scope, database_uri: str = "") -> window.TraceCount:
    """Enough of the window's count to decide whether to read every trace (core.reading.window.count)."""
    return window.count(w, scope, read_all_max(w.tracking_uri), database_uri)


@st.cache_data(ttl=TTL_S, show_spinner="Reading traces…", max_entries=8)
def lean_rows(w: ReadWindow, owner: str | None) -> pd.DataFrame | None:
    """A sqlite store's lean trace rows (core.reading.aggregates.from_rows), kept so that filters are pandas; None
    on other stores."""
    return aggregates.MetricsReader(w.tracking_uri, w.experiment_id).rows(w.start_ms, w.end_ms, owner)


@st.cache_resource(show_spinner=False)
def _ahead() -> window.Ahead:
    return window.Ahead(aggregates.Prefetch(), TTL_S)


@st.cache_data(ttl=TTL_S, show_spinner="Aggregating traces…", max_entries=32)
def overview(w: ReadWindow, scope: aggregates.Scope, database_uri: str = "") -> aggregates.Overview:
    """`database_uri`: the tracking server's database (APP_TRACKING_DATABASE_URI), where a filter is a selection of
    the window's groups (core.reading.groups)."""
    return _ahead().overview(w, scope, lean_rows(w, scope.owner), database_uri)


def latency(w: ReadWindow, scope: aggregates.Scope) -> tuple[bool, tuple[float, float, float] | None]:
    """The overview's latency percentiles at scale, asked in the background (window.Ahead.latency: unfiltered, or
    filtered with the database known): (in yet, p50/p90/p99 or None)."""
    return _ahead().latency(w, scope)


def rollup_days(w: ReadWindow, database_uri: str) -> rollups.Rollups | None:
    """Which days MLflow's daily rollups serve (core.reading.rollups), asked in the background: None until it is in."""
    return _ahead().rollups(w, database_uri)


def forget_prefetched() -> None:
    """Once the reads asked ahead have ended, drop them (benchmarks/traces_at_scale.py: a cold first load, alone)."""
    _ahead().prefetch.forget()


def prefetch_scenarios(w: ReadWindow, scope: aggregates.Scope, known: tuple[str, ...], database_uri: str = "") -> None:
    """Behind a server, once the unfiltered page is drawn, in the background: what makes a filter at once
    (window.Ahead.scenarios)."""
    _ahead().scenarios(w, scope, known, database_uri)


def scenario_rows_alongside(w: ReadWindow, scope: aggregates.Scope, scenario_keys: tuple[str, ...], database_uri: str = "") -> None:
    """Behind a server, the breakdown by scenario asked while the overview is (window.Ahead.scenario_rows)."""
    _ahead().scenario_rows(w, scope, scenario_keys, database_uri)


def breakdown_pending(w: ReadWindow, scope: aggregates.Scope, database_uri: str = "") -> bool:
    """Whether the breakdown by scenario is still being read in the background (window.Ahead.groups_pending)."""
    return _ahead().groups_pending(w, scope, database_uri)


@st.cache_data(ttl=TTL_S, show_spinner="Aggregating traces…", max_entries=32)
def breakdown(
    w: ReadWindow, scope: aggregates.Scope, by: str, scenario_keys: tuple[str, ...], totals: traces.Totals, database_uri: str = ""
) -> pd.DataFrame:
    """One breakdown at a time, asked when it is shown (by model: two span-level aggregates; `database_uri`: the
    server's database, where the breakdown by scenario is the window's groups)."""
    rows = lean_rows(w, scope.owner) if by != "model" else None
    return _ahead().breakdown(w, scope, by, scenario_keys, totals, rows, database_uri)


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=64)
def list_page(w: ReadWindow, scope: aggregates.Scope, sort: str, number: int) -> tuple[pd.DataFrame, bool]:
    return aggregates.MetricsReader(w.tracking_uri, w.experiment_id).list_page(w.start_ms, w.end_ms, scope, sort, number)


@st.cache_data(ttl=TTL_S, show_spinner="Reading the newest turns…", max_entries=16)
def recent(w: ReadWindow, scope: aggregates.Scope, drawing: tuple[str, ...]) -> traces.Frames:
    """The lineage picker's conversations when the page does not read every trace (core.reading.window.recent)."""
    return window.recent(w, scope, drawing)


# --- what a rerun shows again: read once, kept by id ----------------------------------------------------------------


@st.cache_resource(ttl=TTL_S, max_entries=32, show_spinner="Reading the trace…")
def trace(tracking_uri: str, trace_id: str, viewer: str | None, nonce: int, version: str | None) -> Any:
    """One trace with its spans, if this viewer may open it (core.traces.open_trace; read-only: shared, not copied).
    Keyed by the store's version: a trace still running is read again once it has changed."""
    return traces.open_trace(tracking_uri, trace_id, viewer)


def conversation(store: ConversationStore, run_id: str, w: ReadWindow) -> Conversation:
    """A conversation of the lineage view, if this viewer may open it (core.traces.open_conversation), kept for this
    browser session's reruns (not across sessions: its pictures' prompts and critiques can change without a new
    trace, and a reload shows them)."""
    key = (run_id, w.owner, w.nonce, w.version)
    kept = st.session_state.get("_lineage_conversation")
    if kept is not None and kept[0] == key:
        return kept[1]
    loaded = traces.open_conversation(store, run_id, w.owner)
    st.session_state["_lineage_conversation"] = (key, loaded)
    return loaded


@st.cache_data(ttl=3600, max_entries=256, show_spinner=False)
def picture(_store: ConversationStore, tracking_uri: str, run_id: str, image_id: str) -> bytes | None:
    """A picture by id: pictures never change once saved, so reruns and other visitors get it without a download."""
    return _store.load_image(run_id, image_id)


# --- the Compare page ------------------------------------------------------------------------------------------------
@st.cache_data(ttl=5, max_entries=32, show_spinner=False)
def recent_turns(tracking_uri: str, experiment_id: str, owner: str | None) -> list[compare.TurnChoice]:
    return compare.recent_turns(tracking_uri, experiment_id, owner)


@st.cache_data(ttl=600, max_entries=32, show_spinner="Reading the turns…")
def comparison(_store: ConversationStore, tracking_uri: str, trace_ids: tuple[str, ...], owner: str | None) -> compare.Comparison:
    """The turns side by side: finished traces do not change, so a comparison is read once (a hosted visitor's
    own turns only: UserError otherwise)."""
    result = compare.compare(traces.open_turns(tracking_uri, trace_ids, owner))
    return compare.labelled(result, compare.side_labels(_store.client, _store.experiment_id, result.sides))


def use_settings(store: ConversationStore, side: compare.Side, settings: Any) -> None:
    """A button callback: the side's options and models become its original conversation's (the one its turn was
    a variant of, or its own) from the chat's next turn; the page then opens that conversation in the chat."""
    try:
        own = store.load(side.conversation_id)
        target = str(store.client.get_run(side.conversation_id).data.tags.get(contract.VariantTag.OF) or own.id)
    except Exception as exc:  # noqa: BLE001 - said on the page; nothing changes
        st.session_state.cmp_error = f"That turn's conversation could not be read ({type(exc).__name__})."
        return
    setting = variants.Setting.of(settings, own.options)
    st.session_state._adopt = {"conversation": target, "options": dict(setting.options), "models": setting.models(), "label": side.label}
    sidebar.adopt_models(setting.models(), settings)
    st.session_state.cmp_go = target
