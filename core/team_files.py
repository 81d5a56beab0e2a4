"""Teams users bring as files: AutoGen Studio's declarative component format (what `Team.dump_component()`
writes), loaded with agentchat's own `load_component`, and run like any scenario.

Before loading, the file's component tree is rewritten so the app stays in charge of what matters:
- every model client becomes the chosen provider's client (`AppModel`): the file names a model, never
  where a key goes; the demo provider answers any agent offline (`core.demo.models.team_agent_responder`);
- every agent is wrapped for tracing (`TracedParticipant`), so its steps are AGENT spans;
- the team's termination also ends on Stop (`StopSignal`) and after `MAX_MESSAGES_GUARD` messages;
- configs older than the installed agentchat are upgraded where the upgrade is known (a config whose fields
  the current schema accepts as they are), and refused with a sentence naming the component otherwise.

A team file is code: a FunctionTool's `source_code` runs when the team is built, and a `provider` names any
importable class (AutoGen: "only load configs from trusted sources"). Files come from the folder the owner
chose (`APP_TEAMS_DIR`, default `teams/` in the project)."""

from __future__ import annotations

import asyncio
import copy
import functools
import importlib
import json
import os
import re
import warnings
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autogen_agentchat.base import ChatAgent, Team
from autogen_agentchat.conditions import ExternalTermination
from autogen_core import Component, ComponentBase, ComponentModel
from autogen_core.tools import BaseTool, FunctionTool
from pydantic import BaseModel

from .agents import TeamContext, TeamPlan, traced
from .demo.models import team_agent_responder
from .errors import InputError
from .observe import spans
from .providers import Clients

MAX_FILE_BYTES = 1_000_000
MAX_MESSAGES_GUARD = 40  # a team whose own termination never fires still ends (the page says so)
TEAMS_DIR = Path(__file__).resolve().parents[1] / "teams"
_SHIMS = __name__  # the module the rewritten providers point at


class TeamFileError(InputError):
    """A team file that cannot be used; the message names the file and what to change."""


@dataclass(frozen=True)
class TeamFile:
    """A team file as read: its component tree (upgraded), what it is called, who is in it."""

    path: Path
    key: str  # the scenario key, stored in conversations and traces: the file's name
    label: str
    description: str
    component: dict[str, Any]
    agents: tuple[str, ...]
    models: tuple[str, ...]  # the models the file asked for


def teams_dir() -> Path:
    return Path(os.environ.get("APP_TEAMS_DIR") or TEAMS_DIR)


# --- reading and upgrading ---------------------------------------------------------------------------------------------
def read(path: Path) -> TeamFile:
    """A team file, or TeamFileError with a sentence: too big, not JSON, not a team, a component too old."""
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TeamFileError(f"“{name}” cannot be read ({exc.strerror or exc}).") from None
    if len(data) > MAX_FILE_BYTES:
        raise TeamFileError(f"“{name}” is {len(data) / 1e6:.1f} MB; team files can be up to 1 MB.")
    try:
        component = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise TeamFileError(f"“{name}” is not a JSON team file ({exc}).") from None
    if not isinstance(component, dict) or component.get("component_type") != "team":
        raise TeamFileError(f"“{name}” is not a team: its top-level component_type should be \"team\" (a file "
                            "that Team.dump_component() or AutoGen Studio's team builder wrote).")
    component = upgrade(component, name)
    label = str(component.get("label") or path.stem)
    participants = (component.get("config") or {}).get("participants") or []
    agents = tuple(str((p.get("config") or {}).get("name") or "?") for p in participants if isinstance(p, dict))
    models = tuple(dict.fromkeys(str((m.get("config") or {}).get("model") or "?")
                                 for m in _components(component) if m.get("component_type") == "model"))
    return TeamFile(path=path, key=_key(path), label=label, description=str(component.get("description") or ""),
                    component=component, agents=agents, models=models)


def _key(path: Path) -> str:
    return "team:" + re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-")


