"""One turn of a conversation: `records` (request, events, outcome), `entries` (team events → transcript
entries, no I/O), `runner` (the turn in small steps, transport-free), `handle` (a turn on a worker thread)."""

from .handle import TurnHandle
from .records import FailedTurn, TurnEvent, TurnOutcome, TurnRequest
from .runner import StopSwitch, run, run_turn, validate_message

__all__ = ["FailedTurn", "StopSwitch", "TurnEvent", "TurnHandle", "TurnOutcome", "TurnRequest", "run", "run_turn", "validate_message"]
