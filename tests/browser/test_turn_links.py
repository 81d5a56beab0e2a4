"""The links under a turn in Chromium (issue 32): "open the trace", "lineage" and "run again with…" switch page in
the same tab and the same Streamlit session (no page load, no new tab), landing on their thing; the browser's Back
returns to the conversation; a middle click still opens a new tab on purpose."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.scenarios.catify import DEFAULT_CRITIC_INSTRUCTION
from tests.browser.test_in_a_browser import send, settle, wait_ready

pytestmark = pytest.mark.browser


def test_the_links_under_a_turn_switch_page_in_the_same_tab(app, page):
    opened: list = []
    page.context.on("page", lambda tab: opened.append(tab))
    page.goto(app.url)
    wait_ready(page)
    send(page, "a cat on a red boat")
    expect(page.get_by_text(re.compile(r"^Done in"))).to_be_visible(timeout=60_000)
    settle(page)
    chat_url = page.url
    conversation = re.search(r"conversation=([0-9a-f]{32})", chat_url).group(1)
    page.evaluate("window.__sameDocument = true")  # gone if the browser loaded a page

    trace_link = page.get_by_role("link", name="open the trace")
    trace_id = re.search(r"trace=(tr-[0-9a-f]{32})", trace_link.get_attribute("href") or "").group(1)
    assert trace_link.get_attribute("target") != "_blank"
    trace_link.click()
    expect(page.get_by_role("heading", name=f"Trace {trace_id}")).to_be_visible(timeout=60_000)
    assert re.search(rf"/traces\?trace={trace_id}$", page.url), page.url
    assert page.evaluate("window.__sameDocument === true"), "switched in this document: the same Streamlit session"
    settle(page)  # the trace page's run ends (on a busy machine it is still drawing the spans when the heading shows)

    page.go_back()
    expect(page.locator("[data-testid=stChatMessage]").filter(has_text="a cat on a red boat").first).to_be_visible(timeout=30_000)
    assert f"conversation={conversation}" in page.url
    settle(page)

    page.get_by_role("link", name="run again with…").click()
    expect(page.get_by_label("Critic instruction").first).to_have_value(DEFAULT_CRITIC_INSTRUCTION, timeout=60_000)
    assert page.url.endswith(f"/compare?conversation={conversation}&turn=1"), page.url
    assert page.evaluate("window.__sameDocument === true")
    page.go_back()
    settle(page)

    lineage = page.get_by_role("link", name="lineage")
    with page.context.expect_page() as new_tab:  # on purpose: a middle click opens the link's address in a new tab
        lineage.click(button="middle")
    tab = new_tab.value
    expect(tab.get_by_role("tab", name="Image lineage")).to_have_attribute("aria-selected", "true", timeout=60_000)
    assert tab.url.endswith(f"/traces?conversation={conversation}")
    assert opened == [tab], "no other tab was opened, by any of the plain clicks"
    lineage.click()
    expect(page.get_by_role("tab", name="Image lineage")).to_have_attribute("aria-selected", "true", timeout=60_000)
    assert page.evaluate("window.__sameDocument === true")
