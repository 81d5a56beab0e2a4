"""Teams users bring as files, run like any scenario: AutoGen Studio's declarative component format (what
`Team.dump_component()` writes, one team or a Studio gallery of teams), loaded with agentchat's own
`load_component`, and Python files whose factory function builds a team (`core.runtimes.agentchat.team_factories`).

The app stays in charge of what matters, whichever kind of file:
- every model client is the chosen provider's (`AppModel` where a file names one; `TeamModels` for a factory):
  the file names a model, never where a key goes; the demo provider answers any agent offline
  (`core.runtimes.agentchat.demo_models.team_agent_responder`);
- every agent is traced (each step an AGENT span, each FunctionTool call a TOOL span);
- a `UserProxyAgent` becomes `UserStandIn`: instead of blocking for typed input inside the run, it hands the
  turn to the chat's user, and the next chat message resumes the team (saved state, as the weather chat);
- the team also ends on Stop, on a hand-off to the user, and after `MAX_MESSAGES_GUARD` messages;
- configs older than the installed agentchat are upgraded where the upgrade is known (a config whose fields
  the current schema accepts as they are), and refused with a sentence naming the component otherwise.

A team file is code: a FunctionTool's `source_code` runs when the team is built, a `provider` names any
importable class, a Python team file runs when it is read (AutoGen: "only load configs from trusted sources").
Files come from the folder the owner chose (`APP_TEAMS_DIR`, default `teams/` in the project)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import functools
import json
import threading
import warnings
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from autogen_agentchat.agents import AssistantAgent, BaseChatAgent, UserProxyAgent
from autogen_agentchat.base import Response, Team
from autogen_agentchat.conditions import ExternalTermination, HandoffTermination, MaxMessageTermination
from autogen_agentchat.messages import BaseChatMessage, HandoffMessage, TextMessage
from autogen_agentchat.teams import Swarm
from autogen_core import CancellationToken, Component, ComponentBase
from autogen_core.models import ChatCompletionClient
from autogen_core.tools import FunctionTool
from pydantic import BaseModel

from ... import contract
from ...agents import TeamContext
from ...observe import spans
from ..team_code import MAX_FILE_BYTES as MAX_FILE_BYTES  # the names team files had here before core.runtimes.team_code
from ..team_code import MAX_FILE_MB as MAX_FILE_MB
from ..team_code import TEAM_FILE_SUFFIXES as TEAM_FILE_SUFFIXES
from ..team_code import TEAMS_DIR as TEAMS_DIR
from ..team_code import TeamFileError as TeamFileError
from ..team_code import all_team_paths as all_team_paths
from ..team_code import data_dir as data_dir
from ..team_code import find_path as find_path
from ..team_code import slug as slug
from ..team_code import team_paths as team_paths
from ..team_code import teams_dir as teams_dir
from ..team_code import uploads_dir as uploads_dir
from . import team_checks
from .agents import TeamPlan, traced
from .demo_models import team_agent_responder
from .providers import Clients
from .spans import TracedAgent, TracedChatCompletionClient

TOOL_TIMEOUT_S = 60.0  # a team file's tool call answers within this, or the agent is told it did not
MAX_MESSAGES_GUARD = 40  # a team whose own termination never fires still ends (the page says so)
_SHIMS = __name__  # the module the rewritten providers point at

CANNOT_RUN = team_checks.CANNOT_RUN  # agents that cannot run in this app (core.runtimes.agentchat.team_checks)


@dataclass(frozen=True)
class TeamFile:
    """A team as read from a file: what it is called, who is in it, which models it asks for, and how to build
    it (a component tree, or a Python factory)."""

    path: Path
    key: str  # the scenario key, stored in conversations and traces: made from the file's name
    label: str
    description: str
    agents: tuple[str, ...]
    models: tuple[str, ...]  # the models the file asked for
    component: dict[str, Any] | None = None  # a declarative team (upgraded)
    factory: Callable[[Clients], Any] | None = None  # builds the team of a Python file (core.runtimes.agentchat.team_factories)
    users: tuple[str, ...] = ()  # agents that stand for the user: the turn pauses for the chat's next message

    @property
    def kind(self) -> str:
        return "Python team factory" if self.factory is not None else "team file"


# --- reading and upgrading ---------------------------------------------------------------------------------------------
def read(path: Path) -> tuple[list[TeamFile], list[str]]:
    """The teams in a declarative file (a gallery holds several) and, for a gallery, a sentence for each team
    in it that cannot be used; TeamFileError with a sentence when the file itself cannot be used."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TeamFileError(f"“{path.name}” cannot be read ({exc.strerror or exc}).") from None
    return read_declarative(path, data)


