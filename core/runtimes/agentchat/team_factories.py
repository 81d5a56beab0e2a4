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

import importlib.util
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Callable

from autogen_agentchat.agents import UserProxyAgent
from autogen_agentchat.base import Team
from autogen_core.models import ChatCompletionClient

from ...config import Settings
from .demo_models import team_agent_responder
from .providers import Clients, build_clients
from .team_files import MAX_FILE_BYTES, TeamFile, TeamFileError, slug

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


def _where(path: Path, exc: BaseException) -> str:
    """The line of the team file an error came from, when it came from there."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    return f" (line {frames[-1].lineno})" if frames else ""


def _within(seconds: float, action: Callable[[], Any], what: str) -> Any:
    """Run a team file's own code with a time limit, on a worker thread: a file that hangs (or calls
    sys.exit) gets a sentence instead of freezing the page or the registry. Python cannot stop a thread, so a
    file that never returns keeps its thread; the app goes on."""
    result: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(action())
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: re-raised in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=run, name="team-file", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TeamFileError(
            f"{what} did not finish within {seconds:g} s; the app left it running and does not "
            "offer the team. Look for a loop or a call that waits."
        )
    if failure:
        raise failure[0]
    return result[0]


def _load_module(path: Path, shown: Path) -> Any:
    """The file at `path` imported (as `shown`, the name the user knows it by)."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise TeamFileError(f"“{shown.name}” is {path.stat().st_size / 1e6:.1f} MB; team files can be up to 1 MB.")
    name = f"app_team_files.{slug(shown.stem).replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TeamFileError(f"“{shown.name}” cannot be read as Python.")
    module = importlib.util.module_from_spec(spec)
    try:
        _within(READ_TIMEOUT_S, lambda: spec.loader.exec_module(module), f"Reading “{shown.name}”")  # type: ignore[union-attr]
    except TeamFileError:
        raise
    except SyntaxError as exc:
        raise TeamFileError(f"“{shown.name}” has a syntax error on line {exc.lineno}: {exc.msg}.") from None
    except ModuleNotFoundError as exc:
        raise TeamFileError(f"“{shown.name}” needs the module {exc.name}, which is not installed here.") from None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the file's own code failed: said in a sentence
        raise TeamFileError(f"“{shown.name}” failed when it was read{_where(path, exc)}: {type(exc).__name__}: {str(exc)[:300]}") from None
    sys.modules.pop(name, None)  # read again from the file next time
    return module


def _call(path: Path, shown: Path, create: Callable[[TeamModels], Any], models: TeamModels) -> Team:
    """The factory's team, or TeamFileError naming the file, the line and what went wrong."""
    try:
        team = _within(READ_TIMEOUT_S, lambda: create(models), f"{FACTORY}() in “{shown.name}”")
    except TeamFileError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the factory's own code failed: said in a sentence
        raise TeamFileError(f"{FACTORY}() in “{shown.name}” raised {type(exc).__name__}{_where(path, exc)}: {str(exc)[:300]}") from None
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
            "returns an agentchat team (see docs/TEAMS.md)."
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
