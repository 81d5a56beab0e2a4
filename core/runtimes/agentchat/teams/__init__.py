"""agentchat's team for each built-in scenario, by the scenario's `team` name (core.scenarios.Scenario.team): the
scenario modules describe (options, agents, cost bounds, prompts), these build. Another runtime keeps its own
builders in its own folder under the same names."""

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
