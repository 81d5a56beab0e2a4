"""Analyst & Summarizer on Agent Framework (the scenario: core/scenarios/analyst.py): a `ConcurrentBuilder` runs both
agents on the same message at once, as agentchat's GraphFlow with two start nodes does; on the demo provider each
agent answers with the same script as on agentchat (core/runtimes/agentchat/teams/analyst.py)."""

from __future__ import annotations

from typing import Any

from agent_framework import Agent, InMemoryCheckpointStorage
from agent_framework.orchestrations import ConcurrentBuilder, SequentialBuilder

from ....agents import TeamContext
from ....scenarios.analyst import ANALYST, DEFAULT_ANALYST_SYSTEM, DEFAULT_SUMMARIZER_SYSTEM, SUMMARIZER, analyst_task
from ...agentchat.teams.analyst import demo_analyst, demo_summarizer
from ..clients import AgentFrameworkClients
from ..plan import Plan
from ..tracing import AgentStep


def build(context: TeamContext) -> Plan:
    """Both agents answer the same message at the same time; `concurrent=False` chains them instead."""
    clients: AgentFrameworkClients = context.clients  # type: ignore[assignment]
    options = context.options
    agents = [
        Agent(
            client=clients.for_role(ANALYST, demo_analyst),
            name=ANALYST,
            description="Analyses the report: figures, trends, risks.",
            instructions=str(options.get("analyst_system") or DEFAULT_ANALYST_SYSTEM),
            middleware=[AgentStep(clients.spans, ANALYST)],
        ),
        Agent(
            client=clients.for_role(SUMMARIZER, demo_summarizer),
            name=SUMMARIZER,
            description="Summarises the report for a busy reader.",
            instructions=str(options.get("summarizer_system") or DEFAULT_SUMMARIZER_SYSTEM),
            middleware=[AgentStep(clients.spans, SUMMARIZER)],
        ),
    ]

    def workflow(storage: InMemoryCheckpointStorage) -> Any:
        if options.get("concurrent", True):
            return ConcurrentBuilder(participants=agents, checkpoint_storage=storage, intermediate_output_from="all").build()
        return SequentialBuilder(participants=agents, checkpoint_storage=storage, intermediate_output_from="all").build()

    return Plan(
        build=workflow,
        participants=(ANALYST, SUMMARIZER),
        total_steps=2,
        task=analyst_task(str(options.get("report") or ""), context.turn),
    )
