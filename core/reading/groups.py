"""A scenario or status filter at once, at a million traces: the window's traces grouped by UTC day, trace name and
status in one GROUP BY of `trace_info` (`sql.trace_groups`, a few hundred rows for a month), read once per window in
the background after the unfiltered page is drawn; each filter is then a selection of those rows, plus one
latency query (MLflow's percentiles under the filter: `trace_info` only).

Why not MLflow's own: its daily rollups serve no filtered request at all (any filter is read raw), have no trace-name
dimension, and its span cost under a trace-level filter joins every span of the matching traces (1-2 s at 100,000
traces, about ten times that at a million); its metrics have no trace-level cost, which `trace_info.total_cost` is
(MLflow's sum of the trace's span costs, equal to its span cost metric to 1e-9). Needs the database: the tracking
store itself (PostgreSQL, MySQL) or the server's database beside it (`APP_TRACKING_DATABASE_URI`); otherwise the
page asks MLflow per filter as before (core.reading.window.Ahead). Which path each filter takes: docs/DEPLOY.md,
"A month of traces"."""

from __future__ import annotations

import pandas as pd

from .. import contract
from . import sql, sums
from .aggregates import SCENARIO_COLUMNS, Overview, Scope


def read(database_uri: str, experiment_id: str, start_ms: int | None, end_ms: int | None) -> pd.DataFrame:
    return sql.trace_groups(database_uri, experiment_id, start_ms, end_ms)


def selected(groups: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    """The groups in `scope`: a scenario by its trace name (contract.turn_name, or an older "<scenario> turn <n>")."""
    rows = groups
    if scope.scenario:
        names = rows["trace_name"].map(lambda name: contract.scenario_of_turn_name(name, (str(scope.scenario),)))
        rows = rows[names == scope.scenario]
    if scope.status:
        rows = rows[rows["status"] == scope.status]
    return rows


def by_name(groups: pd.DataFrame, scope: Scope) -> bool:
    """Whether MLflow can filter the scenario by its trace name (no trace of it carries an older per-turn name)."""
    return not scope.scenario or not any(contract.is_older_turn_name(name, scope.scenario) for name in set(groups["trace_name"]))


def overview(groups: pd.DataFrame, scope: Scope, latency_ms: tuple[float, float, float] | None) -> Overview:
    """The overview of the groups in `scope`, with the latency percentiles asked of MLflow. Per day by the trace's
    day (MLflow's cost per day is by each span's start: a trace over midnight may differ by its later spans)."""
    rows = selected(groups, scope)
    status = rows["status"].astype(str)
    traces_by_status = rows.groupby(status)["traces"].sum().sort_values(ascending=False)
    totals = sums.Totals(
        traces=int(rows["traces"].sum()),
        input_tokens=int(rows["input_tokens"].sum()),
        output_tokens=int(rows["output_tokens"].sum()),
        cost_usd=float(rows["cost_usd"].sum()),
        errors=int(traces_by_status.get("ERROR", 0)),
        in_progress=int(traces_by_status.get("IN_PROGRESS", 0)),
        latency_ms=latency_ms,
    )
    daily = (
        rows.assign(errors=rows["traces"].where(status == "ERROR", 0))
        .groupby("day")
        .agg(traces=("traces", "sum"), tokens=("tokens", "sum"), cost_usd=("cost_usd", "sum"), errors=("errors", "sum"))
        .reset_index()
    )
    daily.insert(0, "period", pd.to_datetime(daily.pop("day") * sql.DAY_S, unit="s", utc=True))
    daily[["traces", "tokens", "errors"]] = daily[["traces", "tokens", "errors"]].astype("int64")
    by_status = pd.DataFrame(
        {"status": traces_by_status.index.astype(str), "traces": traces_by_status.to_numpy().astype("int64")}, columns=["status", "traces"]
    )
    return Overview(totals=totals, daily=daily.sort_values("period").reset_index(drop=True), by_status=by_status)


def joined(earlier: Overview, recent: Overview) -> Overview:
    """Two overviews of adjacent time ranges as one: counts, tokens and cost add up, per day and by status too
    (latency percentiles do not: None, asked apart)."""
    a, b = earlier.totals, recent.totals
    totals = sums.Totals(
        traces=a.traces + b.traces,
        input_tokens=a.input_tokens + b.input_tokens,
        output_tokens=a.output_tokens + b.output_tokens,
        cost_usd=a.cost_usd + b.cost_usd,
        errors=a.errors + b.errors,
        in_progress=a.in_progress + b.in_progress,
        latency_ms=None,
    )
    daily = pd.concat([d for d in (earlier.daily, recent.daily) if len(d)], ignore_index=True)
    if len(daily):
        daily = daily.groupby("period", as_index=False).sum().sort_values("period").reset_index(drop=True)
    else:
        daily = earlier.daily
    by_status = pd.concat([d for d in (earlier.by_status, recent.by_status) if len(d)], ignore_index=True)
    if len(by_status):
        by_status = by_status.groupby("status", as_index=False)["traces"].sum()
        by_status = by_status.sort_values("traces", ascending=False).reset_index(drop=True)
    else:
        by_status = earlier.by_status
    return Overview(totals=totals, daily=daily, by_status=by_status)


def scenario_rows(groups: pd.DataFrame, scope: Scope, keys: tuple[str, ...]) -> pd.DataFrame:
    """The breakdown's rows of the named scenarios (aggregates.MetricsReader.scenario_rows' shape, no "other" row):
    counts, tokens and cost by trace name from the groups. MLflow's way is three grouped trace queries and a span cost
    per scenario under a trace-name filter, which joins every span of its traces (3-4 s at a million traces, the
    first load's longest wait); its rollups have no trace-name dimension to serve it."""
    rows = selected(groups, Scope(status=scope.status))
    names = rows["trace_name"].map(lambda name: contract.scenario_of_turn_name(name, keys))
    summed = rows.groupby(names)[["traces", "input_tokens", "output_tokens", "cost_usd"]].sum()
    found = [
        {
            "scenario": key,
            "traces": int(summed.at[key, "traces"]),
            "input_tokens": int(summed.at[key, "input_tokens"]),
            "output_tokens": int(summed.at[key, "output_tokens"]),
            "cost_usd": float(summed.at[key, "cost_usd"]),
        }
        for key in keys
        if key in summed.index and summed.at[key, "traces"]
    ]
    return pd.DataFrame(found, columns=SCENARIO_COLUMNS)
