"""Our traces in MLflow's own UI (issue 16), against a real `mlflow server` on loopback in Chromium: the critic's
vision call reads as a chat with the picture it was shown, a weather turn's model call shows its tool call,
and the trace list's response is the team's answer (not a status dict)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.observe import export
from core.turn.handle import TurnHandle
from tests.mlflow_server import MlflowServer

pytestmark = pytest.mark.browser


def turn(store: ConversationStore, settings: Settings, scenario: str, message: str, **options):
    conversation = Conversation(scenario=scenario, session_id="ui", provider="demo", options=options)
    outcome = TurnHandle(conversation, message, settings, store).start().wait(120)
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
