"""Two or more turns side by side, step by step: what changed and what it cost (issue 19).

A side is one trace; its steps are the spans right below its root (for our turns, one agent's turn to speak),
each with what MLflow counts in it (tokens and cost by the call rule of core.observe.summary, so the steps of a
side add up to MLflow's own figures for the trace, with a "(rest of the trace)" row for any part no step holds),
its latency and status. Steps are matched across sides by name and occurrence ("critic", its 2nd time),
in the order the sides ran them (`align`, a pure function): the same agent step on each side is one row, and a
step only some sides have is a row with gaps there. Works on any writer's traces: a trace with no root but many
top spans has those as its steps."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Sequence

from mlflow.tracing.client import TracingClient
from mlflow.tracking import MlflowClient

from . import contract, exports
from .observe import summary
from .reading.aggregates import owner_searches
from .reading.lineage import prompt_diff

REST = "(rest of the trace)"


@dataclass(frozen=True)
class Step:
    """One step of a side: a span right below the root, with what MLflow counts in its subtree."""

    name: str
    occurrence: int  # 1 for the first span of this name on its side, 2 for the second, ...
    span_type: str
    status: str  # OK, ERROR, UNSET
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None  # None: nothing in it is priced
    latency_ms: float | None = None
    model: str = ""
    error: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.name, self.occurrence)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Picture:
    image_id: str
    prompt: str
    model: str
    conversation_id: str


@dataclass(frozen=True)
class Side:
    """One trace as a column of the comparison; the totals are MLflow's own for the trace."""

    trace_id: str
    label: str
    answer: str
    steps: tuple[Step, ...]
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    latency_ms: float | None
    status: str
    conversation_id: str = ""
    turn: int = 0
    scenario: str = ""
    pictures: tuple[Picture, ...] = ()

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Row:
    """One aligned step: the same (name, occurrence) on each side, None where a side has no such step."""

    name: str
    occurrence: int
    cells: tuple[Step | None, ...]

    @property
    def only_some(self) -> bool:
        return any(c is None for c in self.cells)


@dataclass
class Comparison:
    sides: list[Side]
    rows: list[Row]
    winners: dict[str, list[int]] = field(default_factory=dict)  # "cheapest" -> the sides' indexes (ties: all)


def _ms(span: Any) -> float | None:
    start, end = getattr(span, "start_time_ns", None), getattr(span, "end_time_ns", None)
    return None if start is None or end is None else (end - start) / 1e6


def _status(span: Any) -> str:
    return str(getattr(getattr(span, "status", None), "status_code", "") or "UNSET").replace("SpanStatusCode.", "")


def _top_spans(spans: list[Any]) -> tuple[list[Any], dict[str | None, list[Any]]]:
    known = {s.span_id for s in spans}
    children: dict[str | None, list[Any]] = {}
    for span in spans:
        children.setdefault(span.parent_id if span.parent_id in known else None, []).append(span)
    for group in children.values():
        group.sort(key=lambda s: (s.start_time_ns or 0, s.span_id))
    roots = children.get(None, [])
    if len(roots) == 1 and children.get(roots[0].span_id):
        return children[roots[0].span_id], children
    return roots, children


def steps_of(trace: Any) -> list[Step]:
    """A trace's steps in the order they started: the spans right below its root (or its top spans when it has
    several, or its root alone when nothing is below it), each with the calls MLflow counts in its subtree."""
    spans = list(trace.data.spans)
    tops, children = _top_spans(spans)
    seen: dict[str, int] = {}
    steps = []
    for span in tops:
        subtree, stack = [], [span]
        while stack:
            node = stack.pop()
            subtree.append(summary.node_of(node))
            stack.extend(children.get(node.span_id, []))
        calls = summary.calls(trace.info.trace_id, subtree)
        costs = [c["cost_usd"] for c in calls if c["cost_usd"] is not None]
        models = list(dict.fromkeys(str(c["model"]) for c in calls if c["model"]))
        seen[span.name] = seen.get(span.name, 0) + 1
        status = _status(span)
        error = ""
        if status == "ERROR":
            error = str(getattr(span.status, "description", "") or "")[:300]
        steps.append(
            Step(
                name=str(span.name),
                occurrence=seen[span.name],
                span_type=str(span.span_type or "UNKNOWN"),
                status=status,
                input_tokens=sum(int(c["input_tokens"]) for c in calls),
                output_tokens=sum(int(c["output_tokens"]) for c in calls),
                cost_usd=sum(costs) if costs else None,
                latency_ms=_ms(span),
                model=", ".join(models),
                error=error,
            )
        )
    return steps


