"""Turns side by side (core.compare): the alignment as a pure function, and sides read from real traces (ours on
the OpenAI path over HTTP, a Weather grid of three settings, other code's traces, a failed step) whose figures
are checked against MLflow's own for each trace."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import mlflow
import pytest

from core import compare, contract, traces
from core.compare import Step, align
from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.turn import TurnRequest, run_turn
from core.variants import Origin, Setting, open_group, open_runs, origin_of, plan, run_cells
from tests.openai_server import OpenAIStub
from tests.trace_fixtures import foreign_traces, tracing_complete


def steps(*keys: str) -> list[Step]:
    seen: dict[str, int] = {}
    out = []
    for name in keys:
        seen[name] = seen.get(name, 0) + 1
        out.append(Step(name=name, occurrence=seen[name], span_type="AGENT", status="OK", input_tokens=1))
    return out


def keys(rows) -> list[tuple[str, int, tuple[bool, ...]]]:
    return [(r.name, r.occurrence, tuple(c is not None for c in r.cells)) for r in rows]


def test_equal_shapes_align_row_by_row():
    a, b = steps("image_agent", "critic", "image_agent"), steps("image_agent", "critic", "image_agent")
    assert keys(align([a, b])) == [("image_agent", 1, (True, True)), ("critic", 1, (True, True)), ("image_agent", 2, (True, True))]


def test_an_extra_round_on_one_side_is_a_row_the_other_did_not_run():
    two = steps("image_agent", "critic", "image_agent")
    three = steps("image_agent", "critic", "image_agent", "critic", "image_agent")
    assert keys(align([two, three])) == [
        ("image_agent", 1, (True, True)),
        ("critic", 1, (True, True)),
        ("image_agent", 2, (True, True)),
        ("critic", 2, (False, True)),
        ("image_agent", 3, (False, True)),
    ]
    assert keys(align([three, two]))[-2:] == [("critic", 2, (True, False)), ("image_agent", 3, (True, False))]


def test_a_step_only_one_side_took_stands_where_it_ran_and_three_sides_merge():
    direct = steps("planner", "planner")
    with_tool = steps("planner", "weather_assistant", "planner")
    asked = steps("planner", "user_proxy")
    rows = align([direct, with_tool, asked])
    assert keys(rows) == [
        ("planner", 1, (True, True, True)),
        ("weather_assistant", 1, (False, True, False)),
        ("planner", 2, (True, True, False)),
        ("user_proxy", 1, (False, False, True)),
    ]
    assert align([]) == [] and keys(align([[], steps("a")])) == [("a", 1, (False, True))]


def test_a_weather_grid_of_three_settings_compares_with_mlflows_own_figures(tracking_uri, experiment_name):
    """Three settings of one Weather prompt at once (the demo, and two models on a local OpenAI-compatible server
    through the real openai SDK), then compared: each side's totals are MLflow's for its trace, its steps add up
    to them, the same agent steps share rows, and the free side is the cheapest."""
    store = ConversationStore.connect(tracking_uri, experiment_name)
    with OpenAIStub() as server:
        settings = Settings.for_provider("openai-compatible").with_(
            api_key="sk-test-grid",
            base_url=server.base_url,
            chat_model="gpt-4o-mini",
            vision_model="gpt-4o-mini",
            image_model="",
            tracking_uri=tracking_uri,
            experiment_name=experiment_name,
            max_retries=0,
        )
        origin = Origin(
            scenario="weather", message="What's the weather in Paris?", setting=Setting.of(settings, {"weather_source": "offline"})
        )
        chosen = [
            Setting("demo", "demo-chat", "demo-vision", "demo-image", {"weather_source": "offline"}),
            Setting("openai-compatible", "gpt-4o-mini", "gpt-4o-mini", "", {"weather_source": "offline"}),
            Setting("openai-compatible", "gpt-4o", "gpt-4o", "", {"weather_source": "offline"}),
        ]
        cells = plan(origin, chosen, store, "grid-session", settings)
        group = open_group(store, origin, "grid-session", len(cells))
        open_runs(store, cells, origin, group)
        outcomes = asyncio.run(run_cells(cells, origin.message, settings, store))
    assert [o.status for o in outcomes] == ["ok", "ok", "ok"], [o.error for o in outcomes]
    assert [c.label for c in cells] == ["demo", "same settings", "gpt-4o · vision: gpt-4o"]
    children = store.client.search_runs([store.experiment_id], filter_string=f"tags.`{contract.RunTag.PARENT}` = '{group}'")
    assert sorted(r.data.tags[contract.VariantTag.LABEL] for r in children) == sorted(c.label for c in cells)

    loaded = [traces.load_trace(tracking_uri, o.trace_id) for o in outcomes]
    result = compare.compare(loaded, [c.label for c in cells])
    for side, trace in zip(result.sides, loaded):
        usage = trace.info.token_usage
        assert (side.input_tokens, side.output_tokens) == (usage["input_tokens"], usage["output_tokens"])
        assert side.cost_usd == pytest.approx(trace.info.cost["total_cost"]) if trace.info.cost else side.cost_usd in (None, 0.0)
        assert sum(s.input_tokens for s in side.steps) == side.input_tokens
        assert sum(s.cost_usd or 0.0 for s in side.steps) == pytest.approx(side.cost_usd or 0.0)
        assert side.answer == next(s for s in trace.data.spans if not s.parent_id).outputs != ""
    assert result.sides[1].cost_usd and result.sides[2].cost_usd > result.sides[1].cost_usd  # gpt-4o costs more
    assert result.winners["cheapest"] == [0]
    assert result.rows[0].name == "planner" and all(result.rows[0].cells)
    assert {r.name for r in result.rows} >= {"planner", "weather_assistant"}

    exported = compare.to_csv(result).decode()
    body = [line for line in exported.splitlines() if not line.startswith("#")]
    table = list(csv.DictReader(io.StringIO("\n".join(body))))
    assert table[-1]["step"] == "(total, MLflow's)" and int(table[-1]["3: input tokens"]) == result.sides[2].input_tokens
    assert json.loads(compare.to_json(result))["winners"]["cheapest"] == [0]


def test_other_codes_traces_and_a_failed_step_compare_by_span_name(tracking_uri, experiment_name):
    """Traces the app did not write: a decorated function, an autologged OpenAI call, and one whose second step
    failed. Their top spans are the steps; the failure is the step's status with MLflow's words."""
    store = ConversationStore.connect(tracking_uri, experiment_name)
    with OpenAIStub() as server:
        plain_id, autologged_id = foreign_traces(store.experiment_id, server)

    @mlflow.trace(name="answer_question")
    def pipeline(ok: bool) -> str:
        with mlflow.start_span(name="retrieve") as span:
            span.set_outputs("docs")
        with mlflow.start_span(name="generate"):
            if not ok:
                raise RuntimeError("the model timed out")
        return "done"

    mlflow.set_experiment(experiment_id=store.experiment_id)
    pipeline(True)
    good = mlflow.get_last_active_trace_id()
    with pytest.raises(RuntimeError):
        pipeline(False)
    bad = mlflow.get_last_active_trace_id()
    assert tracing_complete(good) and tracing_complete(bad)
    result = compare.compare([traces.load_trace(tracking_uri, i) for i in (good, bad)])
    assert keys(result.rows) == [("retrieve", 1, (True, True)), ("generate", 1, (True, True))]
    failed = result.rows[1].cells[1]
    assert failed.status == "ERROR" and "timed out" in failed.error
    assert result.sides[1].status == "ERROR" and result.sides[0].status == "OK"

    autologged = traces.load_trace(tracking_uri, autologged_id)
    side = compare.side_of(autologged)
    assert side.input_tokens == autologged.info.token_usage["input_tokens"] > 0
    assert sum(s.tokens for s in side.steps) == side.tokens
    assert side.cost_usd == pytest.approx(autologged.info.cost["total_cost"])
    assert [s.name for s in compare.side_of(traces.load_trace(tracking_uri, plain_id)).steps] == ["tokenize"]


def test_a_cost_mlflow_was_given_on_the_root_is_a_row_of_its_own(tracking_uri, experiment_name):
    """What no step holds (usage set on the root by other code) still counts: a "(rest of the trace)" row, so a
    side's steps add up to MLflow's totals."""
    store = ConversationStore.connect(tracking_uri, experiment_name)
    mlflow.set_experiment(experiment_id=store.experiment_id)
    with mlflow.start_span(name="root") as root:
        root.set_attribute(contract.SpanAttr.USAGE, {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10})
        with mlflow.start_span(name="step"):
            pass
    trace_id = mlflow.get_last_active_trace_id()
    assert tracing_complete(trace_id)
    side = compare.side_of(traces.load_trace(tracking_uri, trace_id))
    assert [(s.name, s.tokens) for s in side.steps] == [("step", 0), (compare.REST, 10)]
    assert side.tokens == 10


def test_a_turn_and_its_fork_are_labelled_by_what_changed(tracking_uri, experiment_name):
    store = ConversationStore.connect(tracking_uri, experiment_name)
    settings = Settings(tracking_uri=tracking_uri, experiment_name=experiment_name)
    first = asyncio.run(
        run_turn(
            TurnRequest(
                Conversation(scenario="catify", session_id="s", provider="demo", options={"iterations": 1}), "a cat", settings, store
            )
        )
    )
    origin = origin_of(store.load(str(first.conversation.id)), 1, settings)
    noir = Setting(**{**origin.setting.__dict__, "options": {**origin.setting.options, "instruction": "Make it noir."}})
    cells = plan(origin, [noir], store, "s", settings)
    open_runs(store, cells, origin, open_group(store, origin, "s", 1))
    forked = asyncio.run(run_cells(cells, origin.message, settings, store))[0]
    sides = [compare.side_of(traces.load_trace(tracking_uri, t)) for t in (first.trace_id, forked.trace_id)]
    assert compare.side_labels(store.client, store.experiment_id, sides) == ["original, turn 1", "critic instruction: Make it noir."]