def gallery_teams(document: Any) -> list[Any] | None:
    """The teams of an AutoGen Studio gallery, in either layout it has written (None: not a gallery):
    - today's: `components.teams`, as `gallery/builder.py`'s `create_default_gallery()` builds a `GalleryConfig`
      (`GalleryComponents(teams=..., agents=..., models=..., tools=..., terminations=..., workbenches=...)`) and as the
      frontend's `frontend/src/components/views/gallery/default_gallery.json` holds it (microsoft/autogen);
    - Feb-2025's `items.teams` (`autogenstudio/gallery/default.json` then)."""
    if not isinstance(document, dict):
        return None
    for layout in ("components", "items"):
        holder = document.get(layout)
        if isinstance(holder, dict) and isinstance(holder.get("teams"), list):
            return [t for t in holder["teams"] if isinstance(t, dict)]
    return None


def label_of(component: dict[str, Any], stem: str) -> str:
    """What a team is called: the file's label, else the team's name, else its description's first words, else the
    file's name (issue 31: "16_serialize_nb_roundrobingroupchat" told a person nothing)."""
    config = component.get("config") if isinstance(component.get("config"), dict) else {}
    for value in (component.get("label"), (config or {}).get("name")):
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())[:80]
    words = str(component.get("description") or "").split()
    if words:
        first = " ".join(words[:6]).rstrip(".,;:")
        return first + ("…" if len(words) > 6 else "")
    return stem


def read_declarative(path: Path, data: bytes) -> tuple[list[TeamFile], list[str]]:
    """A team component file, or AutoGen Studio's gallery file (either layout: `gallery_teams`)."""
    name = path.name
    if len(data) > MAX_FILE_BYTES:
        raise TeamFileError(f"“{name}” is {len(data) / 1e6:.1f} MB; team files can be up to {MAX_FILE_MB} MB.")
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise TeamFileError(f"“{name}” is not a JSON team file ({exc}).") from None
    gallery = gallery_teams(document)
    if gallery is not None:
        teams, problems = [], []
        for index, team in enumerate(gallery):
            try:  # the key as before issue 31 (stored in conversations and traces): the label, else the position
                teams.append(_team(path, team, f"{slug(path.stem)}-{slug(str(team.get('label') or index + 1))}"))
            except TeamFileError as exc:
                problems.append(str(exc))
        if not teams and not problems:
            raise TeamFileError(f"“{name}” is a gallery without teams.")
        return teams, problems
    if not isinstance(document, dict) or document.get("component_type") != "team":
        raise TeamFileError(
            f'“{name}” is not a team: its top-level component_type should be "team" (a file '
            "that Team.dump_component() or AutoGen Studio's team builder wrote, or a gallery with teams)."
        )
    return [_team(path, document, slug(path.stem))], []


def _team(path: Path, component: dict[str, Any], key: str) -> TeamFile:
    label = label_of(component, path.stem)
    where = f"“{path.name}”" + (f" (team “{label}”)" if key != slug(path.stem) else "")
    problems = team_checks.problems(component, where)
    if problems:  # said when the file is read: never found out only after a message
        raise TeamFileError(" ".join(problems))
    component = upgrade(component, where)
    participants = (component.get("config") or {}).get("participants") or []
    agents = tuple(str((p.get("config") or {}).get("name") or "?") for p in participants if isinstance(p, dict))
    users = tuple(
        str((p.get("config") or {}).get("name") or "?")
        for p in participants
        if isinstance(p, dict) and str(p.get("provider", "")).endswith(".UserProxyAgent")
    )
    models = tuple(
        dict.fromkeys(
            str((m.get("config") or {}).get("model") or "?") for m in _components(component) if m.get("component_type") == "model"
        )
    )
    return TeamFile(
        path=path,
        key=f"team:{key}",
        label=label,
        description=str(component.get("description") or ""),
        component=component,
        agents=agents,
        models=models,
        users=users,
    )


