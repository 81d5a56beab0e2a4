"""Traces as pandas frames: one row per trace, one row per model or image call, the same columns whichever reader
read them (`sql`, `api`); the "other" scenario, kinds, labels; a refresh's merge of what is new over the last
read; the page's filters. Pure pandas, no store."""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

from .. import contract, feedback, scenarios
from ..observe import summary

TRACE_COLUMNS = [
    "trace_id",
    "timestamp_ms",
    "duration_ms",
    "status",
    "name",
    "scenario",
    "conversation",
    "turn",
    "provider",
    "session",
    "owner",  # who owns it (core.hosted.trace_owner: the app's tag, else an older trace's session)
    "label",  # the scenario's label when it ran ("" before issue 31: the page names it from the registry)
    "runtime",  # the agent runtime that ran it (issue 34; an app turn before it: agentchat; other code's traces: "")
    "kind",  # contract.kind_of: a chat turn, a model's prediction or an evaluation's answer (issue 32)
    "request",
    "response",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost_usd",
    "feedback_up",
    "feedback_down",
]  # people's current ratings of the trace (core.feedback)
RESPONSE_CHARS = 300  # of each trace's response preview: enough for the list, small at 100,000 traces
# one row per call group of a trace: a summarised trace has one per (kind, model, agent), a walked one per span
CALL_COLUMNS = ["trace_id", "kind", "model", "agent", "calls", "input_tokens", "output_tokens", "cost_usd"]
OTHER = "other"
UNATTRIBUTED = "(unattributed)"
TEAM = summary.TEAM
NO_SESSION = "(none)"
DEFAULT_RUNTIME = "agentchat"  # what the app's traces ran on before the runtime was tagged (core.agents.RUNTIMES)
CALL_SPAN_TYPES = summary.CALL_SPAN_TYPES
TAG_KEYS = {
    contract.RunTag.SCENARIO: "scenario",
    contract.TraceTag.CONVERSATION: "conversation",
    contract.TraceTag.TURN: "turn",
    contract.RunTag.PROVIDER: "provider",
    contract.TraceTag.OWNER: "owner",
    contract.TraceTag.LABEL: "label",
    contract.RunTag.RUNTIME: "runtime",
}


@dataclass
class Frames:
    traces: pd.DataFrame
    calls: pd.DataFrame
    notes: list[str] = field(default_factory=list)  # what the user should know about these numbers
    covered: frozenset[str] | None = None  # traces whose calls were read (a server stopped short); None: all


# --- shaping -------------------------------------------------------------------------------------------------------


def _request_text(preview: Any) -> str:
    """Our traces keep the user's message as the preview (and the answer, or why the turn failed, as the
    response); others keep their inputs and outputs as JSON: show the words."""
    if not isinstance(preview, str):
        return ""
    text = preview.strip()
    if text.startswith('"'):  # a JSON string: a function's return value as MLflow writes it
        try:
            value = json.loads(text)
            return value if isinstance(value, str) else text
        except ValueError:
            return text
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            return text
        if isinstance(value, dict):
            strings = [v for v in value.values() if isinstance(v, str)]
            if len(value) == 1 and strings:
                return strings[0]
            for key in ("message", "question", "prompt", "input", "query", "text", "answer", "content", "output"):
                if isinstance(value.get(key), str):
                    return value[key]
    return text


def _map_unique(series: pd.Series, fn: Callable[[Any], Any]) -> pd.Series:
    """Apply fn once per distinct value: previews repeat a lot, and json.loads per row is the slow part."""
    uniques = series.dropna().unique()
    return series.map({u: fn(u) for u in uniques}).fillna("")


def registry_label(key: str) -> str:
    """A scenario's label as the registry has it now, else its key (a removed team file, "other")."""
    found = scenarios.find(key) if key != OTHER else None
    return found.label if found is not None else key


def scenario_labels(rows: pd.DataFrame) -> dict[str, str]:
    """Each scenario key's label, as its newest trace names it (the `label` column); labels are not unique (two
    galleries may each hold a "RoundRobin Team"), so one that two keys share also says its key."""
    if rows.empty:
        return {}
    newest = rows.drop_duplicates("scenario")  # rows are newest first
    labels = dict(zip(newest["scenario"].tolist(), newest["label"].tolist()))
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    return {key: label if counts[label] == 1 else f"{label} ({key})" for key, label in labels.items()}


