"""Python team files for Agent Framework: as a `create_team(models)` file builds an agentchat team
(core/runtimes/agentchat/team_factories.py), a `*.py` file in the teams folder whose factory is `create_workflow`
builds Agent Framework agents and a workflow in code, and is offered as a scenario that runs on this runtime
(docs/TEAMS.md):

    LABEL = "Trip desk"                 # optional: the name in the Scenario picker (default: the file's name)
    DESCRIPTION = "…"                   # optional (default: the module's docstring)

    def create_workflow(models: WorkflowModels):
        writer = Agent(client=models.client("writer", model="gpt-4o-mini"), name="writer", instructions="…")
        return SequentialBuilder(participants=[writer, ...])   # a builder, a built Workflow, or one Agent

`create_workflow` is called afresh for every turn and must take its chat clients from `models` (the sidebar
provider's `OpenAIChatCompletionClient`s, counted and traced; the demo provider answers any agent offline, through
the demo wire, as agentchat's team files are answered). The app then traces every agent (an AGENT span per run, a
CHAT_MODEL span per call, a TOOL span per tool call) and keeps the workflow's checkpoint as the conversation's state;
Stop ends its run at the next superstep boundary (`Plan.stops_between_steps`), and its `request_info` questions pause
the turn for the user's answer (asking.py).
A file that cannot be used is left out with a sentence naming the file, the line and what went wrong. The discovery
of files is shared with agentchat's (core.runtimes.team_code): a file is this runtime's when it defines
`create_workflow` and not `create_team`."""

from __future__ import annotations

import collections
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from agent_framework import Agent, AgentExecutor, InMemoryCheckpointStorage, Workflow
from agent_framework.openai import OpenAIChatCompletionClient
from agent_framework.orchestrations import SequentialBuilder

from ...agents import TeamContext
from ...config import Settings, hosted_limits
from ...costs import model_for
from ...scenarios import AgentInfo, CostQuestion, Scenario
from .. import team_code
from ..agentchat.demo_models import team_agent_responder
from ..team_code import TeamFileError
from .clients import AgentFrameworkClients, build_clients
from .plan import Plan
from .tracing import AgentStep, ToolCall

NAME = "agentframework"
FACTORY = team_code.FACTORIES[NAME]
READ_TIMEOUT_S = 10.0  # a team file's own code (import, create_workflow) gets this long
# how its workflows end, in the chat's note on a team file (core.runtimes.team_sources.run_note): the app adds no
# condition to a workflow it did not build
RUN_ENDS = "runs on Agent Framework · ends when its workflow ends (Stop lets it finish; the hard stop ends it at once)"


class WorkflowModels:
    """What a workflow factory gets: the chat clients of the provider chosen in the sidebar, one per agent."""

    def __init__(self, clients: AgentFrameworkClients):
        self._clients = clients
        self.asked: dict[str, str] = {}  # agent -> the model it asked for
        self.given: list[OpenAIChatCompletionClient] = []

    @property
    def provider(self) -> str:
        """ "demo", "openai" or "compatible": a factory may adapt (say, fewer rounds on a paid provider)."""
        return self._clients.settings.provider

    def client(self, agent: str, model: str = "") -> OpenAIChatCompletionClient:
        """The chat client for `agent`: `model` where the provider has it, else the sidebar's model."""
        self.asked[agent] = model
        client = self._clients.for_role(agent, team_agent_responder, model=model_for(self._clients.settings, model))
        self.given.append(client)
        return client


@dataclass(frozen=True)
class WorkflowFile:
    """A workflow factory as read: its scenario's key, label and description, its agents, the models it asked for."""

    path: Path
    key: str
    label: str
    description: str
    agents: tuple[str, ...]
    models: tuple[str, ...]
    create: Callable[[WorkflowModels], Any]


def _workflow(result: Any, shown: Path) -> Workflow:
    """What the factory returned as a workflow: a built one, a builder built, one agent as a one-step workflow."""
    if hasattr(result, "build") and callable(result.build) and not isinstance(result, Workflow):
        result = result.build()
    elif isinstance(result, Agent):
        result = SequentialBuilder(participants=[result]).build()
    if not isinstance(result, Workflow):
        raise TeamFileError(
            f"{FACTORY}() in “{shown.name}” returned {type(result).__name__}, not an Agent Framework workflow (a Workflow, "
            "a builder such as SequentialBuilder or GroupChatBuilder, or an Agent)."
        )
    return result


def _agents(workflow: Workflow) -> list[tuple[str, Any]]:
    """(executor id, agent) of each agent the workflow runs."""
    return [(executor.id, executor.agent) for executor in workflow.executors.values() if isinstance(executor, AgentExecutor)]


