"""Agent Framework's workflow for each built-in scenario, by the scenario's `team` name (core.scenarios.Scenario.team),
as agentchat's builders are (core/runtimes/agentchat/teams/): the scenario modules describe, these build."""

from typing import Any, Callable

from ....agents import TeamContext
from ....scenarios import analyst as analyst_scenario
from ....scenarios import catify as catify_scenario
from ....scenarios import weather as weather_scenario
from . import analyst, catify, weather

BUILDERS: dict[str, Callable[[TeamContext], Any]] = {
    catify_scenario.KEY: catify.build,
    analyst_scenario.KEY: analyst.build,
    weather_scenario.KEY: weather.build,
}
