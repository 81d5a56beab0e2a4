"""More than one app instance: a real `mlflow server` process on loopback (its sqlite backend and artifact
proxy; PostgreSQL would be the production backend, see docs/DEPLOY.md) shared by two app "instances"
(two stores of their own): a weather conversation paused on one resumes on the other, pictures travel
through the artifact proxy, and the Traces page reads the server."""

from __future__ import annotations

import asyncio

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from core import traces
from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.observe import export
from core.turn import TurnRequest, run_turn


@pytest.fixture(scope="module")
def server(mlflow_server):
    return mlflow_server.uri  # the session's server (tests/conftest.py); this module's experiments are its own


def test_two_instances_share_conversations_pictures_and_traces(server):
    settings = Settings(tracking_uri=server)
    instance_a, instance_b = ConversationStore.connect(server, "shared"), ConversationStore.connect(server, "shared")
    paused = asyncio.run(
        run_turn(
            TurnRequest(Conversation(scenario="weather", session_id="v1", provider="demo"), "What's the weather?", settings, instance_a)
        )
    )
    assert paused.status == "waiting", paused.error
    resumed = asyncio.run(run_turn(TurnRequest(instance_b.load(paused.conversation.id), "Lehi", settings, instance_b)))
    assert resumed.status == "ok" and "Lehi:" in resumed.entries[-1]["text"]
    assert [r.id for r in instance_a.recent()] == [paused.conversation.id]

    drawn = asyncio.run(
        run_turn(
            TurnRequest(
                Conversation(scenario="catify", session_id="v2", provider="demo", options={"iterations": 1}), "a cat", settings, instance_a
            )
        )
    )
    assert drawn.status == "ok", drawn.error
    reopened = instance_b.load(drawn.conversation.id)
    assert len(reopened.image_lookup) == 2
    assert all(instance_b.load_image(reopened.id, image_id).startswith(b"\x89PNG") for image_id in reopened.image_lookup)

    export.flush()
    frames = traces.reader_for(server, instance_a.experiment_id).frames()
    assert isinstance(traces.reader_for(server, instance_a.experiment_id), traces.ApiTraceReader)
    assert sorted(frames.traces["trace_id"]) == sorted([paused.trace_id, resumed.trace_id, drawn.trace_id])
    assert set(frames.calls["agent"]) >= {"planner", "weather_assistant", "image_agent", "critic"}


def test_the_traces_page_reads_the_tracking_server(server, monkeypatch):
    store = ConversationStore.connect(server, "page-on-server")
    outcome = asyncio.run(
        run_turn(
            TurnRequest(
                Conversation(scenario="weather", session_id="s", provider="demo"),
                "What's the weather in Oslo?",
                Settings(tracking_uri=server),
                store,
            )
        )
    )
    assert outcome.status == "ok"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "page-on-server")
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=90)
    at.run()
    at.switch_page("pages/traces.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert next(m.value for m in at.metric if m.label == "Traces") == "1"
