"""Teams brought as files in AutoGen Studio's format (tests/fixtures/studio_calculator_team.json: one
AssistantAgent on component version 1 with a calculator FunctionTool in a RoundRobinGroupChat, as AutoGen
Studio's default gallery writes it): read and upgraded, offered as a scenario, run offline on the demo
provider through the runner and the chat page, traced like the built-in scenarios. Bad files get a sentence."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import shutil
from pathlib import Path

import pytest

from core import contract, scenarios, team_files
from core.config import Settings
from core.conversations import Conversation
from core.observe import export
from core.turn import run_turn
from tests.pages import open_app, send

FIXTURE = Path(__file__).parent / "fixtures" / "studio_calculator_team.json"
KEY = "team:studio_calculator_team"


@pytest.fixture()
def teams_dir(tmp_path, monkeypatch):
    """A teams folder with the fixture in it, offered by the registry for this test only."""
    folder = tmp_path / "teams"
    folder.mkdir()
    shutil.copy(FIXTURE, folder / FIXTURE.name)
    monkeypatch.setenv("APP_TEAMS_DIR", str(folder))
    scenarios._discovered = False
    yield folder
    for scenario in scenarios.all_scenarios():
        if scenario.key.startswith("team:"):
            scenarios.unregister(scenario.key)
    monkeypatch.delenv("APP_TEAMS_DIR")
    scenarios._discovered = False
    scenarios.all_scenarios()


def test_a_studio_file_on_version_1_is_read_and_upgraded():
    team = team_files.read(FIXTURE)
    assert (team.key, team.label, team.agents, team.models) == (KEY, "Calculator Team", ("assistant_agent",),
                                                                ("gpt-4o-mini",))
    agent = team.component["config"]["participants"][0]
    assert agent["component_version"] == 2, "AssistantAgent's v1 config fits its v2 schema as it is"


@pytest.mark.parametrize("change, says", [
    (lambda c: c["config"]["participants"][0]["config"].pop("reflect_on_tool_use"),
     "AssistantAgent is written for version 1 of autogen_agentchat.agents.AssistantAgent"),
    (lambda c: c["config"]["participants"][0].update(provider="no_such_package.Agent"),
     "needs no_such_package.Agent, but the module no_such_package is not installed here"),
    (lambda c: c.update(component_type="agent"), "is not a team: its top-level component_type should be \"team\""),
])
def test_files_that_cannot_be_used_get_a_sentence(tmp_path, change, says):
    component = json.loads(FIXTURE.read_text())
    change(component)
    path = tmp_path / "team.json"
    path.write_text(json.dumps(component))
    with pytest.raises(team_files.TeamFileError, match=re_escape(says)):
        team_files.read(path)


def re_escape(text: str) -> str:
    return re.escape(text)


def test_not_json_and_too_big(tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(team_files.TeamFileError, match="“broken.json” is not a JSON team file"):
        team_files.read(tmp_path / "broken.json")
    (tmp_path / "huge.json").write_text(" " * (team_files.MAX_FILE_BYTES + 1))
    with pytest.raises(team_files.TeamFileError, match="team files can be up to 1 MB"):
        team_files.read(tmp_path / "huge.json")


def test_a_tool_with_a_syntax_error_fails_the_turn_with_a_sentence(teams_dir, store, tracking_uri):
    component = json.loads(FIXTURE.read_text())
    component["config"]["participants"][0]["config"]["tools"][0]["config"]["source_code"] = "def calculator(:\n"
    (teams_dir / "bad_tool.json").write_text(json.dumps(component))
    scenarios._discovered = False
    conversation = Conversation(scenario="team:bad_tool", session_id="s", provider="demo")
    outcome = asyncio.run(run_turn(conversation, "What is 2 plus 3?", Settings(tracking_uri=tracking_uri), store))
    assert outcome.status == "error"
    assert outcome.error.startswith("The team in “bad_tool.json” could not be built: ") and "invalid syntax" in outcome.error
    assert outcome.entries[0]["text"] == "What is 2 plus 3?", "the message is kept"


def test_the_team_runs_offline_calls_its_tool_and_is_traced(teams_dir, store, tracking_uri):
    offered = scenarios.get(KEY)
    assert offered.label == "Calculator Team" and "gpt-4o-mini" in offered.description
    conversation = Conversation(scenario=KEY, session_id="s", provider="demo")
    outcome = asyncio.run(run_turn(conversation, "What is 12.5 times 8?", Settings(tracking_uri=tracking_uri), store))
    assert outcome.status == "ok", outcome.error
    tool = [e for e in outcome.entries if e["role"] == "tool"]
    assert [e["text"] for e in tool] == ['calculator(a=12.5, b=8.0, operator="*") → 100.0']
    assert outcome.entries[-1]["name"] == "assistant_agent" and "100.0" in outcome.entries[-1]["text"]
    assert "TERMINATE" not in outcome.entries[-1]["text"]

    export.flush()
    trace = store.client.get_trace(outcome.trace_id)
    assert trace.info.tags[contract.SCENARIO] == KEY and trace.info.tags[contract.TURN] == "1"
    spans = trace.data.spans
    assert [s.name for s in spans if s.span_type == "TOOL"] == ["calculator"]
    assert {s.name for s in spans if s.span_type == "AGENT"} >= {"assistant_agent"}
    assert len([s for s in spans if s.span_type == "CHAT_MODEL"]) == 2  # the tool call, then the answer
    again = asyncio.run(run_turn(store.load(outcome.conversation.id), "And 7 minus 10?",
                                 Settings(tracking_uri=tracking_uri), store))
    assert again.status == "ok" and "-3.0" in again.entries[-1]["text"], "a reopened team file conversation goes on"


def test_the_chat_page_offers_and_runs_a_team_file(teams_dir, monkeypatch, tracking_uri, experiment_name):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    monkeypatch.delenv("APP_PROVIDER", raising=False)
    at = open_app()
    picker = next(s for s in at.selectbox if s.label == "Scenario")
    assert "Calculator Team" in picker.options
    picker.set_value(KEY).run()
    send(at, "What is 12.5 times 8?")
    assert [m.name for m in at.chat_message][:2] == ["user", "tool"]
    assert "calculator(a=12.5, b=8.0, operator=\"*\") → 100.0" in at.chat_message[1].code[0].value
    assert len(at.query_params["conversation"]) == 32


def test_a_broken_file_is_said_on_the_page_and_the_rest_still_work(teams_dir, monkeypatch, tracking_uri,
                                                                  experiment_name):
    broken = copy.deepcopy(json.loads(FIXTURE.read_text()))
    broken["component_type"] = "agent"
    (teams_dir / "not_a_team.json").write_text(json.dumps(broken))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    at = open_app()
    warnings = [w.value for w in at.warning]
    assert any("Team file not offered: “not_a_team.json” is not a team" in w for w in warnings), warnings
    assert "Calculator Team" in next(s for s in at.selectbox if s.label == "Scenario").options
