"""The read side of the tracing contract: MLflow traces as pandas frames (one row per trace, one row per
model or image call), and the sums the Traces page shows.

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

import json
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Protocol

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracing.client import TracingClient
from sqlalchemy import bindparam, text

from . import contract, feedback, scenarios, trace_view
from .observe import lineage, summary
from .store import check_store, is_not_found

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
CALL_SPAN_TYPES = summary.CALL_SPAN_TYPES
TAG_KEYS = {
    contract.SCENARIO: "scenario",
    contract.CONVERSATION: "conversation",
    contract.TURN: "turn",
    contract.PROVIDER: "provider",
    contract.OWNER: "owner",
    contract.LABEL: "label",
}


class TraceReadError(RuntimeError):
    """Reading traces failed; the message is for the user."""


def _unreadable(exc: Exception, what: str = "read") -> TraceReadError:
    return TraceReadError(f"The MLflow store could not be {what} ({type(exc).__name__}: {str(exc)[:200]}).")


@dataclass
class Frames:
    traces: pd.DataFrame
    calls: pd.DataFrame
    notes: list[str] = field(default_factory=list)  # what the user should know about these numbers
    covered: frozenset[str] | None = None  # traces whose calls were read (a server stopped short); None: all


class TraceReader(Protocol):
    def frames(self, start_ms: int | None = None, end_ms: int | None = None) -> Frames: ...

    def version(self) -> str | None: ...


DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql")


def reader_for(tracking_uri: str, experiment_id: str) -> TraceReader:
    """The SQL reader for database stores, MLflow's client for everything else (servers, Databricks)."""
    if tracking_uri.split(":", 1)[0].split("+", 1)[0] in DATABASE_SCHEMES:
        return SqlTraceReader(tracking_uri, experiment_id)
    return ApiTraceReader(tracking_uri, experiment_id)


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
    for column in ("trace_id", "conversation", "turn", "provider", "name", "status", "label"):
        df[column] = df[column].fillna("").astype(str)
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
        (session == contract.PREDICTION_SESSION)
        | (owner == contract.PREDICTION_SESSION)
        | scenario.astype(str).str.endswith(contract.MODEL_SCENARIO_SUFFIX)
    )
    guessed = pd.Series(contract.CHAT_TURN, index=tag.index, dtype=str).mask(older_prediction, contract.PREDICTION)
    return tags.where(tags.isin(contract.KINDS), guessed)


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


# --- database stores -----------------------------------------------------------------------------------------------


def time_clause(start_ms: int | None, end_ms: int | None, params: dict[str, Any]) -> str:
    """SQL conditions on `trace_info i` for a time window (its parameters added to `params`)."""
    clause = ""
    if start_ms is not None:
        clause += " AND i.timestamp_ms >= :start_ms"
        params["start_ms"] = int(start_ms)
    if end_ms is not None:
        clause += " AND i.timestamp_ms < :end_ms"
        params["end_ms"] = int(end_ms)
    return clause