def _components(node: Any) -> list[dict[str, Any]]:
    """Every component in a tree (a dict with `provider` and `config`), depth first."""
    return list(team_checks.components(node))


def upgrade(component: dict[str, Any], where: str = "the team file") -> dict[str, Any]:
    """Bring configs older than the installed classes up to date where that is known to be safe: the class's
    current schema accepts the old config's fields as they are (AutoGen Studio's gallery writes
    AssistantAgent on version 1; 0.7.5 is on 2 and its v2 schema takes those fields). Otherwise a sentence."""
    upgraded = copy.deepcopy(component)
    for node in _components(upgraded):
        provider = str(node.get("provider") or "")
        if provider.startswith(_SHIMS):
            continue
        cls = _component_class(provider, where)
        current = int(getattr(cls, "component_version", 1) or 1)
        written = int(node.get("component_version") or node.get("version") or current)
        if written >= current:
            continue
        schema = getattr(cls, "component_config_schema", None)
        try:
            if schema is None:
                raise ValueError("no schema")
            schema.model_validate(node["config"])
        except Exception as exc:  # noqa: BLE001 - said in a sentence naming the component
            raise TeamFileError(
                f"In {where}, {node.get('label') or provider} is written for version {written} of {provider}, and "
                f"the installed agentchat has version {current}, whose settings differ ({str(exc).splitlines()[0]}). "
                f"Save the team again from AutoGen Studio or with Team.dump_component() on agentchat 0.7."
            ) from None
        node["component_version"] = node["version"] = current
    return upgraded


def _component_class(provider: str, where: str) -> type:
    found = team_checks.component_class(provider)
    if isinstance(found, str):
        raise TeamFileError(f"{where[0].upper()}{where[1:]} {found}.")
    return found


# --- the app's stand-ins -------------------------------------------------------------------------------------------------
_turn: ContextVar[Clients | None] = ContextVar("team_file_turn", default=None)


class _ModelConfig(BaseModel):
    model: str = ""
    agent: str = ""


class AppModel(ComponentBase[_ModelConfig], Component[_ModelConfig]):
    """Stands where the file had a model client: loading it gives the chosen provider's (traced) client for
    the model the file named (core.runtimes.agentchat.providers decides what the provider has)."""

    component_type = "model"
    component_config_schema = _ModelConfig

    @classmethod
    def _from_config(cls, config: _ModelConfig) -> Any:  # a ChatCompletionClient, which is what the team loads
        clients = _turn.get()
        if clients is None:
            raise RuntimeError("A team file's models are built only inside build_team_file().")
        return clients.for_model(config.agent or "team", config.model, team_agent_responder)

    def _to_config(self) -> _ModelConfig:
        raise NotImplementedError("the app's stand-in for a model client is never saved")


class UserStandIn(BaseChatAgent):
    """Stands where a team has a UserProxyAgent. A UserProxyAgent blocks for typed input inside the run, which
    cannot live across page reloads; this one hands the turn to the chat's user instead (a HandoffMessage the
    team's hand-off termination ends on), and the user's next chat message resumes the team from saved state."""

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (HandoffMessage,)

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        return Response(
            chat_message=HandoffMessage(source=self.name, target="user", content=f"{self.name}: your turn. Answer in the chat to carry on.")
        )

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        return None