def align(sides: Sequence[Sequence[Step]]) -> list[Row]:
    """The steps of every side as rows, matched by (name, occurrence), in an order that keeps each side's own
    order: sides are merged one by one into the rows so far by their longest common run of keys (difflib), so a
    step only one side has is placed where it ran."""
    order: list[tuple[str, int]] = []
    for steps in sides:
        keys = [s.key for s in steps]
        merged: list[tuple[str, int]] = []
        matcher = difflib.SequenceMatcher(a=order, b=keys, autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            merged.extend(order[i1:i2])
            if op != "equal":
                merged.extend(k for k in keys[j1:j2] if k not in order[i1:i2])
        order = list(dict.fromkeys(merged))
    by_side = [{s.key: s for s in steps} for steps in sides]
    return [Row(name=key[0], occurrence=key[1], cells=tuple(side.get(key) for side in by_side)) for key in order]


def _trace_cost(info: Any) -> float | None:
    raw = (info.trace_metadata or {}).get(contract.TraceMetadata.COST)
    data = summary.attribute_data(raw)
    value = (data or {}).get("total_cost")
    return float(value) if isinstance(value, (int, float)) else None


def _answer(trace: Any) -> str:
    """The root's output as text: our turns' answer; another writer's output as JSON."""
    spans = list(trace.data.spans)
    roots = [s for s in spans if not s.parent_id] or spans[:1]
    outputs = roots[0].outputs if roots else None
    if outputs is None:
        return str(getattr(trace.info, "response_preview", "") or "")
    return outputs if isinstance(outputs, str) else json.dumps(outputs, ensure_ascii=False, default=str, indent=1)


def _pictures(trace: Any, conversation_id: str) -> tuple[Picture, ...]:
    found = []
    for span in trace.data.spans:
        image_id = span.get_attribute(contract.SpanAttr.IMAGE_ID)
        if not image_id:
            continue
        inputs = span.inputs if isinstance(span.inputs, dict) else {}
        prompt = str(inputs.get("prompt") or "")
        if not prompt and isinstance(inputs.get("messages"), list) and inputs["messages"]:
            first = inputs["messages"][0]
            prompt = str(first.get("content") or "") if isinstance(first, dict) else ""
        found.append(
            Picture(
                image_id=str(image_id), prompt=prompt, model=str(span.get_attribute(contract.SpanAttr.MODEL) or ""), conversation_id=conversation_id
            )
        )
    return tuple(found)


def side_of(trace: Any, label: str = "") -> Side:
    """One trace as a side: its steps, its answer, its pictures and MLflow's totals for it."""
    info = trace.info
    usage = info.token_usage or {}
    tags = info.tags or {}
    conversation = str(tags.get(contract.TraceTag.CONVERSATION) or "")
    steps = steps_of(trace)
    tokens_in, tokens_out = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    cost = _trace_cost(info)
    rest_in = tokens_in - sum(s.input_tokens for s in steps)
    rest_out = tokens_out - sum(s.output_tokens for s in steps)
    step_cost = sum(s.cost_usd or 0.0 for s in steps)
    rest_cost = None if cost is None else cost - step_cost
    if rest_in or rest_out or (rest_cost is not None and abs(rest_cost) > 1e-12):
        steps.append(
            Step(
                name=REST,
                occurrence=1,
                span_type="",
                status="",
                input_tokens=rest_in,
                output_tokens=rest_out,
                cost_usd=rest_cost if rest_cost else None,
            )
        )
    duration = getattr(info, "execution_duration", None)
    state = str(getattr(info.state, "value", info.state) or "")
    return Side(
        trace_id=info.trace_id,
        label=label or info.trace_id,
        answer=_answer(trace),
        steps=tuple(steps),
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        cost_usd=cost,
        latency_ms=float(duration) if duration is not None else None,
        status=state,
        conversation_id=conversation,
        turn=int(tags.get(contract.TraceTag.TURN) or 0) if str(tags.get(contract.TraceTag.TURN) or "").isdigit() else 0,
        scenario=str(tags.get(contract.RunTag.SCENARIO) or ""),
        pictures=_pictures(trace, conversation),
    )


def winners(sides: Sequence[Side]) -> dict[str, list[int]]:
    """Which sides win each column: cheapest (when every side's cost is known), fastest, most tokens; ties all win,
    and when every side is alike (the offline demo's $0) nobody does."""
    marks: dict[str, list[int]] = {}

    def best(values: list[float | None], lowest: bool) -> list[int]:
        if len(values) < 2 or any(v is None for v in values):
            return []
        known = [float(v) for v in values if v is not None]
        target = min(known) if lowest else max(known)
        won = [i for i, v in enumerate(known) if abs(v - target) < 1e-12]
        return won if len(won) < len(known) else []  # all alike: nobody wins

    marks["cheapest"] = best([s.cost_usd for s in sides], True)
    marks["fastest"] = best([s.latency_ms for s in sides], True)
    marks["most tokens"] = best([float(s.tokens) for s in sides], False)
    return marks


def compare(traces: Sequence[Any], labels: Sequence[str] = ()) -> Comparison:
    sides = [side_of(t, labels[i] if i < len(labels) else "") for i, t in enumerate(traces)]
    return Comparison(sides=sides, rows=align([s.steps for s in sides]), winners=winners(sides))


def labelled(comparison: Comparison, labels: Sequence[str]) -> Comparison:
    return Comparison(
        sides=[replace(s, label=label) for s, label in zip(comparison.sides, labels)], rows=comparison.rows, winners=comparison.winners
    )


def answer_diff(old: str, new: str) -> tuple[tuple[str, str], ...]:
    """`new` as runs of words "same", "added" or "removed" against `old` (the lineage's prompt diff)."""
    return prompt_diff(old, new)


def table(comparison: Comparison) -> list[dict[str, Any]]:
    """The aligned steps as flat rows (one per step, columns per side), then the totals: what the CSV and JSON
    exports hold."""
    rows = []
    for row in comparison.rows:
        flat: dict[str, Any] = {"step": row.name, "occurrence": row.occurrence}
        for index, cell in enumerate(row.cells, 1):
            flat |= {
                f"{index}: status": cell.status if cell else "(not run)",
                f"{index}: input tokens": cell.input_tokens if cell else None,
                f"{index}: output tokens": cell.output_tokens if cell else None,
                f"{index}: cost usd": cell.cost_usd if cell else None,
                f"{index}: latency ms": round(cell.latency_ms, 1) if cell and cell.latency_ms is not None else None,
            }
        rows.append(flat)
    total: dict[str, Any] = {"step": "(total, MLflow's)", "occurrence": None}
    for index, side in enumerate(comparison.sides, 1):
        total |= {
            f"{index}: status": side.status,
            f"{index}: input tokens": side.input_tokens,
            f"{index}: output tokens": side.output_tokens,
            f"{index}: cost usd": side.cost_usd,
            f"{index}: latency ms": side.latency_ms,
        }
    return [*rows, total]


def to_csv(comparison: Comparison) -> bytes:
    """The comparison's table as CSV (core.exports: cells a spreadsheet would run are made text), each side's
    label and trace first, one "# n: label (trace id)" line each."""
    header = [f"# {i}: {s.label} ({s.trace_id})" for i, s in enumerate(comparison.sides, 1)]
    return exports.csv_bytes(table(comparison), preamble=header)


def to_json(comparison: Comparison) -> bytes:
    data = {
        "sides": [
            {**{k: v for k, v in asdict(s).items() if k not in ("steps", "pictures")}, "pictures": [asdict(p) for p in s.pictures]}
            for s in comparison.sides
        ],
        "steps": table(comparison)[:-1],
        "winners": comparison.winners,
    }
    return json.dumps(data, ensure_ascii=False, indent=1, default=str).encode("utf-8")


@dataclass(frozen=True)
class TurnChoice:
    trace_id: str
    label: str


def recent_turns(tracking_uri: str, experiment_id: str, owner: str | None = None, limit: int = 200) -> list[TurnChoice]:
    """The newest finished traces to pick from (a hosted visitor's own only), labelled by time, the scenario's label
    (its tag since issue 31, else the trace's name), the turn and the request: one search without spans (two for an
    owner: MLflow's filter has no OR, and an owner's older traces carry them as their session)."""
    found = _newest_finished(tracking_uri, experiment_id, owner, limit)
    choices = []
    for trace in found:
        info = trace.info
        if owner is not None and contract.trace_owner(info.tags, info.trace_metadata) != owner:
            continue
        when = datetime.fromtimestamp((info.request_time or 0) / 1000, timezone.utc).strftime("%b %d %H:%M")
        tags = info.tags or {}
        turn = tags.get(contract.TraceTag.TURN)
        label = tags.get(contract.TraceTag.LABEL)  # "Catify turn", as the trace's own name reads ("catify turn")
        name = f"{label} turn" if label else tags.get(contract.TraceTag.NAME) or "trace"
        request = " ".join(str(info.request_preview or "").split())[:60]
        choices.append(TurnChoice(info.trace_id, f"{when} · {name}{f' {turn}' if turn else ''} · {request}"))
    conversations = {t.info.trace_id: str((t.info.tags or {}).get(contract.TraceTag.CONVERSATION) or "") for t in found}
    variant = _variant_labels(MlflowClient(tracking_uri), str(experiment_id), set(conversations.values()))
    return [
        TurnChoice(c.trace_id, f"{c.label} · {variant[conversations[c.trace_id]]}") if variant.get(conversations[c.trace_id]) else c
        for c in choices
    ]


def _newest_finished(tracking_uri: str, experiment_id: str, owner: str | None, limit: int) -> list[Any]:
    """The newest finished traces, an owner's only when one is given (in the search itself: on a busy demo, a
    visitor's turns are not among everyone's newest)."""
    if owner is not None and not re.fullmatch(r"[A-Za-z0-9_.:-]{1,200}", owner):
        return []
    mine = [f" and {f}" for f in owner_searches(owner)] if owner is not None else [""]
    client = TracingClient(tracking_uri)
    found = {
        trace.info.trace_id: trace
        for clause in mine
        for trace in client.search_traces(
            locations=[str(experiment_id)],
            max_results=limit,
            order_by=["timestamp_ms DESC"],
            include_spans=False,
            filter_string="trace.status != 'IN_PROGRESS'" + clause,
        )
    }
    return sorted(found.values(), key=lambda t: -(t.info.request_time or 0))[:limit]


def _run_tags(client: MlflowClient, experiment_id: str, run_ids: set[str]) -> dict[str, dict[str, str]]:
    """The tags of these runs (hex run ids only: safe in the filter), by id; one search per 100."""
    ids = sorted(i for i in run_ids if re.fullmatch(r"[0-9a-f]{32}", i))
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(ids), 100):
        quoted = ", ".join(f"'{i}'" for i in ids[start : start + 100])
        found |= {
            run.info.run_id: run.data.tags
            for run in client.search_runs([experiment_id], max_results=100, filter_string=f"attributes.run_id IN ({quoted})")
        }
    return found


