"""One short tag per turn (`app.summary`) that holds what the Traces page needs from a trace beyond the
columns MLflow's store keeps anyway: the contract tags and the model and image calls per (kind, model,
agent). With it, the page reads one row per trace instead of walking every span: at 100,000 traces that
is 100,000 short rows instead of 830,000 spans (docs/ARCHITECTURE.md, "Reading traces").

Exact by construction: the calls are computed from the span attributes *as the store keeps them*
(MLflow's own `translate_span_when_storing`, which also prices chat spans from the catalog), by the same
rule a span walk applies (`calls`: the outermost span carrying usage or cost is the call, and holds what
MLflow counts below it; a call straight under the turn is the team's). The read side walks spans only for
traces without a summary: other code's traces and traces written before summaries existed. Tests compare
both ways on the same traces."""

from __future__ import annotations

import json
from typing import Any, Iterable, NamedTuple

from mlflow.entities import Span
from mlflow.tracing.otel.translation import translate_span_when_storing

from .. import contract

MAX_CHARS = 4000  # MLflow keeps trace tag values up to 4,096 characters; longer, the span walk answers
CALL_SPAN_TYPES = ("CHAT_MODEL", "LLM", contract.ImageSpan.TYPE_BEFORE_2026_11, "EMBEDDING")
TEAM = "(team)"
FIELDS = ("scenario", "conversation", "turn", "provider", "owner", "label", "runtime")  # owner, label: since issue 31; runtime: 34


def is_picture(node: "SpanNode") -> bool:
    """One of our picture spans, old (its own type) or new (an LLM span named "generate image …")."""
    return node.span_type == contract.ImageSpan.TYPE_BEFORE_2026_11 or (
        node.span_type == contract.ImageSpan.TYPE and (node.name or "").startswith(contract.ImageSpan.NAME_PREFIX)
    )


def kind_of(span_type: Any) -> str:
    """chat, image, embedding, ...: the call kinds the page groups by."""
    text = str(span_type or "other")
    if text in ("CHAT_MODEL", "LLM"):
        return "chat"
    if text == contract.ImageSpan.TYPE_BEFORE_2026_11:
        return "image"
    return text.lower()


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class SpanNode(NamedTuple):  # a tuple: the SQL reader builds one per stored span, and tuples build fastest
    """What the call rule needs of one span, whoever read it: a span object (the write side, the span walk of
    `core.traces.ApiTraceReader`) or a stored row (`core.traces.SqlTraceReader`)."""

    span_id: str
    parent_id: str | None
    name: str | None
    span_type: str | None
    model: str | None  # MLflow's model name when it is a string
    usage: dict[str, Any] | None  # MLflow's usage attribute when it is a dict: what MLflow's trace total counts
    cost: dict[str, Any] | None  # MLflow's cost attribute when it is a dict (the SQL reader: its cost columns)
    start_ns: int = 0