def _components(node: Any) -> list[dict[str, Any]]:
    """Every component in a tree (a dict with `provider` and `config`), depth first."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "provider" in node and "config" in node:
            found.append(node)
        for value in node.values():
            found.extend(_components(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_components(value))
    return found


def upgrade(component: dict[str, Any], name: str = "the team file") -> dict[str, Any]:
    """Bring configs older than the installed classes up to date where that is known to be safe: the class's
    current schema accepts the old config's fields as they are (AutoGen Studio's gallery writes
    AssistantAgent on version 1; 0.7.5 is on 2 and its v2 schema takes those fields). Otherwise a sentence."""
    upgraded = copy.deepcopy(component)
    for node in _components(upgraded):
        provider = str(node.get("provider") or "")
        if provider.startswith(_SHIMS):
            continue
        cls = _component_class(provider, name)
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
                f"In “{name}”, {node.get('label') or provider} is written for version {written} of {provider}, and "
                f"the installed agentchat has version {current}, whose settings differ ({str(exc).splitlines()[0]}). "
                f"Save the team again from AutoGen Studio or with Team.dump_component() on agentchat 0.7.") from None
        node["component_version"] = node["version"] = current
    return upgraded


def _component_class(provider: str, name: str) -> type:
    module_path, _, class_name = provider.rpartition(".")
    try:
        return getattr(importlib.import_module(module_path), class_name)
    except ModuleNotFoundError as exc:
        raise TeamFileError(f"“{name}” needs {provider}, but the module {exc.name} is not installed here.") from None
    except (AttributeError, ValueError):
        raise TeamFileError(f"“{name}” names {provider!r}, which is not a class this app can import.") from None


# --- building a team for one turn --------------------------------------------------------------------------------------
_turn: ContextVar[tuple[Clients, ExternalTermination] | None] = ContextVar("team_file_turn", default=None)


def _current() -> tuple[Clients, ExternalTermination]:
    current = _turn.get()
    if current is None:
        raise RuntimeError("A team file's components are built only inside build_team_file().")
    return current


class _ModelConfig(BaseModel):
    model: str = ""
    agent: str = ""


class AppModel(ComponentBase[_ModelConfig], Component[_ModelConfig]):
    """Stands where the file had a model client: loading it gives the chosen provider's (traced) client."""

    component_type = "model"
    component_config_schema = _ModelConfig

    @classmethod
    def _from_config(cls, config: _ModelConfig) -> Any:  # a ChatCompletionClient, which is what the team loads
        clients, _ = _current()
        return clients.for_role(config.agent or "team", team_agent_responder)

    def _to_config(self) -> _ModelConfig:
        raise NotImplementedError("the app's stand-in for a model client is never saved")


class _ParticipantConfig(BaseModel):
    inner: ComponentModel


class TracedParticipant(ComponentBase[_ParticipantConfig], Component[_ParticipantConfig]):
    """Stands where the file had an agent: loading it gives that agent, wrapped so each step is a span."""

    component_type = "agent"
    component_config_schema = _ParticipantConfig

    @classmethod
    def _from_config(cls, config: _ParticipantConfig) -> Any:
        return traced(ChatAgent.load_component(config.inner))  # type: ignore[arg-type]

    def _to_config(self) -> _ParticipantConfig:
        raise NotImplementedError("the app's tracing wrapper is never saved")


class _ToolConfig(BaseModel):
    inner: ComponentModel


class TracedTool(ComponentBase[_ToolConfig], Component[_ToolConfig]):
    """Stands where the file had a FunctionTool: loading it (which runs the file's `source_code`) gives that
    tool, each call a TOOL span. FunctionTool has no public way to wrap its function, so its `_func` is
    replaced by a traced async one (FunctionTool.run looks at `_func` when called)."""

    component_type = "tool"
    component_config_schema = _ToolConfig

    @classmethod
    def _from_config(cls, config: _ToolConfig) -> Any:
        tool: Any = BaseTool.load_component(config.inner)
        if isinstance(tool, FunctionTool):
            original = tool._func
            if asyncio.iscoroutinefunction(original):
                run = original
            else:
                @functools.wraps(original)
                async def run(*args: Any, **kwargs: Any) -> Any:
                    return await asyncio.to_thread(original, *args, **kwargs)
            tool._func = spans.traced_tool(run)
        return tool

    def _to_config(self) -> _ToolConfig:
        raise NotImplementedError("the app's tracing wrapper is never saved")