def shape_traces(rows: pd.DataFrame) -> pd.DataFrame:
    """Columns, types and the "other" scenario, the same whichever reader produced the rows."""
    df = rows.reindex(columns=TRACE_COLUMNS)
    for column in ("input_tokens", "output_tokens", "total_tokens", "feedback_up", "feedback_down"):
        df[column] = pd.to_numeric(df[column], errors="coerce").fillna(0).astype("int64")
    df["feedback"] = ""
    rated = (df["feedback_up"] > 0) | (df["feedback_down"] > 0)
    if rated.any():  # few traces are rated: the cell is built for those only
        df.loc[rated, "feedback"] = [
            feedback.mark(up, down) for up, down in zip(df.loc[rated, "feedback_up"].tolist(), df.loc[rated, "feedback_down"].tolist())
        ]
    df["cost_usd"] = pd.to_numeric(df["cost_usd"], errors="coerce").fillna(0.0).astype("float64")
    df["duration_ms"] = pd.to_numeric(df["duration_ms"], errors="coerce").astype("float64")
    df["timestamp_ms"] = pd.to_numeric(df["timestamp_ms"], errors="coerce").fillna(0).astype("int64")
    df["scenario"] = df["scenario"].fillna(OTHER).replace("", OTHER).astype(str)
    owned = df["owner"].notna() & (df["owner"] != "")  # an older trace's owner is its session (core.hosted.trace_owner)
    df["owner"] = df["owner"].where(owned, df["session"]).fillna("").astype(str)
    df["session"] = df["session"].fillna(NO_SESSION).replace("", NO_SESSION).astype(str)
    for column in ("trace_id", "conversation", "turn", "provider", "name", "status", "label", "runtime"):
        df[column] = df[column].fillna("").astype(str)
    ran_before = (df["runtime"] == "") & (df["conversation"] != "")  # the app's turns before issue 34 ran on agentchat
    df.loc[ran_before, "runtime"] = DEFAULT_RUNTIME
    unlabelled = df["label"] == ""
    if unlabelled.any():  # before issue 31, and other code's traces: the registry's label, else the key
        df.loc[unlabelled, "label"] = _map_unique(df.loc[unlabelled, "scenario"], registry_label).astype(str)
    df["request"] = _map_unique(df["request"], _request_text).astype(str)  # str even when there are no rows
    df["response"] = _map_unique(
        df["response"].astype(object).where(df["response"].notna(), None).map(lambda v: v[:RESPONSE_CHARS] if isinstance(v, str) else v),
        _request_text,
    ).astype(str)
    df["kind"] = kinds(df["kind"], df["session"], df["owner"], df["scenario"])
    df["time"] = pd.to_datetime(df["timestamp_ms"], unit="ms", utc=True)
    return df.sort_values("timestamp_ms", ascending=False, kind="stable").reset_index(drop=True)


def kinds(tag: pd.Series, session: pd.Series, owner: pd.Series, scenario: pd.Series) -> pd.Series:
    """contract.kind_of over columns (tests/test_trace_kinds.py holds them equal): the kind tag, else (a trace written
    before it) a prediction by its session or owner "model-prediction" or a scenario ending "@model", else a chat
    turn. Column-wise: per row it would cost 0.12 s at 100,000 traces."""
    tags = tag.fillna("").astype(str)
    older_prediction = (
        (session == contract.TraceKind.PREDICTION_SESSION)
        | (owner == contract.TraceKind.PREDICTION_SESSION)
        | scenario.astype(str).str.endswith(contract.TraceKind.MODEL_SCENARIO_SUFFIX)
    )
    guessed = pd.Series(contract.TraceKind.CHAT, index=tag.index, dtype=str).mask(older_prediction, contract.TraceKind.PREDICTION)
    return tags.where(tags.isin(contract.TraceKind.ALL), guessed)


