"""Traces page: what the chats cost and who spent it, one turn as a tree and a timeline, where a picture
came from. Reads any MLflow store; numbers come from core.traces, this file only lays them out. The page builds one
context at the top (`TracesView`: settings, store, the read window with the viewer in it, which traces) and every
function below gets what it draws from its arguments, never from the page's own variables."""

import dataclasses
from dataclasses import dataclass
from datetime import tzinfo
from functools import partial
from typing import Any, Callable, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

from ui import navigation

navigation.page_start("traces")  # first: a cold server's direct link reruns through the app's navigation at once


import altair as alt
import pandas as pd

from core import contract, costs, exports, feedback, hosted, scenarios, traces
from core.agents import RUNTIME_LABELS
from core.config import Settings
from core.conversations import ConversationError, ConversationStore, StoreUnavailable, is_valid_run_id
from core.reading import aggregates, lineage, rollups, story
from core.reading.window import TraceCount
from core.traces import ReadWindow
from ui import startup, trace_data, trace_view, visitor
from ui.text import labelled, plain

MONEY = st.column_config.NumberColumn("cost", format="$%.4f", help="USD")
LATENCY = {
    c: st.column_config.NumberColumn(f"{c.split('_')[0]} (s)", format="%.2f", help="Latency of the traces in this row (p50, p90, p99)")
    for c in traces.LATENCY_COLUMNS
}
# Tables fit a 1400 px screen (issue 32): the columns people read first, short labels; the rest start hidden (a
# column config of None), and the table's own column menu (its toolbar's eye) shows them again.
BREAKDOWN_COLUMNS = {
    "label": st.column_config.TextColumn("scenario"),
    "scenario": None,  # the key, beside its label
    "traces": st.column_config.NumberColumn("traces", width=60),
    "calls": None,
    "input_tokens": st.column_config.NumberColumn("tokens in", help="Input tokens"),
    "output_tokens": st.column_config.NumberColumn("tokens out", help="Output tokens"),
    "cost_usd": MONEY,
    "p50_s": None,
    "p90_s": LATENCY["p90_s"],
    "p99_s": None,
}
LIST_CONFIG = {
    "time": st.column_config.DatetimeColumn("time (UTC)", format="MMM D, HH:mm:ss", width=110),
    "label": st.column_config.TextColumn("scenario", width=65),
    "request": st.column_config.TextColumn("request", width=160),
    "response": st.column_config.TextColumn("response", width=180),
    "total_tokens": st.column_config.NumberColumn("tokens", width=60),
    "cost_usd": st.column_config.NumberColumn("cost", format="$%.4f", width=70, help="USD"),
    "duration_ms": st.column_config.NumberColumn("duration", format="%.0f ms", width=75),
    "status": st.column_config.TextColumn("status", width=60),
    "feedback": st.column_config.TextColumn("feedback", help="People's thumbs on this turn", width=100),
    "scenario": None,  # the key, beside its label
    "runtime": None,  # AutoGen or Agent Framework: the filter above, the column menu shows it
    "session": None,
    "trace_id": None,  # a click on the row opens the trace, which shows its id
}
FEEDBACK_LABELS = {"up": "thumbs up", "down": "thumbs down", "none": "none"}
ROLLUPS_PENDING = "Which days come from MLflow's daily rollups is being checked (each day's traces counted against its rollup)…"
LATENCY_PENDING = (
    "Latency percentiles (p50, p90, p99) are being read from every matching trace in the window (MLflow's daily "
    "rollups keep no percentile that adds up across days, and serve no filter)…"
)
BREAKDOWN_PENDING = "The breakdown by scenario is being read (one pass over every trace in the window; the figures above are in)…"


@dataclass(frozen=True)
class TracesView:
    """What the page is of, built once at its top: the app's settings and store, the read window (store, experiment,
    time range, the viewer: a hosted visitor's owner key or None, Refresh, the store's version), which traces it shows
    (`kind`), how many there are, and whether every one of them is read (else the store's aggregates answer)."""

    settings: Settings
    store: ConversationStore
    window: ReadWindow
    kind: str
    count: TraceCount
    whole: bool  # every trace read: few enough, a visitor's own, or "Read all" pressed

    @property
    def uri(self) -> str:
        return self.window.tracking_uri

    @property
    def database(self) -> str:
        """The tracking server's database address (APP_TRACKING_DATABASE_URI), or empty."""
        return str(self.settings.tracking_database_uri)

    @property
    def viewer(self) -> str | None:
        return self.window.owner

    @property
    def at_scale(self) -> bool:
        """Past the read-all limit, chat turns come from the store's aggregates; predictions and evaluations are
        always read whole (few, from two experiments)."""
        return not self.whole and self.kind == contract.TraceKind.CHAT


T = TypeVar("T")


def read_or_stop(read: Callable[[], T]) -> T:
    """A read the page cannot do without: an unreadable store stops the page with one message."""
    try:
        return read()
    except traces.TraceReadError as exc:
        st.error(plain(exc))
        st.stop()
        raise  # st.stop() raises; for the type checker


def drawing_scenarios() -> tuple[str, ...]:
    return tuple(s.key for s in scenarios.all_scenarios() if s.draws_pictures)


def scenario_keys() -> tuple[str, ...]:
    return tuple(s.key for s in scenarios.all_scenarios())


