"""A fresh server as its first visitor meets it (issue 32): the chat input is usable while the chat page still loads
(its imports: MLflow, AutoGen, pandas), and a message sent then is answered; a direct link to any page never shows
Streamlit's folder navigation ("streamlit app / chat / … / shared / traces") nor the hidden shared page's name, not
for one frame. The speed itself is benchmarks/cold_start.py's."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import AppServer
from tests.browser.test_in_a_browser import settle

pytestmark = pytest.mark.browser

NAVS = "[data-testid=stSidebarNav], [data-testid=stSidebarNavItems], [data-testid=stTopNav], [data-testid=stSidebarNavLink]"
# from the document's first node on: every change of the page's navigation (a MutationObserver) and a look every
# 100 ms, each different text kept in window.__navSeen
WATCH_NAV = (
    """
window.__navSeen = [];
const look = () => {
  const text = [...document.querySelectorAll('%s')].map(e => e.innerText).join(' | ');
  if (text && window.__navSeen[window.__navSeen.length - 1] !== text) window.__navSeen.push(text);
};
new MutationObserver(look).observe(document, {childList: true, subtree: true, characterData: true});
setInterval(look, 100);
"""
    % NAVS
)
CHAT_INPUT = "[data-testid=stChatInputTextArea]"
USABLE = f"() => {{ const e = document.querySelector('{CHAT_INPUT}'); return !!e && !e.disabled && e.offsetParent !== null; }}"


@pytest.mark.parametrize(
    "path, lands_on",
    [
        ("/traces?trace=tr-00000000000000000000000000000000", "heading:Traces"),
        ("/models", "heading:Agent teams as MLflow models"),
        ("/compare", "heading:Compare turns"),
        ("/shared?share=not-a-real-token", "alert"),
    ],
)
def test_a_cold_direct_link_never_lists_the_pages_folder_nor_the_shared_page(page, tmp_path, path, lands_on):
    server = AppServer(tmp_path)  # fresh: its first request is this link, run in Streamlit's folder mode
    try:
        page.add_init_script(WATCH_NAV)
        page.goto(server.url + path)
        if lands_on == "alert":
            expect(page.locator("[data-testid=stAlert]").first).to_be_visible(timeout=60_000)
        else:
            expect(page.get_by_role("heading", name=lands_on.split(":", 1)[1], exact=True)).to_be_visible(timeout=60_000)
        settle(page)
        page.wait_for_timeout(300)  # three more looks
        seen = page.evaluate("window.__navSeen")
        assert seen, "the app's navigation was seen"
        for text in seen:
            assert not re.search(r"streamlit.app|shared", text, re.IGNORECASE), f"listed at some moment: {text!r}"
        assert [t for t in seen if "Chat" in t and "Traces" in t], seen
        expect(page.locator("[data-testid=stTopNav]").get_by_role("link", name="Traces")).to_be_visible()
    finally:
        server.stop()


def test_the_input_is_usable_while_the_chat_page_loads_and_a_message_sent_then_is_answered(page, tmp_path):
    server = AppServer(tmp_path)
    try:
        page.goto(server.url)
        page.wait_for_function(USABLE, polling=20, timeout=60_000)
        # the rest of the page (the scenario picker, the sidebar) comes with the page's imports, still running
        assert page.locator("[data-testid=stSelectbox]").count() == 0, "the input came before the page's imports"
        box = page.locator(CHAT_INPUT)
        box.fill("A cat on a red boat")
        box.press("Enter")
        expect(page.locator("[data-testid=stChatMessage]").filter(has_text="A cat on a red boat").first).to_be_visible(timeout=60_000)
        expect(page.get_by_text(re.compile(r"^Done in"))).to_be_visible(timeout=90_000)
        assert "conversation=" in page.url
        expect(page.get_by_role("combobox", name="Scenario")).to_have_value("Catify")
    finally:
        server.stop()