def _for_the_app(workflow: Workflow, models: WorkflowModels, shown: Path) -> Workflow:
    """Every agent traced (its runs, its tool calls; its model calls are traced by its client) and on the app's
    clients: a file names a model, never where a key goes."""
    for executor_id, agent in _agents(workflow):
        if not isinstance(agent, Agent):
            continue  # a custom agent: its steps are still read, its calls are its own
        if not any(agent.client is given for given in models.given):
            raise TeamFileError(
                f"The agent {executor_id} in “{shown.name}” has a chat client the app did not give it: take it from "
                f"models.client({executor_id!r}) in {FACTORY}(models)."
            )
        own = [m for m in agent.middleware or [] if not isinstance(m, (AgentStep, ToolCall))]
        agent.middleware = [AgentStep(models._clients.spans, str(agent.name)), ToolCall(models._clients.spans, str(agent.name)), *own]
    return workflow


def _call(path: Path, shown: Path, create: Callable[[WorkflowModels], Any], models: WorkflowModels) -> Workflow:
    """The factory's workflow, or TeamFileError naming the file, the line and what went wrong."""
    try:
        result = team_code.within(READ_TIMEOUT_S, lambda: create(models), f"{FACTORY}() in “{shown.name}”")
        return _for_the_app(_workflow(result, shown), models, shown)
    except TeamFileError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the factory's own code failed: said in a sentence
        raise TeamFileError(
            f"{FACTORY}() in “{shown.name}” raised {type(exc).__name__}{team_code.where(path, exc)}: {str(exc)[:300]}"
        ) from None


def read_factory(path: Path, shown: Path | None = None) -> WorkflowFile:
    """A workflow file, read and tried once on the demo provider (so a factory that raises, hangs or returns no
    workflow is said when the file is offered, not on the first turn), or TeamFileError with a sentence."""
    shown = shown or path
    module = team_code.load_module(path, shown, READ_TIMEOUT_S)
    create = getattr(module, FACTORY, None)
    if not callable(create):
        raise TeamFileError(f"“{shown.name}” has no {FACTORY}(models) function returning an Agent Framework workflow (see docs/TEAMS.md).")
    probe = WorkflowModels(build_clients(Settings()))
    workflow = _call(path, shown, create, probe)
    return WorkflowFile(
        path=shown,
        key=f"team:{team_code.slug(shown.stem)}",
        label=str(getattr(module, "LABEL", "") or shown.stem),
        description=str(getattr(module, "DESCRIPTION", "") or module.__doc__ or "").strip(),
        agents=tuple(executor_id for executor_id, _ in _agents(workflow)),
        models=tuple(dict.fromkeys(m for m in probe.asked.values() if m)),
        create=create,
    )


def _no_bound(question: CostQuestion) -> float | None:
    """A user's team has no known worst case: a hosted demo does not run it on the owner's key."""
    return None


def scenario_for(found: WorkflowFile) -> Scenario:
    """The file as a scenario on this runtime: each turn calls the factory on the turn's clients."""

    def build(context: TeamContext) -> Plan:
        clients: AgentFrameworkClients = context.clients  # type: ignore[assignment]
        workflow = _call(found.path, found.path, found.create, WorkflowModels(clients))

        def on(storage: InMemoryCheckpointStorage) -> Workflow:  # the runtime gives each run its checkpoint storage
            return workflow

        participants = tuple(executor_id for executor_id, _ in _agents(workflow))
        return Plan(build=on, participants=participants, total_steps=0, stops_between_steps=True)

    return Scenario(
        key=found.key,
        label=found.label,
        description=found.description or "A Python workflow factory for Agent Framework.",
        build=build,
        cost_bound=_no_bound,
        agents=tuple(AgentInfo(name, name) for name in found.agents),
        icon=":material/code:",
        placeholder=f"Message {found.label}",
        order=200,
        team_file=found.path.name,
        example=team_code.example_in(found.description),
        models_asked=found.models,
        runtime=NAME,
    )


def read_scenarios(path: Path, shown: Path) -> tuple[list[Scenario], list[str]]:
    """The file's workflow as a scenario, for whoever reads a team file by its runtime (core.runtimes.team_sources:
    the chat's upload, a logged model); TeamFileError with a sentence when it cannot be used."""
    return [scenario_for(read_factory(path, shown))], []


def _mine(hosted: bool) -> list[Path]:
    return [p for p in team_code.all_team_paths(hosted=hosted) if p.suffix == ".py" and team_code.factory_defined(p) == NAME]


fingerprint = team_code.fingerprint  # the teams folder and the uploads, as agentchat's team files


def discover_scenarios() -> tuple[list[Scenario], list[str]]:
    """Each workflow file of the teams folder and the uploads as a scenario, and a sentence for each that cannot be
    used (a hosted demo reads only the files its owner allow-listed, as for agentchat's)."""
    found: list[Scenario] = []
    problems: list[str] = []
    limits = hosted_limits(os.environ, {})
    for path in _mine(hosted=limits is not None):
        if limits is not None and path.name not in limits.team_files:
            continue
        try:
            found.append(scenario_for(read_factory(path)))
        except TeamFileError as exc:
            problems.append(f"Team file not offered: {exc}")
    labels = collections.Counter(s.label for s in found)
    return [replace(s, label=f"{s.label} ({s.team_file})") if labels[s.label] > 1 else s for s in found], problems