class SqlTraceReader:
    """Reads MLflow's own trace tables (schema of the pinned MLflow; tests/test_traces_read.py checks it
    against the public API on the same store)."""

    def __init__(self, tracking_uri: str, experiment_id: str):
        self.tracking_uri, self.experiment_id = tracking_uri, str(experiment_id)
        try:
            store = TracingClient(tracking_uri).store
        except Exception as exc:
            raise _unreadable(exc, "opened") from exc
        engine = getattr(store, "engine", None)
        if engine is None:
            raise TraceReadError(f"{type(store).__name__} is not a database store.")
        self._engine = engine

    def version(self) -> str:
        """Changes whenever a trace is added, finishes or is deleted: part of the page's cache key, so new
        turns show without waiting for the cache to expire. Also when one of our traces gets its tags and
        session: the span batch can finish a trace before that last write, and a page read in between would
        keep it without its session (a hosted visitor's filter) until the cache expired. Two indexed counts. And
        when someone rates a turn: the count of ratings and the newest change (an indexed maximum)."""
        sql = text(
            "SELECT COUNT(*), MAX(timestamp_ms), SUM(CASE WHEN status = 'IN_PROGRESS' THEN 1 ELSE 0 END), "
            "(SELECT COUNT(*) FROM trace_tags WHERE key = :finalized), "
            "(SELECT COUNT(*) FROM assessments WHERE name = :feedback), "
            "(SELECT MAX(last_updated_timestamp) FROM assessments WHERE name = :feedback) "
            "FROM trace_info WHERE experiment_id = :exp"
        )
        try:
            with self._engine.connect() as connection:
                row = connection.execute(
                    sql, {"exp": int(self.experiment_id), "finalized": contract.TURN, "feedback": contract.FEEDBACK}
                ).one()
                return "/".join(str(v) for v in row)
        except Exception as exc:
            raise _unreadable(exc) from exc

    def _time_clause(self, start_ms: int | None, end_ms: int | None, params: dict[str, Any]) -> str:
        return time_clause(start_ms, end_ms, params)

    def _usage_column(self) -> str:
        """MLflow's usage attribute of a span as stored (a JSON string), parsed in Python once per distinct
        string; NULL where the span has none. (Its cost needs no body: MLflow's store keeps it as columns.)"""
        dialect = self._engine.dialect.name
        if dialect == "sqlite":  # instr first: most spans carry no usage, and it is cheaper than parsing JSON
            return f"""CASE WHEN instr(s.content, '{contract.USAGE}') > 0 THEN
                       json_extract(s.content, '$.attributes."{contract.USAGE}"') END AS usage_json"""
        if dialect == "postgresql":
            return f"""(s.content::json -> 'attributes' ->> '{contract.USAGE}') AS usage_json"""
        if dialect == "mysql":
            return f"""JSON_UNQUOTE(JSON_EXTRACT(s.content, '$.attributes."{contract.USAGE}"')) AS usage_json"""
        return "s.content AS content"  # parsed in Python below

    def frames(self, start_ms: int | None = None, end_ms: int | None = None) -> Frames:
        params: dict[str, Any] = {"exp": int(self.experiment_id)}
        when = self._time_clause(start_ms, end_ms, params)
        traces_sql = text(f"""
            SELECT i.request_id AS trace_id, i.timestamp_ms, i.execution_time_ms AS duration_ms, i.status,
                   i.trace_name AS name, i.session_id AS session, i.request_preview AS request,
                   substr(i.response_preview, 1, {RESPONSE_CHARS}) AS response,
                   i.input_tokens, i.output_tokens, i.total_tokens, i.total_cost AS cost_usd
            FROM trace_info i WHERE i.experiment_id = :exp{when}""")
        summaries_sql = text(f"""
            SELECT t.request_id AS trace_id, t.value FROM trace_info i
            JOIN trace_tags t ON t.key = :summary AND t.request_id = i.request_id
            WHERE i.experiment_id = :exp{when}""")
        # the kind tags that are not a chat turn's, across the store (a range of the tags' primary key, matched to the
        # rows below): few once predictions and evaluations have their own experiment, and no per-trace lookup
        kinds_sql = text("SELECT request_id AS trace_id, value FROM trace_tags WHERE key = :kind AND value <> :chat")
        # people's current ratings (core.feedback.ratings' rule: valid HUMAN feedback of that name), one row each;
        # MLflow's assessments table, looked up per trace by its trace_id index
        feedback_sql = text(f"""
            SELECT a.trace_id, a.value FROM trace_info i
            JOIN assessments a ON a.trace_id = i.request_id
            WHERE i.experiment_id = :exp{when} AND a.name = :feedback AND a.assessment_type = 'feedback'
              AND a.valid = :valid AND a.source_type = :source""")
        try:
            with self._engine.connect() as connection:
                rows = _read(connection, traces_sql, params)
                kinded = dict(connection.execute(kinds_sql, {"kind": contract.TRACE_KIND, "chat": contract.CHAT_TURN}).tuples().all())
                summaries = _read(connection, summaries_sql, {**params, "summary": contract.SUMMARY})
                rated = _read(
                    connection, feedback_sql, {**params, "feedback": contract.FEEDBACK, "valid": True, "source": contract.FEEDBACK_SOURCE}
                )
                fields, summarized = from_summaries(summaries["trace_id"].tolist(), summaries["value"].tolist())
                del summaries
                summarised = set(fields["trace_id"].tolist())
                rest = pd.Series([t for t in rows["trace_id"].tolist() if t not in summarised], dtype=object)
                tags, walked = self._walk(connection, rest, params, when) if len(rest) else (None, pd.DataFrame())
        except Exception as exc:
            raise _unreadable(exc) from exc
        if tags is not None and not tags.empty:
            wide = tags.pivot(index="trace_id", columns="key", values="value").rename(columns=TAG_KEYS)
            fields = pd.concat([fields, wide.reset_index()], ignore_index=True)
        rows = rows.merge(fields, how="left", on="trace_id").merge(_feedback_counts(rated), how="left", on="trace_id")
        rows["kind"] = rows["trace_id"].map(kinded).fillna("") if kinded else ""  # "": kind_of by session and scenario
        traces = shape_traces(rows)
        return Frames(traces=traces, calls=shape_calls(walked, traces, summarized))

    # up to this many traces without a summary are walked by id; more (a store written before summaries
    # existed) in one pass over the experiment's spans
    WALK_BY_ID_MAX = 20_000
    ID_CHUNK = 500

    def _walk(self, connection: Any, rest: pd.Series, params: dict[str, Any], when: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Contract tags and calls of the traces without a usable summary. Calls follow `summary.calls` (which
        span holds what MLflow counts, at any depth), so every span of those traces is read: ids, parents,
        names, types, models, costs, and the usage attribute where a span has one (no other span body)."""
        spans_select = f"""
            SELECT s.trace_id, s.span_id, s.parent_span_id AS parent_id, s.name, s.type AS span_type,
                   s.model_name AS model, s.start_time_unix_nano AS start_ns,
                   s.input_cost, s.output_cost, s.total_cost, {self._usage_column()}"""
        keys: Any = bindparam("keys", expanding=True)
        if len(rest) <= self.WALK_BY_ID_MAX:
            ids: Any = bindparam("ids", expanding=True)
            tags_sql = text(
                "SELECT t.request_id AS trace_id, t.key, t.value FROM trace_tags t WHERE t.request_id IN :ids AND t.key IN :keys"
            ).bindparams(ids, keys)
            spans_sql = text(f"{spans_select} FROM spans s WHERE s.trace_id IN :ids").bindparams(ids)
            id_list = list(rest)
            chunks = [id_list[i : i + self.ID_CHUNK] for i in range(0, len(id_list), self.ID_CHUNK)]
            tags = _concat([_read(connection, tags_sql, {"ids": c, "keys": list(TAG_KEYS)}) for c in chunks])
            spans = _concat([_read(connection, spans_sql, {"ids": c}) for c in chunks])
        else:
            # by key only (the tags table's primary key starts with it); rows of other traces fall away below
            tags_sql = text("SELECT t.request_id AS trace_id, t.key, t.value FROM trace_tags t WHERE t.key IN :keys").bindparams(keys)
            spans_sql = text(f"""{spans_select}
                FROM trace_info i JOIN spans s ON s.trace_id = i.request_id
                WHERE i.experiment_id = :exp{when}""")
            wanted = set(rest)
            tags = _read(connection, tags_sql, {"keys": list(TAG_KEYS)})
            tags = tags[_member(tags["trace_id"], wanted)]
            spans = _read(connection, spans_sql, params)
            spans = spans[_member(spans["trace_id"], wanted)]
        return tags, _calls_of_span_rows(spans)


def _feedback_counts(rated: pd.DataFrame) -> pd.DataFrame:
    """(trace_id, feedback_up, feedback_down) from rating rows whose value is MLflow's JSON of True or False."""
    values = _map_unique(rated["value"].astype(str), _json_bool) if len(rated) else pd.Series(dtype=object)
    up, down = values.eq(True), values.eq(False)
    counted = pd.DataFrame({"trace_id": rated["trace_id"], "feedback_up": up.astype("int64"), "feedback_down": down.astype("int64")})
    return counted.groupby("trace_id", sort=False).sum().reset_index()


def _json_bool(value: str) -> Any:
    try:
        parsed = json.loads(value)
    except ValueError:
        return ""
    return parsed if isinstance(parsed, bool) else ""


def _calls_of_span_rows(spans: pd.DataFrame) -> pd.DataFrame:
    """summary.calls() of every trace in stored span rows (one row per span). A span's cost is MLflow's cost
    columns, which its store fills from the span's cost attribute (`log_spans`): a span carries a cost when one
    of them is set."""
    if spans.empty:
        return pd.DataFrame()
    if "content" in spans.columns:
        usage = [_usage_from_content(c) for c in spans.pop("content").tolist()]
    else:
        usage = _parse_unique(spans["usage_json"].tolist())
    costs = spans[["input_cost", "output_cost", "total_cost"]].apply(pd.to_numeric, errors="coerce")
    carries = costs.notna().any(axis=1).tolist()
    by_trace: dict[str, list[summary.SpanNode]] = {}
    columns = [spans[c].tolist() for c in ("trace_id", "span_id", "parent_id", "name", "span_type", "model", "start_ns")]
    for (trace_id, span_id, parent_id, name, span_type, model, start_ns), u, has_cost, (i, o, t) in zip(
        zip(*columns), usage, carries, costs.itertuples(index=False, name=None)
    ):
        cost = {k: v for k, v in (("input_cost", i), ("output_cost", o), ("total_cost", t)) if v == v} if has_cost else None
        by_trace.setdefault(trace_id, []).append(
            summary.SpanNode(
                span_id=span_id,
                parent_id=_text(parent_id),
                name=_text(name),
                span_type=_text(span_type),
                model=_text(model),
                usage=u,
                cost=cost,
                start_ns=int(start_ns or 0),
            )
        )
    return pd.DataFrame([row for trace_id, nodes in by_trace.items() for row in summary.calls(trace_id, nodes)])


def _text(value: Any) -> str | None:
    """A string column's value; None for NULL (None or NaN) and ""."""
    return value if isinstance(value, str) and value else None


def _parse_unique(raw: list[Any]) -> list[dict[str, Any] | None]:
    """Stored usage attributes as MLflow's aggregation sees them, parsed once per distinct string."""
    parsed = {value: summary.attribute_data(value) for value in set(raw) if isinstance(value, str)}
    return [parsed.get(value) if isinstance(value, str) else None for value in raw]


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


CHUNK_ROWS = 50_000


def _read(connection: Any, sql: Any, params: dict[str, Any]) -> pd.DataFrame:
    """A query into a frame, converted 50,000 rows at a time: Python row objects for the whole result
    would be most of the peak memory at 100,000 traces."""
    chunks = list(pd.read_sql(sql, connection, params=params, chunksize=CHUNK_ROWS))
    if not chunks:
        return pd.read_sql(sql, connection, params=params)
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)


