"""Teams users bring as files, offered as scenarios: one per team in each `*.json` (a team, or AutoGen Studio's
gallery of teams: core.runtimes.agentchat.team_files) and each `*.py` team factory
(core.runtimes.agentchat.team_factories) in the teams folder (`APP_TEAMS_DIR`, default `teams/` in the project) and
the uploads (`team_files.uploads_dir()`, in the app's data folder `APP_DATA_DIR`). A file that cannot be used is
left out and the chat page says why. The registry reads the folder again when a file in it changes
(`fingerprint`). A hosted demo offers only the files its owner allow-listed (core.hosted.offered), and never takes
an upload (the upload box, for every runtime's files: core.runtimes.team_sources)."""

from __future__ import annotations

import collections
import os
from dataclasses import replace
from pathlib import Path

from ...agents import TeamContext
from ...config import hosted_limits
from ...scenarios import AgentInfo, CostQuestion, Scenario, TextOption
from .. import team_code
from . import team_factories, team_files
from .agents import TeamPlan

NAME = "agentchat"
# how its teams end, in the chat's note on a team file (core.runtimes.team_sources.run_note)
RUN_ENDS = f"ends on its own termination, a hand-off to you, Stop, or after {team_files.MAX_MESSAGES_GUARD} messages"


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


def read_scenarios(path: Path, shown: Path) -> tuple[list[Scenario], list[str]]:
    """The file's teams as scenarios, for whoever reads a team file by its runtime (core.runtimes.team_sources: the
    chat's upload, a logged model)."""
    teams, unusable = read_any(path, shown)
    return [scenario_for(team_file) for team_file in teams], unusable


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
