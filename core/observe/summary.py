"""One short tag per turn (`app.summary`) that holds what the Traces page needs from a trace beyond the
columns MLflow's store keeps anyway: the contract tags and the model and image calls per (kind, model,
agent). With it, the page reads one row per trace instead of walking every span: at 100,000 traces that
is 100,000 short rows instead of 830,000 spans (docs/ARCHITECTURE.md, "Reading traces").

Exact by construction: the calls are computed from the span attributes *as the store keeps them*
(MLflow's own `translate_span_when_storing`, which also prices chat spans from the catalog), with the same
rules a span walk applies (a call inside another call counts once; a call straight under the turn is the
team's). The read side walks spans only for traces without a summary: other code's traces and traces
written before summaries existed. Tests compare both ways on the same traces."""

from __future__ import annotations

import json
from typing import Any, Iterable

from mlflow.entities import Span
from mlflow.tracing.otel.translation import translate_span_when_storing

from .. import contract

MAX_CHARS = 4000  # MLflow keeps trace tag values up to 4,096 characters; longer, the span walk answers
CALL_SPAN_TYPES = ("CHAT_MODEL", "LLM", contract.SPAN_TYPE_IMAGE, "EMBEDDING")
TEAM = "(team)"
FIELDS = ("scenario", "conversation", "turn", "provider")


def kind_of(span_type: Any) -> str:
    """chat, image, embedding, ...: the call kinds the page groups by."""
    text = str(span_type or "other")
    if text in ("CHAT_MODEL", "LLM"):
        return "chat"
    if text == contract.SPAN_TYPE_IMAGE:
        return "image"
    return text.lower()


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def is_call(span: Any) -> bool:
    """A span the store counts in the trace's usage or cost: it names a model, carries a cost, or is a
    model-call span type (the same test the SQL reader makes on the store's columns)."""
    return bool(span.get_attribute(contract.MODEL) or span.get_attribute(contract.COST) or span.span_type in CALL_SPAN_TYPES)


def call_rows(trace_id: str, spans: Iterable[Any]) -> list[dict[str, Any]]:
    """One row per call span of a trace (before shaping), with its parent's name and whether that parent is
    the root or itself a call. Attributes of the wrong shape (a number where MLflow writes a dict) count as
    missing."""
    spans = list(spans)
    by_id = {s.span_id: s for s in spans}
    rows = []
    for span in spans:
        if not is_call(span):
            continue
        usage = as_dict(span.get_attribute(contract.USAGE))
        cost = as_dict(span.get_attribute(contract.COST))
        parent = by_id.get(span.parent_id)
        model = span.get_attribute(contract.MODEL)
        rows.append({"trace_id": trace_id, "kind": span.span_type,
                     "model": model if isinstance(model, str) else None, "cost_usd": cost.get("total_cost"),
                     "input_tokens": usage.get("input_tokens", 0), "output_tokens": usage.get("output_tokens", 0),
                     "parent_name": parent.name if parent else None,
                     "parent_is_root": bool(parent is not None and parent.parent_id is None),
                     "parent_is_call": bool(parent is not None and is_call(parent))})
    return rows


def as_stored(spans: Iterable[Any]) -> list[Any]:
    """Finished live spans as the store will keep them: MLflow's own translation fills in model names and
    prices chat spans from its catalog when the span is written, not before."""
    return [Span.from_dict(translate_span_when_storing(s)) for s in spans if s.end_time_ns is not None]


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def summarize(fields: dict[str, str], rows: list[dict[str, Any]]) -> str | None:
    """The tag value for one of our turns: its contract tags and its calls grouped by (kind, model, agent),
    each group as [kind, model, agent, calls, input tokens, output tokens, cost or null]. None when it
    would not fit in a tag (the span walk then answers for this trace)."""
    groups: dict[tuple[str, str | None, str], list[Any]] = {}
    for row in rows:
        if row["parent_is_call"]:  # counted in its parent, as MLflow's trace totals do
            continue
        agent = TEAM if row["parent_is_root"] else (row["parent_name"] or "(no parent span)")
        key = (kind_of(row["kind"]), row["model"], agent)
        group = groups.setdefault(key, [*key, 0, 0, 0, None])
        group[3] += 1
        group[4] += _int(row["input_tokens"])
        group[5] += _int(row["output_tokens"])
        if isinstance(row["cost_usd"], (int, float)):
            group[6] = (group[6] or 0.0) + float(row["cost_usd"])
    value = json.dumps({"v": contract.SUMMARY_VERSION, **{k: fields.get(k, "") for k in FIELDS}, "calls": list(groups.values())},
                       separators=(",", ":"))
    return value if len(value) <= MAX_CHARS else None


def parse(value: Any) -> tuple[dict[str, Any], list[list[Any]]] | None:
    """(the summary with its contract tags, call groups) from a tag value; None when it is missing, malformed or of another
    version, so the reader walks that trace's spans instead."""
    try:
        return _checked(json.loads(value))
    except (TypeError, ValueError):
        return None


def parse_many(values: list[Any]) -> list[tuple[dict[str, str], list[list[Any]]] | None]:
    """parse() for many values at once: one JSON document for all of them (one call into the C parser
    instead of one per trace, 3x faster at 100,000), one by one only if some value is not valid JSON."""
    if all(isinstance(v, str) for v in values):
        try:
            documents = json.loads("[" + ",".join(values) + "]")
            if len(documents) == len(values):
                return [_checked(d) for d in documents]
        except ValueError:
            pass
    return [parse(v) for v in values]


def _checked(data: Any) -> tuple[dict[str, str], list[list[Any]]] | None:
    try:
        if data.get("v") != contract.SUMMARY_VERSION:
            return None
        calls = data["calls"]
        for group in calls:
            if len(group) != 7:
                return None
        return data, calls  # the FIELDS are read with .get by the caller
    except (TypeError, KeyError, AttributeError):
        return None
