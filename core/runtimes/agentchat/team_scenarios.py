"""Teams users bring as files, offered as scenarios: one per team in each `*.json` (a team, or AutoGen Studio's
gallery of teams: core.runtimes.agentchat.team_files) and each `*.py` team factory
(core.runtimes.agentchat.team_factories) in the teams folder (`APP_TEAMS_DIR`, default `teams/` in the project) and
the uploads (`team_files.uploads_dir()`, in the app's data folder `APP_DATA_DIR`). A file that cannot be used is
left out and the chat page says why. The registry reads the folder again when a file in it changes
(`fingerprint`). A hosted demo offers only the files its owner allow-listed (core.hosted.offered), and never takes
an upload."""

from __future__ import annotations

import collections
import os
import secrets
from dataclasses import replace
from pathlib import Path

from ...agents import TeamContext
from ...config import Settings, hosted_limits
from ...errors import InputError
from ...scenarios import AgentInfo, CostQuestion, Scenario, TextOption
from .. import team_code
from . import team_factories, team_files
from .agents import TeamPlan
from .providers import model_for

UPLOAD_SUFFIXES = team_files.TEAM_FILE_SUFFIXES
NAME = "agentchat"


def _no_bound(question: CostQuestion) -> float | None:
    """A user's team has no known worst case: a hosted demo does not run it on the owner's key."""
    return None


def _agent(name: str, team_file: team_files.TeamFile) -> AgentInfo:
    if name in team_file.users:
        return AgentInfo(name, f"You ({name})", ":material/person:", "waiting for you")
    return AgentInfo(name, name)


def scenario_for(team_file: team_files.TeamFile) -> Scenario:
    def build(context: TeamContext) -> TeamPlan:
        return team_files.build_team_file(team_file, context)

    return Scenario(
        key=team_file.key,
        label=team_file.label,
        description=team_file.description or f"A {team_file.kind}.",
        build=build,
        cost_bound=_no_bound,
        agents=tuple(_agent(name, team_file) for name in team_file.agents),
        icon=":material/code:" if team_file.factory is not None else ":material/description:",
        placeholder=f"Message {team_file.label}",
        order=200,
        team_file=team_file.path.name,
        example=team_code.example_in(team_file.description),
        models_asked=team_file.models,
        options=tuple(
            TextOption(key, f"{agent}'s system message", text, height=110)  # the file's editable fields
            for key, agent, text in team_files.system_messages(team_file)
        ),
    )


def read_any(path: Path, shown: Path | None = None) -> tuple[list[team_files.TeamFile], list[str]]:
    """The teams a file holds, and a sentence for each of its teams that cannot be used (a gallery's).
    `shown`: the name the file will have in the teams folder (an upload is read before it is put there)."""
    shown = shown or path
    if shown.suffix == ".py":
        return [team_factories.read_factory(path, shown)], []
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise team_files.TeamFileError(f"“{shown.name}” cannot be read ({exc.strerror or exc}).") from None
    return team_files.read_declarative(shown, data)


fingerprint = team_code.fingerprint  # the teams folder and the uploads, as every runtime's team files


def discover_scenarios() -> tuple[list[Scenario], list[str]]:
    found: list[Scenario] = []
    problems: list[str] = []
    keys: set[str] = set()
    # a hosted demo does not even read (or, for a .py, run) a file its owner did not allow-list; Streamlit puts
    # root-level secrets into the environment, so this sees APP_HOSTED set either way
    limits = hosted_limits(os.environ, {})
    for path in team_files.all_team_paths(hosted=limits is not None):
        if limits is not None and path.name not in limits.team_files:
            continue
        if path.suffix == ".py" and team_code.factory_defined(path) not in ("", NAME):
            continue  # another runtime's factory (core.runtimes.team_code.FACTORIES): its own source offers it
        try:
            teams, unusable = read_any(path)
            problems.extend(f"Team not offered: {text}" for text in unusable)
            for team_file in teams:
                if team_file.key in keys:
                    raise team_files.TeamFileError(
                        f"“{path.name}” gives a team the name {team_file.key!r}, which "
                        "another team already has (in this file or another); rename the "
                        "file or the team's label."
                    )
                keys.add(team_file.key)
                found.append(scenario_for(team_file))
        except team_files.TeamFileError as exc:
            problems.append(f"Team file not offered: {exc}")
    labels = collections.Counter(s.label for s in found)  # two files with one label: told apart by file name
    return [replace(s, label=f"{s.label} ({s.team_file})") if labels[s.label] > 1 else s for s in found], problems


