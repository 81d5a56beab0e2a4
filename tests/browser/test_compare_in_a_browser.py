"""A Catify turn run again with another critic instruction and compared, in Chromium against `streamlit run`
(issue 19): the link under the turn, the prefilled settings, the run, the sides and their pictures, Preferred."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core.scenarios.catify import DEFAULT_CRITIC_INSTRUCTION
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_in_a_browser import send, settle, wait_ready

pytestmark = pytest.mark.browser


def test_fork_a_catify_turn_and_compare_it(page, app):
    page.goto(app.url)
    wait_ready(page)
    send(page, "a cat in a hat")
    link = page.get_by_role("link", name="run again with…")
    expect(link).to_be_visible(timeout=60_000)
    href = link.get_attribute("href") or ""
    assert "compare?conversation=" in href and href.endswith("&turn=1")
    page.goto(f"{app.url}/{href.lstrip('./')}" if not href.startswith("http") else href)
    instruction = page.get_by_label("Critic instruction").first
    expect(instruction).to_have_value(DEFAULT_CRITIC_INSTRUCTION, timeout=30_000)  # the turn's own, prefilled
    instruction.fill("Make it a noir film, black and white.")
    instruction.press("Control+Enter")  # a text area's value is sent on Ctrl+Enter or blur
    settle(page)
    page.get_by_role("button", name="Run 1 setting").click()
    expect(page.get_by_role("heading", name="Step by step")).to_be_visible(timeout=90_000)
    expect(page.get_by_text("original, turn 1").first).to_be_visible()
    expect(page.locator("text=2. critic instruction: Make it a noir… >> visible=true").first).to_be_visible()
    expect(page.get_by_text("Catify turn 1 · a cat in a hat")).to_have_count(2)  # both picked, by name
    page.set_viewport_size({"width": 1400, "height": 2600})
    pictures = page.locator("[data-testid=stImage] img")
    expect(pictures).to_have_count(6)  # two sides, three pictures each (2 iterations)
    page.get_by_role("button", name="Preferred").nth(1).click()
    expect(page.get_by_text("as preferred", exact=False)).to_be_visible(timeout=30_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "compare_page.png"), full_page=True)