def choose_experiment(settings: Settings, store: ConversationStore) -> str:
    try:
        known = trace_data.experiments(settings.tracking_uri)
    except Exception as exc:  # noqa: BLE001 - the app's own experiment still works
        st.warning(f"Other experiments could not be listed ({type(exc).__name__}).")
        known = []
    options = {store.experiment_id: settings.experiment_name}
    options.update({eid: name for eid, name in known})
    return st.selectbox(
        "Experiment",
        list(options),
        format_func=lambda eid: options[eid],
        key="experiment",
        help="The app writes to its own experiment; traces from other code can live elsewhere.",
    )


def open_view(settings: Settings, store: ConversationStore) -> TracesView:
    """The top of the page (experiment, time range, Refresh, which traces) and what it makes: the page's context."""
    viewer = visitor.visible_session()  # a hosted demo's visitor sees their own traces; None: everyone's
    uri = settings.tracking_uri
    top = st.columns([2, 2, 1])
    with top[0]:
        experiment_id = choose_experiment(settings, store) if viewer is None else store.experiment_id
    with top[1]:
        time_range = st.selectbox("Time range", traces.TIME_RANGES, key="time_range")
    with top[2]:
        st.write("")
        st.button(
            "Refresh",
            on_click=trace_data.refresh,
            key="refresh",
            icon=":material/refresh:",
            help=f"Reads are cached for {trace_data.TTL_S} s between refreshes.",
        )
    kind = trace_data.choose_kind(
        dict(trace_data.experiments(uri)).get(experiment_id, settings.experiment_name) if viewer is None else None,
        hosted.sees_evaluations(settings.hosted, visitor.is_admin()),
    )
    start_ms, end_ms = traces.time_window(time_range)
    # the store's version: one cheap query a rerun, for every cached read
    window = read_or_stop(
        lambda: ReadWindow(uri, experiment_id, start_ms, end_ms, viewer, trace_data.nonce(), traces.store_version(uri, experiment_id))
    )
    database = str(settings.tracking_database_uri)
    count = read_or_stop(lambda: trace_data.trace_count(window, aggregates.Scope(owner=viewer), database))
    # a visitor's own traces are always read whole: they are two sets MLflow's metric filters cannot join (Scope)
    few = not count.more and count.traces <= trace_data.read_all_max(uri)
    whole = viewer is not None or few or st.session_state.get("read_all_traces", False)
    if viewer is not None:
        top[0].caption("Your traces in this demo: turns you ran in this browser session.")
    return TracesView(settings, store, window, kind, count, whole)


def read_frames(view: TracesView) -> traces.Frames:
    """Every trace of the window this viewer may see, of the kind shown (predictions or evaluations: few, read whole
    from both experiments); the store's message stops the page when it cannot be read."""
    if view.kind != contract.TraceKind.CHAT:
        return read_or_stop(lambda: trace_data.kind_frames(view.window, view.kind, view.whole))
    return read_or_stop(lambda: trace_data.whole(view.window))


def read_all() -> None:
    st.session_state.read_all_traces = True


def at_scale_filters(count: TraceCount, kind: str) -> aggregates.Scope:
    """Past read_all_max traces the page asks the store: the filters it can apply itself, and how to get the rest.
    With the database known the count stops past the limit (window.count): the Overview tab has the exact one."""
    many = f"More than {count.traces:,} traces" if count.more else f"{count.traces:,} traces"
    st.info(
        f"{many}: the totals, charts and breakdowns below are aggregated by the MLflow store itself, "
        "and the list reads one page at a time. Breakdowns by agent and session, the model, text and feedback "
        "filters, sorting by cost or tokens and the what-if need every trace read.",
        icon=":material/speed:",
    )
    st.button(
        "Read all traces (the Overview tab counts them)" if count.more else f"Read all {count.traces:,} traces",
        key="read_all",
        on_click=read_all,
        icon=":material/download:",
        help="Reads every trace of the time range once (kept for a minute, or until Refresh).",
    )
    with st.expander("Filters", expanded=True, icon=":material/filter_alt:"):
        cols = st.columns(2)
        known = [s.key for s in scenarios.all_scenarios()]
        scenario = cols[0].selectbox("Scenario", ["All", *known], key="a_scenario")
        status = cols[1].selectbox("Status", ["All", "OK", "ERROR", "IN_PROGRESS"], key="a_status")
    return aggregates.Scope(scenario=None if scenario == "All" else scenario, status=None if status == "All" else status, kind=kind)


def whole_filters(view: TracesView, frames: traces.Frames) -> traces.Frames:
    """The filters on every trace read (pandas), and MLflow's own search filter (run by the store)."""
    with st.expander("Filters", expanded=True, icon=":material/filter_alt:"):
        cols = st.columns(7)
        all_traces = frames.traces
        labels = traces.scenario_labels(all_traces)  # by key (the filter), shown by label (issue 31)
        picked_scenarios = cols[0].multiselect(
            "Scenario", sorted(labels, key=lambda k: labels[k].lower()), key="f_scenario", format_func=lambda k: labels.get(k, k)
        )
        statuses = cols[1].multiselect("Status", sorted(all_traces["status"].unique()), key="f_status")
        sessions = cols[2].multiselect("Session", sorted(all_traces["session"].unique()), key="f_session")
        models = cols[3].multiselect("Model", sorted(frames.calls["model"].unique()), key="f_model")
        rated = cols[4].multiselect(
            "Feedback",
            traces.FEEDBACK_CHOICES,
            key="f_feedback",
            format_func=labelled(FEEDBACK_LABELS),
            help="People's thumbs on the turns (given on the Chat page, or in MLflow's UI)",
        )
        runtimes = cols[5].multiselect(
            "Runtime",
            sorted(r for r in all_traces["runtime"].unique() if r),
            key="f_runtime",
            format_func=lambda name: RUNTIME_LABELS.get(name, name),
            help="The agent runtime that ran the turn: AutoGen or Microsoft Agent Framework",
        )
        text = cols[6].text_input("Contains", key="f_text", placeholder="words, trace id, session…")
        matching = mlflow_filter(view.window)
    chosen = traces.TraceFilter(tuple(picked_scenarios), tuple(statuses), tuple(sessions), tuple(models), text, matching)
    return traces.apply_filter(frames, dataclasses.replace(chosen, feedback=tuple(rated), runtimes=tuple(runtimes)))


