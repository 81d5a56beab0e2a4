"""The page's sums over frames, in memory: totals with latency percentiles, breakdowns by model, agent, scenario
and session (an "(unattributed)" row keeps them adding up to MLflow's totals), per day, a page of the list."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .frames import UNATTRIBUTED, Frames, scenario_labels


@dataclass(frozen=True)
class Totals:
    traces: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    errors: int
    in_progress: int
    feedback_up: int = 0  # ratings, not traces: two people's thumbs on one trace count twice
    feedback_down: int = 0
    latency_ms: tuple[float, float, float] | None = None  # p50, p90, p99 of finished traces; None: none finished


PERCENTILES = (0.5, 0.9, 0.99)
LATENCY_COLUMNS = ["p50_s", "p90_s", "p99_s"]


def latency(durations_ms: pd.Series) -> tuple[float, float, float] | None:
    """p50/p90/p99 as MLflow's and Langfuse's overviews show them (linear interpolation); running traces
    have no duration yet and are left out."""
    finished = pd.to_numeric(durations_ms, errors="coerce").dropna()
    if finished.empty:
        return None
    p50, p90, p99 = (float(v) for v in finished.quantile(list(PERCENTILES)))
    return p50, p90, p99


def totals(traces: pd.DataFrame) -> Totals:
    return Totals(
        traces=len(traces),
        input_tokens=int(traces["input_tokens"].sum()),
        output_tokens=int(traces["output_tokens"].sum()),
        cost_usd=float(traces["cost_usd"].sum()),
        errors=int((traces["status"] == "ERROR").sum()),
        in_progress=int((traces["status"] == "IN_PROGRESS").sum()),
        feedback_up=int(traces["feedback_up"].sum()),
        feedback_down=int(traces["feedback_down"].sum()),
        latency_ms=latency(traces["duration_ms"]),
    )


def _latencies(traces: pd.DataFrame, keys: pd.DataFrame, by: str) -> pd.DataFrame:
    """p50/p90/p99 in seconds of the traces of each `by` value (keys: trace_id, by)."""
    joined = keys.merge(traces[["trace_id", "duration_ms"]], on="trace_id").dropna(subset=["duration_ms"])
    if joined.empty:
        return pd.DataFrame(columns=[by, *LATENCY_COLUMNS])
    table = joined.groupby(by)["duration_ms"].quantile(list(PERCENTILES)).unstack() / 1000.0
    table.columns = LATENCY_COLUMNS
    return table.reset_index()


BREAKDOWNS = ("model", "agent", "scenario", "session")


def breakdown(frames: Frames, by: str) -> pd.DataFrame:
    """Traces, tokens and cost per model, agent, scenario or session, most expensive first. By model and
    agent, the part of the trace totals no call span carries is one "(unattributed)" row."""
    if by not in BREAKDOWNS:
        raise ValueError(f"Breakdown by {by!r} is not one of {BREAKDOWNS}.")
    columns = [by, "traces", "calls", "input_tokens", "output_tokens", "cost_usd", *LATENCY_COLUMNS]
    if by in ("scenario", "session"):
        grouped = (
            frames.traces.groupby(by, sort=False)
            .agg(
                traces=("trace_id", "size"),
                input_tokens=("input_tokens", "sum"),
                output_tokens=("output_tokens", "sum"),
                cost_usd=("cost_usd", "sum"),
            )
            .reset_index()
        )
        grouped["calls"] = (
            frames.calls.merge(frames.traces[["trace_id", by]], on="trace_id")
            .groupby(by)["calls"]
            .sum()
            .reindex(grouped[by])
            .fillna(0)
            .astype("int64")
            .to_numpy()
        )
        grouped = grouped.merge(_latencies(frames.traces, frames.traces[["trace_id", by]], by), on=by, how="left")
        if by == "scenario":  # its label beside the key (labels are not unique)
            grouped["label"] = grouped["scenario"].map(scenario_labels(frames.traces)).fillna(grouped["scenario"])
            columns.insert(1, "label")
        return grouped[columns].sort_values(["cost_usd", "traces"], ascending=False).reset_index(drop=True)
    calls = frames.calls
    grouped = (
        calls.groupby(by, sort=False)
        .agg(
            traces=("trace_id", "nunique"),
            calls=("calls", "sum"),
            input_tokens=("input_tokens", "sum"),
            output_tokens=("output_tokens", "sum"),
            cost_usd=("cost_usd", "sum"),
        )
        .reset_index()
    )
    covered = frames.covered
    base = frames.traces if covered is None else frames.traces[frames.traces["trace_id"].isin(covered)]
    rest = {
        "input_tokens": int(base["input_tokens"].sum() - grouped["input_tokens"].sum()),
        "output_tokens": int(base["output_tokens"].sum() - grouped["output_tokens"].sum()),
        "cost_usd": float(base["cost_usd"].sum() - grouped["cost_usd"].sum()),
    }
    # a model's or agent's row: how long the turns it took part in took (calls carry no duration of their own here)
    grouped = grouped.merge(_latencies(frames.traces, calls[["trace_id", by]].drop_duplicates(), by), on=by, how="left")
    if rest["input_tokens"] or rest["output_tokens"] or abs(rest["cost_usd"]) > 1e-9:
        grouped = pd.concat([grouped, pd.DataFrame([{by: UNATTRIBUTED, "traces": 0, "calls": 0, **rest}])], ignore_index=True)
    return grouped[columns].sort_values(["cost_usd", "input_tokens"], ascending=False).reset_index(drop=True)


def over_time(traces: pd.DataFrame, freq: str = "D") -> pd.DataFrame:
    """Traces, tokens, cost and errors per period (UTC)."""
    if traces.empty:
        return pd.DataFrame(columns=["period", "traces", "tokens", "cost_usd", "errors"])
    keyed = traces.assign(period=traces["time"].dt.floor(freq), errors=traces["status"].eq("ERROR"))
    return (
        keyed.groupby("period")
        .agg(traces=("trace_id", "size"), tokens=("total_tokens", "sum"), cost_usd=("cost_usd", "sum"), errors=("errors", "sum"))
        .reset_index()
    )


SORTS = {
    "newest": ("timestamp_ms", False),
    "oldest": ("timestamp_ms", True),
    "cost": ("cost_usd", False),
    "tokens": ("total_tokens", False),
    "duration": ("duration_ms", False),
}
LIST_COLUMNS = [
    "time",
    "label",  # the scenario's label (its key is the `scenario` column, which the filters read)
    "request",
    "response",
    "total_tokens",
    "cost_usd",
    "duration_ms",
    "status",
    "feedback",
    "scenario",
    "runtime",  # the agent runtime that ran it (issue 34)
    "session",
    "trace_id",
]


def page(traces: pd.DataFrame, sort: str = "newest", number: int = 1, size: int = 50) -> tuple[pd.DataFrame, int]:
    """One page of the list (no spans involved) and how many pages there are."""
    column, ascending = SORTS[sort]
    pages = max(1, -(-len(traces) // size))
    number = min(max(1, number), pages)
    ordered = traces if sort == "newest" else traces.sort_values(column, ascending=ascending, kind="stable")
    return listed(ordered.iloc[(number - 1) * size : number * size]), pages


def listed(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows as the list shows them: its columns, request and response cut to what a cell shows."""
    rows = rows.copy()
    rows["request"] = rows["request"].str.slice(0, 80)
    rows["response"] = rows["response"].str.slice(0, 120)
    return rows[LIST_COLUMNS].reset_index(drop=True)
