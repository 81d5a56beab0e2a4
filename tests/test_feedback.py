"""Feedback on turns (core.feedback) on a real sqlite store and a real `mlflow server`: a rating is MLflow's own
assessment, read back here through MLflow's public client; one current rating per person, changed in place; a
hosted visitor rates only their own session's turns; a conversation's ratings come from one search."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from mlflow import MlflowClient
from mlflow.entities import AssessmentSource, AssessmentSourceType, Feedback
from mlflow.tracing.client import TracingClient

from core import contract, feedback, traces
from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.errors import InputError
from core.turn import TurnRequest, run_turn


def _turns(tracking_uri: str, experiment: str, session: str, messages: list[str]) -> tuple[str, list[str]]:
    """(conversation id, trace ids) of Catify turns run by `session`, each trace complete in the store."""
    store = ConversationStore.connect(tracking_uri, experiment)
    conversation = Conversation(scenario="catify", session_id=session, provider="demo", options={"iterations": 1})
    ids = []
    for message in messages:
        outcome = asyncio.run(run_turn(TurnRequest(conversation, message, Settings(tracking_uri=tracking_uri), store)))
        assert outcome.status == "ok", outcome.error
        conversation = outcome.conversation
        ids.append(outcome.trace_id)
    return conversation.id, ids


@pytest.fixture(scope="module")
def alices(tracking_uri):
    """Two turns of one conversation, run by browser session "alice"."""
    return _turns(tracking_uri, f"feedback-{uuid.uuid4().hex[:8]}", "alice", ["a cat", "now a dog"])


def human_ratings(tracking_uri: str, trace_id: str) -> list:
    """The trace's current human feedback of the app's name, straight from MLflow's client."""
    return [
        a
        for a in MlflowClient(tracking_uri).get_trace(trace_id).info.assessments
        if a.name == contract.Assessment.FEEDBACK and a.valid is not False and a.source.source_type == "HUMAN"
    ]


def test_a_rating_is_mlflows_feedback_changed_in_place_and_taken_back(tracking_uri, alices):
    trace_id = alices[1][0]
    feedback.rate(tracking_uri, trace_id, "ana@example.com", True, "more cats")
    [given] = human_ratings(tracking_uri, trace_id)
    assert (given.source.source_type, given.source.source_id) == ("HUMAN", "ana@example.com")
    assert given.feedback.value is True and given.rationale == "more cats"

    feedback.rate(tracking_uri, trace_id, "ana@example.com", False)  # a second click: the other thumb
    [changed] = human_ratings(tracking_uri, trace_id)
    assert changed.assessment_id == given.assessment_id, "changed in place: still one rating of hers"
    assert changed.feedback.value is False and changed.rationale == "more cats", "the comment stays"
    assert len(MlflowClient(tracking_uri).get_trace(trace_id).info.assessments) == 1, "no overridden copies pile up"

    feedback.rate(tracking_uri, trace_id, "ana@example.com", False, "")
    assert not human_ratings(tracking_uri, trace_id)[0].rationale, "an empty comment clears it"
    assert feedback.rate(tracking_uri, trace_id, "ana@example.com", None) is None
    assert human_ratings(tracking_uri, trace_id) == [], "taken back: deleted"


def test_each_person_has_one_current_rating(tracking_uri, alices):
    trace_id = alices[1][1]
    feedback.rate(tracking_uri, trace_id, "ana", True)
    feedback.rate(tracking_uri, trace_id, "ben", False, "too dark")
    # two tabs of Ana's that rated at the same moment both logged one
    TracingClient(tracking_uri).log_assessment(
        trace_id,
        Feedback(name=contract.Assessment.FEEDBACK, value=True, source=AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id="ana")),
    )
    assert [a.source.source_id for a in human_ratings(tracking_uri, trace_id)].count("ana") == 2
    feedback.rate(tracking_uri, trace_id, "ana", False)
    current = {a.source.source_id: a.feedback.value for a in human_ratings(tracking_uri, trace_id)}
    assert current == {"ana": False, "ben": False}
    assert [a.source.source_id for a in human_ratings(tracking_uri, trace_id)].count("ana") == 1
    feedback.rate(tracking_uri, trace_id, "ana", None)
    feedback.rate(tracking_uri, trace_id, "ben", None)


def test_a_hosted_visitor_cannot_rate_another_sessions_turn(tracking_uri, alices):
    trace_id = alices[1][0]
    with pytest.raises(feedback.FeedbackRefused, match="only the turns of your own conversations"):
        feedback.rate(tracking_uri, trace_id, "bob", False, "ha", owner="bob")
    assert human_ratings(tracking_uri, trace_id) == [], "nothing written"
    feedback.rate(tracking_uri, trace_id, "alice", True, owner="alice")  # her own turn
    feedback.rate(tracking_uri, trace_id, "admin", True, owner=None)  # the admin, or a demo that is not hosted
    assert sorted(a.source.source_id for a in human_ratings(tracking_uri, trace_id)) == ["admin", "alice"]
    for who in ("alice", "admin"):
        feedback.rate(tracking_uri, trace_id, who, None)


