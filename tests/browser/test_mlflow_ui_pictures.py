"""MLflow's own UI fetches nothing a visitor wrote (issue 29, finding 4): it renders a trace's request, response and
span chats as markdown and loads any picture they name, so `a cat ![t](http://127.0.0.1:9/x.png) on a roof` made
the admin's browser ask 127.0.0.1:9 when the trace opened there. In a hosted demo the spans hold the picture
syntax defused (core.observe.spans.defused); the conversation keeps the text as typed.

Measured in Chromium against a real `mlflow server` serving the store, every request the page makes intercepted:
the same turn traced outside hosted mode is the control (MLflow's UI asks for the picture, so the check can fail).
The raw `<img>` in the message is fetched in neither: MLflow's UI renders no HTML (measured here too)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from core.config import HostedLimits, Settings
from core.conversations import Conversation, ConversationStore
from core.observe import export
from core.turn import TurnHandle, TurnRequest
from tests.browser.test_mlflow_ui import open_span
from tests.mlflow_server import MlflowServer

pytestmark = pytest.mark.browser

TRAP = "http://127.0.0.1:9"  # the discard port: nothing answers, an attempt is what counts
MESSAGE = f"<img src={TRAP}/html.png> a cat ![t]({TRAP}/inline.png) on a roof ![r][pic]\n\n[pic]: {TRAP}/reference.png"


def traced_turn(server: MlflowServer, store: ConversationStore, hosted: HostedLimits | None) -> tuple[str, Conversation]:
    conversation = Conversation(scenario="catify", session_id="visitor", provider="demo", options={"iterations": 1})
    outcome = TurnHandle(TurnRequest(conversation, MESSAGE, Settings(tracking_uri=server.uri, hosted=hosted), store)).start().wait(120)
    assert outcome is not None and outcome.status == "ok", outcome and outcome.error
    return str(outcome.trace_id), outcome.conversation


def asked_for_pictures(page: Page, server: MlflowServer, experiment_id: str, trace_id: str) -> list[str]:
    """The trap's addresses the page requested, or drew as a picture, while the trace, its root (request and
    response) and the first model call's chat were shown: a picture markdown names is an `<img>` drawn with the
    text around it, and requested as it is drawn."""
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if request.url.startswith(TRAP) else None)
    page.route(f"{TRAP}/**", lambda route: route.abort())  # counted above; never leaves the browser
    pictures = page.locator(f"img[src^='{TRAP}']")
    for span in ("catify turn", "chat demo-vision"):
        open_span(page, server, experiment_id, trace_id, span)
        expect(page.get_by_text("on a roof", exact=False).first).to_be_visible(timeout=30_000)
        asked += [str(src) for src in pictures.evaluate_all("imgs => imgs.map(i => i.src)")]
    return asked


def test_mlflow_ui_fetches_no_picture_a_hosted_visitor_wrote(browser, mlflow_server):
    store = ConversationStore.connect(mlflow_server.uri, "pictures-in-mlflow-ui")
    local, _ = traced_turn(mlflow_server, store, hosted=None)
    hosted, conversation = traced_turn(mlflow_server, store, hosted=HostedLimits())
    export.flush()
    assert conversation.transcript[0]["text"] == MESSAGE, "the conversation keeps the text as typed"

    control = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    with control.expect_request(lambda request: request.url.startswith(TRAP)):  # MLflow's UI loads what markdown names
        assert asked_for_pictures(control, mlflow_server, store.experiment_id, local)
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    assert asked_for_pictures(page, mlflow_server, store.experiment_id, hosted) == []
