"""The Traces page's numbers where the data is: MLflow's own trace metrics (`query_trace_metrics`: one GROUP BY in
the store's database, the same call on a local store and over a tracking server's REST API, what MLflow's own
overview uses) and one page of `search_traces` for the list. Nothing here reads trace by trace, so the cost of a
first load does not grow with the number of traces the way `core.traces` frames do.

What MLflow's metrics cannot answer stays with the frames (`core.traces`): tokens per model (MLflow keeps no
per-span token metric, only cost and counts), per agent and per session (no dimension for them), the model,
text and feedback filters, and sorting by cost or tokens (`search_traces` orders by time, duration, status and
name only)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd
from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType
from mlflow.exceptions import MlflowException
from mlflow.tracing.client import TracingClient
from mlflow.tracing.constant import SpanMetricDimensionKey, SpanMetricKey, TraceMetricDimensionKey, TraceMetricKey

from . import contract, traces

DAY_S = 86_400
PERCENTILES = (50.0, 90.0, 99.0)  # as traces.PERCENTILES, in MLflow's unit
FILTERABLE = ("scenario", "status")  # the page filters MLflow's trace metrics can apply (equality on a tag, status)
SORTS = {"newest": "timestamp_ms DESC", "oldest": "timestamp_ms ASC", "duration": "execution_time_ms DESC"}


@dataclass(frozen=True)
class Overview:
    """What the page's overview shows, from the store's aggregates."""
    totals: traces.Totals
    daily: pd.DataFrame  # period, traces, tokens, cost_usd, errors (as traces.over_time)
    by_model: pd.DataFrame  # model, calls, cost_usd: spans that name a model
    by_status: pd.DataFrame  # status, traces
    by_scenario: pd.DataFrame  # scenario, traces, input_tokens, output_tokens, cost_usd (the scenarios asked for)


@dataclass(frozen=True)
class Scope:
    """Which traces: the filters both MLflow's metrics and its search apply (equality on a tag, the status, the
    session: a hosted visitor's own)."""
    scenario: str | None = None
    status: str | None = None
    session: str | None = None

    def metric_filters(self) -> list[str]:
        out = [f"trace.metadata.{contract.TRACE_SESSION} = '{_quoted(self.session)}'"] if self.session else []
        if self.scenario:
            out.append(f"trace.tag.{contract.SCENARIO} = '{_quoted(self.scenario)}'")
        if self.status:
            out.append(f"trace.status = '{_quoted(self.status)}'")
        return out

    def search_filter(self, start_ms: int | None, end_ms: int | None) -> str | None:
        clauses = [f"metadata.`{contract.TRACE_SESSION}` = '{_quoted(self.session)}'"] if self.session else []
        if start_ms is not None:
            clauses.append(f"trace.timestamp_ms >= {int(start_ms)}")
        if end_ms is not None:
            clauses.append(f"trace.timestamp_ms < {int(end_ms)}")
        if self.scenario:
            clauses.append(f"tags.`{contract.SCENARIO}` = '{_quoted(self.scenario)}'")
        if self.status:
            clauses.append(f"trace.status = '{_quoted(self.status)}'")
        return " AND ".join(clauses) or None


def _quoted(value: str) -> str:
    if "'" in value or "\\" in value:
        raise traces.TraceReadError(f"{value!r} cannot be used as a filter value.")
    return value