def _usage_from_content(content: Any) -> dict[str, Any] | None:
    """The usage attribute of a stored span body, for databases without JSON functions."""
    try:
        return summary.attribute_data((json.loads(content).get("attributes") or {}).get(contract.USAGE))
    except (ValueError, AttributeError, TypeError):
        return None


# --- tracking servers ----------------------------------------------------------------------------------------------


class ApiTraceReader:
    """Any tracking URI, through MLflow's public client: no spans for the list; spans of the newest
    `span_limit` traces for the model and agent breakdowns."""

    PAGE = 500

    def __init__(self, tracking_uri: str, experiment_id: str, span_limit: int = 2000):
        self.tracking_uri, self.experiment_id, self.span_limit = tracking_uri, str(experiment_id), span_limit
        try:
            self._client = TracingClient(tracking_uri)
        except Exception as exc:
            raise _unreadable(exc, "opened") from exc

    def _search(
        self, start_ms: int | None, end_ms: int | None, include_spans: bool, limit: int | None = None, extra: str | None = None
    ) -> Iterator[Any]:
        clauses = [extra] if extra else []
        if start_ms is not None:
            clauses.append(f"trace.timestamp_ms >= {int(start_ms)}")
        if end_ms is not None:
            clauses.append(f"trace.timestamp_ms < {int(end_ms)}")
        token, seen = None, 0
        while True:
            size = self.PAGE if limit is None else min(self.PAGE, limit - seen)
            if size <= 0:
                return
            page = self._client.search_traces(
                locations=[self.experiment_id],
                filter_string=" AND ".join(clauses) or None,
                max_results=size,
                order_by=["timestamp_ms DESC"],
                include_spans=include_spans,
                page_token=token,
            )
            yield from page
            seen += len(page)
            token = page.token
            if not token:
                return

    def version(self) -> None:
        return None  # a server has no cheap "has anything changed": the page's cache expires instead

    def frames(
        self, start_ms: int | None = None, end_ms: int | None = None, newest: int | None = None, filter_string: str | None = None
    ) -> Frames:
        """Every trace of the window, or only the `newest` n (matching `filter_string`, MLflow's search syntax)."""
        _fail_fast_if_unreachable(self.tracking_uri)
        try:
            infos = [t.info for t in self._search(start_ms, end_ms, include_spans=False, limit=newest, extra=filter_string)]
            rows = pd.DataFrame([_trace_row(info) for info in infos], columns=TRACE_COLUMNS)
            traces = shape_traces(rows)
            tagged = [(i.trace_id, i.tags[contract.SUMMARY]) for i in infos if contract.SUMMARY in (i.tags or {})]
            fields, summarized = from_summaries([t for t, _ in tagged], [v for _, v in tagged])
            summarised_ids = set(fields["trace_id"])
            rest = [i.trace_id for i in infos if i.trace_id not in summarised_ids]  # newest first
            walked_ids = rest[: self.span_limit]
            detailed = [
                trace
                for start in range(0, len(walked_ids), 100)
                for trace in self._client.batch_get_traces(walked_ids[start : start + 100])
            ]
            walked = pd.DataFrame([row for trace in detailed for row in summary.call_rows(trace.info.trace_id, trace.data.spans)])
        except Exception as exc:
            raise _unreadable(exc) from exc
        notes: list[str] = []
        frames = Frames(traces=traces, calls=shape_calls(walked, traces, summarized), notes=notes)
        if len(rest) > len(walked_ids):
            notes.append(
                f"Model and agent breakdowns cover {len(summarised_ids) + len(walked_ids):,} of "
                f"{len(traces):,} traces: {len(rest):,} have no summary tag and a tracking server sends "
                f"spans trace by trace, so only the newest {len(walked_ids):,} of those were read. "
                "Totals cover all of them."
            )
            frames.covered = frozenset(summarised_ids | set(walked_ids))
        return frames


