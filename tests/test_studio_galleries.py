"""AutoGen Studio's gallery files in every layout it has written (issue 31), made here in Studio's shape from
agentchat's own `dump_component` (Studio's own files stay out of the repository):

- today's `components.teams`: a `GalleryConfig` as `autogenstudio/gallery/builder.py`'s `create_default_gallery()`
  builds it (id, name, url, metadata, components: agents, models, tools, terminations, teams, workbenches), which is
  also the layout of the frontend's `default_gallery.json`;
- Feb-2025's `items.teams`;
- one team component.

Each runnable team is offered by its label; a team needing a module that is not installed (Studio's Deep Research
Team imports html2text and bs4 in its tools), a tool that does not compile, or an MCP workbench is left out with a
sentence on the page, before anyone sends a message."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core.tools import FunctionTool, StaticWorkbench
from autogen_ext.models.openai import OpenAIChatCompletionClient

from core import contract, scenarios
from core.config import Settings
from core.conversations import Conversation
from core.errors import InputError
from core.observe import export
from core.runtimes import team_sources
from core.turn import TurnRequest, run_turn
from tests.pages import open_app


def calculator(a: float, b: float, operator: str) -> str:
    """Arithmetic on two numbers: operator is one of + - * /."""
    results = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else float("nan")}
    return str(results.get(operator, "Error: use one of + - * /"))


def calculator_team(label: str | None = "RoundRobin Team", name: str = "RoundRobinGroupChat", description: str = "") -> dict[str, Any]:
    """The frontend gallery's RoundRobin Team shape: an AssistantAgent whose calculator sits in a StaticWorkbench."""
    tool = FunctionTool(calculator, description="A simple calculator that performs basic arithmetic operations")
    agent = AssistantAgent(
        "assistant_agent",
        model_client=OpenAIChatCompletionClient(model="gpt-4o-mini", api_key="unused"),
        workbench=StaticWorkbench([tool]),
        system_message="You are a helpful assistant. Solve tasks carefully. When done, say TERMINATE.",
    )
    team = RoundRobinGroupChat([agent], termination_condition=TextMentionTermination("TERMINATE") | MaxMessageTermination(10), name=name)
    component = team.dump_component().model_dump(mode="json")
    component["description"] = description or "A single AssistantAgent (with a calculator tool) in a RoundRobinGroupChat team."
    if label is None:
        component.pop("label", None)
    else:
        component["label"] = label
    return component


def the_tool(component: dict[str, Any]) -> dict[str, Any]:
    return component["config"]["participants"][0]["config"]["workbench"][0]["config"]["tools"][0]["config"]


def deep_research_team() -> dict[str, Any]:
    """Studio's Deep Research Team's trouble: its tools import html2text and bs4 (builder.py, fetch_webpage_tool)."""
    component = calculator_team("Deep Research Team")
    tool = the_tool(component)
    tool["name"] = "fetch_webpage"
    tool["global_imports"] = [
        "os",
        "html2text",
        {"module": "bs4", "imports": ["BeautifulSoup"]},
        {"module": "urllib.parse", "imports": ["urljoin"]},
    ]
    return component


def broken_tool_team() -> dict[str, Any]:
    component = calculator_team("Broken Tool Team")
    the_tool(component)["source_code"] = "def calculator(a: float, b: float, operator: str) -> str:\n    return str(a +\n"
    return component


def mcp_team() -> dict[str, Any]:
    """An agent on builder.py's "MCP Fetch Workbench" (McpWorkbench over a program it starts: mcp-server-fetch)."""
    component = calculator_team("MCP Team")
    component["config"]["participants"][0]["config"]["workbench"] = [
        {
            "provider": "autogen_ext.tools.mcp.McpWorkbench",
            "component_type": "workbench",
            "version": 1,
            "component_version": 1,
            "description": "An MCP workbench that provides web content fetching capabilities.",
            "label": "MCP Fetch Workbench",
            "config": {
                "server_params": {"type": "StdioServerParams", "command": "uvx", "args": ["mcp-server-fetch"], "read_timeout_seconds": 60}
            },
        }
    ]
    return component


def gallery(layout: str, teams: list[dict[str, Any]]) -> dict[str, Any]:
    """A gallery file: builder.py's GalleryConfig (`components`), or the Feb-2025 default.json (`items`)."""
    components = {"agents": [], "models": [], "tools": [], "terminations": [], "teams": teams, "workbenches": []}
    return {
        "id": "gallery_default",
        "name": "Default Component Gallery",
        "url": None,
        "metadata": {
            "author": "AutoGen Team",
            "version": "1.0.0",
            "description": "A default gallery",
            "tags": [],
            "category": "conversation",
        },
        layout: components,
    }


def offered(file_name: str) -> dict[str, str]:
    return {s.key: s.label for s in scenarios.all_scenarios() if s.team_file == file_name}


def said(file_name: str) -> list[str]:
    return [p for p in scenarios.load_problems() if file_name in p]