class MetricsReader:
    """One experiment's aggregates; every question is a handful of `query_trace_metrics` calls, run side by side
    (a tracking server answers them concurrently; a database store runs them on pooled connections)."""

    def __init__(self, tracking_uri: str, experiment_id: str):
        traces._fail_fast_if_unreachable(tracking_uri)
        self.tracking_uri, self.experiment_id = tracking_uri, str(experiment_id)
        try:
            self._client = TracingClient(tracking_uri)
            self._store = self._client.store
        except Exception as exc:
            raise traces._unreadable(exc, "opened") from exc

    def _query(self, view: MetricViewType, metric: str, aggregations: list[MetricAggregation],
               dimensions: list[str] | None = None, filters: list[str] | None = None,
               start_ms: int | None = None, end_ms: int | None = None, interval_s: int | None = None) -> list[Any]:
        points: list[Any] = []
        token = None
        while True:
            page = self._store.query_trace_metrics(
                experiment_ids=[self.experiment_id], view_type=view, metric_name=metric, aggregations=aggregations,
                dimensions=dimensions, filters=filters or None, time_interval_seconds=interval_s,
                start_time_ms=start_ms, end_time_ms=end_ms, page_token=token)
            points.extend(page)
            token = getattr(page, "token", None)
            if not token:
                return points

    def count(self, start_ms: int | None = None, end_ms: int | None = None, scope: Scope | None = None) -> int:
        """Traces in the window: one indexed COUNT, to decide whether reading them all is cheap."""
        try:
            points = self._query(MetricViewType.TRACES, TraceMetricKey.TRACE_COUNT,
                                 [MetricAggregation(AggregationType.COUNT)],
                                 filters=(scope or Scope()).metric_filters(), start_ms=start_ms, end_ms=end_ms)
        except Exception as exc:
            raise traces._unreadable(exc) from exc
        return int(sum(p.values.get("COUNT", 0) for p in points))

    def overview(self, start_ms: int | None, end_ms: int | None, now_ms: int, scope: Scope = Scope(),
                 scenarios: tuple[str, ...] = ()) -> Overview:
        """Totals, per day, by model, by status and by scenario (one filtered query set per scenario named)."""
        where = scope.metric_filters()
        count, total = AggregationType.COUNT, AggregationType.SUM
        percentiles = [MetricAggregation(AggregationType.PERCENTILE, p) for p in PERCENTILES]
        day_start = start_ms
        trace_view, span_view = MetricViewType.TRACES, MetricViewType.SPANS
        status_dim, model_dim = [TraceMetricDimensionKey.TRACE_STATUS], [SpanMetricDimensionKey.SPAN_MODEL_NAME]
        asks: dict[str, tuple[Any, ...]] = {
            "count": (trace_view, TraceMetricKey.TRACE_COUNT, [MetricAggregation(count)], status_dim, where),
            "input": (trace_view, TraceMetricKey.INPUT_TOKENS, [MetricAggregation(total)], None, where),
            "output": (trace_view, TraceMetricKey.OUTPUT_TOKENS, [MetricAggregation(total)], None, where),
            "latency": (trace_view, TraceMetricKey.LATENCY, percentiles, None, where),
            "cost_by_model": (span_view, SpanMetricKey.TOTAL_COST, [MetricAggregation(total)], model_dim, where),
            "calls_by_model": (span_view, SpanMetricKey.SPAN_COUNT, [MetricAggregation(count)], model_dim, where),
        }
        first_ms = self._first_ms(start_ms, end_ms, scope) if day_start is None else day_start
        daily_window = None
        if first_ms is not None:
            daily_window = (first_ms - first_ms % (DAY_S * 1000), (end_ms or now_ms) + 1)
            for key, view, metric, agg in (
                    ("day_count", trace_view, TraceMetricKey.TRACE_COUNT, count),
                    ("day_tokens", trace_view, TraceMetricKey.TOTAL_TOKENS, total),
                    ("day_cost", span_view, SpanMetricKey.TOTAL_COST, total)):
                asks[key] = (view, metric, [MetricAggregation(agg)], status_dim if key == "day_count" else None,
                             where, *daily_window, DAY_S)
        for name in scenarios if not scope.scenario else ():
            scoped = Scope(name, scope.status, scope.session).metric_filters()
            asks[f"scenario:{name}:count"] = (trace_view, TraceMetricKey.TRACE_COUNT, [MetricAggregation(count)],
                                              None, scoped)
            asks[f"scenario:{name}:input"] = (trace_view, TraceMetricKey.INPUT_TOKENS, [MetricAggregation(total)],
                                              None, scoped)
            asks[f"scenario:{name}:output"] = (trace_view, TraceMetricKey.OUTPUT_TOKENS, [MetricAggregation(total)],
                                               None, scoped)
            asks[f"scenario:{name}:cost"] = (span_view, SpanMetricKey.TOTAL_COST, [MetricAggregation(total)],
                                             None, scoped)
        got = self._all(asks, start_ms, end_ms)
        return _shape(got, scenarios if not scope.scenario else ())

    def _first_ms(self, start_ms: int | None, end_ms: int | None, scope: Scope) -> int | None:
        """The oldest trace's time (All time): where the per-day buckets start."""
        found = self._client.search_traces(locations=[self.experiment_id], max_results=1, include_spans=False,
                                           order_by=["timestamp_ms ASC"],
                                           filter_string=scope.search_filter(start_ms, end_ms))
        return int(found[0].info.request_time) if found else None

    def _all(self, asks: dict[str, tuple[Any, ...]], start_ms: int | None, end_ms: int | None) -> dict[str, list[Any]]:
        def run(args: tuple[Any, ...]) -> list[Any]:
            view, metric, aggregations, dimensions, where, *window = args
            if window:
                return self._query(view, metric, aggregations, dimensions, where, window[0], window[1], window[2])
            return self._query(view, metric, aggregations, dimensions, where, start_ms, end_ms)
        try:
            with ThreadPoolExecutor(max_workers=6) as pool:
                results = dict(zip(asks, pool.map(run, asks.values())))
        except MlflowException as exc:
            raise traces.TraceReadError(f"The MLflow store could not aggregate the traces ({str(exc)[:200]}).") from exc
        except Exception as exc:
            raise traces._unreadable(exc) from exc
        return results

    def list_page(self, start_ms: int | None, end_ms: int | None, scope: Scope = Scope(), sort: str = "newest",
                  number: int = 1, size: int = 50) -> tuple[pd.DataFrame, bool]:
        """(one page of the list, whether there is a next one): pages of `search_traces` without spans, the
        store's own order; page n walks n requests (MLflow's page tokens are opaque)."""
        if sort not in SORTS:
            raise ValueError(f"Sort {sort!r} is not one of {tuple(SORTS)}.")
        token, rows, more = None, [], False
        try:
            for _ in range(max(1, number)):
                page = self._client.search_traces(
                    locations=[self.experiment_id], max_results=size, include_spans=False, order_by=[SORTS[sort]],
                    filter_string=scope.search_filter(start_ms, end_ms), page_token=token)
                rows, token = list(page), page.token
                more = bool(token)
                if not token:
                    break
        except Exception as exc:
            raise traces._unreadable(exc) from exc
        shaped = traces.shape_traces(pd.DataFrame([traces._trace_row(t.info) for t in rows],
                                                  columns=traces.TRACE_COLUMNS))
        if sort != "newest":  # shape_traces orders newest first; keep the store's order
            order = {t.info.trace_id: k for k, t in enumerate(rows)}
            shaped = shaped.sort_values("trace_id", key=lambda ids: ids.map(order)).reset_index(drop=True)
        return traces.listed(shaped), more