def _fail_fast_if_unreachable(tracking_uri: str) -> None:
    """MLflow's HTTP client retries an unreachable server for minutes; a page should say so in seconds."""
    if tracking_uri.startswith(("http://", "https://")) and (problem := check_store(tracking_uri)):
        raise TraceReadError(problem)


def _trace_row(info: Any) -> dict[str, Any]:
    usage = info.token_usage or {}
    cost = getattr(info, "cost", None) or {}
    tags = info.tags or {}
    return {
        "trace_id": info.trace_id,
        "timestamp_ms": info.request_time,
        "duration_ms": info.execution_duration,
        "status": str(getattr(info.state, "value", info.state)),
        "name": tags.get(contract.TRACE_NAME, ""),
        "session": (info.trace_metadata or {}).get(contract.TRACE_SESSION),
        "request": info.request_preview,
        "response": (info.response_preview or "")[:RESPONSE_CHARS],
        "input_tokens": usage.get("input_tokens"),
        "output_tokens": usage.get("output_tokens"),
        "total_tokens": usage.get("total_tokens"),
        "cost_usd": cost.get("total_cost"),
        **dict(zip(("feedback_up", "feedback_down"), feedback.counts(getattr(info, "assessments", None)))),
        **{column: tags.get(key) for key, column in TAG_KEYS.items()},
        "kind": tags.get(contract.TRACE_KIND),
    }


