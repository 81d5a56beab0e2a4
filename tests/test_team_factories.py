"""Python team files (core.runtimes.agentchat.team_factories): a create_team(models) factory is offered as a scenario, builds
its team on the sidebar's provider for every turn, and is traced like any team; a file that cannot be used
is said in a sentence naming the file and line, and the other scenarios stay."""

from __future__ import annotations

import asyncio
import textwrap

import pytest

from core import scenarios
from core.config import Settings
from core.conversations import Conversation
from core.observe import export
from core.runtimes.agentchat import team_factories, team_files
from core.turn import TurnRequest, run_turn

GOOD = '''
"""Adds two numbers with a tool."""
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import TextMentionTermination
from autogen_agentchat.teams import RoundRobinGroupChat

LABEL = "Adder"


def add(a: float, b: float) -> str:
    return str(a + b)


def create_team(models):
    agent = AssistantAgent("adder", model_client=models.client("adder", model="gpt-4.1-mini"), tools=[add],
                           system_message="You are an adder. Use the tool, then say TERMINATE.")
    return RoundRobinGroupChat([agent], termination_condition=TextMentionTermination("TERMINATE"))
'''


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("APP_TEAMS_DIR", str(tmp_path))
    yield tmp_path
    monkeypatch.delenv("APP_TEAMS_DIR")
    scenarios.rescan()


def test_a_factory_is_offered_and_runs_traced_on_the_demo_provider(folder, store, tracking_uri):
    (folder / "adder.py").write_text(GOOD)
    scenarios.rescan()
    offered = scenarios.get("team:adder")
    assert (offered.label, offered.description, offered.team_file) == ("Adder", "Adds two numbers with a tool.", "adder.py")
    assert [a.name for a in offered.agents] == ["adder"] and offered.models_asked == ("gpt-4.1-mini",)
    conversation = Conversation(scenario="team:adder", session_id="s", provider="demo")
    outcome = asyncio.run(run_turn(TurnRequest(conversation, "2.5 plus 4", Settings(tracking_uri=tracking_uri), store)))
    assert outcome.status == "ok", outcome.error
    assert [e["text"] for e in outcome.entries if e["role"] == "tool"] == ["add(a=2.5, b=4.0) → 6.5"]
    export.flush()
    spans = store.client.get_trace(outcome.trace_id).data.spans
    assert [s.name for s in spans if s.span_type == "TOOL"] == ["add"], "a factory's FunctionTool is traced too"
    steps = [s.name for s in spans if s.span_type == "AGENT" and s.parent_id is not None]
    assert steps == ["adder", "adder"], "the tool call, then the answer: each step an AGENT span"


@pytest.mark.parametrize(
    "source, says",
    [
        ("def create_team(models:\n", "“bad.py” has a syntax error on line 1"),
        ("import no_such_package_here\n", "“bad.py” needs the module no_such_package_here, which is not installed here."),
        ("x = 1\n", "“bad.py” has no create_team(models) function"),
        ("def create_team(models):\n    return 42\n", "create_team() in “bad.py” returned int, not an agentchat team"),
        (
            "def create_team(models):\n    raise ValueError('no key in the file')\n",
            "create_team() in “bad.py” raised ValueError (line 2): no key in the file",
        ),
        ("raise RuntimeError('boom')\n", "“bad.py” failed when it was read (line 1): RuntimeError: boom"),
        ("import sys\nsys.exit('bye')\n", "“bad.py” failed when it was read (line 2): SystemExit: bye"),
        (
            "import time\ndef create_team(models):\n    time.sleep(30)\n",
            "create_team() in “bad.py” did not finish within 0.5 s; the app left it running and does not offer the team.",
        ),
    ],
)
def test_a_factory_that_cannot_be_used_is_said_and_the_rest_stay(folder, source, says, monkeypatch):
    monkeypatch.setattr(team_factories, "READ_TIMEOUT_S", 0.5)
    (folder / "bad.py").write_text(textwrap.dedent(source))
    (folder / "adder.py").write_text(GOOD)
    scenarios.rescan()
    assert scenarios.find("team:bad") is None and scenarios.find("team:adder") is not None
    assert f"Team file not offered: {says}" in "\n".join(scenarios.load_problems())
    with pytest.raises(team_files.TeamFileError):
        team_factories.read_factory(folder / "bad.py")


def test_helpers_and_hidden_files_are_not_teams(folder):
    (folder / "_shared.py").write_text("raise RuntimeError('a helper module is not a team')\n")
    (folder / ".draft.json").write_text("{")
    assert team_files.team_paths(folder) == []
