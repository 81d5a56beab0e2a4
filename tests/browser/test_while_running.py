"""While a turn runs (issue 15): the status line counts tokens and cost as they grow, and a message sent
meanwhile is queued, said so, and sent when the turn ends; nothing typed is lost; New conversation cannot be
clicked into a running turn, and right after one it starts a new conversation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import AppServer
from tests.browser.test_in_a_browser import send, wait_ready

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One app server for both tests (starting one costs seconds), each in its own browser context and
    conversation: a Catify turn of a few seconds."""
    server = AppServer(tmp_path_factory.mktemp("while-running"), env={"DEMO_LATENCY_MS": "700"})
    yield server
    server.stop()


def test_a_message_sent_during_a_turn_is_queued_and_sent_after_it(page, server):
    page.goto(server.url)
    wait_ready(page)
    send(page, "a cat on a boat")
    expect(page.get_by_text(re.compile(r"tokens, \$0\.0000 so far"))).to_be_visible(timeout=30_000)
    new_conversation = page.get_by_role("button", name="New conversation")
    expect(new_conversation).to_be_disabled()  # in the very run that started the turn, too
    box = page.locator("[data-testid=stChatInput] textarea")
    expect(box).to_be_enabled()
    box.fill("now a dog")
    box.press("Enter")
    expect(page.get_by_text("Queued: “now a dog” is sent when this turn ends.")).to_be_visible(timeout=15_000)
    messages = page.locator("[data-testid=stChatMessage]")
    expect(messages.filter(has_text="now a dog")).to_have_count(1, timeout=90_000)
    expect(page.get_by_text(re.compile(r"^Conversation .* · 2 turns ·"))).to_be_visible(timeout=90_000)
    expect(page.get_by_text(re.compile("^Queued:"))).to_have_count(0)
    new_conversation.click()  # right after the turn: a new conversation, and the address follows
    expect(messages).to_have_count(0, timeout=15_000)
    page.wait_for_function("!location.search.includes('conversation=')", timeout=15_000)


def test_a_reload_during_a_turn_follows_it_to_its_end(page, server):
    page.goto(server.url)
    wait_ready(page)
    send(page, "a cat on a sofa")
    expect(page.get_by_text(re.compile(r"tokens, \$0\.0000 so far"))).to_be_visible(timeout=30_000)
    assert "conversation=" in page.url, "the address names the conversation as soon as its run exists"
    page.reload()  # a new browser session, mid-turn
    expect(page.locator("[data-testid=stChatMessage]").first).to_contain_text("a cat on a sofa", timeout=30_000)
    expect(page.get_by_text(re.compile(r"^Step \d+"))).to_be_visible(timeout=30_000)  # still running, said so
    expect(page.get_by_text(re.compile(r"^Done in"))).to_be_visible(timeout=90_000)
    expect(page.get_by_text(re.compile(r"^Conversation .* · 1 turn ·"))).to_be_visible(timeout=30_000)
    expect(page.locator("[data-testid=stChatMessage] [data-testid=stImage] img")).to_have_count(3)