def mlflow_filter(window: ReadWindow) -> frozenset[str] | None:
    """The trace ids an MLflow search filter matches (None: no such filter); an invalid one is said, the rest apply."""
    advanced = st.text_input(
        "MLflow search filter (optional)",
        key="f_mlflow",
        placeholder="tags.app.turn = '2'",
        help="MLflow's own trace search syntax, run by the store: e.g. "
        "`span.name = 'critic'`, `trace.status = 'ERROR'`, `tags.app.provider = 'openai'`.",
    )
    if not advanced.strip():
        return None
    try:
        matching, cut = trace_data.search_ids(window, advanced.strip())
    except traces.TraceReadError as exc:
        st.error(f"{plain(exc)} The other filters still apply.")
        return None
    if cut:
        st.info(f"The MLflow filter matched more than {len(matching):,} traces; only those are shown.")
    return matching


def count_text(n: int) -> str:
    """A count that fits a sixth of the page: millions as 65.3M (the exact number is the metric's tooltip)."""
    return f"{n / 1e6:,.1f}M" if n >= 10_000_000 else f"{n:,}"


def show_totals(t: traces.Totals, feedback_known: bool = True) -> None:
    cols = st.columns(6)
    cols[0].metric("Traces", count_text(t.traces), help=f"{t.traces:,} traces")
    cols[1].metric("Input tokens", count_text(t.input_tokens), help=f"{t.input_tokens:,} input tokens")
    cols[2].metric("Output tokens", count_text(t.output_tokens), help=f"{t.output_tokens:,} output tokens")
    cols[3].metric("Cost (USD)", f"${t.cost_usd:,.2f}" if t.cost_usd >= 1000 else f"${t.cost_usd:,.4f}", help=f"${t.cost_usd:,.4f}")
    cols[4].metric("Errors", f"{t.errors:,}")
    if feedback_known:
        cols[5].metric(
            "Feedback",
            f"{t.feedback_up:,} {feedback.UP} · {t.feedback_down:,} {feedback.DOWN}",  # words: an emoji is a box without its font
            help="People's current ratings of these traces: a trace two people rated counts twice.",
        )
    if t.latency_ms:
        st.caption(latency_text(t.latency_ms))
    if t.in_progress:
        st.caption(f"{t.in_progress} {'trace is' if t.in_progress == 1 else 'traces are'} still in progress: their numbers may grow.")


def show_daily(daily: pd.DataFrame, free: bool) -> None:
    charts = st.columns(2)
    money_or_tokens = ("tokens:Q", "Tokens per day") if free else ("cost_usd:Q", "Cost per day (USD)")
    charts[0].altair_chart(
        alt.Chart(daily, title=money_or_tokens[1])
        .mark_bar()
        .encode(
            x=alt.X("period:T", title=None),
            y=alt.Y(money_or_tokens[0], title="tokens" if free else "USD"),
            tooltip=["period:T", alt.Tooltip("cost_usd:Q", format="$.4f"), "tokens:Q", "traces:Q"],
        ),
        width="stretch",
    )
    charts[1].altair_chart(
        alt.Chart(daily, title="Traces and errors per day")
        .mark_bar()
        .encode(
            x=alt.X("period:T", title=None),
            y=alt.Y("traces:Q", title="traces"),
            color=alt.value("#7a5af8"),
            tooltip=["period:T", "traces:Q", "errors:Q", "tokens:Q"],
        ),
        width="stretch",
    )


def overview(frames: traces.Frames) -> None:
    """Totals, per day, the breakdowns and the what-if of every trace read (after the filters)."""
    t = traces.totals(frames.traces)
    show_totals(t)
    if not t.traces:
        st.info("No traces match. Chat on the Chat page, widen the time range or clear the filters.")
        return
    free = t.cost_usd == 0  # the offline demo: money charts would be flat; tokens tell the story, and the what-if
    if free:
        what_if_first(frames)
    show_daily(traces.over_time(frames.traces, "D"), free)
    breakdown_section(frames, free)
    what_if(frames)


def breakdown_section(frames: traces.Frames, free: bool) -> None:
    st.subheader("Breakdown")
    by = st.radio("By", traces.BREAKDOWNS, horizontal=True, key="breakdown_by")
    table = traces.breakdown(frames, by)
    left, right = st.columns([3, 2])
    left.dataframe(table, hide_index=True, width="stretch", column_config=BREAKDOWN_COLUMNS)
    top_rows = table.assign(tokens=table["input_tokens"] + table["output_tokens"]).head(15)
    measure = ("tokens:Q", "tokens") if free else ("cost_usd:Q", "USD")
    right.altair_chart(
        alt.Chart(top_rows)
        .mark_bar()
        .encode(
            x=alt.X(measure[0], title=measure[1]),
            y=alt.Y(f"{'label' if by == 'scenario' else by}:N", sort="-x", title=None),
            tooltip=[
                f"{'label' if by == 'scenario' else by}:N",
                alt.Tooltip("cost_usd:Q", format="$.4f"),
                "input_tokens:Q",
                "output_tokens:Q",
            ],
        ),
        width="stretch",
    )
    st.download_button(
        "Download breakdown (CSV)",
        exports.csv_bytes(table),
        f"breakdown-by-{by}.csv",
        "text/csv",
        key="dl_breakdown",
        icon=":material/download:",
    )