def shape_calls(walked: pd.DataFrame, traces: pd.DataFrame, summarized: pd.DataFrame | None = None) -> pd.DataFrame:
    """Call rows with one set of columns and types, from span walks (one row per call of `summary.calls`: the
    outermost span carrying usage or cost, with what MLflow counts below it) and from summaries (grouped by the
    same rule, the agent named the same way)."""
    parts = []
    if len(walked):
        df = walked.reindex(columns=CALL_COLUMNS + ["parent_name", "parent_is_root"])
        ours = _member(df["trace_id"], set(traces.loc[traces["scenario"] != OTHER, "trace_id"].tolist()))
        root_parent = pd.to_numeric(df["parent_is_root"], errors="coerce").fillna(0).astype(bool)
        agent = df["parent_name"].fillna("(no parent span)").astype(str)
        df["agent"] = agent.where(~(root_parent & ours), TEAM)
        df["kind"] = _map_unique(df["kind"].fillna("other").astype(str), summary.kind_of)
        df["calls"] = 1
        parts.append(df[CALL_COLUMNS])
    if summarized is not None and len(summarized):
        parts.append(summarized.reindex(columns=CALL_COLUMNS))
    if not parts:
        return pd.DataFrame(
            {
                c: pd.Series(dtype="int64" if c in ("calls", "input_tokens", "output_tokens") else "float64" if c == "cost_usd" else "str")
                for c in CALL_COLUMNS
            }
        )
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    for column in ("calls", "input_tokens", "output_tokens"):
        df[column] = pd.to_numeric(df[column], errors="coerce").fillna(0).astype("int64")
    df["cost_usd"] = pd.to_numeric(df["cost_usd"], errors="coerce").astype("float64")  # NaN: not priced
    df["model"] = df["model"].fillna("(unknown model)").astype(str)
    for column in ("kind", "agent", "trace_id"):
        df[column] = df[column].fillna("").astype(str)
    return df[CALL_COLUMNS]


def _member(values: pd.Series, ids: set[str]) -> pd.Series:
    """values.isin(ids) through Python sets: pandas' isin on Arrow-backed strings iterates element by element."""
    return pd.Series([v in ids for v in values.tolist()], index=values.index, dtype=bool)


