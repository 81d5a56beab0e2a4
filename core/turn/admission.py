"""The turn's front door: a message is validated, admitted and, at the end, settled here and nowhere else.

`admit(request, visit, document)` checks the message once (control characters out, not empty, not over the limit),
fills the conversation's document on its first turn (a message that looks like a report becomes it), and in a
hosted demo asks core.hosted for the rest of the policy (its own message limit, the team, the options, turns a
minute, the spend caps: a reservation of the turn's worst case). What it returns, an `Admission`, is what
core.turn.runner runs; `Admission.settle` replaces the reservation by what the turn really cost. Raises a
`UserError` with the sentence, before anything runs."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .. import hosted, scenarios
from ..config import MAX_MESSAGE_CHARS
from ..documents import looks_like_report, read_upload, validate_report
from ..errors import InputError, UserError
from ..records import TurnOutcome, TurnRequest

if TYPE_CHECKING:
    from ..hosted import Reservation, Visit

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls but tab and line breaks, and DEL


def without_controls(text: str) -> tuple[str, int]:
    """(text without invisible control characters, how many there were): a NUL is refused by PostgreSQL in any
    text column (titles, previews), and none of them means anything in a chat."""
    cleaned, count = _CONTROL.subn("", text)
    return cleaned, count


def validate_message(message: str) -> str:
    """The message as the team gets it; InputError when it is empty or too long."""
    text = without_controls(message or "")[0].strip()
    if not text:
        raise InputError("The message is empty: type something for the agents to work on.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise InputError(
            f"The message has {len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,}. Shorten it, or attach the text as a report."
        )
    return text


@dataclass(frozen=True)
class DocumentGiven:
    """What the page holds for a scenario's document before the first turn: pasted text, or an upload (it wins)."""

    text: str = ""
    upload: tuple[str, bytes] | None = None  # (file name, its bytes)

    def read(self) -> str:
        return read_upload(*self.upload) if self.upload is not None else validate_report(self.text)


@dataclass(frozen=True)
class Admission:
    """An admitted turn: the request as it runs (the message cleaned, the document in the options), what the app did
    with the message (`notes`, said on the page), and a hosted demo's reservation on the owner's key."""

    request: TurnRequest
    removed_controls: int = 0  # invisible control characters taken out of the message (said as a warning)
    notes: tuple[str, ...] = ()
    reservation: Reservation | None = None

    def settle(self, outcome: TurnOutcome | None) -> None:
        """The reservation becomes what the turn was billed (unknown, or no outcome: it keeps its bound)."""
        if self.reservation is not None:
            self.reservation.settle(outcome.billed_usd if outcome is not None else None)


def admit(request: TurnRequest, visit: Visit | None = None, document: DocumentGiven | None = None) -> Admission:
    """The one admission of a turn (the module's docstring); raises UserError with the sentence."""
    text = validate_message(request.message)
    removed = without_controls(request.message or "")[1]
    conversation = request.conversation
    notes: tuple[str, ...] = ()
    scenario_document = scenarios.get(conversation.scenario).document() if document is not None and not conversation.turns else None
    if document is not None and scenario_document is not None:
        try:
            report = document.read()
        except UserError:
            if not looks_like_report(text):
                raise
            # no report set, and the message is one: it becomes the report, and the team is asked about it
            report, text = text, scenario_document.question
            label = scenario_document.label.lower()
            notes = (f"No {label} was set and your message looks like one, so it became the {label}; the team was asked: “{text}”",)
        conversation = replace(conversation, options={**conversation.options, scenario_document.key: report})
    admitted = replace(request, conversation=conversation, message=text)
    reservation = None
    if visit is not None:
        reservation = hosted.admit(visit, request.settings, conversation, text)
    return Admission(admitted, removed_controls=removed, notes=notes, reservation=reservation)
