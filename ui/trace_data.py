"""Cached reads for the Traces page: one read of the store per time range and Refresh, shared by reruns
and browser sessions for a minute; everything after that (filters, sorting, paging) is pandas in memory."""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

import pandas as pd
import streamlit as st
from mlflow import MlflowClient

from core import compare, contract, hosted, traces, variants
from core.conversations import Conversation, ConversationStore, ConversationSummary, find_models_experiment
from core.errors import UserError
from core.reading import aggregates
from ui import session

TTL_S = 60


@st.cache_data(ttl=TTL_S, show_spinner="Reading your traces…", max_entries=64)
def own_frames(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
    tracking_uri: str, experiment_id: str, start_ms: int | None, end_ms: int | None, session: str, nonce: int, version: str | None
) -> traces.Frames:
    """A hosted visitor's traces only, searched by the store: a visitor's page costs what their own turns cost, however
    many traces others left in the store. Two searches (MLflow's filter has no OR): the app's owner tag (since issue
    31, when MLflow's session became the conversation) and, for older traces, their session."""
    reader = traces.ApiTraceReader(tracking_uri, experiment_id)
    newer, older = (reader.frames(start_ms, end_ms, filter_string=f) for f in aggregates.owner_searches(session))
    return traces.merged(older, newer)


@st.cache_data(ttl=TTL_S, show_spinner="Reading traces…", max_entries=16)
def frames(
    tracking_uri: str, experiment_id: str, start_ms: int | None, end_ms: int | None, nonce: int, version: str | None
) -> traces.Frames:
    """Keyed by the store's version too (store_version): a turn that lands after the page was read shows
    on the next rerun. A refresh reads only what is new since the last read (traces.refresh_since), unless
    the store says more than new traces changed (ratings, deletions) or the count then disagrees."""
    key = (tracking_uri, experiment_id, start_ms, end_ms)
    with _LOCK:
        last = _LAST.get(key)
    reader = traces.reader_for(tracking_uri, experiment_id)
    got = None
    if last is not None and _only_added(last[0], version) and time.monotonic() - last[2] < FULL_READ_EVERY_S:
        since = traces.refresh_since(last[1])
        if since is not None:
            newer = reader.frames(since if start_ms is None else max(start_ms, since), end_ms)
            got = traces.merged(last[1], newer)
            if len(got.traces) != aggregates.MetricsReader(tracking_uri, experiment_id).count(start_ms, end_ms):
                got = None  # something older changed (a deletion, a turn longer than the margin): read it all
    full_at = last[2] if got is not None and last is not None else time.monotonic()
    if got is None:
        got = reader.frames(start_ms, end_ms)
    with _LOCK:
        _LAST[key] = (version, got, full_at)
        while len(_LAST) > 8:
            _LAST.pop(next(iter(_LAST)))
    return got


# the last frames read per (store, experiment, window): (its store version, the frames, when last read whole)
_LAST: dict[tuple[str, str, int | None, int | None], tuple[str | None, traces.Frames, float]] = {}
_LOCK = threading.Lock()
FULL_READ_EVERY_S = 600  # a tracking server has no version: changes to old traces (ratings) show within this


def _only_added(old: str | None, new: str | None) -> bool:
    """Whether the store's version (SqlTraceReader.version: count/newest/running/tagged/ratings/newest rating)
    moved only by traces added or finished; a tracking server has none (None): assume so, the count checks."""
    if old is None or new is None:
        return old is None and new is None
    before, after = old.split("/"), new.split("/")
    return len(before) == len(after) == 6 and before[4:] == after[4:] and int(after[0] or 0) >= int(before[0] or 0)


@st.cache_data(ttl=300, show_spinner=False)
def experiments(tracking_uri: str) -> list[tuple[str, str]]:
    """(id, name) of every active experiment, for reading traces other code wrote elsewhere; not a chat experiment's
    models experiment (contract.MODELS_OF), whose traces the page's Show choice reads with its chats'."""
    return [
        (e.experiment_id, e.name)
        for e in MlflowClient(tracking_uri).search_experiments(max_results=1000)
        if contract.MODELS_OF not in (e.tags or {})
    ]