def _value(points: list[Any], key: str) -> float:
    return float(sum(p.values.get(key) or 0.0 for p in points))


def _by(points: list[Any], dimension: str, key: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in points:
        name = p.dimensions.get(dimension)
        out[str(name) if name not in (None, "") else "(unknown model)"] = float(p.values.get(key) or 0.0)
    return out


def _percentiles(point: Any) -> tuple[float, float, float] | None:
    values = [point.values.get(f"P{p}") for p in PERCENTILES] if point is not None else []
    if not values or any(v is None for v in values):
        return None
    return float(values[0]), float(values[1]), float(values[2])


def _shape(got: dict[str, list[Any]], scenarios: tuple[str, ...]) -> Overview:
    status_dim, model_dim = TraceMetricDimensionKey.TRACE_STATUS, SpanMetricDimensionKey.SPAN_MODEL_NAME
    counts = _by(got["count"], status_dim, "COUNT")
    cost_by_model = _by(got["cost_by_model"], model_dim, "SUM")
    totals = traces.Totals(
        traces=int(sum(counts.values())), input_tokens=int(_value(got["input"], "SUM")),
        output_tokens=int(_value(got["output"], "SUM")), cost_usd=float(sum(cost_by_model.values())),
        errors=int(counts.get("ERROR", 0)), in_progress=int(counts.get("IN_PROGRESS", 0)),
        latency_ms=_percentiles(got["latency"][0] if got["latency"] else None))
    calls = _by(got["calls_by_model"], model_dim, "COUNT")
    by_model = pd.DataFrame([{"model": m, "calls": int(calls.get(m, 0)), "cost_usd": cost_by_model.get(m, 0.0)}
                             for m in sorted(set(calls) | set(cost_by_model))], columns=["model", "calls", "cost_usd"])
    by_model = by_model[by_model["model"] != "(unknown model)"].sort_values(["cost_usd", "calls"], ascending=False)
    # only the trace count has a status dimension in MLflow's metrics: tokens and latency per status would be a
    # filtered query set per status
    by_status = pd.DataFrame([{"status": s, "traces": int(n)} for s, n in sorted(counts.items(), key=lambda kv: -kv[1])],
                             columns=["status", "traces"])
    rows = []
    for name in scenarios:
        n = int(_value(got[f"scenario:{name}:count"], "COUNT"))
        if n:
            rows.append({"scenario": name, "traces": n, "input_tokens": int(_value(got[f"scenario:{name}:input"], "SUM")),
                         "output_tokens": int(_value(got[f"scenario:{name}:output"], "SUM")),
                         "cost_usd": _value(got[f"scenario:{name}:cost"], "SUM")})
    if rows:
        named = pd.DataFrame(rows)
        others = totals.traces - int(named["traces"].sum())
        rest: dict[str, Any] = {"scenario": traces.OTHER, "traces": others,
                "input_tokens": totals.input_tokens - int(named["input_tokens"].sum()),
                "output_tokens": totals.output_tokens - int(named["output_tokens"].sum()),
                "cost_usd": totals.cost_usd - float(named["cost_usd"].sum())}
        if others > 0:
            rows.append(rest)
    by_scenario = pd.DataFrame(rows, columns=["scenario", "traces", "input_tokens", "output_tokens", "cost_usd"]) \
        .sort_values(["cost_usd", "traces"], ascending=False).reset_index(drop=True)
    return Overview(totals=totals, daily=_daily(got), by_model=by_model.reset_index(drop=True), by_status=by_status,
                    by_scenario=by_scenario)


def _daily(got: dict[str, list[Any]]) -> pd.DataFrame:
    columns = ["period", "traces", "tokens", "cost_usd", "errors"]
    if "day_count" not in got:
        return pd.DataFrame(columns=columns)
    days: dict[str, dict[str, float]] = {}
    for p in got["day_count"]:
        day = days.setdefault(p.dimensions["time_bucket"], {"traces": 0.0, "tokens": 0.0, "cost_usd": 0.0, "errors": 0.0})
        day["traces"] += p.values.get("COUNT") or 0.0
        if p.dimensions.get(TraceMetricDimensionKey.TRACE_STATUS) == "ERROR":
            day["errors"] += p.values.get("COUNT") or 0.0
    for key, column in (("day_tokens", "tokens"), ("day_cost", "cost_usd")):
        for p in got[key]:
            if p.dimensions["time_bucket"] in days:
                days[p.dimensions["time_bucket"]][column] = float(p.values.get("SUM") or 0.0)
    frame = pd.DataFrame([{"period": pd.Timestamp(k), **v} for k, v in days.items()], columns=columns)
    for column in ("traces", "tokens", "errors"):
        frame[column] = frame[column].astype("int64")
    return frame.sort_values("period").reset_index(drop=True)
