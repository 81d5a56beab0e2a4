"""A scenario is one module: a fourth scenario dropped into the registry's package from this test (one file,
no other change anywhere) shows in the chat page's picker with its label, options and agent names, runs a turn
through the page on the real `openai` SDK against the local OpenAI-compatible server, and is traced, summarised
and costed like the built-in three (MLflow prices its model call from the catalog; the read side counts it)."""

from __future__ import annotations

import dataclasses
import importlib
import sys
import textwrap

import pytest

from core import contract, hosted, scenarios, traces
from core.config import Settings
from core.observe import export
from core.scenarios import TextOption
from tests.openai_server import OpenAIStub
from tests.pages import open_app, send

pytestmark = pytest.mark.filterwarnings("ignore:Resolved model mismatch:UserWarning")

# the whole scenario: what a contributor would put in core/scenarios/echo_team.py
MODULE = textwrap.dedent('''
    """Echo team: one assistant that answers in a single line (a test's fourth scenario)."""
    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.conditions import ExternalTermination, MaxMessageTermination
    from autogen_agentchat.teams import RoundRobinGroupChat

    from core import costs
    from core.agents import TeamContext
    from core.runtimes.agentchat.agents import TeamPlan, traced
    from core.scenarios import AgentInfo, CostQuestion, Scenario, TextOption


    def demo_echo(messages, tools):
        return "(echo) " + str(getattr(messages[-1], "content", ""))[:80]


    def build(context: TeamContext) -> TeamPlan:
        agent = AssistantAgent("echo_agent", model_client=context.clients.for_role("echo_agent", demo_echo),
                               system_message=str(context.options["style"]))
        stop = ExternalTermination()
        team = RoundRobinGroupChat([traced(agent)], termination_condition=MaxMessageTermination(2) | stop)
        return TeamPlan(team=team, stop=stop, total_steps=1)


    def cost_bound(question: CostQuestion):
        return costs.chat_bound(question.settings, question.settings.chat_model, question.context_tokens, 1)


    SCENARIO = Scenario(
        key="echo", label="Echo team", description="One assistant answers in one line.", build=build,
        cost_bound=cost_bound, agents=(AgentInfo("echo_agent", "Echo agent", ":material/record_voice_over:",
                                                 "echoing"),),
        options=(TextOption("style", "Echo style", "Answer in one short line."),),
        placeholder="Say something to echo", order=50)
''')


@pytest.fixture()
def echo_module(tmp_path, monkeypatch):
    """core/scenarios/echo_team.py, as far as the registry can tell: a module file in the package's path."""
    (tmp_path / "echo_team.py").write_text(MODULE)
    monkeypatch.setattr(scenarios, "__path__", [*scenarios.__path__, str(tmp_path)])
    monkeypatch.setattr(scenarios, "_discovered", False)
    yield "core.scenarios.echo_team"
    scenarios.unregister("echo")
    sys.modules.pop("core.scenarios.echo_team", None)
    importlib.invalidate_caches()


def test_a_module_in_the_package_is_a_scenario_everywhere(echo_module, monkeypatch, tracking_uri, experiment_name, mlflow_client):
    echo = scenarios.get("echo")
    built_in = [s.key for s in scenarios.all_scenarios() if not s.team_file and s.listed]  # team files follow (teams/)
    assert built_in == ["catify", "analyst", "weather", "echo"]
    assert echo.label == "Echo team" and scenarios.agent_label("echo_agent") == "Echo agent"
    owner = Settings(provider="openai", api_key="sk-owner", chat_model="gpt-4o-mini", max_output_tokens=100)
    assert 0 < hosted.max_turn_cost("echo", {"style": "short"}, owner, "hello") < 0.001
    with pytest.raises(Exception, match="style has 3,000 characters"):
        hosted.check_options("echo", {"style": "x" * 3000})

    with OpenAIStub() as server:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
        monkeypatch.setenv("APP_PROVIDER", "openai")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-echo")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        at = open_app()
        picker = next(s for s in at.selectbox if s.label == "Scenario")
        assert "Echo team" in picker.options
        picker.set_value("echo").run()
        assert at.sidebar.text_area(key="style").value == "Answer in one short line."  # its option, drawn
        assert at.chat_input[0].placeholder == "Say something to echo"
        send(at, "hello from a fourth scenario")
        assert [m.name for m in at.chat_message] == ["user", "echo_agent"]
        assert "Echo agent" in str(at.chat_message[1].markdown[0].value)
        assert len(server.requests_to("/chat/completions")) == 1
        run_id = at.query_params["conversation"]

    export.flush()
    run = mlflow_client.get_run(run_id)
    assert run.data.tags[contract.RunTag.SCENARIO] == "echo" and run.data.tags[contract.RunTag.TURNS] == "1"
    experiment_id = run.info.experiment_id
    found = mlflow_client.search_traces(locations=[experiment_id])
    assert len(found) == 1
    trace = found[0]
    assert trace.info.tags[contract.RunTag.SCENARIO] == "echo" and contract.TraceTag.SUMMARY in trace.info.tags
    chat = [s for s in trace.data.spans if s.span_type == "CHAT_MODEL"]
    assert len(chat) == 1 and chat[0].get_attribute(contract.SpanAttr.MODEL) == "gpt-4o-mini"
    assert [s.name for s in trace.data.spans if s.span_type == "AGENT"][1:] == ["echo_agent"]
    assert trace.info.cost and trace.info.cost["total_cost"] > 0, "MLflow priced the call from its catalog"

    frames = traces.reader_for(tracking_uri, experiment_id).frames()
    by_scenario = traces.breakdown(frames, "scenario").set_index("scenario")
    assert by_scenario.loc["echo", "cost_usd"] == pytest.approx(trace.info.cost["total_cost"])
    by_agent = traces.breakdown(frames, "agent").set_index("agent")
    assert "echo_agent" in by_agent.index


def test_an_unknown_scenario_is_a_sentence():
    with pytest.raises(scenarios.UnknownScenario, match="“nope” is not a scenario of this app; it has Catify"):
        scenarios.get("nope")


def test_option_keys_the_app_uses_are_refused_at_registration():
    base = scenarios.get("catify")
    for key in ("turn", "api_key", "chat_model_openai", "_options_of"):
        taken = dataclasses.replace(base, key="taken", options=(TextOption(key, "A", "a"),))
        with pytest.raises(ValueError, match=f"option key '{key}' is taken by the app"):
            scenarios.register(taken)
    assert scenarios.find("taken") is None


def test_a_broken_scenario_module_is_reported_and_the_others_still_work(tmp_path, monkeypatch):
    (tmp_path / "broken_team.py").write_text("import no_such_package_here\n")
    monkeypatch.setattr(scenarios, "__path__", [*scenarios.__path__, str(tmp_path)])
    monkeypatch.setattr(scenarios, "_discovered", False)
    try:
        assert [s.key for s in scenarios.all_scenarios() if not s.team_file and s.listed] == ["catify", "analyst", "weather"]
        (problem,) = scenarios.load_problems()
        assert "core.scenarios.broken_team could not be loaded (ModuleNotFoundError" in problem
    finally:
        sys.modules.pop("core.scenarios.broken_team", None)
        monkeypatch.undo()  # the package's own path again
        scenarios._discovered = False
        scenarios.all_scenarios()  # discovered again, without the broken module, for the tests that follow
    assert scenarios.load_problems() == []