def _variant_labels(client: MlflowClient, experiment_id: str, run_ids: set[str]) -> dict[str, str]:
    """The variant label of each of these conversations that is a variant."""
    return {
        i: tags[contract.VariantTag.LABEL] for i, tags in _run_tags(client, experiment_id, run_ids).items() if tags.get(contract.VariantTag.LABEL)
    }


def side_labels(client: MlflowClient, experiment_id: str, sides: Sequence[Side]) -> list[str]:
    """A short name per side: a variant's label (what it changed), "original, turn n" for the turn variants were
    made of, else its conversation's title and turn; a trace of other code keeps its id. One search of runs."""
    runs = _run_tags(client, str(experiment_id), {s.conversation_id for s in sides})
    origins = {tags.get(contract.VariantTag.OF) for tags in runs.values()}
    labels = []
    for side in sides:
        tags = runs.get(side.conversation_id, {})
        if tags.get(contract.VariantTag.LABEL):
            labels.append(tags[contract.VariantTag.LABEL])
        elif side.conversation_id and side.conversation_id in origins:
            labels.append(f"original, turn {side.turn}")
        elif tags:
            labels.append(f"{tags.get(contract.RunTag.TITLE, '')[:40]}, turn {side.turn}")
        else:
            labels.append(side.trace_id)
    return labels