def from_summaries(trace_ids: list[str], values: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(contract tags, one row per trace; call groups) of the traces whose `app.summary` tag parses. A
    trace missing from the first frame has no usable summary: walk its spans."""
    fields: list[tuple[Any, ...]] = []
    calls: list[tuple[Any, ...]] = []
    for trace_id, parsed in zip(trace_ids, summary.parse_many(values)):
        if parsed is None:
            continue
        tags, groups = parsed
        fields.append((trace_id, *(tags.get(field) for field in summary.FIELDS)))
        calls.extend((trace_id, *group) for group in groups)
    return (
        pd.DataFrame(fields, columns=["trace_id", *summary.FIELDS]),
        pd.DataFrame(calls, columns=["trace_id", "kind", "model", "agent", "calls", "input_tokens", "output_tokens", "cost_usd"]),
    )


# --- refresh: read only what is new ---------------------------------------------------------------------------------

REFRESH_MARGIN_MS = 15 * 60_000  # a turn is written when it ends, under the time it started: look back this far


def empty_frames() -> Frames:
    """No traces, in the shape of read ones: copies of one made once (shaping them is 40 ms, on every run of the
    Traces page at scale)."""
    empty = _empty_frames()
    return Frames(traces=empty.traces.copy(), calls=empty.calls.copy())


@functools.cache
def _empty_frames() -> Frames:
    return Frames(traces=shape_traces(pd.DataFrame(columns=TRACE_COLUMNS)), calls=shape_calls(pd.DataFrame(), pd.DataFrame()))


def refresh_since(old: Frames) -> int | None:
    """Where a refresh of `old` starts reading: its newest trace, less the margin for turns that were still
    running when it was read (earlier if one of its traces was still in progress); None: read everything."""
    if old.traces.empty:
        return None
    since = int(old.traces["timestamp_ms"].max()) - REFRESH_MARGIN_MS
    running = old.traces.loc[old.traces["status"] == "IN_PROGRESS", "timestamp_ms"]
    return min(since, int(running.min())) if len(running) else since


def merged(old: Frames, newer: Frames) -> Frames:
    """`old` with the traces of `newer` (read from refresh_since(old) on) added or replacing their older rows."""
    ids = set(newer.traces["trace_id"].tolist())
    traces = pd.concat([newer.traces, old.traces[~_member(old.traces["trace_id"], ids)]], ignore_index=True)
    calls = pd.concat([old.calls[~_member(old.calls["trace_id"], ids)], newer.calls], ignore_index=True)
    covered = (
        None
        if old.covered is None and newer.covered is None
        else frozenset((old.covered or set(old.traces["trace_id"])) | (newer.covered or ids))
    )
    return Frames(
        traces=traces.sort_values("timestamp_ms", ascending=False, kind="stable").reset_index(drop=True),
        calls=calls,
        notes=newer.notes or old.notes,
        covered=covered,
    )


# --- the page's questions ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceFilter:
    scenarios: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    sessions: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    text: str = ""
    trace_ids: frozenset[str] | None = None  # from an MLflow search filter (search_ids); None: no such filter
    feedback: tuple[str, ...] = ()  # of FEEDBACK_CHOICES: traces with a thumbs up, with a thumbs down, with none
    owners: tuple[str, ...] = ()  # a hosted visitor's own (the "owner" column: contract.trace_owner)
    runtimes: tuple[str, ...] = ()  # the agent runtimes that ran them (the "runtime" column)
    kinds: tuple[str, ...] = ()  # of contract.TraceKind.ALL (the "kind" column: contract.kind_of); the page shows one at a time


FEEDBACK_CHOICES = ("up", "down", "none")


def _rated(traces: pd.DataFrame, feedback: tuple[str, ...]) -> pd.Series:
    """The traces with the feedback asked for (any of: a thumbs up, a thumbs down, none)."""
    unknown = set(feedback) - set(FEEDBACK_CHOICES)
    if unknown:
        raise ValueError(f"Feedback filter {sorted(unknown)} is not one of {FEEDBACK_CHOICES}.")
    rated = pd.Series(False, index=traces.index)
    if "up" in feedback:
        rated |= traces["feedback_up"] > 0
    if "down" in feedback:
        rated |= traces["feedback_down"] > 0
    if "none" in feedback:
        rated |= (traces["feedback_up"] == 0) & (traces["feedback_down"] == 0)
    return rated


def apply_filter(frames: Frames, f: TraceFilter) -> Frames:  # noqa: C901 - over the complexity limit when it came on (issue 28); split it when it next changes
    traces = frames.traces
    mask = pd.Series(True, index=traces.index)
    if f.scenarios:
        mask &= traces["scenario"].isin(f.scenarios)
    if f.statuses:
        mask &= traces["status"].isin(f.statuses)
    if f.sessions:
        mask &= traces["session"].isin(f.sessions)
    if f.owners:
        mask &= traces["owner"].isin(f.owners)
    if f.kinds:
        mask &= traces["kind"].isin(f.kinds)
    if f.models:
        mask &= traces["trace_id"].isin(frames.calls.loc[frames.calls["model"].isin(f.models), "trace_id"])
    if f.trace_ids is not None:
        mask &= traces["trace_id"].isin(f.trace_ids)
    if f.runtimes:
        mask &= traces["runtime"].isin(f.runtimes)
    if f.feedback:
        mask &= _rated(traces, f.feedback)
    if f.text.strip():
        needle = f.text.strip()
        hay = (
            traces["request"]
            + "\n"
            + traces["response"]
            + "\n"
            + traces["trace_id"]
            + "\n"
            + traces["name"]
            + "\n"
            + traces["label"]
            + "\n"
            + traces["session"]
        )
        mask &= hay.str.contains(needle, case=False, regex=False)
    kept = traces[mask]
    calls = frames.calls
    if len(kept) != len(traces):
        calls = calls[calls["trace_id"].isin(kept["trace_id"])]
    out = Frames(traces=kept.reset_index(drop=True), calls=calls.reset_index(drop=True), notes=frames.notes, covered=frames.covered)
    return out


def time_window(label: str, now_ms: int | None = None) -> tuple[int | None, int | None]:
    """(start, end) in ms for a range label; start rounded down to the minute so reads cache between reruns."""
    spans = {
        "Last hour": 3600,
        "Last 24 hours": 86400,
        "Last 7 days": 7 * 86400,
        "Last 30 days": 30 * 86400,
        "Last 90 days": 90 * 86400,
        "All time": None,
    }
    if label not in spans:
        raise ValueError(f"Unknown time range {label!r}.")
    seconds = spans[label]
    if seconds is None:
        return None, None
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    start = now_ms - seconds * 1000
    return start - start % 60_000, None


TIME_RANGES = ("All time", "Last hour", "Last 24 hours", "Last 7 days", "Last 30 days", "Last 90 days")
