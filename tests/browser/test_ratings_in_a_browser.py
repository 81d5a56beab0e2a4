"""Feedback in a real browser (issue 16): a hosted visitor clicks 👍 under a finished turn, adds a comment in its
popover, and after a reload (a new Streamlit session, the same browser: the same anonymous visitor) the thumb is
still chosen; MLflow holds it as HUMAN feedback on the turn's trace."""

from __future__ import annotations

import re

import pytest
from mlflow import MlflowClient
from playwright.sync_api import expect

from core import contract
from core.observe import export
from tests.browser.conftest import SCREENSHOTS, AppServer
from tests.browser.test_in_a_browser import send, settle, wait_ready

pytestmark = pytest.mark.browser


def current(tracking_uri: str, trace_id: str) -> list:
    assert export.wait_for_trace(tracking_uri, trace_id)
    return [
        a for a in MlflowClient(tracking_uri).get_trace(trace_id).info.assessments if a.name == contract.Assessment.FEEDBACK and a.valid is not False
    ]


def test_a_visitor_rates_a_turn_and_finds_the_rating_after_a_reload(page, tmp_path):
    server = AppServer(tmp_path, env={"APP_HOSTED": "1"})
    try:
        page.goto(server.url)
        wait_ready(page)
        send(page, "a cat in the snow")
        expect(page.get_by_text(re.compile(r"^Done in"))).to_be_visible(timeout=60_000)
        settle(page)
        link = page.get_by_role("link", name="open the trace")
        trace_id = re.search(r"tr-[0-9a-f]{32}", link.get_attribute("href") or "").group(0)
        thumbs = page.locator(f".st-key-feedback_{trace_id}")
        thumbs.get_by_role("radio", name="Thumbs up").click()
        settle(page)
        [given] = current(server.tracking_uri, trace_id)
        assert given.feedback.value is True and given.source.source_type == "HUMAN"

        page.get_by_role("button", name=re.compile("Comment")).click()
        page.get_by_label("Comment on this turn (optional)").fill("Snow *everywhere*")
        page.get_by_role("button", name="Save comment").click()
        settle(page)
        assert current(server.tracking_uri, trace_id)[0].rationale == "Snow *everywhere*"
        page.keyboard.press("Escape")
        expect(page.get_by_text("Your comment: Snow *everywhere*")).to_be_visible()  # literally: never markdown
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "feedback-rated-turn.png"), full_page=True)

        page.reload()  # a new Streamlit session; the browser (its Streamlit cookie) keeps the visitor
        wait_ready(page)
        chosen = page.locator(f".st-key-feedback_{trace_id}").get_by_role("radio", name="Thumbs up")
        expect(chosen).to_have_attribute("aria-checked", "true")
        expect(page.get_by_text("Your comment: Snow *everywhere*")).to_be_visible()
    finally:
        server.stop()
