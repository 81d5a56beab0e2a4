"""Teams users bring as files (`core.team_files`), offered as scenarios: one per `*.json` team file in the teams
folder (`APP_TEAMS_DIR`, default `teams/` in the project). A file that cannot be used is left out and the chat
page says why. The folder is the owner's choice, so it is also a hosted demo's allow-list."""

from __future__ import annotations

from .. import team_files
from ..agents import TeamContext, TeamPlan
from . import AgentInfo, CostQuestion, Scenario


def _no_bound(question: CostQuestion) -> float | None:
    """A user's team has no known worst case: a hosted demo does not run it on the owner's key."""
    return None


def scenario_for(team_file: team_files.TeamFile) -> Scenario:
    def build(context: TeamContext) -> TeamPlan:
        return team_files.build_team_file(team_file, context)

    asked = ", ".join(team_file.models) or "none"
    return Scenario(
        key=team_file.key, label=team_file.label,
        description=(f"{team_file.description} (team file {team_file.path.name}; models it names: {asked}; the "
                     f"sidebar's provider answers for them; it ends on its own termination or after "
                     f"{team_files.MAX_MESSAGES_GUARD} messages). A team file is code: its tools run on this "
                     "server, so use files you trust.").strip(),
        build=build, cost_bound=_no_bound, agents=tuple(AgentInfo(name, name) for name in team_file.agents),
        icon=":material/description:", placeholder=f"Message {team_file.label}", order=200)


def discover_scenarios() -> tuple[list[Scenario], list[str]]:
    folder = team_files.teams_dir()
    found, problems = [], []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            found.append(scenario_for(team_files.read(path)))
        except team_files.TeamFileError as exc:
            problems.append(f"Team file not offered: {exc}")
    return found, problems