def add_upload(name: str, data: bytes) -> tuple[list[str], list[str]]:
    """Keep a team file a user uploaded in the uploads folder (the app's data folder, outside the checkout), so its
    conversations reopen after a restart.
    Returns the keys of the teams it holds and a sentence for each of its teams that cannot be used. It is
    read under a hidden name first and put in place only if it can be used (InputError with the reason
    otherwise, nothing left behind); a name in use by another file gets a number, never overwritten. The
    caller has checked that uploads are allowed (never in a hosted demo)."""
    base = Path(os.path.basename((name or "").replace("\\", "/")))
    suffix = base.suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise InputError(
            f"“{base.name}” is not a team file: upload a .json team (AutoGen Studio's format) or a "
            ".py file with a create_team(models) function."
        )
    if len(data) > team_files.MAX_FILE_BYTES:
        raise InputError(f"“{base.name}” is {len(data) / 1e6:.1f} MB; team files can be up to 1 MB.")
    folder = team_files.uploads_dir()
    stem = team_files.slug(base.stem).replace("-", "_").strip("_.") or "team"  # no hidden or helper names
    try:
        folder.mkdir(parents=True, exist_ok=True)
        staged = folder / f".upload-{secrets.token_hex(6)}{suffix}"
        staged.write_bytes(data)
    except OSError as exc:
        raise InputError(
            f"The uploads folder {folder} cannot take the file ({exc.strerror or exc}); point APP_DATA_DIR at a "
            "folder this app may write, or put the file into the teams folder (APP_TEAMS_DIR) yourself."
        ) from None
    try:
        number, target = 1, folder / f"{stem}{suffix}"
        while _taken(target, data):
            number += 1
            target = folder / f"{stem}_{number}{suffix}"
        teams, unusable = read_any(staged, target)
        if not teams:
            raise InputError(" ".join(unusable))
        while True:  # put in place without overwriting a file another upload just put there
            try:
                os.link(staged, target)
                break
            except FileExistsError:
                if target.read_bytes() == data:
                    break
                number += 1
                target = folder / f"{stem}_{number}{suffix}"
                teams, unusable = read_any(staged, target)
    finally:
        staged.unlink(missing_ok=True)
    return [team_file.key for team_file in teams], list(unusable)


def _taken(target: Path, data: bytes) -> bool:
    """A name another file has: in the uploads (with other bytes) or in the teams folder (keys must stay unique)."""
    return (target.exists() and target.read_bytes() != data) or (team_files.teams_dir() / target.name).exists()


def uploads() -> list[str]:
    """The names of the team files uploaded in the app (the ones it may remove)."""
    return [p.name for p in team_files.team_paths(team_files.uploads_dir())]


def remove_upload(name: str) -> str:
    """Take an uploaded team out of the picker: the file moves to the uploads' hidden `.removed/` folder (nothing
    is lost; put it back to offer it again). Only an upload: the teams folder is the owner's. Its conversations and
    traces stay in MLflow. Returns the sentence to show; InputError when there is no such upload."""
    folder = team_files.uploads_dir()
    if name not in uploads():
        raise InputError(f"“{name}” is not an uploaded team file (the teams folder's files are removed there).")
    removed = folder / ".removed"
    try:
        removed.mkdir(parents=True, exist_ok=True)
        os.replace(folder / name, removed / f"{secrets.token_hex(4)}-{name}")
    except OSError as exc:
        raise InputError(f"“{name}” could not be removed ({exc.strerror or exc}).") from None
    return (
        f"Removed “{name}” from the Scenario picker; its conversations and traces stay in MLflow (kept in "
        f"{removed}, put it back to offer it again)."
    )


def run_note(scenario: Scenario, settings: Settings) -> str:
    """What the chat page says about a team file's run: the file, the models it asks for and what it gets on
    the sidebar's provider, how it ends, and that it is code."""
    if not scenario.team_file:
        return ""
    got = {asked: model_for(settings, asked) for asked in scenario.models_asked}
    models = (
        "; ".join(f"asks for {asked}, runs on {model}" if asked != model else f"runs on {model}" for asked, model in got.items())
        or f"runs on {settings.chat_model}"
    )
    return (
        f"Team file {scenario.team_file} · {models} ({settings.provider} provider, chosen in the sidebar) · ends "
        f"on its own termination, a hand-off to you, Stop, or after {team_files.MAX_MESSAGES_GUARD} messages · "
        "a team file is code that runs on this server: use files you trust."
    )