def test_comments_are_held_to_their_limit_and_who_is_required(tracking_uri, alices):
    trace_id = alices[1][0]
    with pytest.raises(InputError, match="up to 2,000 characters"):
        feedback.rate(tracking_uri, trace_id, "ana", True, "x" * 2_001)
    with pytest.raises(InputError, match="needs who gave it"):
        feedback.rate(tracking_uri, trace_id, "  ", True)
    assert human_ratings(tracking_uri, trace_id) == []
    feedback.rate(tracking_uri, trace_id, "ana", True, "x" * 2_000)
    assert len(human_ratings(tracking_uri, trace_id)[0].rationale) == 2_000
    feedback.rate(tracking_uri, trace_id, "ana", None)


def test_a_trace_that_is_not_in_the_store_says_so(tracking_uri):
    with pytest.raises(feedback.FeedbackError, match="not in the MLflow store yet"):
        feedback.rate(tracking_uri, "tr-" + "0" * 32, "ana", True, wait_s=0.2)


def test_a_conversations_ratings_come_from_one_search(tracking_uri, alices, monkeypatch):
    conversation, (first, second) = alices
    feedback.rate(tracking_uri, first, "ana", True, "nice")
    feedback.rate(tracking_uri, first, "ben", False)
    feedback.rate(tracking_uri, second, "ben", True)
    searches = []
    real = TracingClient.search_traces

    def counted(self, *args, **kwargs):
        searches.append(kwargs.get("filter_string"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(TracingClient, "search_traces", counted)
    found = feedback.for_conversation(tracking_uri, MlflowClient(tracking_uri).get_trace(first).info.experiment_id, conversation, "ana")
    assert len(searches) == 1 and conversation in searches[0]
    assert set(found) == {first, second}
    assert found[first].mine is not None and (found[first].mine.up, found[first].mine.comment) == (True, "nice")
    assert [(r.who, r.up) for r in found[first].others] == [("ben", False)]
    assert found[second].mine is None and [(r.who, r.up) for r in found[second].others] == [("ben", True)]
    assert feedback.for_conversation(tracking_uri, "0", "not-a-run-id", "ana") == {}
    for trace_id, who in ((first, "ana"), (first, "ben"), (second, "ben")):
        feedback.rate(tracking_uri, trace_id, who, None)


def test_only_current_human_ratings_of_the_apps_name_count():
    """What MLflow's UI and judges leave beside people's thumbs: overridden ones, judges', other names, non-booleans."""

    def made(value, source="HUMAN", name=contract.Assessment.FEEDBACK, valid=True, when=1):
        a = Feedback(
            name=name,
            value=value,
            source=AssessmentSource(source_type=source, source_id="x"),
            trace_id="t",
            create_time_ms=when,
            last_update_time_ms=when,
        )
        a.valid = valid
        return a

    assessments = [
        made(True, when=3),
        made(False, when=2),
        made(True, valid=False),
        made(True, source="LLM_JUDGE"),
        made(True, name="relevance"),
        made(0.5),
        made("yes"),
    ]
    assert [r.up for r in feedback.ratings(assessments)] == [True, False], "newest first"
    assert feedback.counts(assessments) == (1, 1)
    assert [feedback.mark(*c) for c in ((0, 0), (1, 0), (0, 2), (2, 1))] == ["", "1 up", "2 down", "2 up · 1 down"]


@pytest.fixture(scope="module")
def server(mlflow_server):
    return mlflow_server.uri  # the session's server (tests/conftest.py); this module's experiment is its own


def test_ratings_over_a_tracking_server(server):
    """The same writes over MLflow's REST API, and the Traces page's reader for servers counts them."""
    name = "feedback-on-server"
    _, (trace_id,) = _turns(server, name, "visitor", ["a cat"])
    feedback.rate(server, trace_id, "ana", True, "good")
    feedback.rate(server, trace_id, "ben", True)
    feedback.rate(server, trace_id, "ana", False)
    [ana] = [a for a in human_ratings(server, trace_id) if a.source.source_id == "ana"]
    assert (ana.feedback.value, ana.rationale) == (False, "good")
    with pytest.raises(feedback.FeedbackRefused):
        feedback.rate(server, trace_id, "intruder", True, owner="someone-else")
    experiment_id = MlflowClient(server).get_experiment_by_name(name).experiment_id
    reader = traces.reader_for(server, experiment_id)
    assert isinstance(reader, traces.ApiTraceReader)
    row = reader.frames().traces.set_index("trace_id").loc[trace_id]
    assert (row.feedback_up, row.feedback_down, row.feedback) == (1, 1, "1 up · 1 down")
    feedback.rate(server, trace_id, "ana", None)
    assert [a.source.source_id for a in human_ratings(server, trace_id)] == ["ben"]
