"""Who a trace's tokens and cost belong to when model spans nest (docs/ARCHITECTURE.md, "Reading traces",
Breakdowns). MLflow sums a trace's usage and its cost independently, each over the spans that carry it
with no ancestor (at any depth) carrying it too. With `mlflow.autogen.autolog()` and `mlflow.openai.autolog()`
both on, the usage sits on autogen's model span (no model name, so no price) and the cost on the openai span
inside it: the call rows must still add up to MLflow's own totals, per trace, and name gpt-4o-mini.

The autologged traces are real: an agentchat `AssistantAgent` with `OpenAIChatCompletionClient` talks through
the `openai` SDK to the local OpenAI-compatible server, into a sqlite store; every number is compared with
MLflow's own `TraceInfo`."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import mlflow
import openai
import pandas as pd
import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_ext.models.openai import OpenAIChatCompletionClient

from core import costs, traces
from core.conversations import ConversationStore
from core.observe import export, summary
from tests.openai_server import OpenAIStub
from tests.trace_fixtures import tracing_complete

pytestmark = pytest.mark.filterwarnings("ignore:Resolved model mismatch:UserWarning")


@dataclass
class Nested:
    tracking_uri: str
    experiment_id: str
    trace_ids: list[str]


@pytest.fixture(scope="module")
def nested(tracking_uri) -> Nested:
    """Two traces with both autologgers on: an agent's run (autogen's model span around openai's), and the
    same inside a `@mlflow.trace` function that also calls the SDK directly (a second, unnested call)."""
    store = ConversationStore.connect(tracking_uri, f"nested-{uuid.uuid4().hex[:8]}")
    mlflow.set_experiment(experiment_id=store.experiment_id)
    ids = []
    with OpenAIStub() as server:

        def agent() -> AssistantAgent:
            client = OpenAIChatCompletionClient(model="gpt-4o-mini", base_url=server.base_url, api_key="sk-nested-test", max_retries=0)
            return AssistantAgent("assistant", model_client=client)

        @mlflow.trace(name="pipeline")
        def pipeline(task: str) -> str:
            asyncio.run(agent().run(task=task))
            sdk = openai.OpenAI(api_key="sk-nested-test", base_url=server.base_url, max_retries=0)
            reply = sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": task}])
            return reply.choices[0].message.content or ""

        mlflow.autogen.autolog()
        mlflow.openai.autolog()
        try:
            asyncio.run(agent().run(task="Say hello to the nested world"))
            ids.append(mlflow.get_last_active_trace_id())
            pipeline("Two calls in one pipeline, please")
            ids.append(mlflow.get_last_active_trace_id())
        finally:  # autolog patches classes process-wide: the other tests' agents and clients must not be traced
            mlflow.openai.autolog(disable=True)
            mlflow.autogen.autolog(disable=True)
    export.flush()
    assert all(tracing_complete(t) for t in ids)
    return Nested(tracking_uri, store.experiment_id, ids)


def _infos(nested: Nested) -> dict[str, object]:
    client = mlflow.MlflowClient(nested.tracking_uri)
    return {t: client.get_trace(t).info for t in nested.trace_ids}


def _readers(nested: Nested, monkeypatch) -> dict[str, traces.Frames]:
    """Every way the page reads calls: the SQL reader by trace id and in one pass over the experiment, and
    MLflow's client (span walk)."""
    got = {
        "sql": traces.SqlTraceReader(nested.tracking_uri, nested.experiment_id).frames(),
        "api": traces.ApiTraceReader(nested.tracking_uri, nested.experiment_id).frames(),
    }
    monkeypatch.setattr(traces.SqlTraceReader, "WALK_BY_ID_MAX", 0)
    got["sql one pass"] = traces.SqlTraceReader(nested.tracking_uri, nested.experiment_id).frames()
    return got


def test_the_traces_really_nest_as_the_issue_says(nested):
    """autogen's model span carries usage but no model and no cost; openai's, inside it, carries all three."""
    client = mlflow.MlflowClient(nested.tracking_uri)
    spans = client.get_trace(nested.trace_ids[0]).data.spans
    by_id = {s.span_id: s for s in spans}
    inner = [s for s in spans if s.get_attribute("mlflow.llm.cost")]
    assert len(inner) == 1
    outer = by_id[inner[0].parent_id]
    assert outer.get_attribute("mlflow.chat.tokenUsage") and not outer.get_attribute("mlflow.llm.model")
    assert not outer.get_attribute("mlflow.llm.cost") and inner[0].get_attribute("mlflow.llm.model") == "gpt-4o-mini"