# --- predictions and evaluations: the chat experiment's models experiment (issue 32) ---------------------------------

KIND_LABELS = {contract.CHAT_TURN: "Chat turns", contract.PREDICTION: "Model predictions", contract.EVALUATION_ANSWER: "Evaluations"}
_MODELS: dict[tuple[str, str], str] = {}  # (store, chat experiment) -> its models experiment: once made, it stays


def models_experiment(tracking_uri: str, experiment_id: str) -> str | None:
    """The models experiment of the chats in `experiment_id`, when there is one (nothing is made by reading)."""
    key = (tracking_uri, str(experiment_id))
    if key not in _MODELS:
        found = find_models_experiment(MlflowClient(tracking_uri), str(experiment_id))
        if found is None:
            return None  # not kept: the Models page may make it any moment
        _MODELS[key] = found
    return _MODELS[key]


def choose_kind(experiment_name: str | None, evaluations: bool) -> str:
    """Which traces the page shows, chat turns by default (`?kind=` on arrival: the Models page's links), and a
    sentence saying so. `evaluations`: whether this person may see evaluations (core.hosted.sees_evaluations);
    `experiment_name`: the chat experiment's, to name where the others are (None: a hosted visitor, told no names)."""
    kinds = [k for k in contract.KINDS if evaluations or k != contract.EVALUATION_ANSWER]
    if "trace_kind" not in st.session_state and st.query_params.get("kind") in kinds:
        st.session_state.trace_kind = st.query_params["kind"]
    kind = st.radio("Show", kinds, format_func=KIND_LABELS.__getitem__, horizontal=True, key="trace_kind") or contract.CHAT_TURN
    models = f"“{contract.models_experiment_name(experiment_name)}”" if experiment_name else "of their own"
    said = {
        contract.CHAT_TURN: "Chat turns only: model predictions and evaluations are counted apart (choose them above).",
        contract.PREDICTION: f"Model predictions only: answers of logged model versions (the Models page, `mlflow models serve`, "
        f"scripts), from experiment {models} and, written before it, from this one.",
        contract.EVALUATION_ANSWER: f"Evaluations only: each version's answer to each prompt of an evaluation, from experiment "
        f"{models} and, written before it, from this one.",
    }
    st.caption(said[kind])
    return kind


@st.cache_data(ttl=TTL_S, show_spinner="Reading traces…", max_entries=16)
def kind_frames(  # noqa: PLR0913 - the page's reads are keyed by all of these (issue 33 gathers such into records)
    tracking_uri: str,
    experiment_id: str,
    start_ms: int | None,
    end_ms: int | None,
    kind: str,
    owner: str | None,
    read_whole: bool,
    nonce: int,
    version: str | None,
) -> traces.Frames:
    """The predictions or evaluations of the chats in `experiment_id`, whole: its models experiment's traces, and those
    an older store wrote into the chat experiment itself (from its frames when `read_whole`, else by MLflow's search:
    aggregates.kind_searches); a hosted visitor's own only (their two owner searches)."""
    models = models_experiment(tracking_uri, experiment_id)
    parts = []
    if models is not None:
        models_version = store_version(tracking_uri, models)
        parts.append(
            own_frames(tracking_uri, models, start_ms, end_ms, owner, nonce, models_version)
            if owner
            else frames(tracking_uri, models, start_ms, end_ms, nonce, models_version)
        )
    if owner:
        parts.append(own_frames(tracking_uri, experiment_id, start_ms, end_ms, owner, nonce, version))
    elif read_whole:
        parts.append(frames(tracking_uri, experiment_id, start_ms, end_ms, nonce, version))
    else:
        reader = traces.ApiTraceReader(tracking_uri, experiment_id)
        parts += [reader.frames(start_ms, end_ms, filter_string=f) for f in aggregates.kind_searches(kind)]
    got = functools.reduce(traces.merged, parts) if parts else traces.empty_frames()
    return traces.apply_filter(got, traces.TraceFilter(kinds=(kind,), owners=(owner,) if owner else ()))


