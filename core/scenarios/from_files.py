"""Where teams from files were read before issue 33 (now core/runtimes/agentchat/team_scenarios.py: team files are
agentchat's format). A model version logged before then runs the team_model.py it was logged with against this core,
in the app's process, and that file imports this module for `read_any` and `scenario_for`: they answer here. Nothing
else imports it (the runtime folder does not import scenarios' modules back, so this reaches it by name)."""

from __future__ import annotations

import importlib
from typing import Any


def _moved() -> Any:
    return importlib.import_module("core.runtimes.agentchat.team_scenarios")


def read_any(*args: Any, **kwargs: Any) -> Any:
    return _moved().read_any(*args, **kwargs)


def scenario_for(*args: Any, **kwargs: Any) -> Any:
    return _moved().scenario_for(*args, **kwargs)
