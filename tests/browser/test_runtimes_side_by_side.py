"""One Catify prompt on AutoGen and on Microsoft Agent Framework side by side, in Chromium against `streamlit run`
(issue 34): the Compare page's second setting switched to Agent Framework, the run, both sides' steps matched by agent
and their pictures."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_in_a_browser import settle

pytestmark = pytest.mark.browser


def test_one_prompt_on_both_runtimes(page, app):
    page.goto(f"{app.url}/compare")
    message = page.get_by_label("Message")
    expect(message).to_be_visible(timeout=60_000)
    message.fill("a cat in a hat")
    message.press("Control+Enter")  # a text area's value is sent on Ctrl+Enter or blur
    settle(page)
    page.get_by_role("tab", name="Setting 2").click()
    runtime = page.locator("[data-testid=stSelectbox] >> visible=true").filter(has_text="Runtime").first
    runtime.click()
    page.get_by_role("option", name="Agent Framework").click()
    settle(page)
    page.get_by_role("button", name="Run 2 settings").click()
    expect(page.get_by_role("heading", name="Step by step")).to_be_visible(timeout=120_000)
    expect(page.locator("text=2. Agent Framework >> visible=true").first).to_be_visible()
    page.set_viewport_size({"width": 1400, "height": 2600})
    expect(page.locator("[data-testid=stImage] img")).to_have_count(6)  # two sides, three pictures each (2 iterations)
    steps = page.locator("[data-testid=stDataFrame]").first
    expect(steps).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "runtimes_side_by_side.png"), full_page=True)
