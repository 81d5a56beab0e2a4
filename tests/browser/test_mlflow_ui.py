"""Our traces in MLflow's own UI (issue 16), against a real `mlflow server` on loopback in Chromium: the critic's
vision call reads as a chat with the picture it was shown, a weather turn's model call shows its tool call,
and the trace list's response is the team's answer (not a status dict). Since issue 31 an agent's step reads as a
chat too (its tool call, the tool's answer, the picture it was shown), and "Group by session" shows one row per
conversation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.observe import export
from core.turn import TurnHandle, TurnRequest
from tests.mlflow_server import MlflowServer

pytestmark = pytest.mark.browser


def turn(store: ConversationStore, settings: Settings, scenario: str, message: str, **options):
    conversation = Conversation(scenario=scenario, session_id="ui", provider="demo", options=options)
    outcome = TurnHandle(TurnRequest(conversation, message, settings, store)).start().wait(120)
    assert outcome is not None and outcome.status == "ok", outcome and outcome.error
    return outcome.trace_id


def open_span(page, server: MlflowServer, experiment_id: str, trace_id: str, span_name: str, nth: int = 0) -> None:
    page.goto(f"{server.uri}/#/experiments/{experiment_id}/traces?selectedEvaluationId={trace_id}")
    spans = page.get_by_text(span_name, exact=True)
    expect(spans.nth(nth)).to_be_visible(timeout=60_000)
    spans.nth(nth).dispatch_event("click")  # a resize handle overlays the tree's left edge


def test_mlflow_ui_reads_our_spans_as_chat(page, mlflow_server):
    server = mlflow_server  # the session's server (tests/conftest.py), in an experiment of this test's own
    settings = Settings(tracking_uri=server.uri)
    store = ConversationStore.connect(server.uri, "ui-check")
    catify = turn(store, settings, "catify", "a cat on a roof", iterations=1)
    weather = turn(store, settings, "weather", "What's the weather in Oslo?", weather_source="offline")
    export.flush()

    open_span(page, server, store.experiment_id, catify, "chat demo-vision")
    expect(page.get_by_text(re.compile("^CRITICS:")).first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("You are a demanding art critic", exact=False).first).to_be_visible()
    picture = page.locator("img[src^='blob:'], img[src*='get-trace-artifact']")
    expect(picture.first).to_be_visible(timeout=30_000)  # the picture, from the trace's attachment
    assert picture.first.evaluate("img => img.naturalWidth") > 100, "the picture loaded, not a broken image"

    open_span(page, server, store.experiment_id, weather, "chat demo-chat", nth=1)
    expect(page.get_by_text("Tool calls").first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("get_weather").first).to_be_visible()
    expect(page.get_by_text("Oslo", exact=True).first).to_be_visible()

    page.goto(f"{server.uri}/#/experiments/{store.experiment_id}/traces")
    expect(page.get_by_text(re.compile(r"^Here is what I found\. Oslo")).first).to_be_visible(timeout=60_000)
    expect(page.get_by_text('"status"', exact=False)).to_have_count(0)


def test_agent_steps_read_as_chat_and_sessions_are_conversations(page, mlflow_server):
    server = mlflow_server
    settings = Settings(tracking_uri=server.uri)
    store = ConversationStore.connect(server.uri, "ui-sessions")
    first = (
        TurnHandle(
            TurnRequest(
                Conversation(scenario="weather", session_id="ui", provider="demo", options={"weather_source": "offline"}),
                "What's the weather in Oslo?",
                settings,
                store,
            )
        )
        .start()
        .wait(120)
    )
    assert first is not None and first.status == "ok", first and first.error
    again = TurnHandle(TurnRequest(store.load(first.conversation.id), "And in Lehi?", settings, store)).start().wait(120)
    assert again is not None and again.status in ("ok", "waiting"), again and again.error
    catify = turn(store, settings, "catify", "a cat on a roof", iterations=1)
    export.flush()

    open_span(page, server, store.experiment_id, first.trace_id, "weather_assistant")
    expect(page.get_by_text("Tool calls").first).to_be_visible(timeout=30_000)  # the step's own tool call, as a chat
    expect(page.get_by_text(re.compile(r"^Oslo: .*offline demo source")).first).to_be_visible()
    expect(page.get_by_text("FunctionCall(", exact=False)).to_have_count(0)
    open_span(page, server, store.experiment_id, catify, "critic")
    picture = page.locator("img[src^='blob:'], img[src*='get-trace-artifact']")
    expect(picture.first).to_be_visible(timeout=30_000)  # the picture the critic was shown, not "<image>"
    expect(page.get_by_text("<image>", exact=False)).to_have_count(0)

    page.set_viewport_size({"width": 1600, "height": 1000})  # narrower, MLflow folds its toolbar's buttons away
    page.goto(f"{server.uri}/#/experiments/{store.experiment_id}/traces")
    page.reload()  # the address changed only after its '#': load the list afresh, without the opened trace
    expect(page.get_by_text("a cat on a roof", exact=True).first).to_be_visible(timeout=60_000)
    got_it = page.get_by_role("button", name="Got it")  # MLflow's tip about its issue detection covers the toolbar
    if got_it.count():
        got_it.click()
    page.get_by_role("button", name=re.compile("group traces by session", re.I)).click(timeout=30_000)
    for conversation in (first.conversation.id, store.load(catify_conversation(store, catify)).id):
        expect(page.get_by_text(conversation[:6], exact=False).first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("What's the weather in Oslo?", exact=True)).to_have_count(1)  # one row: two turns, one session


def catify_conversation(store: ConversationStore, trace_id: str) -> str:
    return store.client.get_trace(trace_id).info.tags["app.conversation"]
