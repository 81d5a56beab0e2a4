"""Traces read as a conversation at every level in MLflow (issue 31):

- every span of a Catify, an Analyst & Summarizer, a Weather and a team-file turn is scanned: no Python repr
  (`FunctionCall(`), no `<image>` placeholder, no dump of agentchat's message objects (`"type": "TextMessage"`);
  each agent's step has role-tagged messages in and out (MLflow's ChatAgent shape), tool requests as `tool_calls`,
  tool results as `tool` messages, pictures as image parts held as trace attachments;
- MLflow's session is the conversation and its user the owner: two conversations of one browser session are two
  MLflow sessions (`search_traces` by `metadata.mlflow.trace.session`) of one user;
- old traces (their session was the owner) still read, count and stay their owner's."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.tracing.client import TracingClient

from core import contract, scenarios, traces
from core.config import Settings
from core.conversations import Conversation
from core.observe import export
from core.reading import aggregates
from core.reading import story as trace_view  # its tests name their stories `story`
from core.scenarios import analyst, weather
from core.turn import TurnRequest, run_turn
from tests.pages import open_app, send

FIXTURE = Path(__file__).parent / "fixtures" / "studio_calculator_team.json"
REPORT = "Quarterly report. Sales grew 12% to $4.5 million in Q3. Costs rose 3% because of freight. Supply delays hit October."
ROLES = {"system", "user", "assistant", "tool"}
DUMPS = (
    "FunctionCall(",
    "FunctionExecutionResult(",
    "<image>",
    '"type": "TextMessage"',
    '"type": "MultiModalMessage"',
    "ToolCallRequestEvent",
)


@pytest.fixture()
def team_file(tmp_path, monkeypatch):
    folder = tmp_path / "teams"
    folder.mkdir()
    shutil.copy(FIXTURE, folder / FIXTURE.name)
    monkeypatch.setenv("APP_TEAMS_DIR", str(folder))
    scenarios.rescan()
    yield "team:studio_calculator_team"
    monkeypatch.delenv("APP_TEAMS_DIR")
    scenarios.rescan()


def turn(store, tracking_uri: str, scenario: str, message: str, owner: str = "visitor-1", **options: Any):
    conversation = Conversation(scenario=scenario, session_id=owner, provider="demo", options=options)
    outcome = asyncio.run(run_turn(TurnRequest(conversation, message, Settings(tracking_uri=tracking_uri), store)))
    assert outcome.status in ("ok", "waiting"), outcome.error
    return outcome


def every_span_text(trace) -> str:
    return "\n".join(json.dumps({"in": s.inputs, "out": s.outputs, "attributes": s.attributes}, default=str) for s in trace.data.spans)


def agent_steps(trace) -> list:
    return [s for s in trace.data.spans if s.span_type == "AGENT" and s.parent_id is not None]


def messages_of(value: Any) -> list[dict[str, Any]]:
    assert isinstance(value, dict) and isinstance(value.get("messages"), list) and value["messages"], value
    for message in value["messages"]:
        assert message["role"] in ROLES, message
    return value["messages"]


def test_every_span_of_each_scenario_reads_as_a_conversation(store, tracking_uri, team_file):
    outcomes = {
        "catify": turn(store, tracking_uri, "catify", "a cat on a roof", iterations=1),
        "analyst": turn(store, tracking_uri, analyst.KEY, "What went wrong?", report=REPORT),
        "weather": turn(store, tracking_uri, weather.KEY, "What's the weather in Oslo?", weather_source="offline"),
        "team": turn(store, tracking_uri, team_file, "What is 12.5 times 8?"),
    }
    export.flush()
    client = TracingClient(tracking_uri)
    found = {name: client.get_trace(o.trace_id) for name, o in outcomes.items()}
    for name, trace in found.items():
        text = every_span_text(trace)
        for dump in DUMPS:
            assert dump not in text, f"{name}: {dump} in a span"
        steps = agent_steps(trace)
        assert steps, name
        # an agent is given what was said since it last spoke: nothing when only it spoke (a one-agent round robin)
        assert any(step.inputs["messages"] for step in steps), name
        for step in steps:
            for message in step.inputs["messages"]:
                assert message["role"] in ROLES, message
            said = messages_of(step.outputs)
            assert said[-1]["role"] == "assistant" and said[-1]["name"] == step.name, (name, said)

    critic = next(s for s in agent_steps(found["catify"]) if s.name == "critic")
    [shown] = [m for m in critic.inputs["messages"] if isinstance(m["content"], list)]
    assert shown["role"] == "user" and shown["name"] == "image_agent"
    picture = next(p for p in shown["content"] if p["type"] == "image_url")
    assert picture["image_url"]["url"].startswith("mlflow-attachment://"), "the picture itself, from the trace's attachments"

    for name, tool in (("weather", "get_weather"), ("team", "calculator")):
        said = [m for s in agent_steps(found[name]) for m in s.outputs["messages"]]
        [request] = [m for m in said if m.get("tool_calls")]
        call = request["tool_calls"][0]
        assert request["role"] == "assistant" and call["type"] == "function" and call["function"]["name"] == tool
        [result] = [m for m in said if m["role"] == "tool"]
        assert result["tool_call_id"] == call["id"] and result["name"] == tool and result["content"]


def test_old_agent_spans_still_show_as_data_and_new_ones_as_a_chat(store, tracking_uri, team_file):
    outcome = turn(store, tracking_uri, team_file, "What is 12.5 times 8?")
    export.flush()
    step = agent_steps(TracingClient(tracking_uri).get_trace(outcome.trace_id))[0]
    story = trace_view.span_story(step)
    assert story.chat and story.chat[0].role == "user" and any(line.tool_calls for line in story.chat)

    class Old:  # an agent step as traces before issue 31 have it
        inputs = {"messages": [{"type": "TextMessage", "source": "user", "content": "hi"}]}
        outputs = {"response": {"type": "TextMessage", "source": "a", "content": "hello"}, "events": []}
        status = None

    assert trace_view.span_story(Old()).data == {"inputs": Old.inputs, "outputs": Old.outputs}


def test_two_conversations_in_one_browser_session_are_two_mlflow_sessions_of_one_user(app_env_for_chat, tracking_uri):
    at = open_app()
    send(at, "a cat on a roof")
    first = at.query_params["conversation"]
    next(b for b in at.button if b.label == "New conversation").click().run()
    send(at, "a dog in the snow")
    second = at.query_params["conversation"]
    assert first != second
    export.flush()
    client = TracingClient(tracking_uri)
    experiment = mlflow.get_experiment_by_name(app_env_for_chat).experiment_id
    by_session = {
        conversation: client.search_traces(
            locations=[experiment], filter_string=f"metadata.`{contract.TraceMetadata.SESSION}` = '{conversation}'", include_spans=False
        )
        for conversation in (first, second)
    }
    assert [len(found) for found in by_session.values()] == [1, 1], "each conversation its own MLflow session"
    users = {t.info.trace_metadata[contract.TraceMetadata.USER] for found in by_session.values() for t in found}
    owners = {t.info.tags[contract.TraceTag.OWNER] for found in by_session.values() for t in found}
    assert len(users) == 1 and users == owners and "@" not in next(iter(users)), "one user: the opaque owner id"


def test_a_trace_written_before_keeps_its_owner_counts_and_reads(store, tracking_uri):
    """Before issue 31 a turn's MLflow session was its owner: such a trace stays theirs everywhere."""
    experiment = store.experiment_id
    with mlflow.start_span("catify turn", trace_destination=mlflow.entities.trace_location.MlflowExperimentLocation(experiment)) as span:
        span.set_inputs({"messages": [{"role": "user", "content": "an old turn"}]})
        mlflow.update_current_trace(tags={contract.RunTag.SCENARIO: "catify", contract.TraceTag.TURN: "1"}, session_id="old-owner")
        old_id = span.trace_id
    new = turn(store, tracking_uri, "catify", "a new turn", owner="old-owner", iterations=1)
    export.flush()
    client = TracingClient(tracking_uri)
    assert traces.trace_owner(client.get_trace(old_id)) == traces.trace_owner(client.get_trace(new.trace_id)) == "old-owner"
    frames = traces.reader_for(tracking_uri, experiment).frames()
    mine = traces.apply_filter(frames, traces.TraceFilter(owners=("old-owner",))).traces
    assert set(mine["trace_id"]) == {old_id, new.trace_id}
    assert aggregates.MetricsReader(tracking_uri, experiment).count(scope=aggregates.Scope(owner="old-owner")) == 2
    rows = aggregates.MetricsReader(tracking_uri, experiment).rows(None, None, "old-owner")
    assert rows is not None and len(rows) == 2


@pytest.fixture()
def app_env_for_chat(monkeypatch, tracking_uri, experiment_name):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("APP_PROVIDER", raising=False)
    return experiment_name