def what_if(frames: traces.Frames) -> None:
    """What the same usage would have cost on another model of MLflow's catalog."""
    st.subheader("What if")
    try:
        choices = costs.catalog_chat_models("openai")
    except Exception as exc:  # noqa: BLE001 - the catalog is optional here: said, the rest of the page stays
        st.warning(f"MLflow's model catalog could not be read ({type(exc).__name__}).")
        return
    popular = "gpt-4o-mini" if "gpt-4o-mini" in choices else choices[0]
    target = st.selectbox(
        "Price the same usage as",
        choices,
        index=choices.index(popular),
        key="what_if_model",
        help="Prices from the model catalog MLflow ships.",
    )
    table = costs.what_if(frames.calls, target)
    if table.empty:
        st.caption("No model calls in these traces.")
        return
    priced = table[f"on {target}"]
    st.metric(
        f"Their model calls and pictures on {target}",
        f"${priced.fillna(0).sum():,.4f}",
        delta=f"{priced.fillna(0).sum() - table['cost_usd'].sum():+,.4f} USD vs. what they cost",
        help="Chat calls priced at the chosen model, pictures at their own price. Usage no model span "
        "carries (the breakdown's “(unattributed)” row) is left out.",
        delta_color="inverse",
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={"cost_usd": MONEY, f"on {target}": st.column_config.NumberColumn(format="$%.4f")},
    )


def overview_at_scale(view: TracesView, scope: aggregates.Scope) -> None:
    """The overview from the store's aggregates (core.reading.aggregates): totals, per day, by scenario, model, status."""
    if st.session_state.get("a_breakdown_by", "scenario") == "scenario":  # asked side by side with the overview
        trace_data.scenario_rows_alongside(view.window, scope, scenario_keys(), view.database)
    try:
        got = trace_data.overview(view.window, scope, view.database)
    except traces.TraceReadError as exc:
        st.error(plain(exc))
        return
    t = got.totals
    show_totals(t, feedback_known=False)
    if not t.traces:
        st.info("No traces match. Chat on the Chat page, widen the time range or clear the filters.")
        return
    if t.latency_ms is None and not scope.owner:  # unfiltered, or filtered with the database known: in the background
        latency_caption(view, scope)
    show_daily(got.daily, t.cost_usd == 0)
    show_rollups(view, scope)
    st.subheader("Breakdown")
    by = st.radio(
        "By",
        ("scenario", "model", "status"),
        horizontal=True,
        key="a_breakdown_by",
        help="By agent and by session: read all traces (above).",
    )
    if by == "status":
        table = got.by_status
    elif by == "scenario" and trace_data.breakdown_pending(view.window, scope, view.database):
        until_in(lambda: not trace_data.breakdown_pending(view.window, scope, view.database), BREAKDOWN_PENDING)
        return
    else:
        try:
            table = trace_data.breakdown(view.window, scope, by, scenario_keys(), t, view.database)
        except traces.TraceReadError as exc:
            st.error(plain(exc))
            return
    st.dataframe(table, hide_index=True, width="stretch", column_config={"cost_usd": MONEY})
    if by == "model":
        st.caption(
            "Model calls and their cost as MLflow's store counts them, span by span; tokens per model need "
            "every trace read (MLflow keeps no per-span token metric)."
        )
    st.download_button(
        "Download breakdown (CSV)",
        exports.csv_bytes(table),
        f"breakdown-by-{by}.csv",
        "text/csv",
        key="a_dl_breakdown",
        icon=":material/download:",
    )


@st.fragment(run_every=0.5)
def until_in(is_in: Callable[[], bool], sentence: str) -> None:
    """What the page reads in the background at scale (the latency percentiles, the breakdown by scenario, which days
    MLflow's rollups serve): said to be coming, looked for every half second, the whole page rerun once it is in (it
    then draws it without this)."""
    if is_in():
        st.rerun()
    st.caption(sentence)


def latency_text(latency_ms: tuple[float, float, float]) -> str:
    return "Latency per trace: " + " · ".join(f"{name} {ms / 1000:,.2f} s" for name, ms in zip(("p50", "p90", "p99"), latency_ms))


def latency_caption(view: TracesView, scope: aggregates.Scope) -> None:
    """The overview's percentiles at scale, read in the background (trace_data.latency): said at once when in, else
    looked for every half second by a fragment, which reruns the page once they are in (so it stops)."""
    done, latency_ms = trace_data.latency(view.window, scope)
    if done:
        if latency_ms:
            st.caption(latency_text(latency_ms))
        return
    until_in(lambda: trace_data.latency(view.window, scope)[0], LATENCY_PENDING)


