"""Feedback through the pages (Streamlit's AppTest, a real sqlite store, the demo provider): thumbs and a comment
under a chat turn, read back through MLflow's public client, changed, shown again when the conversation is reopened,
and on the Traces page as the list's column, the filter and the overview's count; a hosted visitor rates as their
browser session."""

from __future__ import annotations

import os

import pytest
import streamlit as st
from conftest import ROOT
from mlflow import MlflowClient
from streamlit.testing.v1 import AppTest

from core import contract, identity
from core.observe import export
from tests.pages import AUTH, person, turn_links

APP = str(ROOT / "streamlit_app.py")
ANA = {"is_logged_in": True, "email": "ana@example.com", "name": "Ana"}


@pytest.fixture()
def app_env(monkeypatch, tracking_uri, experiment_name):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    for name in ("OPENAI_API_KEY", "APP_PROVIDER", "APP_HOSTED"):
        monkeypatch.delenv(name, raising=False)
    st.cache_data.clear()
    return tracking_uri


def chat(user: dict | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    if user is not None:
        at.user = dict(user)
        if os.environ.get("APP_HOSTED"):
            at.secrets.update(AUTH)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def run(step) -> AppTest:
    """Run the app after a widget's change (or the app itself); no exception and no warning on the page."""
    at = step.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning, [w.value for w in at.warning]
    return at


def ratings(tracking_uri: str, trace_id: str) -> list:
    """The trace's current ratings through MLflow's public client (once the trace landed: the chat does not wait)."""
    assert export.wait_for_trace(tracking_uri, trace_id)
    return [
        a for a in MlflowClient(tracking_uri).get_trace(trace_id).info.assessments if a.name == contract.Assessment.FEEDBACK and a.valid is not False
    ]


def test_a_turn_is_rated_commented_changed_and_shown_again(app_env):
    at = chat(ANA)
    at.sidebar.slider(key="iterations").set_value(1)
    run(at.chat_input[0].set_value("a cat on a piano"))
    [thumbs] = at.feedback
    trace_id = thumbs.key.removeprefix("feedback_")
    assert ("open the trace", "traces", f"trace={trace_id}") in turn_links(at), "under the turn whose trace it rates"
    assert thumbs.value is None and ratings(app_env, trace_id) == []

    run(thumbs.set_value(1))
    [given] = ratings(app_env, trace_id)
    assert (given.source.source_type, given.source.source_id, given.feedback.value) == ("HUMAN", "ana@example.com", True)
    run(at.text_area(key=f"feedback_comment_{trace_id}").set_value("Needs *more* [cats](http://evil.example)"))
    run(at.button(key=f"feedback_save_{trace_id}").click())
    assert ratings(app_env, trace_id)[0].rationale == "Needs *more* [cats](http://evil.example)"
    assert any(c.value.startswith("Your comment\\: Needs \\*more\\* \\[cats\\]") for c in at.caption), "plain text"

    run(at.feedback(key=f"feedback_{trace_id}").set_value(0))  # changed: the other thumb
    [changed] = ratings(app_env, trace_id)
    assert changed.assessment_id == given.assessment_id and changed.feedback.value is False
    assert changed.rationale == "Needs *more* [cats](http://evil.example)"

    reopened = chat(ANA, conversation=at.query_params["conversation"])  # a new browser session, signed in as Ana
    assert reopened.feedback(key=f"feedback_{trace_id}").value == 0, "her rating, read back from the trace"
    assert any(c.value.startswith("Your comment\\: Needs") for c in reopened.caption)
    someone = chat(conversation=at.query_params["conversation"])  # not signed in: another person
    assert someone.feedback(key=f"feedback_{trace_id}").value is None
    assert any(c.value == "Others: 1 down" for c in someone.caption)

    run(reopened.feedback(key=f"feedback_{trace_id}").set_value(None))  # taken back
    assert ratings(app_env, trace_id) == []


def test_the_traces_page_lists_filters_and_counts_ratings_from_the_chat(app_env):
    at = chat(ANA)
    at.sidebar.slider(key="iterations").set_value(1)
    run(at.chat_input[0].set_value("a cat"))
    rated = at.feedback[0].key.removeprefix("feedback_")
    run(at.feedback[0].set_value(0))
    run(at.text_area(key=f"feedback_comment_{rated}").set_value("too *dark*"))
    run(at.button(key=f"feedback_save_{rated}").click())
    run(at.chat_input[0].set_value("now a dog"))
    unrated = next(f.key.removeprefix("feedback_") for f in at.feedback if f.key != f"feedback_{rated}")
    assert export.wait_for_trace(app_env, unrated), "the chat does not wait for its trace; the page reads the store"

    at.switch_page("pages/traces.py")
    run(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Traces"] == "2" and metrics["Feedback"] == "0 up · 1 down"
    listed = next(d.value for d in at.dataframe if "trace_id" in d.value.columns and "request" in d.value.columns)
    assert dict(zip(listed["trace_id"], listed["feedback"])) == {rated: "1 down", unrated: ""}
    run(at.multiselect(key="f_feedback").set_value(["down"]))
    assert {m.label: m.value for m in at.metric}["Traces"] == "1"
    run(at.multiselect(key="f_feedback").set_value(["none"]))
    listed = next(d.value for d in at.dataframe if "trace_id" in d.value.columns and "request" in d.value.columns)
    assert list(listed["trace_id"]) == [unrated]
    run(at.multiselect(key="f_feedback").set_value(["up"]))
    assert {m.label: m.value for m in at.metric}["Traces"] == "0"

    run(at.text_input(key="trace_id_input").set_value(rated))  # the opened trace: thumb, who, the comment as text
    assert any(
        c.value.startswith(":material/thumb_down: thumbs down by ana@example\\.com · ") and c.value.endswith("\\: too \\*dark\\*")
        for c in at.caption
    ), [c.value for c in at.caption]


def test_a_hosted_visitor_rates_their_own_turn_as_themselves(app_env, monkeypatch):
    """As the owner of their conversations (core.identity): a signed-in person by their sign-in, so a reload (a
    new Streamlit session) shows their rating again; an anonymous visitor by their browser."""
    monkeypatch.setenv("APP_HOSTED", "1")
    alice = person("alice")
    at = chat(alice)
    run(at.chat_input[0].set_value("What's the weather in Paris?"))
    [thumbs] = at.feedback
    run(thumbs.set_value(1))
    [given] = ratings(app_env, thumbs.key.removeprefix("feedback_"))
    assert given.source.source_id == identity.signed_in(alice).owner
    again = chat(alice, conversation=at.query_params["conversation"])  # a reload
    assert again.feedback(key=thumbs.key).value == 1


def test_on_ones_own_machine_a_reload_is_the_same_person(app_env):
    """Not signed in and not a hosted demo: the machine's user account rates, so a new tab or a reload shows
    the rating again instead of a blank widget with "Others: 1 up"."""
    at = chat()
    at.sidebar.slider(key="iterations").set_value(1)
    run(at.chat_input[0].set_value("a cat on a sofa"))
    [thumbs] = at.feedback
    trace_id = thumbs.key.removeprefix("feedback_")
    run(thumbs.set_value(1))
    [given] = ratings(app_env, trace_id)
    assert given.source.source_id.startswith("local:")
    again = chat(conversation=at.query_params["conversation"])  # a new browser session
    assert again.feedback(key=f"feedback_{trace_id}").value == 1
    assert not any(c.value.startswith("Others") for c in again.caption)
