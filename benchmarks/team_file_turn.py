"""A team loaded from a file against the same team written as a built-in scenario, side by side.

    python benchmarks/team_file_turn.py [--rounds 40]

The team: one AssistantAgent with a calculator FunctionTool in a RoundRobinGroupChat, ending on TERMINATE
(the shape of AutoGen Studio's Default Team: tests/fixtures/studio_calculator_team.json). Each round runs, in
alternating order, one traced turn of each on the demo provider and a real sqlite store, each in a fresh
conversation:
  built-in  - a scenario module's build(): agents and tool made in Python, traced as the built-ins are;
  team file - the JSON file read by core.runtimes.agentchat.team_files: agentchat's load_component (the tool's source is
              executed), the app's model stand-in, then team_files.for_the_app.
Target (issue 14): the registry and the file path add no measurable overhead: team file / built-in <= 1.10."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import ExternalTermination, MaxMessageTermination, TextMentionTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core.tools import FunctionTool

from core import scenarios
from core.agents import TeamContext
from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.observe import export, spans
from core.runtimes.agentchat.agents import TeamPlan, traced
from core.runtimes.agentchat.demo_models import team_agent_responder
from core.scenarios import AgentInfo, Scenario
from core.turn import TurnRequest, run_turn

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "studio_calculator_team.json"
SYSTEM = "You are a helpful assistant. Solve tasks carefully. When done, say TERMINATE."


async def calculator(a: float, b: float, operator: str) -> str:
    """Arithmetic on two numbers: operator is one of + - * /."""
    return str({"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else float("nan")}.get(operator, "Error"))


def build(context: TeamContext) -> TeamPlan:
    tool = FunctionTool(spans.traced_tool(calculator), name="calculator", description=calculator.__doc__ or "")
    agent = AssistantAgent(
        "assistant_agent",
        model_client=context.clients.for_role("assistant_agent", team_agent_responder),
        tools=[tool],
        system_message=SYSTEM,
    )
    stop = ExternalTermination()
    team = RoundRobinGroupChat(
        [traced(agent)], termination_condition=TextMentionTermination("TERMINATE") | MaxMessageTermination(10) | stop
    )
    return TeamPlan(team=team, stop=stop, total_steps=0)


BUILT_IN = Scenario(
    key="bench_calculator",
    label="Calculator (built-in)",
    description="",
    build=build,
    cost_bound=lambda question: 0.0,
    agents=(AgentInfo("assistant_agent", "Assistant"),),
)


def one_turn(store: ConversationStore, settings: Settings, scenario: str) -> float:
    conversation = Conversation(scenario=scenario, session_id="bench", provider="demo")
    started = time.perf_counter()
    outcome = asyncio.run(run_turn(TurnRequest(conversation, "What is 12.5 times 8?", settings, store)))
    elapsed = time.perf_counter() - started
    assert outcome.status == "ok" and "100.0" in outcome.entries[-1]["text"], outcome.error
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        teams = Path(tmp) / "teams"
        teams.mkdir()
        shutil.copy(FIXTURE, teams / FIXTURE.name)
        os.environ["APP_TEAMS_DIR"] = str(teams)
        os.environ.setdefault("DEMO_LATENCY_MS", "0")
        scenarios.register(BUILT_IN)
        scenarios.rescan()
        kinds = {"built-in": BUILT_IN.key, "team file": "team:" + FIXTURE.stem}
        uri = f"sqlite:///{tmp}/mlflow.db"
        store = ConversationStore.connect(uri, "benchmark")
        settings = Settings(tracking_uri=uri)
        for key in kinds.values():  # warm-up: imports, engine, caches
            one_turn(store, settings, key)
        times: dict[str, list[float]] = {kind: [] for kind in kinds}
        order = list(kinds)
        for i in range(args.rounds):
            for kind in order[i % 2 :] + order[: i % 2]:
                times[kind].append(one_turn(store, settings, kinds[kind]))
        export.flush()
    med = {kind: statistics.median(values) for kind, values in times.items()}
    print(f"one calculator turn (tool call + answer), demo provider, traced, {args.rounds} rounds each")
    for kind in kinds:
        print(f"{kind:<9} median {med[kind] * 1000:.1f} ms")
    print(f"team file / built-in ratio {med['team file'] / med['built-in']:.3f}  target <= 1.100")


if __name__ == "__main__":
    main()
