"""Python team files: for teams no JSON can describe (custom agents, tools with state), a `*.py` file in the
teams folder builds the team in code. Its contract (docs/TEAMS.md):

    LABEL = "Trip desk"                 # optional: the name in the Scenario picker (default: the file's name)
    DESCRIPTION = "…"                   # optional (default: the module's docstring)

    def create_team(models: TeamModels) -> autogen_agentchat.base.Team:
        writer = AssistantAgent("writer", model_client=models.client("writer", model="gpt-4o-mini"), ...)
        return RoundRobinGroupChat([writer, ...], termination_condition=...)

`create_team` is called afresh for every turn (agentchat teams bind to the event loop they first ran on) and
must take its model clients from `models`, which gives the sidebar provider's traced clients (the demo
provider answers offline). The app then traces every agent and FunctionTool, turns a UserProxyAgent into a
hand-off to the chat's user, and adds Stop and the message guard (core.runtimes.agentchat.team_files.for_the_app)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from autogen_agentchat.agents import UserProxyAgent
from autogen_agentchat.base import Team
from autogen_core.models import ChatCompletionClient

from ...config import Settings
from .. import team_code
from .demo_models import team_agent_responder
from .providers import Clients, build_clients
from .team_files import TeamFile, TeamFileError, slug

FACTORY = "create_team"
READ_TIMEOUT_S = 10.0  # a team file's own code (import, create_team) gets this long


class TeamModels:
    """What a team factory gets: the model clients of the provider chosen in the sidebar, one per agent."""

    def __init__(self, clients: Clients):
        self._clients = clients
        self.asked: dict[str, str] = {}  # agent -> the model it asked for

    @property
    def provider(self) -> str:
        """ "demo", "openai" or "compatible": a factory may adapt (say, fewer rounds on a paid provider)."""
        return self._clients.settings.provider if self._clients.settings is not None else "demo"

    def client(self, agent: str, model: str = "") -> ChatCompletionClient:
        """The chat model client for `agent`: `model` where the provider has it, else the sidebar's model."""
        self.asked[agent] = model
        return self._clients.for_model(agent, model, team_agent_responder)


def _load_module(path: Path, shown: Path) -> Any:
    return team_code.load_module(path, shown, READ_TIMEOUT_S)


def _call(path: Path, shown: Path, create: Callable[[TeamModels], Any], models: TeamModels) -> Team:
    """The factory's team, or TeamFileError naming the file, the line and what went wrong."""
    try:
        team = team_code.within(READ_TIMEOUT_S, lambda: create(models), f"{FACTORY}() in “{shown.name}”")
    except TeamFileError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the factory's own code failed: said in a sentence
        raise TeamFileError(
            f"{FACTORY}() in “{shown.name}” raised {type(exc).__name__}{team_code.where(path, exc)}: {str(exc)[:300]}"
        ) from None
    if not isinstance(team, Team):
        raise TeamFileError(
            f"{FACTORY}() in “{shown.name}” returned {type(team).__name__}, not an agentchat team "
            "(RoundRobinGroupChat, SelectorGroupChat, Swarm, …)."
        )
    return team


def read_factory(path: Path, shown: Path | None = None) -> TeamFile:
    """A Python team file, read and tried once on the demo provider (so a factory that raises, hangs, or
    returns no team is said when the file is offered, not on the first turn), or TeamFileError with a
    sentence. `shown`: the name it will have in the teams folder (an upload is read before it is put there)."""
    shown = shown or path
    module = _load_module(path, shown)
    create = getattr(module, FACTORY, None)
    if not callable(create):
        raise TeamFileError(
            f"“{shown.name}” has no {FACTORY}(models) function; a Python team file defines one that "
            "returns an agentchat team, or a create_workflow(models) function that returns an Agent Framework "
            "workflow (see docs/TEAMS.md)."
        )
    probe = TeamModels(build_clients(Settings()))
    participants = list(getattr(_call(path, shown, create, probe), "_participants", None) or [])
    return TeamFile(
        path=shown,
        key=f"team:{slug(shown.stem)}",
        label=str(getattr(module, "LABEL", "") or shown.stem),
        description=str(getattr(module, "DESCRIPTION", "") or module.__doc__ or "").strip(),
        agents=tuple(str(getattr(p, "name", "?")) for p in participants),
        models=tuple(dict.fromkeys(m for m in probe.asked.values() if m)),
        factory=lambda clients: _call(path, shown, create, TeamModels(clients)),
        users=tuple(p.name for p in participants if isinstance(p, UserProxyAgent)),
    )
