"""Microsoft Agent Framework, the second agent runtime (core.runtimes): everything typed against agent-framework
that a turn runs through. `RUNTIME` is what core.agents registers."""

from .runtime import RUNTIME

__all__ = ["RUNTIME"]