def show_rollups(view: TracesView, scope: aggregates.Scope) -> None:
    """Which days came from MLflow's daily rollups (core.reading.rollups), a stale one named with its fix; with no
    rollups, what turning them on would give, once a session."""
    if scope.scenario or scope.status or scope.owner or trace_data.reads_rows(view.uri):  # filtered: from every trace;
        return  # sqlite: the page reads its rows, no rollups
    got = trace_data.rollup_days(view.window, view.database)
    if got is None:  # asked in the background: the first load does not wait for it
        until_in(lambda: trace_data.rollup_days(view.window, view.database) is not None, ROLLUPS_PENDING)
        return
    if got.known and not got.built:
        if not st.session_state.get("_rollups_said"):
            st.session_state["_rollups_said"] = True
            st.info(plain(got.note()), icon=":material/speed:")
        return
    st.caption(plain(got.note()))
    if (stale := got.stale_note()) is not None:
        st.warning(plain(stale), icon=":material/warning:")
        st.code(rollups.queue_rebuild_sql(got.experiment_id, got.days_in("stale")), language="sql")


def what_if_first(frames: traces.Frames) -> None:
    """Everything cost $0 (the offline demo): what the same usage would cost on a real model, up front."""
    try:
        choices = costs.catalog_chat_models("openai")
    except Exception:  # noqa: BLE001 - the what-if section below says why
        return
    default = "gpt-4o-mini" if "gpt-4o-mini" in choices else choices[0]
    target = st.session_state.get("what_if_model") or default
    table = costs.what_if(frames.calls, target)
    if table.empty:
        return
    st.info(
        f"These turns cost nothing: they ran on the offline demo. **What if** they had run on {plain(target)}: "
        f"about **\\${table[f'on {target}'].fillna(0).sum():,.4f}** (choose another model under What if, below).",
        icon=":material/calculate:",
    )


def _open(trace_id: str | None) -> None:
    st.session_state.opened_trace = (trace_id or "").strip() or None


def close_trace() -> None:
    st.session_state.opened_trace = None
    st.query_params.pop("trace", None)


def opened_trace() -> str | None:
    """Which trace is open: the last thing the user did (a row click, the picker, a pasted id: callbacks,
    run before the page) wins; `?trace=` opens one on arrival (a link from a chat turn or the Models page)."""
    if "opened_trace" not in st.session_state:
        _open(st.query_params.get("trace"))
    return st.session_state.opened_trace


def trace_list(frames: traces.Frames) -> None:
    """The list of traces, a page at a time; a click opens one (frames above the list)."""
    cols = st.columns([2, 1, 2])
    sort = cols[0].selectbox("Sort by", list(traces.SORTS), key="sort")
    pages = max(1, -(-len(frames.traces) // 50))
    number = cols[1].number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, key="page")
    rows, _ = traces.page(frames.traces, sort, int(number), 50)
    cols[2].write("")
    listed_now = frames.traces[traces.LIST_COLUMNS]
    cols[2].download_button(
        "Download list (CSV)",
        lambda: exports.csv_bytes(listed_now),  # built on click
        "traces.csv",
        "text/csv",
        key="dl_list",
        icon=":material/download:",
    )
    show_rows(rows, sort, int(number))


def trace_list_at_scale(view: TracesView, scope: aggregates.Scope) -> None:
    """The store's own pages, in the orders MLflow's search has (time, duration)."""
    cols = st.columns([2, 1, 2])
    sort = cols[0].selectbox("Sort by", list(aggregates.SORTS), key="a_sort")
    number = int(cols[1].number_input("Page", min_value=1, value=1, key="a_page"))
    try:
        rows, more = trace_data.list_page(view.window, scope, sort, number)
    except traces.TraceReadError as exc:
        st.error(plain(exc))
        return
    if rows.empty and number > 1:
        st.info("No traces on this page: it is past the last one.")
        return
    cols[2].write("")
    cols[2].caption("More may follow on the next page." if more else "This is the last page.")
    show_rows(rows, sort, number)


def show_rows(rows: pd.DataFrame, sort: str, number: int) -> None:
    view = hash((tuple(rows["trace_id"]), sort, int(number)))  # a new view drops the old row selection
    table_key = f"trace_table_{view}"

    def clicked() -> None:
        picked_rows = st.session_state[table_key].selection.rows
        _open(rows["trace_id"].iloc[picked_rows[0]] if picked_rows else None)

    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        on_select=clicked,
        selection_mode="single-row",
        key=table_key,
        column_config=LIST_CONFIG,
    )
    st.caption("Click a row to open its trace. More columns (session, trace id): the table's column menu.")
    labels = {
        row.trace_id: f"{row.time:%Y-%m-%d %H:%M:%S} · {row.label} · {row.request[:50]} · …{row.trace_id[-6:]}" for row in rows.itertuples()
    }
    st.selectbox(
        "Open a trace from this page",
        [""] + list(labels),
        key="open_trace",
        format_func=lambda tid: labels.get(tid, "—"),
        on_change=lambda: _open(st.session_state.open_trace),
    )
    st.text_input(
        "…or paste a trace id", key="trace_id_input", placeholder="tr-…", on_change=lambda: _open(st.session_state.trace_id_input)
    )


def one_trace(view: TracesView, trace_id: str) -> None:
    """An opened trace, above the list: what it was and cost, links, its spans as a tree and a timeline, the
    pictures it made, and one span as its story. Only a trace this viewer may see opens (core.traces.open_trace)."""
    try:
        trace = trace_data.trace(view.uri, trace_id, view.viewer, view.window.nonce, view.window.version)
    except traces.TraceReadError as exc:
        st.warning(plain(exc))
        st.button("Close", on_click=close_trace, key="close_trace")
        return
    st.query_params["trace"] = trace_id
    table = trace_header(trace, trace_id)
    trace_links(view, trace, trace_id)
    if table.empty:
        st.info("This trace has no spans yet.")
        return
    span_tree_and_timeline(table)
    trace_pictures(view, trace, table)
    span_details(view.uri, trace, table)
    st.download_button(
        "Download trace (JSON)",
        traces.trace_json(trace),
        f"{trace_id}.json",
        "application/json",
        key="dl_trace",
        icon=":material/download:",
    )


