"""The runtime seam (core.runtimes, issue 33): a second agent runtime is one module of its own plus one registration
line, and a turn runs on it through the same front door as on agentchat: admitted, traced, saved, paused for the
human and resumed, with no framework's types anywhere but in its folder."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import textwrap
import types

import pytest

from core import agents, contract, scenarios
from core.config import Settings
from core.conversations import Conversation
from core.observe import export
from core.runtimes.agentchat import team_files
from core.scenarios import from_files
from core.turn import Progress, Said, TurnHandle, TurnRequest, run_turn

# the whole runtime: what core/runtimes/<name>/__init__.py would hold (here a plain Python "framework")
RUNTIME = textwrap.dedent("""
    from core import costs
    from core.runtimes import Finished, Spoke, Task, Working, Writing


    class Models:
        def __init__(self, settings):
            self.settings = settings

        def totals(self):
            return costs.CallTotals()

        def chat_cost_usd(self):
            return 0.0

        async def close(self):
            pass


    class EchoTeam:
        total_steps = 2

        def __init__(self, context):
            self.context, self.heard = context, []

        async def load_state(self, state):
            self.heard = list(state["heard"])

        async def save_state(self):
            return {"heard": self.heard}

        async def run(self, task: Task):
            self.heard.append(task.text)
            yield Working(f"{self.context.label('echo_agent')} is echoing", 1)
            yield Writing("echo_agent", "(echo", 1)
            if "?" in task.text:  # it asks the human, and waits
                entry = {"role": "assistant", "name": "echo_agent", "text": "Which one?", "turn": self.context.turn, "step": 1}
                yield Spoke([{**entry, "asks_user": True}], 1)
                yield Finished("asked the user", 1, waiting=True)
                return
            said = f"(echo) {task.text} after {task.resume_from or 'nobody'}; heard {len(self.heard)}"
            yield Spoke([{"role": "assistant", "name": "echo_agent", "text": said, "turn": self.context.turn, "step": 1}], 1)
            yield Finished("done", 1)

        def stop(self):
            pass

        def cancel(self):
            pass


    class EchoRuntime:
        name = "echo"
        sources = ()

        def models(self, settings):
            return Models(settings)

        def build(self, scenario, context):
            return EchoTeam(context)


    RUNTIME = EchoRuntime()
""")


@pytest.fixture()
def echo_runtime(monkeypatch):
    module = types.ModuleType("echo_runtime_for_tests")
    exec(compile(RUNTIME, "echo_runtime_for_tests", "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, "echo_runtime_for_tests", module)
    monkeypatch.setitem(agents.RUNTIMES.modules, "echo", "echo_runtime_for_tests")  # the one registration line
    scenario = dataclasses.replace(scenarios.get("weather"), key="echo-weather", runtime="echo", team="weather", options=())
    scenarios.register(scenario)
    yield scenario
    scenarios.unregister(scenario.key)
    agents.RUNTIMES._loaded.pop("echo", None)


def test_a_second_runtime_runs_a_turn_pauses_for_the_human_and_resumes(echo_runtime, tracking_uri, store, mlflow_client):
    settings = Settings(tracking_uri=tracking_uri)
    conversation = Conversation(scenario=echo_runtime.key, session_id="s", provider="demo")
    handle = TurnHandle(TurnRequest(conversation, "Weather where?", settings, store)).start()
    paused = handle.wait(60)
    assert paused is not None and paused.status == "waiting", paused
    assert [e.text for e in handle.events if isinstance(e, Progress)][1] == "echo_agent is echoing"
    assert [e.entry["text"] for e in handle.events if isinstance(e, Said)] == ["Which one?"]
    assert paused.conversation.state == {"heard": ["Weather where?"]}

    resumed = asyncio.run(run_turn(TurnRequest(store.load(paused.conversation.id), "Oslo", settings, store)))
    assert resumed.status == "ok", resumed.error
    assert resumed.entries[-1]["text"] == "(echo) Oslo after echo_agent; heard 2", "state loaded, resumed from the asker"
    export.flush()
    found = mlflow_client.search_traces(locations=[store.experiment_id])
    assert sorted(t.info.tags[contract.TraceTag.TURN] for t in found) == ["1", "2"]
    assert {t.info.tags[contract.RunTag.SCENARIO] for t in found} == {"echo-weather"}


def test_an_unknown_runtime_is_a_sentence():
    with pytest.raises(KeyError, match="No agent runtime named 'nope'; known: agentchat, agentframework"):
        agents.RUNTIMES.get("nope")


def test_a_model_version_logged_before_the_runtime_folder_still_reads_its_team_file():
    """Its team_model.py imports core.scenarios.from_files in the app's process (read_any, scenario_for)."""
    path = sorted(team_files.teams_dir().glob("*.json"))[0]
    teams, problems = from_files.read_any(path)
    assert teams and not problems
    assert from_files.scenario_for(teams[0]).team_file == path.name