def test_nested_autologgers_attribute_tokens_and_cost_to_gpt_4o_mini(nested, monkeypatch):
    infos = _infos(nested)
    for info in infos.values():
        assert info.token_usage["input_tokens"] > 0 and info.cost["total_cost"] > 0, "MLflow priced every trace"
    want_in = sum(i.token_usage["input_tokens"] for i in infos.values())
    want_out = sum(i.token_usage["output_tokens"] for i in infos.values())
    want_cost = sum(i.cost["total_cost"] for i in infos.values())
    for name, frames in _readers(nested, monkeypatch).items():
        for trace_id, info in infos.items():  # per trace: the call rows sum to MLflow's own numbers
            calls = frames.calls[frames.calls["trace_id"] == trace_id]
            assert calls["input_tokens"].sum() == info.token_usage["input_tokens"], name
            assert calls["output_tokens"].sum() == info.token_usage["output_tokens"], name
            assert calls["cost_usd"].sum() == pytest.approx(info.cost["total_cost"], rel=1e-9), name
        by_model = traces.breakdown(frames, "model").set_index("model")
        assert list(by_model.index) == ["gpt-4o-mini"], f"{name}: no (unknown model), no (unattributed)"
        row = by_model.loc["gpt-4o-mini"]
        assert (row["input_tokens"], row["output_tokens"]) == (want_in, want_out), name
        assert row["cost_usd"] == pytest.approx(want_cost, rel=1e-9), name
        assert row["calls"] == 3 and row["traces"] == 2, f"{name}: one call per model call, not per span"
        assert set(frames.calls["kind"]) == {"chat"}, name
        what_if = costs.what_if(frames.calls, "gpt-4o").set_index("model used")
        assert what_if.loc["gpt-4o-mini", "input_tokens"] == want_in, f"{name}: the what-if prices these tokens"
        assert what_if.loc["gpt-4o-mini", "cost_usd"] == pytest.approx(want_cost, rel=1e-9), name
        by_agent = traces.breakdown(frames, "agent").set_index("agent")
        assert traces.UNATTRIBUTED not in by_agent.index and "assistant.on_messages" in by_agent.index, name


def test_the_readers_agree_and_a_summary_of_these_spans_says_the_same(nested, monkeypatch):
    """The summary tag is computed by the same rule as the span walk: grouped, they are the same rows."""
    got = _readers(nested, monkeypatch)
    key = ["trace_id", "kind", "model", "agent"]

    def grouped(calls: pd.DataFrame) -> pd.DataFrame:
        return (
            calls.groupby(key)
            .agg(
                calls=("calls", "sum"),
                input_tokens=("input_tokens", "sum"),
                output_tokens=("output_tokens", "sum"),
                cost_usd=("cost_usd", "sum"),
            )
            .reset_index()
            .sort_values(key)
            .reset_index(drop=True)
        )

    for frames in got.values():
        pd.testing.assert_frame_equal(grouped(frames.calls), grouped(got["api"].calls))
    client = mlflow.MlflowClient(nested.tracking_uri)
    values = [summary.summarize({}, summary.call_rows(t, client.get_trace(t).data.spans)) for t in nested.trace_ids]
    _, from_tags = traces.from_summaries(nested.trace_ids, values)
    ours = traces.shape_calls(pd.DataFrame(), got["api"].traces, from_tags)
    # a summary names the root's children the team's (only ours have summaries); a walk names foreign roots
    walked = got["api"].calls.assign(agent=got["api"].calls["agent"].replace({"pipeline": summary.TEAM}))
    pd.testing.assert_frame_equal(grouped(ours), grouped(walked))


# --- the rule on synthetic span trees --------------------------------------------------------------------------------


def _node(
    span_id: str,
    parent: str | None,
    span_type: str = "UNKNOWN",
    model: str | None = None,
    usage: tuple[int, int] | None = None,
    cost: float | None = None,
    start: int = 0,
) -> dict:
    """A span of a synthetic tree, as summary.SpanNode's fields."""
    return dict(
        span_id=span_id,
        parent_id=parent,
        name=span_id,
        span_type=span_type,
        model=model,
        usage=None if usage is None else {"input_tokens": usage[0], "output_tokens": usage[1], "total_tokens": sum(usage)},
        cost=None if cost is None else {"input_cost": 0.0, "output_cost": cost, "total_cost": cost},
        start_ns=start,
    )


def _tree(name: str) -> list[summary.SpanNode]:
    return [summary.SpanNode(**spec) for spec in TREES[name]]


def _mlflow_totals(nodes: list[summary.SpanNode]) -> tuple[int, int, float]:
    """MLflow's own trace-level aggregation of the same tree (mlflow.tracing.utils)."""
    from mlflow.tracing.utils import (  # noqa: PLC0415  (MLflow's internals: only this oracle needs them)
        SpanAggregationNode,
        aggregate_cost_from_span_nodes,
        aggregate_usage_from_span_nodes,
    )

    usage = aggregate_usage_from_span_nodes([SpanAggregationNode(n.span_id, n.parent_id, n.usage) for n in nodes]) or {}
    cost = aggregate_cost_from_span_nodes([SpanAggregationNode(n.span_id, n.parent_id, n.cost) for n in nodes]) or {}
    return int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)), float(cost.get("total_cost", 0.0))