def trace_header(trace: Any, trace_id: str) -> pd.DataFrame:
    """Its id and Close, status, duration, spans, tokens and cost, its contract tags, where it failed, its ratings;
    returns its spans as a table, read after the heading is drawn (a link that opened this trace lands at once)."""
    info = trace.info
    head = st.columns([5, 1])
    head[0].subheader(f"Trace {trace_id}")  # validated by load_trace: letters, digits, - _ . :
    head[1].button("Close", on_click=close_trace, key="close_trace", icon=":material/close:")
    table = traces.span_table(trace)  # after the heading: a link that opened this trace lands at once
    usage, cost = info.token_usage or {}, getattr(info, "cost", None) or {}
    cols = st.columns(5)
    failure = story.first_failure(trace)
    cols[0].metric("Status", str(getattr(info.state, "value", info.state)))
    cols[1].metric("Duration", f"{(info.execution_duration or 0) / 1000:.2f} s")
    cols[2].metric("Spans", len(table))
    cols[3].metric("Tokens", f"{int(usage.get('total_tokens') or 0):,}")
    cols[4].metric("Cost (USD)", f"${float(cost.get('total_cost') or 0.0):,.4f}")
    tags = info.tags or {}
    st.caption(plain(" · ".join(f"{k}: {tags[k]}" for k in traces.TAG_KEYS if tags.get(k))) or "Not written by this app.")
    if failure is not None:  # what went wrong and where, without opening a span
        st.error(plain(f"Failed in “{failure.span}”: {failure.message[:1500]}"), icon=":material/error:")
    ratings(info)
    return table


def trace_links(view: TracesView, trace: Any, trace_id: str) -> None:
    """Run it again or compare it (the Compare page), and, for those who may see every trace, MLflow's own UI."""
    info, tags = trace.info, trace.info.tags or {}
    turn, conversation_id = str(tags.get(contract.TraceTag.TURN) or ""), traces.trace_conversation(trace)
    # plain links (ids checked: hex run id, digits, a trace id load_trace accepted): the page is also run on its own
    runs_again = (
        f"[Run this turn again with…](compare?conversation={conversation_id}&turn={turn}) · "
        if turn.isdigit() and is_valid_run_id(conversation_id)
        else ""
    )
    st.markdown(f":material/call_split: {runs_again}[Compare with other turns](compare?traces={trace_id})")
    link = traces.ui_link(
        view.settings.mlflow_ui_url or (view.uri if view.uri.startswith("http") else ""),
        getattr(info, "experiment_id", None) or view.window.experiment_id,
        trace_id,
    )
    if link and visitor.privileged():  # MLflow's UI shows every visitor's traces: not a hosted visitor's link
        st.link_button("Open in the MLflow UI", link, icon=":material/open_in_new:")


def span_tree_and_timeline(table: pd.DataFrame) -> None:
    tree, timeline = st.tabs(["Span tree", "Timeline"])
    with tree:
        st.dataframe(
            story.readable(table[["label", "type", "status", "duration_ms", "model", "input_tokens", "output_tokens", "cost_usd"]]),
            hide_index=True,
            width="stretch",
            column_config={
                "label": "span",
                "cost_usd": "cost (USD)",
                "duration_ms": "duration (ms)",
                "input_tokens": "input tokens",
                "output_tokens": "output tokens",
            },
        )
    with timeline:
        bars = table.assign(order=range(len(table)), end_ms=table["start_ms"] + table["duration_ms"].fillna(0))
        st.altair_chart(
            alt.Chart(bars)
            .mark_bar()
            .encode(
                x=alt.X("start_ms:Q", title="ms from the start"),
                x2="end_ms:Q",
                y=alt.Y("label:N", sort=alt.EncodingSortField("order"), title=None),
                color="type:N",  # labels are numbered: unique
                tooltip=[
                    "name:N",
                    "type:N",
                    alt.Tooltip("duration_ms:Q", format=".1f"),
                    "model:N",
                    "input_tokens:Q",
                    "output_tokens:Q",
                    alt.Tooltip("cost_usd:Q", format="$.5f"),
                ],
            ),
            width="stretch",
        )


def trace_pictures(view: TracesView, trace: Any, table: pd.DataFrame) -> None:
    """The pictures this turn made, from its conversation's run (a trace of other code has none)."""
    images = table[table["image_id"] != ""]
    conversation = traces.trace_conversation(trace)
    if len(images) and conversation:
        st.markdown("**Pictures made in this turn**")
        picture_cols = st.columns(min(4, len(images)))
        for k, row in enumerate(images.itertuples()):
            png = trace_data.picture(view.store, view.uri, conversation, row.image_id)
            caption = f"#{k + 1} · {costs.money(row.cost_usd)} · {story.prompt_of(trace, row.span_id)[:160]}"
            with picture_cols[k % len(picture_cols)]:
                if png:
                    st.image(png, caption=caption, width="stretch")  # captions are plain text
                else:
                    st.warning(f"Picture {plain(row.image_id)} is not in the run's artifacts (deleted, or never saved).")


