"""A read's window and the reads of one window that take more than one call. `ReadWindow` (store, experiment, time,
whose traces, the Refresh count, the store's version) is the key of every cached read on the Traces page (ui/
trace_data.py keeps them, for a minute). Here: a refresh that reads only what is new (`LastReads`), a hosted visitor's
own traces (two searches), predictions and evaluations from two experiments (`kind_frames`), the lineage picker's
newest turns at scale (`recent`), and the aggregates asked ahead in the background (`Ahead`): once the unfiltered page
is drawn, the window's groups where the database is known (every filter at once: core.reading.groups) or else each
present scenario's overview, the breakdown by scenario beside the overview, and which days MLflow's rollups serve."""

from __future__ import annotations

import functools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Callable

import pandas as pd
from mlflow import MlflowClient

from ..conversations import find_models_experiment
from . import groups, readers, rollups, sql
from .aggregates import MetricsReader, Overview, Prefetch, Scope, from_rows, kind_searches, owner_searches, scenarios_from_rows, with_rest
from .api import ApiTraceReader
from .frames import Frames, TraceFilter, apply_filter, empty_frames, merged, refresh_since
from .sql import DAY_S
from .sums import Totals


@dataclass(frozen=True)
class ReadWindow:
    """Which traces one read is of, and which answer of the store: hashable and compared by value, so Streamlit's
    cache keys a read by it (ui/trace_data.py). `owner`: a hosted visitor's own traces only (None: everyone's);
    `nonce`: the Refresh button's count; `version`: the store's (`SqlTraceReader.version`; None behind a server),
    so a turn that lands after the page was read shows on the next rerun."""

    tracking_uri: str
    experiment_id: str
    start_ms: int | None = None
    end_ms: int | None = None
    owner: str | None = None
    nonce: int = 0
    version: str | None = None

    def of_experiment(self, experiment_id: str) -> ReadWindow:
        """The same window on another experiment of the store, at that experiment's version."""
        return replace(self, experiment_id=str(experiment_id), version=store_version(self.tracking_uri, str(experiment_id)))

    @property
    def by_store(self) -> tuple[str, str, int | None, int | None]:
        """What the store is asked (which experiment, which time): the key of the last read a refresh builds on."""
        return self.tracking_uri, self.experiment_id, self.start_ms, self.end_ms


def store_version(tracking_uri: str, experiment_id: str) -> str | None:
    return readers.reader_for(tracking_uri, experiment_id).version()


# --- a refresh reads only what is new ------------------------------------------------------------------------------


def only_added(old: str | None, new: str | None) -> bool:
    """Whether the store's version (SqlTraceReader.version: count/newest/running/tagged/ratings/newest rating)
    moved only by traces added or finished; a tracking server has none (None): assume so, the count checks."""
    if old is None or new is None:
        return old is None and new is None
    before, after = old.split("/"), new.split("/")
    return len(before) == len(after) == 6 and before[4:] == after[4:] and int(after[0] or 0) >= int(before[0] or 0)