# --- refresh: read only what is new ---------------------------------------------------------------------------------

REFRESH_MARGIN_MS = 15 * 60_000  # a turn is written when it ends, under the time it started: look back this far


def empty_frames() -> Frames:
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
    kinds: tuple[str, ...] = ()  # of contract.KINDS (the "kind" column: contract.kind_of); the page shows one at a time


FEEDBACK_CHOICES = ("up", "down", "none")


def search_ids(
    tracking_uri: str, experiment_id: str, filter_string: str, limit: int = 10_000, start_ms: int | None = None, end_ms: int | None = None
) -> tuple[frozenset[str], bool]:
    """Trace ids matching an MLflow search filter (e.g. `tags.app.turn = '2'`, `span.name = 'critic'`),
    searched by the store itself, and whether the limit cut the result short. An invalid filter raises
    TraceReadError with MLflow's reason."""
    _fail_fast_if_unreachable(tracking_uri)
    window = [f"trace.timestamp_ms >= {int(start_ms)}"] if start_ms is not None else []
    window += [f"trace.timestamp_ms < {int(end_ms)}"] if end_ms is not None else []
    if window:
        filter_string = " AND ".join([f"({filter_string})" if " or " in filter_string.lower() else filter_string, *window])
    found: set[str] = set()
    token = None
    try:
        client = TracingClient(tracking_uri)
        while len(found) <= limit:
            page = client.search_traces(
                locations=[str(experiment_id)],
                filter_string=filter_string,
                max_results=min(500, limit + 1 - len(found)),
                include_spans=False,
                page_token=token,
            )
            found.update(t.info.trace_id for t in page)
            token = page.token
            if not token:
                return frozenset(found), False
    except MlflowException as exc:
        if "INVALID_PARAMETER_VALUE" in str(exc.error_code) or "invalid" in str(exc).lower():
            raise TraceReadError(f"That MLflow filter is not valid: {exc.message[:300]}") from exc
        raise TraceReadError(f"The MLflow store could not be searched ({str(exc)[:200]}).") from exc
    except Exception as exc:
        raise TraceReadError(f"That MLflow filter could not be run ({type(exc).__name__}: {str(exc)[:200]}).") from exc
    return frozenset(sorted(found)[:limit]), True


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
    if f.feedback:
        unknown = set(f.feedback) - set(FEEDBACK_CHOICES)
        if unknown:
            raise ValueError(f"Feedback filter {sorted(unknown)} is not one of {FEEDBACK_CHOICES}.")
        rated = pd.Series(False, index=traces.index)
        if "up" in f.feedback:
            rated |= traces["feedback_up"] > 0
        if "down" in f.feedback:
            rated |= traces["feedback_down"] > 0
        if "none" in f.feedback:
            rated |= (traces["feedback_up"] == 0) & (traces["feedback_down"] == 0)
        mask &= rated
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