def span_details(tracking_uri: str, trace: Any, table: pd.DataFrame) -> None:
    """One span, chosen by its numbered label: a model call as its conversation, anything else as data; raw data too."""
    spans = dict(zip(table["span_id"], table["label"].str.strip()))
    chosen = st.selectbox(
        "Span details",
        list(spans),
        format_func=labelled(spans),
        key="span_pick",
        help="A model call reads as its conversation; anything else as its data.",
    )
    trace_view.show_story(story.span_story(story.span_of(trace, chosen)), lambda address: story.picture(tracking_uri, trace, address))
    with st.expander("Raw span data (inputs, outputs, attributes, events)"):
        st.json(traces.span_io(trace, chosen), expanded=1)  # data, never markup


def ratings(info: object) -> None:
    """The trace's current ratings: thumb, who gave it, when, and the comment, as plain text (people's words)."""
    given = feedback.ratings(getattr(info, "assessments", None))
    if not given:
        return
    st.markdown("**Feedback**")
    for rating in given:
        when = pd.Timestamp(rating.updated_ms, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
        icon = ":material/thumb_up:" if rating.up else ":material/thumb_down:"
        st.caption(f"{icon} " + plain(f"{rating.mark} by {rating.who} · {when}" + (f": {rating.comment}" if rating.comment else "")))


LINEAGE_PICK = "lineage_conversation"  # the picker's key; also set before it is drawn, to follow a link or a trace
DIFF_STYLE = {"added": ":green-background[{}]", "removed": ":red-background[~~{}~~]", "same": "{}"}


def asked_conversation(listed: set[str], opened: str | None, frames: traces.Frames) -> tuple[str | None, bool]:
    """(the conversation the lineage was asked for, whether it was asked for in this run): `?conversation=` on
    arrival (a link from a chat turn), then the conversation of each trace the user opens (when it has a
    lineage), then the picker. The last thing the user did wins, as for the open trace."""
    state, fresh = st.session_state, False
    if "lineage_asked" not in state:
        state.lineage_asked = (st.query_params.get("conversation") or "").strip() or None
        state.lineage_trace = opened if state.lineage_asked else None  # a link's conversation beats its trace
        fresh = state.lineage_asked is not None
    if opened and opened != state.get("lineage_trace"):
        state.lineage_trace = opened
        match = frames.traces.loc[frames.traces["trace_id"] == opened, "conversation"]
        if len(match) and match.iloc[0] in listed:
            state.lineage_asked, fresh = str(match.iloc[0]), True
    return state.lineage_asked, fresh


def picked() -> None:
    state = st.session_state
    state.lineage_asked = state[LINEAGE_PICK]
    if state.lineage_asked:
        st.query_params["conversation"] = state.lineage_asked  # the address names what is shown: a link to share


def choose_conversation(view: TracesView, frames: traces.Frames, shown: traces.Frames, opened: str | None) -> str | None:
    """The picker: one entry per conversation with pictures, newest first, named by title and date."""
    drawing = drawing_scenarios()
    newest = tuple(dict.fromkeys(traces.picture_conversations(shown, drawing)["conversation"]))[:500]
    try:  # the runs' own titles (a rename shows); the first thing asked names the others
        runs = trace_data.conversation_summaries(view.store, view.window, newest)
    except StoreUnavailable:
        runs = {}
    facts = traces.lineage_choices(shown, drawing, {cid: run.title for cid, run in runs.items()})
    asked, fresh = asked_conversation({f.id for f in facts}, opened, frames)
    if asked and asked not in {f.id for f in facts}:  # older than the traces shown, filtered out, or not theirs
        try:
            found = traces.conversation_facts(view.store, asked, view.viewer)
        except StoreUnavailable:
            found = None
        if found is not None:
            facts.append(found)
        else:
            where = "among your conversations in this demo" if view.viewer is not None else "in this store"
            st.warning(f"There is no conversation {plain(asked[:80])} {where}.")
            fresh = False
    if not facts:
        st.info("No Catify conversations in these traces yet: draw something on the Chat page.")
        return None
    labels = lineage.picker_labels(facts, zone())
    if fresh:
        st.session_state[LINEAGE_PICK] = asked
    return st.selectbox(
        "Conversation",
        list(labels),
        key=LINEAGE_PICK,
        format_func=labelled(labels),
        on_change=picked,
        help="Conversations whose turns made pictures, newest first.",
    )


def zone() -> tzinfo | None:
    try:
        return ZoneInfo(st.context.timezone) if st.context.timezone else None  # the browser's
    except (ZoneInfoNotFoundError, ValueError):
        return None


def lineage_view(view: TracesView, frames: traces.Frames, shown: traces.Frames, opened: str | None) -> None:
    """The picker, then the chosen conversation's pictures as a storyboard (and a graph when it branches)."""
    chosen = choose_conversation(view, frames, shown, opened)
    if not chosen:
        return
    try:
        # the picker lists only theirs; open_conversation is the lock behind it
        conv = trace_data.conversation(view.store, chosen, view.window)
    except traces.NotYours as exc:
        st.warning(plain(exc))
        return
    except (ConversationError, StoreUnavailable) as exc:
        st.warning(f"{plain(exc)} (Traces made by the filler script have no conversation run behind them.)")
        return
    graph = lineage.build(conv.image_lookup)
    if not graph.nodes:
        st.info("This conversation has no pictures yet.")
        return
    st.caption(
        f"{len(graph.nodes)} pictures, {len(graph.edges)} critiques, pictures cost "
        f"{plain(lineage.money(graph.total_cost_usd))}. Highlighted: the words a critique added to the "
        "prompt; struck through: those it removed."
    )
    if lineage.branches(graph):  # a column of cards would hide the shape: draw it (the cards below carry the pictures)
        st.graphviz_chart(lineage.to_dot(graph), width="content")
    for chain in lineage.storyboard(graph):
        st.markdown(
            f"**Turn {chain.turn}** · {len(chain.frames)} picture{'s' * (len(chain.frames) != 1)} · {plain(lineage.money(chain.cost_usd))}"
        )
        for frame in chain.frames:
            storyboard_frame(view, chosen, frame)


def lineage_at_scale(view: TracesView, scope: aggregates.Scope, opened: str | None) -> None:
    """At scale the lineage picker's conversations are the newest traces in scope, read whole (trace_data.recent):
    read when this tab is drawn, so a linked trace (`?trace=`) is drawn before them."""
    recent = read_or_stop(lambda: trace_data.recent(view.window, scope, drawing_scenarios()))
    lineage_view(view, recent, recent, opened)


def storyboard_frame(view: TracesView, conversation: str, frame: lineage.Frame) -> None:
    """A card: the thumbnail, then its number, model, cost and prompt (words the critique changed marked); above
    it, the critique that led to it."""
    if frame.came_from is not None:
        st.markdown(f":material/arrow_downward: **Critique of #{frame.came_from}:** {plain(frame.critique or '(none)')}")
    with st.container(border=True):
        thumb, text = st.columns([1, 3])
        png = trace_data.picture(view.store, view.uri, conversation, frame.node.image_id)
        with thumb:
            if png:
                st.image(png, caption=f"#{frame.number}", width="stretch")
            else:
                st.warning(f"Picture #{frame.number} is not in the run's artifacts any more.")
        model = f" · {plain(frame.node.model)}" if frame.node.model else ""
        text.markdown(f"**#{frame.number}**{model} · {plain(lineage.money(frame.node.cost_usd))}")
        text.markdown(" ".join(DIFF_STYLE[kind].format(plain(words)) for kind, words in frame.prompt) or "*(no prompt)*")


# --- the page: one context, built at the top, passed to every part -------------------------------------------------


def overview_tab(view: TracesView, scope: aggregates.Scope | None, shown: traces.Frames) -> None:
    if scope is not None:  # at scale: the store's own sums in scope
        overview_at_scale(view, scope)
    else:
        overview(shown)


def list_tab(view: TracesView, scope: aggregates.Scope | None, shown: traces.Frames, opened: str | None) -> None:
    if opened:
        one_trace(view, opened)  # above the list, where the click that opened it can see it
    if scope is not None:  # statements, not a conditional expression: Streamlit's magic would write its None on the page
        trace_list_at_scale(view, scope)
    else:
        trace_list(shown)


settings, maybe_store, store_problem = startup.page()
st.title("Traces")
if maybe_store is None:
    st.error(f"The MLflow store cannot be read, so there are no traces to show. {plain(store_problem or '')}")
    st.stop()
view = open_view(settings, maybe_store)
scope: aggregates.Scope | None = None
if view.at_scale:
    scope = at_scale_filters(view.count, view.kind)
    frames = shown = traces.empty_frames()  # at scale the tabs read the store's aggregates; the lineage its own (below)
else:
    frames = read_frames(view)
    frames = traces.apply_filter(frames, traces.TraceFilter(owners=(view.viewer,) if view.viewer is not None else (), kinds=(view.kind,)))
    for note in frames.notes:
        st.info(note)
    shown = whole_filters(view, frames)

# a link from a chat turn switches to this page in the same session: it lands on its thing, as a new tab would
if navigation.arrived() and ("trace" in st.query_params or "conversation" in st.query_params):
    for key in ("opened_trace", "lineage_asked", "lineage_trace", "traces_first_tab"):
        st.session_state.pop(key, None)
opened = opened_trace()
# a link lands on its thing, not on the overview (`?trace=`: the trace, `?conversation=`: its lineage); decided once
# per visit, so the tabs keep their identity (a changed `default` would make them new tabs, back on the first)
first_tab = st.session_state.setdefault(
    "traces_first_tab", "Trace list" if st.query_params.get("trace") else "Image lineage" if st.query_params.get("conversation") else None
)
# at scale only the open tab runs (Streamlit's stateful tabs: a switch reruns the page): a link to one trace then costs
# that trace's read at any store size, not the store-wide aggregates of the overview beside it; below the threshold
# every tab is drawn at once (cheap there, and switching needs no rerun)
lazy = scope is not None
names = ("Overview", "Trace list", "Image lineage")
tabs = dict(zip(names, st.tabs(names, default=first_tab, key="traces_tab" if lazy else None, on_change="rerun" if lazy else "ignore")))
drawn_by = {
    "Overview": partial(overview_tab, view, scope, shown),
    "Trace list": partial(list_tab, view, scope, shown, opened),
    "Image lineage": partial(lineage_view, view, frames, shown, opened)
    if scope is None
    else partial(lineage_at_scale, view, scope, opened),
}
# the tab a link lands on is filled first: its trace or lineage shows before the overview's charts are computed
for name in sorted(tabs, key=lambda name: name != first_tab):
    if tabs[name].open is False:  # a stateful tab not shown (at scale): nothing of it is read
        continue
    with tabs[name]:
        drawn_by[name]()
if scope is not None and not scope.scenario and not trace_data.reads_rows(view.uri):
    # what a person is likely to choose next, asked once this page's own reads are done (not competing with them)
    trace_data.prefetch_scenarios(view.window, scope, scenario_keys(), view.database)
