"""The turn's front door (core.turn.admission, issue 33): a message is validated once, the first turn's document is
filled there, a hosted demo's policy is asked there, and a reservation is settled by the admission; a model version
logged before the front door still starts its turn the old way."""

from __future__ import annotations

import pytest

from core import hosted, scenarios
from core.config import HostedLimits, Settings
from core.conversations import Conversation
from core.errors import InputError
from core.turn import Admission, DocumentGiven, TurnHandle, TurnRequest, admit, start

REPORT = "\n".join(f"Line {i}: revenue grew {i} percent in the northern plant, and costs fell." for i in range(8))


def test_a_message_is_cleaned_once_and_what_was_taken_out_is_counted():
    admission = admit(
        TurnRequest(Conversation(scenario="catify", session_id="s", provider="demo"), "  a cat\x00 in a hat\x07 ", Settings(), None)
    )
    assert (admission.request.message, admission.removed_controls, admission.reservation) == ("a cat in a hat", 2, None)
    with pytest.raises(InputError, match="The message is empty"):
        admit(TurnRequest(Conversation(scenario="catify", session_id="s", provider="demo"), " \x00 ", Settings(), None))


def test_a_first_message_that_looks_like_a_report_becomes_the_report():
    document = scenarios.get("analyst").document()
    assert document is not None
    request = TurnRequest(Conversation(scenario="analyst", session_id="s", provider="demo"), REPORT, Settings(), None)
    admission = admit(request, document=DocumentGiven())
    assert admission.request.conversation.options[document.key] == REPORT
    assert admission.request.message == document.question and len(admission.notes) == 1
    assert request.conversation.options == {}, "the caller's conversation is left as it was"
    given = admit(request, document=DocumentGiven(text="A short report. It has figures. Three sentences."))
    assert given.request.message == REPORT.strip(), "a report set: the message stays the question"
    with pytest.raises(InputError):
        admit(
            TurnRequest(Conversation(scenario="analyst", session_id="s", provider="demo"), "What are the risks?", Settings(), None),
            document=DocumentGiven(),
        )


def test_a_hosted_turn_is_refused_before_it_runs_and_settled_by_its_admission():
    settings = Settings(provider="demo", hosted=HostedLimits(max_message_chars=50))
    visit = hosted.Visit(hosted.SpendGate(), "visitor", uses_owner_key=False)
    with pytest.raises(InputError, match="up to 50 characters"):
        start(TurnRequest(Conversation(scenario="catify", session_id="visitor", provider="demo"), "a cat " * 20, settings, None), visit)
    admission = admit(TurnRequest(Conversation(scenario="catify", session_id="visitor", provider="demo"), "a cat", settings, None), visit)
    assert isinstance(admission, Admission) and admission.reservation is not None
    admission.settle(None)
    assert admission.reservation.settled


def test_a_model_logged_before_the_front_door_still_starts_its_turn(tracking_uri):
    """Its model file runs against this core in-process and calls TurnHandle(conversation, prompt, settings, store, ...)."""
    conversation = Conversation(scenario="catify", session_id="s", provider="demo", options={"iterations": 1})
    outcome = TurnHandle(conversation, "a cat", Settings(tracking_uri=tracking_uri), None, trace=False).start().wait(60)
    assert outcome is not None and outcome.status == "ok", outcome