def attribute_data(value: Any) -> dict[str, Any] | None:
    """A usage or cost attribute as MLflow's trace aggregation sees it: a dict, or a JSON string of one
    (`_span_aggregation_node` in mlflow/store/tracking/sqlalchemy_store.py); anything else is no data."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def node_of(span: Any) -> SpanNode:
    model = span.get_attribute(contract.SpanAttr.MODEL)
    return SpanNode(
        span_id=span.span_id,
        parent_id=span.parent_id,
        name=span.name,
        span_type=span.span_type,
        model=model if isinstance(model, str) and model else None,
        usage=attribute_data(span.get_attribute(contract.SpanAttr.USAGE)),
        cost=attribute_data(span.get_attribute(contract.SpanAttr.COST)),
        start_ns=getattr(span, "start_time_ns", None) or 0,
    )


def is_call(node: SpanNode) -> bool:
    """A span that may be a call: it carries usage or cost, names a model, or is a model-call span type."""
    return node.usage is not None or node.cost is not None or node.model is not None or node.span_type in CALL_SPAN_TYPES


def calls(trace_id: str, nodes: Iterable[SpanNode]) -> list[dict[str, Any]]:
    """One row per call of a trace: the rule every reader and the summary tag use (docs/ARCHITECTURE.md,
    "Reading traces", Breakdowns).

    MLflow sums a trace's usage and its cost *independently*, each over the spans carrying that attribute with
    no ancestor (at any depth) carrying it too (`_aggregate_from_nodes` in mlflow/tracing/utils/__init__.py).
    Nested autologgers split them: `mlflow.autogen.autolog()`'s model span carries usage and no model (so no
    cost), `mlflow.openai.autolog()`'s span inside it carries model, usage and cost. So:

    - a call is a span that `is_call` with no such span above it (the outermost one); the spans below it are
      part of it, not calls of their own;
    - its tokens are the usage of the spans in its subtree (itself included) that MLflow counts, its cost the
      cost of those MLflow counts: the rows of a trace add up to `TraceInfo.token_usage` and `TraceInfo.cost`;
    - its model is its own or, without one, the nearest span below it that names one (earliest first at the
      same depth): the span MLflow priced. Its kind is its own type when that is a model-call type, else that
      of the nearest such span below it (an agent span with rolled-up usage counts as its model call);
    - its agent is its parent's name, and whether that parent is the trace's root.

    A rolled-up usage over calls to different models goes to the nearest model: the totals stay MLflow's, the
    split by model cannot be exact there. Attribute values of the wrong shape count as missing, as in MLflow."""
    nodes = list(nodes)
    by_id = {n.span_id: n for n in nodes}
    children: dict[str | None, list[SpanNode]] = {}
    for node in nodes:
        children.setdefault(node.parent_id if node.parent_id in by_id else None, []).append(node)
    for group in children.values():
        group.sort(key=lambda n: (n.start_ns, n.span_id))
    rows: list[dict[str, Any]] = []
    # (span, the row of the call it is in, an ancestor carries usage, an ancestor carries cost)
    stack: list[tuple[SpanNode, dict[str, Any] | None, bool, bool]] = [(n, None, False, False) for n in reversed(children.get(None, []))]
    while stack:
        node, row, usage_above, cost_above = stack.pop()
        if row is None and is_call(node):
            parent = by_id.get(node.parent_id) if node.parent_id else None
            kind = (
                contract.ImageSpan.TYPE_BEFORE_2026_11
                if is_picture(node)
                else node.span_type
                if node.span_type in CALL_SPAN_TYPES
                else _nearest(node, children, lambda n: n.span_type in CALL_SPAN_TYPES, "span_type") or node.span_type
            )
            model = node.model if node.model is not None else _nearest(node, children, lambda n: n.model is not None, "model")
            row = {
                "trace_id": trace_id,
                "kind": kind,
                "model": model,
                "cost_usd": None,
                "input_tokens": 0,
                "output_tokens": 0,
                "parent_name": parent.name if parent else None,
                "parent_is_root": bool(parent is not None and not parent.parent_id),
            }
            rows.append(row)
        if row is not None:  # a span carrying usage or cost is a call or inside one: nothing MLflow counts is lost
            if node.usage is not None and not usage_above:
                row["input_tokens"] += _int(node.usage.get("input_tokens"))
                row["output_tokens"] += _int(node.usage.get("output_tokens"))
            if node.cost is not None and not cost_above and isinstance(node.cost.get("total_cost"), (int, float)):
                row["cost_usd"] = (row["cost_usd"] or 0.0) + float(node.cost["total_cost"])
        stack.extend(
            (child, row, usage_above or node.usage is not None, cost_above or node.cost is not None)
            for child in reversed(children.get(node.span_id, []))
        )
    return rows


def _nearest(call: SpanNode, children: dict[str | None, list[SpanNode]], wanted: Any, field: str) -> Any:
    """`field` of the call itself or of the nearest span below it that is a call and `wanted` (breadth first,
    earliest first at one depth); None when there is none."""
    level = [call]
    while level:
        for node in level:
            if is_call(node) and wanted(node):
                return getattr(node, field)
        level = [child for node in level for child in children.get(node.span_id, [])]
    return None


def call_rows(trace_id: str, spans: Iterable[Any]) -> list[dict[str, Any]]:
    """calls() of a trace's span objects (MLflow's `Span`, `LiveSpan`)."""
    return calls(trace_id, [node_of(s) for s in spans])


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
    for row in rows:  # calls(): calls inside calls are already part of the outer one, as in MLflow's totals
        agent = TEAM if row["parent_is_root"] else (row["parent_name"] or "(no parent span)")
        key = (kind_of(row["kind"]), row["model"], agent)
        group = groups.setdefault(key, [*key, 0, 0, 0, None])
        group[3] += 1
        group[4] += _int(row["input_tokens"])
        group[5] += _int(row["output_tokens"])
        if isinstance(row["cost_usd"], (int, float)):
            group[6] = (group[6] or 0.0) + float(row["cost_usd"])
    value = json.dumps(
        {"v": contract.SUMMARY_VERSION, **{k: fields.get(k, "") for k in FIELDS}, "calls": list(groups.values())}, separators=(",", ":")
    )
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