def refresh() -> None:
    st.session_state.traces_nonce = st.session_state.get("traces_nonce", 0) + 1


def nonce() -> int:
    return st.session_state.get("traces_nonce", 0)


@st.cache_data(ttl=TTL_S, show_spinner="Searching…", max_entries=32)
def search_ids(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
    tracking_uri: str, experiment_id: str, filter_string: str, start_ms: int | None, end_ms: int | None, nonce: int, version: str | None
) -> tuple[frozenset[str], bool]:
    return traces.search_ids(tracking_uri, experiment_id, filter_string, start_ms=start_ms, end_ms=end_ms)


def store_version(tracking_uri: str, experiment_id: str) -> str | None:
    return traces.reader_for(tracking_uri, experiment_id).version()


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=32)
def conversation_summaries(
    _store: ConversationStore, tracking_uri: str, experiment_id: str, ids: tuple[str, ...], nonce: int, version: str | None
) -> dict[str, ConversationSummary]:
    """The runs of the lineage picker's conversations (titles, owners), a search per 100; keyed like `frames`
    (`_store` is the app's store for `tracking_uri`, not hashed). A rename shows within a minute or on Refresh."""
    return _store.summaries(ids)


# --- large stores: the store's own aggregates (core.reading.aggregates) -------------------------------------------------

READ_ALL_MAX_DATABASE = 25_000  # a database store reads this many traces whole in about half a second
READ_ALL_MAX_SERVER = 2_000  # a tracking server sends about 1,500 trace records a second (benchmarks/traces_page.py)
RECENT = 100  # newest traces of each picture-drawing scenario the aggregate view reads whole: the lineage picker's


def read_all_max(tracking_uri: str) -> int:
    database = tracking_uri.split(":", 1)[0].split("+", 1)[0] in traces.DATABASE_SCHEMES
    return READ_ALL_MAX_DATABASE if database else READ_ALL_MAX_SERVER


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=32)
def trace_count(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
    tracking_uri: str,
    experiment_id: str,
    start_ms: int | None,
    end_ms: int | None,
    scope: aggregates.Scope,
    nonce: int,
    version: str | None,
) -> int:
    return aggregates.MetricsReader(tracking_uri, experiment_id).count(start_ms, end_ms, scope)


@st.cache_data(ttl=TTL_S, show_spinner="Reading traces…", max_entries=8)
def lean_rows(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
    tracking_uri: str, experiment_id: str, start_ms: int | None, end_ms: int | None, session: str | None, nonce: int, version: str | None
) -> pd.DataFrame | None:
    """A sqlite store's lean trace rows (core.reading.aggregates.from_rows), kept so that filters are pandas; None
    on other stores."""
    return aggregates.MetricsReader(tracking_uri, experiment_id).rows(start_ms, end_ms, session)


