"""Writes the shipped team gallery (teams/*.json) with agentchat's own `dump_component`, so the files are
exactly what AutoGen Studio and `Team.dump_component()` write. Run it after changing a team here:
`python scripts/make_team_gallery.py`. Every team runs offline on the demo provider (tests/test_team_gallery.py)."""

from __future__ import annotations

import json
from pathlib import Path

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import Handoff
from autogen_agentchat.conditions import HandoffTermination, MaxMessageTermination, TextMentionTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core.tools import FunctionTool
from autogen_ext.models.openai import OpenAIChatCompletionClient

TEAMS = Path(__file__).resolve().parents[1] / "teams"


def calculator(a: float, b: float, operator: str) -> str:
    """Arithmetic on two numbers: operator is one of + - * /."""
    if operator == "+":
        return str(a + b)
    if operator == "-":
        return str(a - b)
    if operator == "*":
        return str(a * b)
    if operator == "/":
        return "Error: division by zero" if b == 0 else str(a / b)
    return "Error: use one of + - * /"


def model() -> OpenAIChatCompletionClient:
    # only the model's name is kept in the file: the app's sidebar provider answers for it
    return OpenAIChatCompletionClient(model="gpt-4o-mini", api_key="not-saved")


def writer_critic() -> RoundRobinGroupChat:
    writer = AssistantAgent(
        "writer",
        model_client=model(),
        description="Writes and revises the text.",
        system_message="You are a concise technical writer. Write the text the user asks for; when the critic "
        "sends notes, revise it and show the whole new version.",
    )
    critic = AssistantAgent(
        "critic",
        model_client=model(),
        description="Reviews the writer's text.",
        system_message="You are a demanding editor. Give the writer at most two concrete improvements. When the "
        "text needs no more work, say so and end with TERMINATE.",
    )
    team = RoundRobinGroupChat([writer, critic], termination_condition=TextMentionTermination("TERMINATE") | MaxMessageTermination(8))
    return team


def calculator_planner() -> RoundRobinGroupChat:
    planner = AssistantAgent(
        "planner",
        model_client=model(),
        description="Breaks the question into arithmetic steps.",
        system_message="You are a planner. Restate the user's question as the arithmetic step the calculator "
        "agent should do next, with its numbers.",
    )
    tool = FunctionTool(calculator, description="Arithmetic on two numbers: operator is one of + - * /.")
    solver = AssistantAgent(
        "calculator_agent",
        model_client=model(),
        tools=[tool],
        reflect_on_tool_use=True,
        description="Does the arithmetic with the calculator tool.",
        system_message="You are a careful calculator operator. Use the calculator tool for every step, then give "
        "the result in one sentence and say TERMINATE.",
    )
    return RoundRobinGroupChat([planner, solver], termination_condition=TextMentionTermination("TERMINATE") | MaxMessageTermination(10))


def trip_desk() -> RoundRobinGroupChat:
    desk = AssistantAgent(
        "trip_desk",
        model_client=model(),
        description="Plans a short trip with the traveller.",
        handoffs=[
            Handoff(
                target="user",
                description="Ask the traveller for their dates and budget.",
                message="Before I plan: which dates, and what budget? Answer in the chat.",
            )
        ],
        system_message="You are a trip desk. If the traveller has not given dates and a budget, hand off to the "
        "user to ask for them. Otherwise write a three-line plan and end with TERMINATE.",
    )
    return RoundRobinGroupChat(
        [desk], termination_condition=HandoffTermination(target="user") | TextMentionTermination("TERMINATE") | MaxMessageTermination(6)
    )


GALLERY = {
    "writer_critic.json": (
        writer_critic,
        "Writer and critic",
        "A writer drafts what you ask for and a critic reviews it, round by round, until the critic is satisfied.",
    ),
    "calculator_planner.json": (
        calculator_planner,
        "Planner with a calculator",
        "A planner turns your question into arithmetic steps; a calculator agent does each "
        "step with a calculator tool (try “What is 12.5 times 8?”).",
    ),
    "trip_desk.json": (
        trip_desk,
        "Trip desk (asks you)",
        "A trip planner that hands the conversation back to you when it needs your dates and "
        "budget, and carries on with your answer (try “Plan a weekend in Lisbon”).",
    ),
}


def models(node: object) -> list[dict]:
    if isinstance(node, list):
        return [m for item in node for m in models(item)]
    if not isinstance(node, dict):
        return []
    own = [node] if node.get("component_type") == "model" else []
    return own + [m for value in node.values() for m in models(value)]


def main() -> None:
    TEAMS.mkdir(exist_ok=True)
    for name, (make, label, description) in GALLERY.items():
        component = make().dump_component().model_dump(mode="json")
        component.update(label=label, description=description)
        for node in models(component):  # the model's name is all the app reads; no key field, even a masked one
            node["config"] = {"model": node["config"]["model"]}
        (TEAMS / name).write_text(json.dumps(component, indent=2) + "\n")
        print("wrote", TEAMS / name)


if __name__ == "__main__":
    main()