# --- building a team for one turn --------------------------------------------------------------------------------------
def _on_own_thread(function: Any, *args: Any, **kwargs: Any) -> asyncio.Future:
    """A sync tool call on a daemon thread of its own. Not asyncio.to_thread: the loop's default executor is
    joined when the turn's event loop closes, so a tool that never returns would hold the turn anyway."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()
    context = contextvars.copy_context()

    def settle(value: Any, error: BaseException | None) -> None:
        if not future.done():
            future.set_exception(error) if error is not None else future.set_result(value)

    def work() -> None:
        try:
            value, error = context.run(function, *args, **kwargs), None
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting turn
            value, error = None, exc
        with contextlib.suppress(RuntimeError):  # the turn's loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=work, name="team-tool", daemon=True).start()
    return future


def _bounded(function: Any) -> Any:
    """A tool function as an async one that answers within TOOL_TIMEOUT_S: a tool that never returns tells
    the agent so ("ERROR: …", its span failed) instead of holding the turn, Stop and the conversation. (A
    thread cannot be stopped: a sync tool that never returns keeps its worker thread.)"""

    @functools.wraps(function)
    async def run(*args: Any, **kwargs: Any) -> Any:
        call = function(*args, **kwargs) if asyncio.iscoroutinefunction(function) else _on_own_thread(function, *args, **kwargs)
        try:
            return await asyncio.wait_for(call, TOOL_TIMEOUT_S)
        except asyncio.TimeoutError:
            return (
                f"{contract.TOOL_ERROR_PREFIX} {function.__name__} did not answer within {TOOL_TIMEOUT_S:g} s; "
                "the app stopped waiting for it."
            )

    return run


def _traced_function_tools(agent: Any) -> None:
    """Each FunctionTool call of an agent becomes a TOOL span. agentchat has no public hook around a tool
    call, so the tool's `_func` (what FunctionTool.run calls) is replaced by a traced async one; the agent's
    workbench holds the same tool objects (a static workbench's `_tools`), so this works after it is built."""
    workbenches = getattr(agent, "_workbench", None) or ()  # a file from dump_component holds its tools there
    tools = [*(getattr(agent, "_tools", None) or ()), *(t for bench in workbenches for t in (getattr(bench, "_tools", None) or ()))]
    for tool in {id(t): t for t in tools}.values():
        if isinstance(tool, FunctionTool) and not getattr(tool._func, "_app_traced", False):
            traced_run = spans.traced_tool(_bounded(tool._func))
            traced_run._app_traced = True
            tool._func = traced_run


def for_the_app(team: Team, stop: ExternalTermination, stream: bool = False) -> Team:
    """A team as built from a file, with the app's rules, before it first runs: every agent traced (and its
    FunctionTools), a UserProxyAgent handing over to the chat, and the termination also ending on Stop, a
    hand-off to the user and the guard. agentchat fixes participants and termination in the constructor and
    reads them only when the team first runs, so they are swapped here (`_participants`,
    `_termination_condition`); the names and descriptions the team already knows stay the same."""
    participants = getattr(team, "_participants", None)
    if not isinstance(participants, list) or not hasattr(team, "_termination_condition"):
        raise TeamFileError(
            f"A {type(team).__name__} is not a group chat team this app can run (it runs "
            "RoundRobinGroupChat, SelectorGroupChat, Swarm and other agentchat group chats)."
        )
    for index, agent in enumerate(participants):
        if isinstance(agent, UserProxyAgent):
            participants[index] = UserStandIn(agent.name, agent.description)
        elif isinstance(agent, BaseChatAgent) and not isinstance(agent, (TracedAgent, UserStandIn)):
            _traced_function_tools(agent)
            if stream and isinstance(agent, AssistantAgent):  # answers token by token, as the built-ins do
                agent._model_client_stream = True  # set in the constructor only; read at each call
            participants[index] = traced(agent)
    _check_models(team)
    own = team._termination_condition
    app: Any = HandoffTermination(target="user") | MaxMessageTermination(MAX_MESSAGES_GUARD) | stop
    team._termination_condition = app if own is None else own | app
    return team


def _is_model_client(node: dict[str, Any]) -> bool:
    """A model client, whether or not the file says so: its component_type, or its class (a file may leave the
    type out and name OpenAIChatCompletionClient with a base_url of its choosing)."""
    if node.get("component_type") == "model":
        return True
    provider = str(node.get("provider") or "")
    if provider.startswith(_SHIMS):
        return False
    try:
        cls = _component_class(provider, "the team file")
    except TeamFileError:
        return False
    return isinstance(cls, type) and issubclass(cls, ChatCompletionClient)


def _with_app_models(component: dict[str, Any]) -> dict[str, Any]:
    """The file's component tree with every model client replaced by the app's stand-in (`AppModel`): the
    agents' (named after their agent), the selector's and any other."""
    tree = copy.deepcopy(component)

    def stand_in(node: dict[str, Any], agent: str) -> None:
        model = str((node.get("config") or {}).get("model", ""))
        node.clear()
        node.update(
            {
                "provider": f"{_SHIMS}.AppModel",
                "component_type": "model",
                "version": 1,
                "component_version": 1,
                "config": {"model": model, "agent": agent},
            }
        )

    for participant in (tree.get("config") or {}).get("participants") or []:
        agent_name = str((participant.get("config") or {}).get("name") or "") if isinstance(participant, dict) else ""
        for node in _components(participant):
            if _is_model_client(node):
                stand_in(node, agent_name)
    for node in _components(tree):
        if _is_model_client(node):
            stand_in(node, "selector")  # a selector's own model (or any other model the team holds)
    return tree


def system_messages(team_file: TeamFile) -> list[tuple[str, str, str]]:
    """A declarative team's editable fields: (option key, agent, its system message as the file has it) for every
    participant with one. The chat's sidebar and the Compare page edit them; `build_team_file` puts them in."""
    found = []
    for participant in ((team_file.component or {}).get("config") or {}).get("participants") or []:
        config = (participant.get("config") or {}) if isinstance(participant, dict) else {}
        name = str(config.get("name") or "")
        if name.isidentifier() and isinstance(config.get("system_message"), str):
            found.append((f"system_{name}", name, config["system_message"]))
    return found


def _with_system_messages(component: dict[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """The component tree with the system messages the conversation's options hold (`system_messages`' keys)."""
    tree = copy.deepcopy(component)
    for participant in (tree.get("config") or {}).get("participants") or []:
        config = (participant.get("config") or {}) if isinstance(participant, dict) else {}
        value = options.get(f"system_{config.get('name')}")
        if isinstance(value, str) and value.strip() and isinstance(config.get("system_message"), str):
            config["system_message"] = value
    return tree


def _check_models(team: Team) -> None:
    """Every model client the team holds is the app's: a file never decides where a key goes (a Python team
    file must take its clients from `models.client(...)`)."""
    holders = [("the team's speaker selector", team)]
    holders += [(getattr(agent, "name", "an agent"), getattr(agent, "inner", agent)) for agent in getattr(team, "_participants", [])]
    for who, holder in holders:
        client = getattr(holder, "_model_client", None)
        if client is not None and not isinstance(client, TracedChatCompletionClient):
            raise TeamFileError(
                f"The model client of {who} was not made by the app ({type(client).__name__}); "
                "a team's models come from the sidebar's provider (in a Python team file: "
                "models.client(agent, model=...))."
            )


def _swarm_task(team: Swarm) -> Callable[[str, str | None], BaseChatMessage]:
    """A Swarm that handed over to the user resumes only on a HandoffMessage back to the agent that asked
    (agentchat refuses a plain message then); any other time the user's text is a TextMessage."""
    names = {getattr(agent, "name", "") for agent in getattr(team, "_participants", [])}

    def task(text: str, asker: str | None) -> BaseChatMessage:
        if asker in names:
            return HandoffMessage(source="user", target=str(asker), content=text)
        return TextMessage(source="user", content=text)

    return task


def build_team_file(team_file: TeamFile, context: TeamContext) -> TeamPlan:
    """The file's team for one turn, on this turn's clients; every failure is a TeamFileError sentence."""
    stop = ExternalTermination()
    token = _turn.set(context.clients)
    try:
        with warnings.catch_warnings():  # agentchat warns that a FunctionTool's source runs: the page says so
            warnings.simplefilter("ignore", UserWarning)
            if team_file.factory is not None:
                team = team_file.factory(context.clients)
            else:
                team = Team.load_component(_with_app_models(_with_system_messages(team_file.component or {}, context.options)))
        team = for_the_app(team, stop, stream=context.clients.stream)
    except TeamFileError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - anything the file's code raises, said in a sentence
        raise TeamFileError(
            f"The team in “{team_file.path.name}” could not be built: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:300] if str(exc) else ''}"
        ) from None
    finally:
        _turn.reset(token)
    return TeamPlan(
        team=team, stop=stop, total_steps=0, guard=MAX_MESSAGES_GUARD, task_message=_swarm_task(team) if isinstance(team, Swarm) else None
    )