class _Empty(BaseModel):
    pass


class StopSignal(ComponentBase[_Empty], Component[_Empty]):
    """Stands beside the team's own termination: the turn's Stop button (an ExternalTermination)."""

    component_type = "termination"
    component_config_schema = _Empty

    @classmethod
    def _from_config(cls, config: _Empty) -> Any:
        return _current()[1]

    def _to_config(self) -> _Empty:
        raise NotImplementedError("the app's stop signal is never saved")


def _shim(name: str, config: dict[str, Any], component_type: str) -> dict[str, Any]:
    return {"provider": f"{_SHIMS}.{name}", "component_type": component_type, "version": 1, "component_version": 1,
            "config": config}


def for_the_app(component: dict[str, Any]) -> dict[str, Any]:
    """The team file's tree with the app's stand-ins: provider's models, traced agents, Stop and the guard."""
    tree = copy.deepcopy(component)
    config = tree.setdefault("config", {})
    participants = config.get("participants") or []
    for index, participant in enumerate(participants):
        if not isinstance(participant, dict) or participant.get("component_type") != "agent":
            continue
        if str(participant.get("provider", "")).endswith("UserProxyAgent"):
            raise TeamFileError("This team has a UserProxyAgent, which waits for typed input inside a run; the "
                                "app cannot keep that across page reloads yet. Use a hand-off to the user instead.")
        agent_name = str((participant.get("config") or {}).get("name") or "")
        for node in _components(participant):
            if node.get("component_type") == "model":
                node.update(_shim("AppModel", {"model": (node.get("config") or {}).get("model", ""),
                                               "agent": agent_name}, "model"))
            elif node.get("component_type") == "tool" and str(node.get("provider", "")).endswith("FunctionTool"):
                inner = dict(node)
                node.clear()
                node.update(_shim("TracedTool", {"inner": inner}, "tool"))
        participants[index] = _shim("TracedParticipant", {"inner": participant}, "agent")
    if isinstance(config.get("model_client"), dict):  # a selector's own model
        config["model_client"] = _shim("AppModel", {"model": "", "agent": "selector"}, "model")
    guard = {"provider": "autogen_agentchat.conditions.MaxMessageTermination", "component_type": "termination",
             "version": 1, "component_version": 1, "config": {"max_messages": MAX_MESSAGES_GUARD}}
    conditions = [c for c in (config.get("termination_condition"), guard, _shim("StopSignal", {}, "termination")) if c]
    config["termination_condition"] = {"provider": "autogen_agentchat.base.OrTerminationCondition",
                                       "component_type": "termination", "version": 1, "component_version": 1,
                                       "config": {"conditions": conditions}}
    return tree


def build_team_file(team_file: TeamFile, context: TeamContext) -> TeamPlan:
    """The file's team for one turn, on this turn's clients; every failure is a TeamFileError sentence."""
    stop = ExternalTermination()
    token = _turn.set((context.clients, stop))
    try:
        with warnings.catch_warnings():  # agentchat warns that a FunctionTool's source runs: the page says so
            warnings.simplefilter("ignore", UserWarning)
            team = Team.load_component(for_the_app(team_file.component))
    except TeamFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - anything the file's code or classes raise, said in a sentence
        raise TeamFileError(f"The team in “{team_file.path.name}” could not be built: {type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:300] if str(exc) else ''}") from None
    finally:
        _turn.reset(token)
    return TeamPlan(team=team, stop=stop, total_steps=0)
