"""Model answers in markdown, in a real Chromium: an OpenAI-compatible server (the loopback stub) answers
with headings, bold, a table, code and money; they render as elements, not characters. An image, a
javascript: link and raw HTML in an answer, or in a transcript other code wrote into the store, make the
browser fetch nothing and link to nothing: a server on loopback counts every request that would reach it."""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from core.conversations import Conversation, ConversationStore
from tests.browser.conftest import AppServer
from tests.browser.test_in_a_browser import choose_scenario, send, settle, wait_ready
from tests.openai_server import OpenAIStub, ReplyFault

pytestmark = pytest.mark.browser


class Tripwire:
    """A loopback HTTP server that records every path asked of it: anything here was fetched by the page."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                paths.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def answer(trap: Tripwire) -> str:
    return "\n".join(
        [
            "### Main risks",
            "",
            "- **Wholesale softness**: revenue fell from $4.5 million to $3 million",
            "",
            "| region | change |",
            "|---|---|",
            "| North | -12% |",
            "",
            "```python",
            "total = 4.5 - 3",
            "```",
            "",
            f"![chart]({trap.url}/answer.png) [docs](https://mlflow.org) [run](javascript:alert(1))",
            f'<img src="{trap.url}/html.png"> done',
        ]
    )


@pytest.fixture(scope="module")
def model_app(tmp_path_factory):
    """One app server on the OpenAI-compatible stub for both tests (starting one costs seconds)."""
    with OpenAIStub() as stub:
        server = AppServer(
            tmp_path_factory.mktemp("markdown"),
            env={"APP_PROVIDER": "openai", "OPENAI_API_KEY": "sk-test-markdown", "OPENAI_BASE_URL": stub.base_url},
        )
        try:
            yield stub, server
        finally:
            server.stop()


@pytest.fixture()
def stub_and_server(model_app):
    """The module's stub with no requests seen and no faults left from another test."""
    stub, server = model_app
    stub.reset()
    yield stub, server
    stub.reset()


def test_markdown_answers_render_as_elements_and_fetch_nothing(page, stub_and_server):
    trap = Tripwire()
    stub, server = stub_and_server
    try:
        page.goto(server.url)
        wait_ready(page)
        choose_scenario(page, "Analyst & Summarizer")
        page.get_by_placeholder("Paste the report here…").fill("Revenue fell from $4.5 million to $3 million.")
        stub.add_fault(ReplyFault(path="/chat/completions", content=answer(trap), times=2))
        send(page, "What are the risks?")
        expect(page.get_by_text(re.compile(r"^Done in"))).to_be_visible(timeout=60_000)
        settle(page)
        messages = page.locator("[data-testid=stChatMessage]")
        expect(messages.locator("h3", has_text="Main risks")).to_have_count(2)
        expect(messages.locator("strong", has_text="Wholesale softness")).to_have_count(2)
        expect(messages.locator("table td", has_text="-12%")).to_have_count(2)
        expect(messages.locator("pre code", has_text="total = 4.5 - 3")).to_have_count(2)
        expect(messages.filter(has_text="from $4.5 million to $3 million")).to_have_count(2)
        expect(messages.locator("a[href='https://mlflow.org']")).to_have_count(2)
        assert messages.locator("a[href^='javascript']").count() == 0
        assert messages.locator("img[src*='127.0.0.1']").count() == 0
        expect(messages.filter(has_text="<img src=")).to_have_count(2)  # raw HTML shows as text

        # a transcript another program wrote into the experiment, opened by its address
        store = ConversationStore.connect(server.tracking_uri, "browser")
        planted = Conversation(scenario="analyst", session_id="someone", provider="demo", options={"report": "x"})
        planted.transcript = [
            {"role": "user", "name": "user", "turn": 1, "text": "hi"},
            {
                "role": "assistant",
                "name": "analyst",
                "turn": 1,
                "text": f"![x]({trap.url}/stored.png)\n\n[ref]: {trap.url}/ref.png\n\n![y][ref]",
            },
        ]
        planted.turns = 1
        store.create(planted)
        store.save(planted)
        page.goto(f"{server.url}/?conversation={planted.id}")
        wait_ready(page)
        stored = page.locator("[data-testid=stChatMessage]")
        expect(stored.locator("a[href$='stored.png']")).to_have_count(1)  # a link to click, not a picture
        assert stored.locator("img[src*='127.0.0.1']").count() == 0
        page.wait_for_timeout(1500)
        assert trap.paths == [], f"the page fetched {trap.paths}"
    finally:
        trap.close()


def test_a_slow_model_streams_its_markdown_answer_word_by_word(page, stub_and_server, monkeypatch):
    """Against an OpenAI-compatible server answering markdown at a word every 0.12 s: the first words are on
    screen long before the answer is complete (time to first words vs. the whole answer, printed)."""
    content = "### Main risks\n\n" + " ".join(f"**point {i}** supply delays and freight costs." for i in range(8))
    stub, server = stub_and_server
    monkeypatch.setattr(stub, "stream_delay_s", 0.12)
    page.goto(server.url)
    wait_ready(page)
    choose_scenario(page, "Analyst & Summarizer")
    page.get_by_placeholder("Paste the report here…").fill("Freight costs rose; supply delays.")
    stub.add_fault(ReplyFault(path="/chat/completions", content=content, times=2))
    started = time.perf_counter()
    send(page, "What are the risks?")
    writing = page.locator("[data-testid=stChatMessage]").filter(has_text="▌")
    expect(writing.first).to_be_visible(timeout=30_000)
    first_words = time.perf_counter() - started
    expect(writing.first.locator("h3", has_text="Main risks")).to_be_visible()  # markdown while streaming
    expect(page.get_by_text(re.compile(r"^Done in"))).to_be_visible(timeout=60_000)
    whole = time.perf_counter() - started
    print(f"\nfirst words on screen after {first_words:.2f} s; whole answer after {whole:.2f} s")
    assert first_words < whole - 2.0, (first_words, whole)
    expect(page.locator("[data-testid=stChatMessage]").filter(has_text="▌")).to_have_count(0)
    assert [r.body.get("stream") for r in stub.requests_to("/chat/completions")] == [True, True]
