"""Every raw SQL statement the app runs on MLflow's own tables, in one place: the whole read of a window's traces
(`SqlTraceReader`), the store's version, a sqlite store's lean overview rows (`SqliteRows`), and what MLflow's daily
trace rollups hold per day (`rollup_days`). Written against the schema of MLFLOW_VERSION
(`mlflow/store/tracking/dbmodels/models.py`: trace_info, trace_tags, spans, assessments, and the rollup tables of
migration 75868b020152); tests/test_reading_schema.py fails when a table or column used here is not in that schema, and
tests/test_traces_read.py checks the rows against MLflow's API (`api.ApiTraceReader`) on the same store."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from mlflow.tracing.client import TracingClient
from sqlalchemy import bindparam, text

from .. import contract
from ..observe import summary
from .errors import TraceReadError, unreadable
from .frames import (
    OTHER,
    RESPONSE_CHARS,
    TAG_KEYS,
    Frames,
    _map_unique,
    _member,
    from_summaries,
    kinds,
    shape_calls,
    shape_traces,
)

DAY_S = 86_400
MLFLOW_VERSION = "3.17.2"  # the MLflow whose schema these statements were written against (requirements.txt pins it)
# every table and column of MLflow's the statements below name, by table; `i`, `t`/`o`, `s` and `a` are their aliases
# (tests/test_reading_schema.py: each is in MLflow's models and in a fresh store, and none is named here undeclared)
SCHEMA = {
    "trace_info": (
        "request_id",
        "experiment_id",
        "timestamp_ms",
        "execution_time_ms",
        "status",
        "request_preview",
        "response_preview",
        "trace_name",
        "session_id",
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "total_cost",
    ),
    "trace_tags": ("request_id", "key", "value"),
    "spans": (
        "trace_id",
        "experiment_id",
        "span_id",
        "parent_span_id",
        "name",
        "type",
        "start_time_unix_nano",
        "content",
        "input_cost",
        "output_cost",
        "total_cost",
        "model_name",
    ),
    "assessments": ("trace_id", "name", "assessment_type", "value", "valid", "source_type", "last_updated_timestamp"),
    # MLflow's daily SQL trace rollups (store/db/trace_rollups.py builds them; a queue row: "rebuild this day, read it raw")
    "sql_trace_metric_daily_rollups": ("experiment_id", "rollup_day", "metric_name", "grouping_set", "sample_count"),
    "sql_span_cost_daily_rollups": ("experiment_id", "rollup_day", "metric_name", "grouping_set", "sample_count"),
    "sql_trace_rollup_rebuild_queue": ("experiment_id", "rollup_day", "rollup_family"),
}
ALIASES = {
    "i": "trace_info",
    "t": "trace_tags",
    "o": "trace_tags",
    "s": "spans",
    "a": "assessments",
    "r": "sql_trace_metric_daily_rollups",
    "c": "sql_span_cost_daily_rollups",
    "q": "sql_trace_rollup_rebuild_queue",
}


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
            raise unreadable(exc, "opened") from exc
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
                    sql, {"exp": int(self.experiment_id), "finalized": contract.TraceTag.TURN, "feedback": contract.Assessment.FEEDBACK}
                ).one()
                return "/".join(str(v) for v in row)
        except Exception as exc:
            raise unreadable(exc) from exc

    def _time_clause(self, start_ms: int | None, end_ms: int | None, params: dict[str, Any]) -> str:
        return time_clause(start_ms, end_ms, params)

    def _usage_column(self) -> str:
        """MLflow's usage attribute of a span as stored (a JSON string), parsed in Python once per distinct
        string; NULL where the span has none. (Its cost needs no body: MLflow's store keeps it as columns.)"""
        dialect = self._engine.dialect.name
        if dialect == "sqlite":  # instr first: most spans carry no usage, and it is cheaper than parsing JSON
            return f"""CASE WHEN instr(s.content, '{contract.SpanAttr.USAGE}') > 0 THEN
                       json_extract(s.content, '$.attributes."{contract.SpanAttr.USAGE}"') END AS usage_json"""
        if dialect == "postgresql":
            return f"""(s.content::json -> 'attributes' ->> '{contract.SpanAttr.USAGE}') AS usage_json"""
        if dialect == "mysql":
            return f"""JSON_UNQUOTE(JSON_EXTRACT(s.content, '$.attributes."{contract.SpanAttr.USAGE}"')) AS usage_json"""
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
                kinded = dict(
                    connection.execute(kinds_sql, {"kind": contract.TraceTag.KIND, "chat": contract.TraceKind.CHAT}).tuples().all()
                )
                summaries = _read(connection, summaries_sql, {**params, "summary": contract.TraceTag.SUMMARY})
                rated = _read(
                    connection,
                    feedback_sql,
                    {**params, "feedback": contract.Assessment.FEEDBACK, "valid": True, "source": contract.Assessment.FEEDBACK_SOURCE},
                )
                fields, summarized = from_summaries(summaries["trace_id"].tolist(), summaries["value"].tolist())
                del summaries
                summarised = set(fields["trace_id"].tolist())
                rest = pd.Series([t for t in rows["trace_id"].tolist() if t not in summarised], dtype=object)
                tags, walked = self._walk(connection, rest, params, when) if len(rest) else (None, pd.DataFrame())
        except Exception as exc:
            raise unreadable(exc) from exc
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
        return summary.attribute_data((json.loads(content).get("attributes") or {}).get(contract.SpanAttr.USAGE))
    except (ValueError, AttributeError, TypeError):
        return None


class SqliteRows:
    """A sqlite store's overview: one read of the trace columns MLflow's store keeps (`trace_info`: day, duration,
    status, tokens, cost) and each trace's scenario tag, summed in pandas (`from_rows`); the page keeps the rows,
    so a scenario or status filter is a pandas selection. Measured at 100,000 traces, each of MLflow's metric
    queries is a scan of its own there (0.15-0.3 s, 0.6 s with a tag filter: 2.3 s for the overview, 4.2 s
    filtered), and its span cost metric reads every span body (its covering index cannot INCLUDE the cost columns
    on sqlite, as it does on PostgreSQL: 3.8 s a query); MLflow's metrics also have no trace-level cost and no
    tag dimension. About 16 bytes a trace in memory."""

    def __init__(self, engine: Any, experiment_id: int):
        self.engine, self.experiment_id = engine, experiment_id

    def read(self, start_ms: int | None, end_ms: int | None, owner: str | None) -> pd.DataFrame:
        params: dict[str, Any] = {"exp": self.experiment_id, "scenario_key": contract.RunTag.SCENARIO}
        where = "i.experiment_id = :exp" + time_clause(start_ms, end_ms, params)
        if owner:  # the owner tag (since issue 31), or an older trace's session (contract.trace_owner)
            where += (
                " AND (i.session_id = :owner OR EXISTS (SELECT 1 FROM trace_tags o"
                " WHERE o.request_id = i.request_id AND o.key = :owner_key AND o.value = :owner))"
            )
            params.update(owner=owner, owner_key=contract.TraceTag.OWNER)
        sql = text(f"""SELECT i.request_id, i.timestamp_ms / {DAY_S * 1000} AS day, i.execution_time_ms AS duration_ms,
                   i.status, COALESCE(i.input_tokens, 0) AS input_tokens, COALESCE(i.output_tokens, 0) AS output_tokens,
                   COALESCE(i.total_tokens, 0) AS tokens, COALESCE(i.total_cost, 0) AS cost_usd,
                   i.session_id = :nobody AS nobody
                   FROM trace_info i WHERE {where}""")
        # the scenario tags on their own (a range of the tags' primary key) and matched in pandas: half the time of
        # a join, which looks the tag up row by row; the same for the kind tags other than a chat turn's (few)
        tags_sql = text("SELECT request_id, value FROM trace_tags WHERE key = :scenario_key")
        kinds_sql = text("SELECT request_id, value FROM trace_tags WHERE key = :kind AND value <> :chat")
        try:
            with self.engine.connect() as connection:
                rows = pd.read_sql(sql, connection, params={**params, "nobody": contract.TraceKind.PREDICTION_SESSION})
                tags = dict(connection.execute(tags_sql, {"scenario_key": contract.RunTag.SCENARIO}).tuples().all())
                kinded = dict(
                    connection.execute(kinds_sql, {"kind": contract.TraceTag.KIND, "chat": contract.TraceKind.CHAT}).tuples().all()
                )
        except Exception as exc:
            raise unreadable(exc) from exc
        ids = rows.pop("request_id")
        rows["scenario"] = ids.map(tags).fillna(OTHER)
        nobody = rows.pop("nobody").fillna(0).astype(bool).map({True: contract.TraceKind.PREDICTION_SESSION, False: ""})
        rows["kind"] = kinds(ids.map(kinded) if kinded else pd.Series("", index=ids.index), nobody, nobody, rows["scenario"])
        for column in ("status", "scenario", "kind"):
            rows[column] = rows[column].astype("category")
        return rows


# --- MLflow's daily trace rollups, per UTC day of one experiment (core.reading.rollups says what they mean) -----------
# MLflow serves a day from its rollups when a rollup row exists and no rebuild is queued
# (store/tracking/utils/sql_trace_rollups.py: compute_covered_day_starts); it keeps no build time, so a rollup that no
# longer counts what the day holds is one a writer outside MLflow's store changed behind it (stale: served, never
# rebuilt by itself). Trace days by trace_info.timestamp_ms, span-cost days by each span's start, as MLflow builds them.
ROLLUP_STATEMENTS = {
    # index_trace_info_experiment_id_timestamp_ms: 12 ms at 50,000 traces
    "traces": f"""SELECT i.timestamp_ms / {DAY_S * 1000} AS day, COUNT(*) AS n FROM trace_info i
                  WHERE i.experiment_id = :exp GROUP BY i.timestamp_ms / {DAY_S * 1000}""",
    # the partial covering index idx_spans_cost_exp_time_cover on PostgreSQL, index-only: 0.1 s at 50,000 traces
    "cost_spans": f"""SELECT s.start_time_unix_nano / {DAY_S * 1_000_000_000} AS day, COUNT(s.total_cost) AS n FROM spans s
                      WHERE s.experiment_id = :exp
                      AND (s.input_cost IS NOT NULL OR s.output_cost IS NOT NULL OR s.total_cost IS NOT NULL)
                      GROUP BY s.start_time_unix_nano / {DAY_S * 1_000_000_000}""",
    "rolled_traces": """SELECT r.rollup_day AS day, r.sample_count AS n FROM sql_trace_metric_daily_rollups r
                        WHERE r.experiment_id = :exp AND r.metric_name = 'trace_count' AND r.grouping_set = 'global'""",
    "rolled_cost_spans": """SELECT c.rollup_day AS day, c.sample_count AS n FROM sql_span_cost_daily_rollups c
                            WHERE c.experiment_id = :exp AND c.metric_name = 'total_cost' AND c.grouping_set = 'global'""",
    "queued": """SELECT q.rollup_day AS day, COUNT(*) AS n FROM sql_trace_rollup_rebuild_queue q
                 WHERE q.experiment_id = :exp GROUP BY q.rollup_day""",
    "any_rollup": "SELECT 1 AS n FROM sql_trace_metric_daily_rollups r UNION ALL SELECT 1 FROM sql_span_cost_daily_rollups c",
}
ROLLUP_COLUMNS = ["traces", "rolled_traces", "cost_spans", "rolled_cost_spans", "queued"]


def _day_number(value: Any) -> int:
    """A UTC day as days since 1970-01-01: MLflow's `rollup_day` (a DATE; a string on sqlite) or an integer bucket."""
    if isinstance(value, (int, float)):
        return int(value)
    return int(pd.Timestamp(value).value // (DAY_S * 1_000_000_000))


def rollup_days(database_uri: str, experiment_id: str) -> tuple[bool, pd.DataFrame]:
    """(whether the database holds any rollup row at all, one row per UTC day of the experiment: `day` (days since
    1970-01-01) and ROLLUP_COLUMNS, counts, 0 where none). Five small GROUP BYs; TraceReadError when the database
    cannot be read or has no rollup tables (an MLflow before 3.17)."""
    params = {"exp": int(experiment_id)}
    try:
        engine = TracingClient(database_uri).store.engine
        with engine.connect() as connection:
            any_rollup = connection.execute(text(f"SELECT 1 FROM ({ROLLUP_STATEMENTS['any_rollup']}) x LIMIT 1")).first()
            counts = {
                name: {_day_number(day): int(n) for day, n in connection.execute(text(ROLLUP_STATEMENTS[name]), params).tuples()}
                for name in ROLLUP_COLUMNS
            }
    except Exception as exc:
        raise unreadable(exc, "read for MLflow's rollups") from exc
    days = sorted(set().union(*counts.values()))
    frame = pd.DataFrame({"day": days, **{name: [counts[name].get(d, 0) for d in days] for name in ROLLUP_COLUMNS}})
    return any_rollup is not None, frame.astype("int64")


def traces_up_to(database_uri: str, experiment_id: str, start_ms: int | None, end_ms: int | None, limit: int) -> int:
    """The window's traces counted up to `limit`: whether the page reads every trace needs no more. A whole count
    grows with the store (MLflow's COUNT: 0.09 s at a million traces on PostgreSQL, the first load's one store-wide
    wait with rollups, and a `?trace=` link's too); this reads the first `limit` entries of the (experiment_id,
    timestamp_ms) index whatever the store's size."""
    params: dict[str, Any] = {"exp": int(experiment_id), "limit": int(limit)}
    where = "i.experiment_id = :exp" + time_clause(start_ms, end_ms, params)
    statement = text(f"SELECT COUNT(*) FROM (SELECT 1 FROM trace_info i WHERE {where} LIMIT :limit) AS counted")
    try:
        with TracingClient(database_uri).store.engine.connect() as connection:
            return int(connection.execute(statement, params).scalar_one())
    except Exception as exc:
        raise unreadable(exc, "counted") from exc


def trace_groups(database_uri: str, experiment_id: str, start_ms: int | None, end_ms: int | None) -> pd.DataFrame:
    """A window's traces grouped by UTC day, trace name and status, with their counts, token sums and cost: one
    GROUP BY of `trace_info` (its (experiment_id, timestamp_ms) index; about 46 ms at 50,000 traces on PostgreSQL, a
    few hundred rows for a month), from which every scenario and status filter of the page is a selection
    (core.reading.groups). The cost is MLflow's own per-trace total (`trace_info.total_cost`, the sum of its spans'
    costs): MLflow's metrics have no trace-level cost, and their span cost under a filter joins every span of the
    matching traces."""
    params: dict[str, Any] = {"exp": int(experiment_id)}
    where = "i.experiment_id = :exp" + time_clause(start_ms, end_ms, params)
    statement = text(f"""SELECT i.timestamp_ms / {DAY_S * 1000} AS day, i.trace_name AS trace_name, i.status AS status,
                         COUNT(*) AS traces, COALESCE(SUM(i.input_tokens), 0) AS input_tokens,
                         COALESCE(SUM(i.output_tokens), 0) AS output_tokens, COALESCE(SUM(i.total_tokens), 0) AS tokens,
                         COALESCE(SUM(i.total_cost), 0) AS cost_usd
                         FROM trace_info i WHERE {where}
                         GROUP BY i.timestamp_ms / {DAY_S * 1000}, i.trace_name, i.status""")
    try:
        with TracingClient(database_uri).store.engine.connect() as connection:
            rows = pd.read_sql(statement, connection, params=params)
    except Exception as exc:
        raise unreadable(exc, "grouped") from exc
    rows["trace_name"] = rows["trace_name"].fillna("").astype(str)
    for column in ("day", "traces", "input_tokens", "output_tokens", "tokens"):
        rows[column] = rows[column].astype("int64")
    rows["cost_usd"] = rows["cost_usd"].astype(float)
    return rows