@st.cache_data(ttl=TTL_S, show_spinner="Aggregating traces…", max_entries=32)
def overview(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
    tracking_uri: str,
    experiment_id: str,
    start_ms: int | None,
    end_ms: int | None,
    scope: aggregates.Scope,
    nonce: int,
    version: str | None,
) -> aggregates.Overview:
    rows = lean_rows(tracking_uri, experiment_id, start_ms, end_ms, scope.owner, nonce, version)
    if rows is not None:
        return aggregates.from_rows(rows, scope)
    if (
        scope.scenario
        and (ahead := _prefetch().take(_ahead_key(tracking_uri, experiment_id, start_ms, end_ms, scope, nonce, version), TTL_S)) is not None
    ):
        return ahead
    now_ms = int(time.time() // 60 * 60_000)  # to the minute, like time_window: the key stays put between reruns
    return aggregates.MetricsReader(tracking_uri, experiment_id).overview(start_ms, end_ms, now_ms, scope)


def forget_prefetched() -> None:
    """Once the reads asked ahead have ended, drop them (benchmarks/traces_at_scale.py: a cold first load, alone)."""
    _prefetch().forget()


def _ahead_key(*args: object) -> tuple[object, ...]:
    return ("overview", *args)


def reads_rows(tracking_uri: str) -> bool:
    """A sqlite store: its overview is one kept read of lean rows (lean_rows), filtered in pandas; nothing to
    ask ahead."""
    return tracking_uri.startswith("sqlite:")


@st.cache_resource(show_spinner=False)
def _prefetch() -> aggregates.Prefetch:
    return aggregates.Prefetch()


def prefetch_scenarios(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
    tracking_uri: str,
    experiment_id: str,
    start_ms: int | None,
    end_ms: int | None,
    scope: aggregates.Scope,
    known: tuple[str, ...],
    nonce: int,
    version: str | None,
) -> None:
    """Behind a server, once the unfiltered page is drawn: each present scenario's overview, in the background
    (core.reading.aggregates.Prefetch), so choosing one is a cache hit. Kept as long as the page's other reads (TTL_S,
    the Refresh button's nonce, the store's version)."""
    now_ms = int(time.time() // 60 * 60_000)
    prefetch = _prefetch()

    def each_scenario() -> list[str]:
        reader = aggregates.MetricsReader(tracking_uri, experiment_id)
        present = reader.scenarios_present(start_ms, end_ms, scope.owner, known)
        for key in present:
            narrowed = aggregates.Scope(key, scope.status, scope.owner)
            prefetch.start(
                _ahead_key(tracking_uri, experiment_id, start_ms, end_ms, narrowed, nonce, version),
                functools.partial(reader.overview, start_ms, end_ms, now_ms, narrowed),
                TTL_S,
            )
        return present

    prefetch.start(("scenarios", tracking_uri, experiment_id, start_ms, end_ms, scope, nonce, version), each_scenario, TTL_S)


@st.cache_data(ttl=TTL_S, show_spinner="Aggregating traces…", max_entries=32)
def breakdown(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
    tracking_uri: str,
    experiment_id: str,
    start_ms: int | None,
    end_ms: int | None,
    scope: aggregates.Scope,
    by: str,
    scenario_keys: tuple[str, ...],
    totals: traces.Totals,
    nonce: int,
    version: str | None,
) -> pd.DataFrame:
    """One breakdown at a time, asked when it is shown (by model: two span-level aggregates)."""
    reader = aggregates.MetricsReader(tracking_uri, experiment_id)
    if by == "model":
        return reader.by_model(start_ms, end_ms, scope)
    rows = lean_rows(tracking_uri, experiment_id, start_ms, end_ms, scope.owner, nonce, version)
    if rows is not None:
        return aggregates.scenarios_from_rows(rows, scope)
    if (
        not scope.scenario
        and (
            named := _prefetch().take(
                _ahead_key("scenario rows", tracking_uri, experiment_id, start_ms, end_ms, scope, scenario_keys, nonce, version), TTL_S
            )
        )
        is not None
    ):
        return aggregates.with_rest(named, totals)
    return reader.by_scenario(start_ms, end_ms, scope, scenario_keys, totals)


def scenario_rows_alongside(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
    tracking_uri: str,
    experiment_id: str,
    start_ms: int | None,
    end_ms: int | None,
    scope: aggregates.Scope,
    scenario_keys: tuple[str, ...],
    nonce: int,
    version: str | None,
) -> None:
    """Behind a server, the breakdown by scenario asked while the overview is (its span costs are a second at
    100,000 traces): `breakdown` takes it when the page gets there, instead of asking after the overview."""
    if reads_rows(tracking_uri) or scope.scenario:
        return
    _prefetch().start(
        _ahead_key("scenario rows", tracking_uri, experiment_id, start_ms, end_ms, scope, scenario_keys, nonce, version),
        lambda: aggregates.MetricsReader(tracking_uri, experiment_id).scenario_rows(start_ms, end_ms, scope, scenario_keys),
        TTL_S,
    )


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=64)
def list_page(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
    tracking_uri: str,
    experiment_id: str,
    start_ms: int | None,
    end_ms: int | None,
    scope: aggregates.Scope,
    sort: str,
    number: int,
    nonce: int,
    version: str | None,
) -> tuple[pd.DataFrame, bool]:
    return aggregates.MetricsReader(tracking_uri, experiment_id).list_page(start_ms, end_ms, scope, sort, number)


@st.cache_data(ttl=TTL_S, show_spinner="Reading the newest turns…", max_entries=16)
def recent(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
    tracking_uri: str,
    experiment_id: str,
    start_ms: int | None,
    end_ms: int | None,
    scope: aggregates.Scope,
    drawing: tuple[str, ...],
    nonce: int,
    version: str | None,
) -> traces.Frames:
    """The newest RECENT traces in scope of each scenario that draws pictures, whole (their summaries), through
    MLflow's search on any store: the lineage picker's conversations when the page does not read every trace."""
    reader = traces.ApiTraceReader(tracking_uri, experiment_id, span_limit=0)
    wanted = [scope.scenario] if scope.scenario else list(drawing)
    parts = [
        reader.frames(
            start_ms,
            end_ms,
            newest=RECENT,
            filter_string=aggregates.Scope(scenario=name, status=scope.status, owner=scope.owner).search_filter(None, None),
        )
        for name in wanted
    ]
    if not parts:
        return traces.empty_frames()
    return traces.Frames(
        traces=pd.concat([p.traces for p in parts], ignore_index=True), calls=pd.concat([p.calls for p in parts], ignore_index=True)
    )


# --- what a rerun shows again: read once, kept by id ----------------------------------------------------------------


@st.cache_resource(ttl=TTL_S, max_entries=32, show_spinner="Reading the trace…")
def trace(tracking_uri: str, trace_id: str, nonce: int, version: str | None) -> Any:
    """One trace with its spans (read-only: shared, not copied). Keyed by the store's version: a trace still
    running is read again once it has changed."""
    return traces.load_trace(tracking_uri, trace_id)


def conversation(store: ConversationStore, run_id: str, nonce: int, version: str | None) -> Conversation:
    """A conversation of the lineage view, kept for this browser session's reruns (not across sessions: its
    pictures' prompts and critiques can change without a new trace, and a reload shows them)."""
    key = (run_id, nonce, version)
    kept = st.session_state.get("_lineage_conversation")
    if kept is not None and kept[0] == key:
        return kept[1]
    loaded = store.load(run_id)
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
    loaded = []
    for trace_id in trace_ids:
        trace = traces.load_trace(tracking_uri, trace_id)
        if not hosted.may_open(owner, traces.trace_owner(trace)):
            raise UserError("One of these turns belongs to another visitor of this demo.")
        loaded.append(trace)
    result = compare.compare(loaded)
    return compare.labelled(result, compare.side_labels(_store.client, _store.experiment_id, result.sides))


def use_settings(store: ConversationStore, side: compare.Side, settings: Any) -> None:
    """A button callback: the side's options and models become its original conversation's (the one its turn was
    a variant of, or its own) from the chat's next turn; the page then opens that conversation in the chat."""
    try:
        own = store.load(side.conversation_id)
        target = str(store.client.get_run(side.conversation_id).data.tags.get(contract.VARIANT_OF) or own.id)
    except Exception as exc:  # noqa: BLE001 - said on the page; nothing changes
        st.session_state.cmp_error = f"That turn's conversation could not be read ({type(exc).__name__})."
        return
    setting = variants.Setting.of(settings, own.options)
    st.session_state._adopt = {"conversation": target, "options": dict(setting.options), "models": setting.models(), "label": side.label}
    session.adopt_models(setting.models(), settings)
    st.session_state.cmp_go = target
