"""One turn of a conversation, through one front door: `start` (admit, then run on a worker thread: `TurnHandle`)
or `run_turn` (on the caller's event loop). `admission` (validate, admit, settle), `events` (one class per event
the turn streams), `entries` (team events → transcript entries, no I/O), `runner` (the turn in small steps,
transport-free), `handle` (a turn on a worker thread). The request and outcome are core.records'."""

from ..records import FailedTurn, TurnOutcome, TurnRequest
from .admission import Admission, DocumentGiven, admit, validate_message
from .events import Chunk, Opened, Progress, Said, TurnEvent, Warned
from .handle import TurnHandle, start
from .runner import CancelSwitch, StopSwitch, run_turn

__all__ = [
    "Admission",
    "CancelSwitch",
    "Chunk",
    "DocumentGiven",
    "FailedTurn",
    "Opened",
    "Progress",
    "Said",
    "StopSwitch",
    "TurnEvent",
    "TurnHandle",
    "TurnOutcome",
    "TurnRequest",
    "Warned",
    "admit",
    "run_turn",
    "start",
    "validate_message",
]
