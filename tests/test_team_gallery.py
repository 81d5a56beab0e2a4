"""The team gallery shipped in teams/: every file is offered with no problem and runs to its end offline on
the demo provider, traced; the hand-off team pauses for the user and resumes after a reload."""

from __future__ import annotations

import asyncio

import pytest

from core import contract, scenarios
from core.config import Settings
from core.conversations import Conversation
from core.observe import export
from core.runtimes.agentchat import team_files
from core.turn import TurnRequest, run_turn

SHIPPED = team_files.team_paths(team_files.TEAMS_DIR)


@pytest.fixture(autouse=True)
def shipped_gallery(monkeypatch):
    monkeypatch.delenv("APP_TEAMS_DIR", raising=False)
    scenarios.rescan()


def run(store, tracking_uri, key, *messages):
    conversation, outcomes = Conversation(scenario=key, session_id="s", provider="demo"), []
    for message in messages:
        outcome = asyncio.run(run_turn(TurnRequest(conversation, message, Settings(tracking_uri=tracking_uri), store)))
        assert outcome.status in ("ok", "waiting"), outcome.error
        outcomes.append(outcome)
        conversation = store.load(outcome.conversation.id)  # as a reload would: from the store only
    return outcomes


def test_every_shipped_team_file_is_offered():
    assert [p.name for p in SHIPPED] == ["calculator_planner.json", "trip_desk.json", "tweet_with_checker.py", "writer_critic.json"]
    assert not [p for p in scenarios.load_problems() if "Team" in p]
    offered = {s.team_file for s in scenarios.all_scenarios() if s.team_file and s.listed}
    assert offered == {p.name for p in SHIPPED}
    for scenario in scenarios.all_scenarios():
        if scenario.team_file:
            assert scenario.description and scenario.label != scenario.team_file


def test_writer_and_critic_end_when_the_critic_is_satisfied(store, tracking_uri):
    [outcome] = run(store, tracking_uri, "team:writer_critic", "Write a two-line release note for version 2")
    assert outcome.status == "ok"
    assert [e["name"] for e in outcome.entries[1:]] == ["writer", "critic"]
    assert "release note for version 2" in outcome.entries[1]["text"]
    export.flush()
    spans = store.client.get_trace(outcome.trace_id).data.spans
    assert [s.name for s in spans if s.span_type == "AGENT" and s.parent_id is not None] == ["writer", "critic"]


def test_the_planner_hands_the_numbers_to_the_calculator(store, tracking_uri):
    [outcome] = run(store, tracking_uri, "team:calculator_planner", "What is 12.5 times 8?")
    assert [e["name"] for e in outcome.entries[1:]] == ["planner", "calculator_agent", "calculator_agent"]
    assert outcome.entries[2]["text"] == 'calculator(a=12.5, b=8.0, operator="*") → 100.0'
    assert "100.0" in outcome.entries[-1]["text"]
    export.flush()
    trace = store.client.get_trace(outcome.trace_id)
    assert trace.info.tags[contract.RunTag.SCENARIO] == "team:calculator_planner"
    assert [s.name for s in trace.data.spans if s.span_type == "TOOL"] == ["calculator"]


def test_the_trip_desk_asks_for_dates_and_carries_on_after_a_reload(store, tracking_uri):
    asked, planned = run(store, tracking_uri, "team:trip_desk", "Plan a weekend in Lisbon", "June 6-8, 600 euros")
    assert asked.status == "waiting" and asked.entries[-1]["asks_user"]
    assert asked.entries[-1]["text"] == "Before I plan: which dates, and what budget? Answer in the chat."
    assert planned.status == "ok" and "June 6-8, 600 euros" in planned.entries[-1]["text"]
    assert planned.conversation.turns == 2


def test_the_python_team_checks_in_plain_python(store, tracking_uri):
    [outcome] = run(store, tracking_uri, "team:tweet_with_checker", "Announce our version 2 release")
    checker = outcome.entries[-1]
    assert checker["name"] == "checker" and checker["text"].endswith("characters: it fits.")
    assert int(checker["text"].split()[0]) == len(outcome.entries[1]["text"]), "it counted the writer's draft"