@pytest.mark.parametrize("layout", ["components", "items"])
def test_a_gallery_in_either_layout_offers_each_runnable_team_by_its_label(teams_dir, layout):
    teams = [calculator_team(), deep_research_team(), broken_tool_team(), mcp_team(), calculator_team(label=None, name="Helpers")]
    (teams_dir / "gallery.json").write_text(json.dumps(gallery(layout, teams)))
    scenarios.rescan()
    assert offered("gallery.json") == {"team:gallery-roundrobin-team": "RoundRobin Team", "team:gallery-5": "Helpers"}
    assert said("gallery.json") == [
        "Team not offered: In “gallery.json” (team “Deep Research Team”), the tool fetch_webpage imports html2text, bs4, "
        "which are not installed here.",
        "Team not offered: In “gallery.json” (team “Broken Tool Team”), the source of the tool calculator does not compile: "
        "'(' was never closed (line 2).",
        "Team not offered: In “gallery.json” (team “MCP Team”), MCP Fetch Workbench is a McpWorkbench, which talks to an MCP "
        "server (a program it starts on this server, or a server on the internet); this app does not run it.",
    ]


def test_a_team_needing_a_module_that_is_not_installed_is_named_with_it(teams_dir):
    team = calculator_team("Claude Team")
    team["config"]["participants"][0]["config"]["model_client"]["provider"] = "autogen_ext.models.anthropic.AnthropicChatCompletionClient"
    (teams_dir / "claude.json").write_text(json.dumps(team))
    scenarios.rescan()
    assert offered("claude.json") == {}
    [sentence] = said("claude.json")
    assert "“claude.json” needs autogen_ext.models.anthropic.AnthropicChatCompletionClient, but the module " in sentence
    assert "is not installed here." in sentence


def test_labels_come_from_the_file_then_its_name_then_its_description_then_its_file_name(teams_dir):
    named = calculator_team(label=None, name="Number Helpers")
    described = calculator_team(label=None, name="")
    described["config"].pop("name")
    described["description"] = "Plans a trip with you, step by step, and books nothing."
    bare = copy.deepcopy(described)
    bare["description"] = ""
    for stem, team in [("named", named), ("described", described), ("16_serialize_nb_roundrobingroupchat", bare)]:
        (teams_dir / f"{stem}.json").write_text(json.dumps(team))
    scenarios.rescan()
    labels = {s.team_file: s.label for s in scenarios.all_scenarios() if s.team_file}
    assert labels == {
        "named.json": "Number Helpers",
        "described.json": "Plans a trip with you, step…",
        "16_serialize_nb_roundrobingroupchat.json": "16_serialize_nb_roundrobingroupchat",
    }


def test_an_uploaded_gallery_in_todays_layout_is_taken_with_what_it_cannot_run_said(teams_dir):
    data = json.dumps(gallery("components", [calculator_team(), deep_research_team()])).encode()
    keys, unusable = team_sources.add_upload("My Gallery.json", data)
    assert keys == ["team:my_gallery-roundrobin-team"]
    assert unusable == [
        "In “my_gallery.json” (team “Deep Research Team”), the tool fetch_webpage imports html2text, bs4, which are not installed here."
    ]
    with pytest.raises(InputError, match="imports html2text, bs4"):
        team_sources.add_upload("research.json", json.dumps(gallery("components", [deep_research_team()])).encode())


def test_the_chat_page_says_what_is_not_offered_before_any_message(teams_dir, monkeypatch, tracking_uri, experiment_name):
    (teams_dir / "gallery.json").write_text(json.dumps(gallery("components", [calculator_team(), deep_research_team()])))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    scenarios.rescan()
    at = open_app()
    assert "RoundRobin Team" in next(s for s in at.selectbox if s.label == "Scenario").options
    assert any("Deep Research Team" in w.value and "html2text" in w.value for w in at.warning), [w.value for w in at.warning]


def test_a_team_from_todays_gallery_runs_its_workbench_tool_offline_traced_under_its_label(teams_dir, store, tracking_uri):
    (teams_dir / "gallery.json").write_text(json.dumps(gallery("components", [calculator_team()])))
    scenarios.rescan()
    conversation = Conversation(scenario="team:gallery-roundrobin-team", session_id="s", provider="demo")
    outcome = asyncio.run(run_turn(TurnRequest(conversation, "What is 12.5 times 8?", Settings(tracking_uri=tracking_uri), store)))
    assert outcome.status == "ok", outcome.error
    assert any(e.get("role") == "tool" and "100.0" in e["text"] for e in outcome.entries), outcome.entries
    export.flush()
    trace = store.client.get_trace(outcome.trace_id)
    assert trace.info.tags[contract.RunTag.SCENARIO] == "team:gallery-roundrobin-team"
    assert trace.info.tags[contract.TraceTag.NAME] == "team:gallery-roundrobin-team turn", "the name keeps the stable key"
    assert trace.info.tags[contract.TraceTag.LABEL] == "RoundRobin Team"
    assert [s.name for s in trace.data.spans if s.span_type == "TOOL"] == ["calculator"]