class LastReads:
    """The last frames read per (store, experiment, time window): a refresh reads from the newest trace of the last
    read on (`frames.refresh_since`) and merges it over that read, unless the store's version says more than new
    traces changed (ratings, deletions), the merged count disagrees with the store's, or the last whole read is
    older than FULL_READ_EVERY_S (a tracking server has no version: changes to old traces show within it)."""

    KEEP = 8
    FULL_READ_EVERY_S = 600

    def __init__(self) -> None:
        self._last: dict[tuple[str, str, int | None, int | None], tuple[str | None, Frames, float]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._last.clear()

    def frames(self, window: ReadWindow) -> Frames:
        key = window.by_store
        with self._lock:
            last = self._last.get(key)
        reader = readers.reader_for(window.tracking_uri, window.experiment_id)
        got = None
        if last is not None and only_added(last[0], window.version) and time.monotonic() - last[2] < self.FULL_READ_EVERY_S:
            got = self._refreshed(window, reader, last[1])
        full_at = last[2] if got is not None and last is not None else time.monotonic()
        if got is None:
            got = reader.frames(window.start_ms, window.end_ms)
        with self._lock:
            self._last[key] = (window.version, got, full_at)
            while len(self._last) > self.KEEP:
                self._last.pop(next(iter(self._last)))
        return got

    @staticmethod
    def _refreshed(window: ReadWindow, reader: readers.TraceReader, last: Frames) -> Frames | None:
        """`last` with what is new since it; None: read everything (nothing to start from, or the count disagrees:
        something older changed, a deletion or a turn longer than the margin)."""
        since = refresh_since(last)
        if since is None:
            return None
        got = merged(last, reader.frames(since if window.start_ms is None else max(window.start_ms, since), window.end_ms))
        count = MetricsReader(window.tracking_uri, window.experiment_id).count(window.start_ms, window.end_ms)
        return got if len(got.traces) == count else None


# --- whose traces, which kind ---------------------------------------------------------------------------------------


def own_frames(window: ReadWindow) -> Frames:
    """A hosted visitor's traces only, searched by the store: a visitor's page costs what their own turns cost, however
    many traces others left in the store. Two searches (MLflow's filter has no OR): the app's owner tag (since issue
    31, when MLflow's session became the conversation) and, for older traces, their session."""
    if not window.owner:
        raise ValueError("own_frames reads one owner's traces: the window names none.")
    reader = ApiTraceReader(window.tracking_uri, window.experiment_id)
    newer, older = (reader.frames(window.start_ms, window.end_ms, filter_string=f) for f in owner_searches(window.owner))
    return merged(older, newer)


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


def kind_frames(window: ReadWindow, kind: str, read_whole: bool, whole: Callable[[ReadWindow], Frames]) -> Frames:
    """The predictions or evaluations of the chats in the window's experiment, whole: its models experiment's traces,
    and those an older store wrote into the chat experiment itself (from its frames when `read_whole`, else by
    MLflow's search: aggregates.kind_searches); a hosted visitor's own only (their two owner searches). `whole`
    reads one window whole (the page's cached read: own_frames for an owner, else LastReads)."""
    models = models_experiment(window.tracking_uri, window.experiment_id)
    parts = [whole(window.of_experiment(models))] if models is not None else []
    if window.owner or read_whole:
        parts.append(whole(window))
    else:
        reader = ApiTraceReader(window.tracking_uri, window.experiment_id)
        parts += [reader.frames(window.start_ms, window.end_ms, filter_string=f) for f in kind_searches(kind)]
    got = functools.reduce(merged, parts) if parts else empty_frames()
    return apply_filter(got, TraceFilter(kinds=(kind,), owners=(window.owner,) if window.owner else ()))


RECENT = 100  # newest traces of each picture-drawing scenario the aggregate view reads whole: the lineage picker's


def recent(window: ReadWindow, scope: Scope, drawing: tuple[str, ...]) -> Frames:
    """The newest RECENT traces in scope of each scenario that draws pictures, whole (their summaries), through
    MLflow's search on any store: the lineage picker's conversations when the page does not read every trace."""
    reader = ApiTraceReader(window.tracking_uri, window.experiment_id, span_limit=0)
    wanted = [scope.scenario] if scope.scenario else list(drawing)
    parts = [
        reader.frames(
            window.start_ms,
            window.end_ms,
            newest=RECENT,
            filter_string=Scope(scenario=name, status=scope.status, owner=scope.owner).search_filter(None, None),
        )
        for name in wanted
    ]
    if not parts:
        return empty_frames()
    return Frames(
        traces=pd.concat([p.traces for p in parts], ignore_index=True), calls=pd.concat([p.calls for p in parts], ignore_index=True)
    )


# --- large stores: the store's aggregates, some asked ahead ---------------------------------------------------------


@dataclass(frozen=True)
class TraceCount:
    """The window's traces: `traces` exactly, or with `more`, more than `traces` (counting stopped there)."""

    traces: int
    more: bool = False


def count(window: ReadWindow, scope: Scope, limit: int, database_uri: str = "") -> TraceCount:
    """How many traces the window holds, as far as deciding whether to read them all needs: with the database known,
    counted up to `limit` + 1 (sql.traces_up_to: the same cost at any store size); else MLflow's whole count (a
    visitor's own traces are two sets only MLflow's filters find: aggregates.MetricsReader.count)."""
    database = rollups.database_of(window.tracking_uri, database_uri)
    if database and not scope.owner:
        counted = sql.traces_up_to(database, window.experiment_id, window.start_ms, window.end_ms, limit + 1)
        return TraceCount(limit, more=True) if counted > limit else TraceCount(counted)
    return TraceCount(MetricsReader(window.tracking_uri, window.experiment_id).count(window.start_ms, window.end_ms, scope))


def reads_rows(tracking_uri: str) -> bool:
    """A sqlite store: its overview is one kept read of lean rows (aggregates.MetricsReader.rows), filtered in
    pandas; nothing to ask ahead."""
    return tracking_uri.startswith("sqlite:")


def _minute_ms() -> int:
    return int(time.time() // 60 * 60_000)  # to the minute, like time_window: the key stays put between reruns


class Ahead:
    """The aggregates of a window that a person is likely to ask next, asked in the background (aggregates.Prefetch)
    and kept as long as the page's other reads (`max_age_s`, the Refresh count, the store's version: all in the
    window, which keys every job): behind a server, each present scenario's overview once the unfiltered page is
    drawn, so choosing one is a cache hit; and the breakdown by scenario while the overview is asked."""

    def __init__(self, prefetch: Prefetch, max_age_s: float):
        self.prefetch, self.max_age_s = prefetch, max_age_s

    def overview(self, window: ReadWindow, scope: Scope, rows: pd.DataFrame | None, database_uri: str = "") -> Overview:
        """From a sqlite store's lean `rows`; a filter with the database known from the window's groups (core.reading.
        groups); else asked ahead, else the store's aggregates now."""
        if rows is not None:
            return from_rows(rows, scope)
        database = rollups.database_of(window.tracking_uri, database_uri)
        if (scope.scenario or scope.status) and database and not scope.owner:
            grouped = self.groups(window, database)
            self.latency(window, scope, groups.by_name(grouped, scope))  # beside, not waited for (as unfiltered)
            return groups.overview(grouped, scope, None)
        if scope.scenario and (ahead := self.prefetch.take(("overview", window, scope), self.max_age_s)) is not None:
            return ahead
        reader = MetricsReader(window.tracking_uri, window.experiment_id)
        if not (scope.scenario or scope.status or scope.owner):  # the percentiles beside (`latency`), not waited for
            self.latency(window, scope)
            if database:
                return self._rolled_and_recent(window, scope, reader, database)
            return reader.overview(window.start_ms, window.end_ms, _minute_ms(), scope, latency=False)
        return reader.overview(window.start_ms, window.end_ms, _minute_ms(), scope)

    @staticmethod
    def _rolled_and_recent(window: ReadWindow, scope: Scope, reader: MetricsReader, database: str) -> Overview:
        """The unfiltered overview with the database known: MLflow's overview up to the start of yesterday (UTC), the
        whole days its rollups serve, and yesterday and today, which its eligibility lag always reads raw (at a
        million traces a month, ~67,000 traces: 0.6 s of MLflow's eight raw queries, its span cost joining their
        spans), from one GROUP BY of their `trace_info` rows (core.reading.groups: ~0.03 s). The same figures: the
        groups' cost is MLflow's per-trace total; by day they count a trace on its own day (MLflow's cost per day
        counts each span on its start's, which differs only for a trace running over midnight)."""
        now_ms = _minute_ms()
        split = (now_ms // (DAY_S * 1000) - 1) * DAY_S * 1000
        start, end = window.start_ms, window.end_ms
        if end is not None and end <= split:
            return reader.overview(start, end, now_ms, scope, latency=False)
        read_recent = functools.partial(groups.read, database, window.experiment_id, max(start or split, split), end)
        if start is not None and start >= split:
            return groups.overview(read_recent(), scope, None)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="recent-days") as beside:  # the two side by side
            recent = beside.submit(read_recent)
            earlier = reader.overview(start, split - 1, now_ms, scope, latency=False)  # MLflow's end is inclusive
            return groups.joined(earlier, groups.overview(recent.result(), scope, None))

    def latency(self, window: ReadWindow, scope: Scope, by_name: bool | None = None) -> tuple[bool, tuple[float, float, float] | None]:
        """The window's latency percentiles in `scope`, asked in the background: (in yet, p50/p90/p99 or None for no
        traces). The one overview figure that grows with the store: MLflow's rollups keep each day's percentiles,
        which do not add up across days and serve no filter, so it reads every matching trace in the window
        (`percentile_cont` over trace_info: 0.66 s at a million traces on PostgreSQL, 0.09 s at 100,000); the other
        figures come from rollups or the window's groups at once. `by_name`: a scenario by its trace name
        (groups.by_name, which the overview knows); None: by the scenario tag, right for every trace."""
        key = ("latency", window, scope)
        reader = MetricsReader(window.tracking_uri, window.experiment_id)
        named = by_name if by_name is not None else not scope.scenario
        self.prefetch.start(key, lambda: (reader.latency(window.start_ms, window.end_ms, scope, named),), self.max_age_s)
        got = self.prefetch.peek(key, self.max_age_s)
        return (False, None) if got is None else (True, got[0])

    def rollups(self, window: ReadWindow, database_uri: str) -> rollups.Rollups | None:
        """Which days MLflow's rollups serve (core.reading.rollups), asked in the background: None until it is in. Its
        check counts every day's traces and cost spans (0.16 s at 100,000 traces, ten times that at a million),
        which the first load does not wait for."""
        if rollups.database_of(window.tracking_uri, database_uri) is None:  # nothing to read: said at once
            return rollups.read(window.tracking_uri, database_uri, window.experiment_id)
        key = ("rollups", window, bool(database_uri))
        read = functools.partial(rollups.read, window.tracking_uri, database_uri, window.experiment_id)
        self.prefetch.start(key, read, self.max_age_s)
        return self.prefetch.peek(key, self.max_age_s)

    def groups(self, window: ReadWindow, database: str) -> pd.DataFrame:
        """The window's traces grouped by day, trace name and status (core.reading.groups): asked ahead, else now."""
        grouped = self.prefetch.take(("groups", window), self.max_age_s)
        return grouped if grouped is not None else groups.read(database, window.experiment_id, window.start_ms, window.end_ms)

    def scenarios(self, window: ReadWindow, scope: Scope, known: tuple[str, ...], database_uri: str = "") -> None:
        """Once the unfiltered page is drawn, in the background: with the database known, the window's groups (every
        scenario and status filter at once); else each present scenario's overview, asked of MLflow."""
        if (database := rollups.database_of(window.tracking_uri, database_uri)) and not scope.owner:
            self._ask_groups(window, database)
            return
        now_ms = _minute_ms()

        def each_scenario() -> list[str]:
            reader = MetricsReader(window.tracking_uri, window.experiment_id)
            present = reader.scenarios_present(window.start_ms, window.end_ms, scope.owner, known)
            for key in present:
                narrowed = Scope(key, scope.status, scope.owner)
                self.prefetch.start(
                    ("overview", window, narrowed),
                    functools.partial(reader.overview, window.start_ms, window.end_ms, now_ms, narrowed),
                    self.max_age_s,
                )
            return present

        self.prefetch.start(("scenarios", window, scope), each_scenario, self.max_age_s)

    def scenario_rows(self, window: ReadWindow, scope: Scope, keys: tuple[str, ...], database_uri: str = "") -> None:
        """Behind a server, the breakdown by scenario asked while the overview is: `breakdown` takes it when the page
        gets there, instead of asking after the overview. With the database known, the window's groups (one GROUP BY,
        0.4 s at a million traces, then every filter's too); else MLflow's (its span costs are a second at 100,000)."""
        if reads_rows(window.tracking_uri) or scope.scenario:
            return
        if (database := rollups.database_of(window.tracking_uri, database_uri)) and not scope.owner:
            self._ask_groups(window, database)
            return
        reader = MetricsReader(window.tracking_uri, window.experiment_id)
        self.prefetch.start(
            ("scenario rows", window, scope, keys),
            lambda: reader.scenario_rows(window.start_ms, window.end_ms, scope, keys),
            self.max_age_s,
        )

    def groups_pending(self, window: ReadWindow, scope: Scope, database_uri: str = "") -> bool:
        """Whether the breakdown by scenario waits for the window's groups, asked beside the overview and not in yet:
        the page then says so and shows it when in, instead of holding the first load for them (one GROUP BY of
        every trace in the window: 0.35 s at a million, the longest of the first load's reads with rollups)."""
        if reads_rows(window.tracking_uri) or scope.scenario or scope.owner:
            return False
        return bool(rollups.database_of(window.tracking_uri, database_uri)) and self.prefetch.running(("groups", window), self.max_age_s)

    def _ask_groups(self, window: ReadWindow, database: str) -> None:
        read = functools.partial(groups.read, database, window.experiment_id, window.start_ms, window.end_ms)
        self.prefetch.start(("groups", window), read, self.max_age_s)

    def breakdown(  # noqa: PLR0913 - the page's one cached call passes what the breakdown depends on
        self,
        window: ReadWindow,
        scope: Scope,
        by: str,
        keys: tuple[str, ...],
        totals: Totals,
        rows: pd.DataFrame | None,
        database_uri: str = "",
    ) -> pd.DataFrame:
        """One breakdown at a time, asked when it is shown (by model: two span-level aggregates; by scenario with the
        database known: the window's groups)."""
        reader = MetricsReader(window.tracking_uri, window.experiment_id)
        if by == "model":
            return reader.by_model(window.start_ms, window.end_ms, scope)
        if rows is not None:
            return scenarios_from_rows(rows, scope)
        if not scope.scenario and not scope.owner and (database := rollups.database_of(window.tracking_uri, database_uri)):
            return with_rest(groups.scenario_rows(self.groups(window, database), scope, keys), totals)
        if not scope.scenario and (named := self.prefetch.take(("scenario rows", window, scope, keys), self.max_age_s)) is not None:
            return with_rest(named, totals)
        return reader.by_scenario(window.start_ms, window.end_ms, scope, keys, totals)
