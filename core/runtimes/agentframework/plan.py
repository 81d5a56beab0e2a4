"""What a scenario's Agent Framework builder gives the runtime (teams/ build it, runtime.py runs it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from agent_framework import InMemoryCheckpointStorage


@dataclass
class Plan:
    """What a scenario's builder gives the runtime: the workflow (built on the team's checkpoint storage), its agents'
    names, how many steps a run takes (0: unknown), the task message for the user's text, why a speaker was chosen,
    whether the run ended by handing over to the user, and the stop flag its termination condition reads (or, for a
    workflow the app did not build and cannot add a condition to, `stops_between_steps`: the runtime ends its run at
    the next superstep boundary once the flag is set)."""

    build: Callable[[InMemoryCheckpointStorage], Any]
    participants: tuple[str, ...]
    total_steps: int
    task: Callable[[str], str] = lambda text: text
    explain: Callable[[str], str] | None = None
    waiting: Callable[[], bool] = lambda: False
    stop: list[bool] = field(default_factory=lambda: [False])
    stops_between_steps: bool = False
