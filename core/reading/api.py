"""Reading through MLflow's public client, for any tracking URI (a tracking server over REST, a database store
alike): `ApiTraceReader` (the frames, paging `search_traces` without spans), an MLflow search filter's matches
(`search_ids`), one trace with its spans (`load_trace`), a conversation's traces (`conversation_traces`)."""

from __future__ import annotations

import re
from typing import Any, Iterator

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracing.client import TracingClient

from .. import contract, feedback
from ..observe import summary
from ..store import is_not_found
from .errors import TraceReadError, fail_fast_if_unreachable, unreadable
from .frames import RESPONSE_CHARS, TAG_KEYS, TRACE_COLUMNS, Frames, from_summaries, shape_calls, shape_traces


class ApiTraceReader:
    """Any tracking URI, through MLflow's public client: no spans for the list; spans of the newest
    `span_limit` traces for the model and agent breakdowns."""

    PAGE = 500

    def __init__(self, tracking_uri: str, experiment_id: str, span_limit: int = 2000):
        self.tracking_uri, self.experiment_id, self.span_limit = tracking_uri, str(experiment_id), span_limit
        try:
            self._client = TracingClient(tracking_uri)
        except Exception as exc:
            raise unreadable(exc, "opened") from exc

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
        fail_fast_if_unreachable(self.tracking_uri)
        try:
            infos = [t.info for t in self._search(start_ms, end_ms, include_spans=False, limit=newest, extra=filter_string)]
            rows = pd.DataFrame([trace_row(info) for info in infos], columns=TRACE_COLUMNS)
            traces = shape_traces(rows)
            tagged = [(i.trace_id, i.tags[contract.TraceTag.SUMMARY]) for i in infos if contract.TraceTag.SUMMARY in (i.tags or {})]
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
            raise unreadable(exc) from exc
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


def trace_row(info: Any) -> dict[str, Any]:
    usage = info.token_usage or {}
    cost = getattr(info, "cost", None) or {}
    tags = info.tags or {}
    return {
        "trace_id": info.trace_id,
        "timestamp_ms": info.request_time,
        "duration_ms": info.execution_duration,
        "status": str(getattr(info.state, "value", info.state)),
        "name": tags.get(contract.TraceTag.NAME, ""),
        "session": (info.trace_metadata or {}).get(contract.TraceMetadata.SESSION),
        "request": info.request_preview,
        "response": (info.response_preview or "")[:RESPONSE_CHARS],
        "input_tokens": usage.get("input_tokens"),
        "output_tokens": usage.get("output_tokens"),
        "total_tokens": usage.get("total_tokens"),
        "cost_usd": cost.get("total_cost"),
        **dict(zip(("feedback_up", "feedback_down"), feedback.counts(getattr(info, "assessments", None)))),
        **{column: tags.get(key) for key, column in TAG_KEYS.items()},
        "kind": tags.get(contract.TraceTag.KIND),
    }


def search_ids(
    tracking_uri: str, experiment_id: str, filter_string: str, limit: int = 10_000, start_ms: int | None = None, end_ms: int | None = None
) -> tuple[frozenset[str], bool]:
    """Trace ids matching an MLflow search filter (e.g. `tags.app.turn = '2'`, `span.name = 'critic'`),
    searched by the store itself, and whether the limit cut the result short. An invalid filter raises
    TraceReadError with MLflow's reason."""
    fail_fast_if_unreachable(tracking_uri)
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


_TRACE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}")


def load_trace(tracking_uri: str, trace_id: str) -> Any:
    """The full trace with its spans, or TraceReadError saying why not (unknown id, still running, store down)."""
    trace_id = (trace_id or "").strip()
    if not _TRACE_ID.fullmatch(trace_id):
        raise TraceReadError(f"“{trace_id[:80]}” is not a trace id (such as tr-0123…).")
    fail_fast_if_unreachable(tracking_uri)
    client = TracingClient(tracking_uri)
    try:
        info = client.store.get_trace_info(trace_id)
    except MlflowException as exc:
        if is_not_found(exc):
            raise TraceReadError(f"There is no trace {trace_id} in this MLflow store.") from exc
        raise TraceReadError(f"The MLflow store could not be read ({str(exc)[:200]}).") from exc
    except Exception as exc:
        raise unreadable(exc) from exc
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
    fail_fast_if_unreachable(tracking_uri)
    try:
        found = TracingClient(tracking_uri).search_traces(
            locations=[experiment_id],
            max_results=limit,
            order_by=["timestamp_ms ASC"],
            include_spans=True,
            filter_string=f"tags.`{contract.TraceTag.CONVERSATION}` = '{conversation_id}'",
        )
    except Exception as exc:
        raise unreadable(exc) from exc
    return list(found)
