"""Python team files for Agent Framework (issue 34, item 3; core.runtimes.agentframework.team_factories): a
create_workflow(models) file in the teams folder is offered as a scenario on the Agent Framework runtime, builds its
agents on the sidebar's provider for every turn (the demo, and the real openai SDK over HTTP to the suite's server), and
is traced by the same contract as the built-in teams; a file that cannot be used is said in a sentence naming the file
and line, and the other scenarios stay."""

from __future__ import annotations

import asyncio
import textwrap

import pytest
from mlflow.entities import SpanType

from core import contract, scenarios
from core.config import Settings
from core.conversations import Conversation
from core.observe import export
from core.runtimes import team_code
from core.runtimes.agentframework import team_factories
from core.turn import TurnRequest, run_turn
from tests.openai_server import OpenAIStub
from tests.test_agentframework import assert_counted_once, parents
from tests.test_openai_path import CANARY, openai_settings

GOOD = '''
"""Adds two numbers with a tool, then a checker says it is right (try “2.5 plus 4”)."""
from agent_framework import Agent, tool
from agent_framework.orchestrations import SequentialBuilder

LABEL = "Adder desk"


@tool(approval_mode="never_require")
def add(a: float, b: float) -> str:
    """Adds two numbers."""
    return str(a + b)


def create_workflow(models):
    adder = Agent(client=models.client("adder", model="gpt-4.1-mini"), name="adder", tools=[add],
                  instructions="You are an adder. Use the tool.")
    checker = Agent(client=models.client("checker"), name="checker", instructions="You check the adder's sum.")
    return SequentialBuilder(participants=[adder, checker])
'''


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("APP_TEAMS_DIR", str(tmp_path))
    yield tmp_path
    monkeypatch.delenv("APP_TEAMS_DIR")
    scenarios.rescan()


def trace_of(store, trace_id: str):
    export.flush()
    return store.client.get_trace(trace_id)


def test_a_workflow_factory_is_offered_on_agent_framework_and_runs_traced_on_the_demo(folder, store, tracking_uri):
    (folder / "adder.py").write_text(GOOD)
    scenarios.rescan()
    offered = scenarios.get("team:adder")
    assert (offered.label, offered.team_file, offered.runtime) == ("Adder desk", "adder.py", "agentframework")
    assert offered.example == "2.5 plus 4"
    assert [a.name for a in offered.agents] == ["adder", "checker"] and offered.models_asked == ("gpt-4.1-mini",)
    conversation = Conversation(scenario="team:adder", session_id="s", provider="demo")
    outcome = asyncio.run(run_turn(TurnRequest(conversation, "2.5 plus 4", Settings(tracking_uri=tracking_uri), store)))
    assert outcome.status == "ok", outcome.error
    assert [e["text"] for e in outcome.entries if e["role"] == "tool"] == ["add(a=2.5, b=4.0) → 6.5"]
    assert [e["name"] for e in outcome.entries if e["role"] == "assistant"] == ["adder", "checker"]

    trace = trace_of(store, outcome.trace_id)
    assert trace.info.tags[contract.RunTag.RUNTIME] == "agentframework"
    assert trace.info.tags[contract.TraceTag.TURN] == "1"
    tree = parents(trace)
    assert tree["TOOL add"] == "adder", "the factory's tool is traced inside its agent's step"
    assert tree["AGENT adder"] == tree["AGENT checker"] != "", "each agent's run an AGENT span under the turn"
    by_id = {s.span_id: s for s in trace.data.spans}
    calls = [by_id[s.parent_id].name for s in trace.data.spans if s.span_type == SpanType.CHAT_MODEL]
    assert sorted(calls) == ["adder", "adder", "checker"], "the tool call and the answer, then the check"
    assert_counted_once(trace)

    again = asyncio.run(run_turn(TurnRequest(outcome.conversation, "and 1 plus 1", Settings(tracking_uri=tracking_uri), store)))
    assert again.status == "ok", again.error
    assert trace_of(store, again.trace_id).info.tags[contract.TraceTag.TURN] == "2", "the second turn restored its checkpoint"


def test_a_workflow_factory_through_the_openai_sdk_over_http(folder, store, tracking_uri):
    (folder / "adder.py").write_text(GOOD)
    scenarios.rescan()
    with OpenAIStub() as server:
        settings = openai_settings(server, tracking_uri)
        conversation = Conversation(scenario="team:adder", session_id="s", provider="openai")
        outcome = asyncio.run(run_turn(TurnRequest(conversation, "What do you make of 2 and 3?", settings, store)))
        requests = server.requests_to("/chat/completions")
    assert outcome.status == "ok", outcome.error
    assert [r.body["model"] for r in requests] == ["gpt-4.1-mini", "gpt-4o-mini"], "the model it asked for, where OpenAI has it"
    assert all(r.headers["authorization"] == f"Bearer {CANARY}" for r in requests)
    trace = trace_of(store, outcome.trace_id)
    assert trace.info.tags[contract.RunTag.RUNTIME] == "agentframework"
    assert trace.info.token_usage[contract.Usage.INPUT_TOKENS] == sum(r.usage["prompt_tokens"] for r in requests)
    assert_counted_once(trace)
    assert CANARY not in str(trace.to_dict())


@pytest.mark.parametrize(
    "source, says",
    [
        ("def create_workflow(models):\n    return 42\n", "create_workflow() in “bad.py” returned int, not an Agent Framework workflow"),
        (
            "def create_workflow(models):\n    raise ValueError('no key in the file')\n",
            "create_workflow() in “bad.py” raised ValueError (line 2): no key in the file",
        ),
        (
            """
            from agent_framework import Agent
            from agent_framework.openai import OpenAIChatCompletionClient
            def create_workflow(models):
                return Agent(client=OpenAIChatCompletionClient(model="gpt-4o", api_key="sk-own"), name="rogue")
            """,
            "The agent rogue in “bad.py” has a chat client the app did not give it: take it from models.client('rogue')",
        ),
        (
            "raise RuntimeError('boom')\ndef create_workflow(models):\n    pass\n",
            "“bad.py” failed when it was read (line 1): RuntimeError: boom",
        ),
        (
            "import time\ndef create_workflow(models):\n    time.sleep(30)\n",
            "create_workflow() in “bad.py” did not finish within 0.5 s; the app left it running and does not offer the team.",
        ),
    ],
)
def test_a_workflow_factory_that_cannot_be_used_is_said_and_the_rest_stay(folder, source, says, monkeypatch):
    monkeypatch.setattr(team_factories, "READ_TIMEOUT_S", 0.5)
    (folder / "bad.py").write_text(textwrap.dedent(source))
    (folder / "adder.py").write_text(GOOD)
    scenarios.rescan()
    assert scenarios.find("team:bad") is None and scenarios.find("team:adder") is not None
    problems = "\n".join(scenarios.load_problems())
    assert f"Team file not offered: {says}" in problems
    assert problems.count("bad.py") == 1, "one runtime reads the file, never both"


def test_a_file_is_read_by_the_runtime_whose_factory_it_defines(tmp_path):
    files = {"a.py": "def create_team(models): ...\n", "b.py": "def create_workflow(models): ...\n", "c.py": "x = (\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert [team_code.factory_defined(tmp_path / name) for name in files] == ["agentchat", "agentframework", ""]