# --- one trace -----------------------------------------------------------------------------------------------------

_TRACE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}")


def load_trace(tracking_uri: str, trace_id: str) -> Any:
    """The full trace with its spans, or TraceReadError saying why not (unknown id, still running, store down)."""
    trace_id = (trace_id or "").strip()
    if not _TRACE_ID.fullmatch(trace_id):
        raise TraceReadError(f"“{trace_id[:80]}” is not a trace id (such as tr-0123…).")
    _fail_fast_if_unreachable(tracking_uri)
    client = TracingClient(tracking_uri)
    try:
        info = client.store.get_trace_info(trace_id)
    except MlflowException as exc:
        if is_not_found(exc):
            raise TraceReadError(f"There is no trace {trace_id} in this MLflow store.") from exc
        raise TraceReadError(f"The MLflow store could not be read ({str(exc)[:200]}).") from exc
    except Exception as exc:
        raise _unreadable(exc) from exc
    try:
        trace = client.get_trace(trace_id)
    except Exception as exc:
        state = str(getattr(info.state, "value", info.state))
        if state == "IN_PROGRESS":
            raise TraceReadError(f"Trace {trace_id} is still in progress: its spans are not written yet. Refresh in a moment.") from exc
        raise TraceReadError(f"The spans of trace {trace_id} could not be read ({type(exc).__name__}).") from exc
    return trace


