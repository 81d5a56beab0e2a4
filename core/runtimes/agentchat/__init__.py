"""agentchat, the first agent runtime (core.runtimes): everything typed against autogen-agentchat that a turn runs
through. `RUNTIME` is what core.agents registers."""

from .runtime import RUNTIME

__all__ = ["RUNTIME"]