def _sums(rows: list[dict]) -> tuple[int, int, float]:
    return (sum(r["input_tokens"] for r in rows), sum(r["output_tokens"] for r in rows), sum(r["cost_usd"] or 0.0 for r in rows))


TREES = {
    # usage on the parent (no model), cost on a grandchild (with a model), a plain span between them
    "usage on parent, cost on grandchild": [
        _node("root", None, "AGENT"),
        _node("outer", "root", "LLM", usage=(26, 8)),
        _node("middle", "outer", "CHAIN"),
        _node("inner", "middle", "CHAT_MODEL", "gpt-4o-mini", (26, 8), 8.7e-06),
    ],
    # MLflow priced both: only the outer one counts, for tokens and for cost
    "cost on parent and child": [
        _node("root", None, "CHAIN"),
        _node("outer", "root", "CHAT_MODEL", "gpt-4o", (100, 10), 0.00035),
        _node("inner", "outer", "CHAT_MODEL", "gpt-4o", (100, 10), 0.00035),
    ],
    # an agent span with a model name only; the usage is on its model call
    "usage on child only": [
        _node("root", None, "CHAIN"),
        _node("outer", "root", "AGENT", model="gpt-4o-mini"),
        _node("inner", "outer", "CHAT_MODEL", usage=(5, 2)),
    ],
    # a rollup: usage summed on an agent span, two priced calls inside it; the earlier names the model
    "rollup on an agent span": [
        _node("root", None, "CHAIN"),
        _node("agent", "root", "AGENT", usage=(30, 6)),
        _node("b", "agent", "CHAT_MODEL", "gpt-4o", (20, 4), 0.0001, start=2),
        _node("a", "agent", "CHAT_MODEL", "gpt-4o-mini", (10, 2), 0.00001, start=1),
    ],
    # two calls side by side, each nested in its own way; a picture with its price and no usage
    "siblings": [
        _node("root", None, "AGENT"),
        _node("x", "root", "LLM", usage=(3, 1)),
        _node("x1", "x", "CHAT_MODEL", "gpt-4o-mini", (3, 1), 1e-06),
        _node("y", "root", "CHAT_MODEL", "gpt-4o", (4, 4)),
        _node("img", "root", "IMAGE_GENERATION", "gpt-image-1", cost=0.011),
    ],
}


@pytest.mark.parametrize("tree", TREES)
def test_the_call_rows_of_a_tree_sum_to_mlflows_totals(tree):
    nodes = _tree(tree)
    rows = summary.calls("tr-t", nodes)
    got, want = _sums(rows), _mlflow_totals(nodes)
    assert got[:2] == want[:2] and got[2] == pytest.approx(want[2], abs=1e-15)


def test_the_outermost_call_takes_its_model_from_the_nearest_call_that_names_one():
    (row,) = summary.calls("tr-t", _tree("usage on parent, cost on grandchild"))
    assert (row["model"], row["kind"], row["input_tokens"], row["output_tokens"]) == ("gpt-4o-mini", "LLM", 26, 8)
    assert row["cost_usd"] == pytest.approx(8.7e-06) and (row["parent_name"], row["parent_is_root"]) == ("root", True)

    (row,) = summary.calls("tr-t", _tree("cost on parent and child"))
    assert (row["model"], row["input_tokens"], row["cost_usd"]) == ("gpt-4o", 100, 0.00035)

    (row,) = summary.calls("tr-t", _tree("usage on child only"))  # an agent span's kind is its model call's
    assert (row["model"], row["kind"], row["input_tokens"], row["cost_usd"]) == ("gpt-4o-mini", "CHAT_MODEL", 5, None)

    (row,) = summary.calls("tr-t", _tree("rollup on an agent span"))
    assert (row["model"], row["kind"], row["input_tokens"]) == ("gpt-4o-mini", "CHAT_MODEL", 30)
    assert row["cost_usd"] == pytest.approx(0.00011)

    rows = {r["model"]: r for r in summary.calls("tr-t", _tree("siblings"))}
    assert set(rows) == {"gpt-4o-mini", "gpt-4o", "gpt-image-1"}
    assert rows["gpt-4o-mini"]["input_tokens"] == 3 and rows["gpt-4o"]["cost_usd"] is None
    assert rows["gpt-image-1"]["cost_usd"] == 0.011 and rows["gpt-image-1"]["input_tokens"] == 0


def test_a_summary_groups_the_rule_s_rows():
    rows = summary.calls(
        "tr-t",
        _tree("usage on parent, cost on grandchild")
        + [summary.SpanNode(**_node("other", "root", "CHAT_MODEL", "gpt-4o-mini", (4, 1), 1e-06))],
    )
    _, groups = summary.parse(summary.summarize({"scenario": "s"}, rows))
    assert groups == [["chat", "gpt-4o-mini", summary.TEAM, 2, 30, 9, pytest.approx(9.7e-06)]]