def conversation_traces(tracking_uri: str, experiment_id: str, conversation_id: str, limit: int = 200) -> list[Any]:
    """A conversation's turns as traces with their spans, oldest first (a shared conversation's page)."""
    if not re.fullmatch(r"[0-9a-f]{32}", conversation_id or ""):
        raise TraceReadError(f"“{(conversation_id or '')[:80]}” is not a conversation id.")
    _fail_fast_if_unreachable(tracking_uri)
    try:
        found = TracingClient(tracking_uri).search_traces(
            locations=[experiment_id],
            max_results=limit,
            order_by=["timestamp_ms ASC"],
            include_spans=True,
            filter_string=f"tags.`{contract.CONVERSATION}` = '{conversation_id}'",
        )
    except Exception as exc:
        raise _unreadable(exc) from exc
    return list(found)


SPAN_COLUMNS = [
    "label",
    "name",
    "type",
    "status",
    "start_ms",
    "duration_ms",
    "model",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "depth",
    "span_id",
    "parent_id",
    "image_id",
]


def span_table(trace: Any) -> pd.DataFrame:
    """The spans in tree order (parents before children, siblings by start), indented names, offsets from
    the trace's start in ms, and tokens and cost per span. Missing attributes are blanks, not errors."""
    spans = list(trace.data.spans)
    if not spans:
        return pd.DataFrame(columns=SPAN_COLUMNS)
    known = {s.span_id for s in spans}
    children: dict[str | None, list[Any]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in known else None
        children.setdefault(parent, []).append(span)
    for group in children.values():
        group.sort(key=lambda s: s.start_time_ns or 0)
    t0 = min(s.start_time_ns or 0 for s in spans)
    rows: list[dict[str, Any]] = []
    stack = [(s, 0) for s in reversed(children.get(None, []))]
    while stack:
        span, depth = stack.pop()
        usage = summary.as_dict(span.get_attribute(contract.USAGE))
        cost = summary.as_dict(span.get_attribute(contract.COST))
        end = span.end_time_ns
        rows.append(
            {
                "label": f"{len(rows) + 1}. " + "\u2003" * depth + ("└ " if depth else "") + str(span.name),
                "name": span.name,
                "type": span.span_type or "UNKNOWN",
                "status": str(getattr(span.status, "status_code", "") or "").replace("SpanStatusCode.", ""),
                "start_ms": ((span.start_time_ns or t0) - t0) / 1e6,
                "duration_ms": None if end is None else (end - (span.start_time_ns or end)) / 1e6,
                "model": span.get_attribute(contract.MODEL) or "",
                "input_tokens": usage.get("input_tokens"),
                "output_tokens": usage.get("output_tokens"),
                "cost_usd": cost.get("total_cost"),
                "depth": depth,
                "span_id": span.span_id,
                "parent_id": span.parent_id or "",
                "image_id": span.get_attribute(contract.IMAGE_ID) or "",
            }
        )
        stack.extend((child, depth + 1) for child in reversed(children.get(span.span_id, [])))
    return pd.DataFrame(rows, columns=SPAN_COLUMNS)


def span_io(trace: Any, span_id: str) -> dict[str, Any]:
    """One span's inputs, outputs, attributes and events, as plain data for a JSON view (never as markup)."""
    span = trace_view.span_of(trace, span_id)
    return {
        "inputs": span.inputs,
        "outputs": span.outputs,
        "attributes": {k: v for k, v in (span.attributes or {}).items() if not k.startswith(contract.SPAN_INTERNAL_PREFIX)},
        "events": [{"name": e.name, "attributes": e.attributes} for e in (span.events or [])],
    }


def trace_json(trace: Any) -> str:
    """The trace as MLflow serialises it (info and every span)."""
    return trace.to_json(pretty=True)


def ui_link(mlflow_ui_url: str, experiment_id: str, trace_id: str) -> str | None:
    """The same trace in the MLflow UI, when its address is known."""
    if not mlflow_ui_url:
        return None
    parts = urllib.parse.urlsplit(mlflow_ui_url)
    base = (
        urllib.parse.urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")))
        if parts.hostname
        else mlflow_ui_url
    )  # never publish user:password@ in a link
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/traces?selectedEvaluationId={trace_id}"


def trace_owner(trace: Any) -> str:
    """Who owns a trace (hosted: the visitor; contract.trace_owner, old traces too); "" when nobody does."""
    return contract.trace_owner(trace.info.tags, trace.info.trace_metadata)


def trace_conversation(trace: Any) -> str:
    """The conversation (run id) a trace of ours is a turn of; "" for other code's traces."""
    return str((trace.info.tags or {}).get(contract.CONVERSATION) or "")


def picture_conversations(frames: Frames, picture_scenarios: tuple[str, ...] = ()) -> pd.DataFrame:
    """The trace rows of conversations with a picture lineage (the lineage view's choice), newest first: those
    of scenarios that draw pictures (even before their first picture), and any other that made one."""
    with_pictures = set(frames.calls.loc[frames.calls["kind"] == "image", "trace_id"])
    rows = frames.traces[frames.traces["conversation"] != ""]
    drawing = _member(rows["trace_id"], with_pictures) | rows["scenario"].isin(picture_scenarios)
    conversations = set(rows.loc[drawing, "conversation"])
    return rows[_member(rows["conversation"], conversations)]


def lineage_choices(
    frames: Frames, picture_scenarios: tuple[str, ...] = (), titles: Mapping[str, str] | None = None
) -> list[lineage.ConversationFacts]:
    """What the lineage view's picker says of each conversation with a lineage, newest turn first: its title
    (`titles`: the runs' own, by id; else the first thing asked in its traces), when its newest turn ran and how
    many pictures its traces made (None when a tracking server's reader stopped short of some of its traces)."""
    rows = picture_conversations(frames, picture_scenarios)
    if rows.empty:
        return []
    images = frames.calls[frames.calls["kind"] == "image"].groupby("trace_id")["calls"].sum()
    rows = rows.assign(
        pictures=rows["trace_id"].map(images).fillna(0),
        read=True if frames.covered is None else _member(rows["trace_id"], set(frames.covered)),
    )
    per = rows.groupby("conversation", sort=False).agg(
        updated_ms=("timestamp_ms", "max"), pictures=("pictures", "sum"), complete=("read", "all")
    )
    first = rows.sort_values("timestamp_ms", kind="stable").drop_duplicates("conversation").set_index("conversation")
    titles = titles or {}
    found = [
        lineage.ConversationFacts(
            id=str(cid),
            title=titles.get(str(cid)) or str(first.at[cid, "request"]),
            updated_ms=int(row.updated_ms),
            pictures=int(row.pictures) if row.complete else None,
        )
        for cid, row in zip(per.index, per.itertuples())
    ]
    return sorted(found, key=lambda f: (-f.updated_ms, f.id))
