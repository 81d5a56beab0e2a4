"""A conversation written by other code, with markdown, HTML and remote pictures in every field a page shows
(issue 18): opened on the chat page, its shared read-only page and the Traces page's lineage, the browser fetches
nothing from anywhere but the app itself, and no script runs."""

from __future__ import annotations

import json
import re
from urllib.parse import urlparse

import pytest
from mlflow import MlflowClient
from playwright.sync_api import expect

from core import contract
from core.conversations import ConversationStore
from tests.browser.conftest import AppServer
from tests.browser.test_in_a_browser import settle, wait_ready

pytestmark = pytest.mark.browser

EVIL = "http://evil.example"


def hostile(n: int) -> str:
    """Every way text could make a browser fetch or run something."""
    return (
        f"![x]({EVIL}/md{n}.png) <img src='{EVIL}/html{n}.png'> [link](javascript:alert({n})) "
        f"<script>fetch('{EVIL}/js{n}')</script> <iframe src='{EVIL}/frame{n}'></iframe> $x^{n}$ "
        f"[![y]({EVIL}/nested{n}.png)]({EVIL}) <svg onload=fetch('{EVIL}/svg{n}')>"
    )


def test_a_hostile_stored_conversation_makes_the_browser_fetch_nothing(browser, tmp_path):
    secrets = 'APP_SHARE_SECRET = "a-share-secret-for-the-tests"\n'
    server = AppServer(tmp_path, secrets=secrets)
    try:
        store = ConversationStore(server.tracking_uri, "browser")
        client = MlflowClient(server.tracking_uri)
        run = client.create_run(
            store.experiment_id,
            tags={
                contract.RunTag.SCENARIO: "catify",
                contract.RunTag.SESSION: "someone",
                contract.RunTag.TITLE: hostile(0),
                contract.RunTag.TURNS: "1",
                contract.RunTag.PROVIDER: hostile(1),
            },
        )
        run_id = run.info.run_id
        image_id = "0" * 32
        transcript = {
            "messages": [
                {"role": "user", "name": hostile(2), "text": hostile(3), "turn": 1},
                {
                    "role": "assistant",
                    "name": hostile(4),
                    "text": hostile(5),
                    "turn": 1,
                    "note": hostile(6),
                    "why": hostile(7),
                    "image_id": image_id,
                },
                {"role": "tool", "name": hostile(8), "text": hostile(9), "tool": hostile(10), "is_error": True, "turn": 1},
                {"role": "notice", "name": "app", "text": hostile(11), "turn": 1},
                {
                    "role": "assistant",
                    "name": "critic",
                    "text": hostile(12),
                    "turn": 1,
                    "usage": {
                        "input_tokens": 1,
                        "output_tokens": 2,
                        "cost_usd": 0.1,
                        "models": [hostile(13)],
                        "pictures": 1,
                        "seconds": 1.0,
                        "trace_id": hostile(14),
                    },
                },
            ],
            "options": {"instruction": hostile(15)},
        }
        client.log_text(run_id, json.dumps(transcript), contract.Artifact.TRANSCRIPT)
        client.log_text(
            run_id,
            json.dumps({image_id: {"prompt": hostile(16), "index": 0, "turn": 1, "critique": hostile(17), "model": hostile(18)}}),
            contract.Artifact.IMAGE_LOOKUP,
        )
        from core.sharing import ShareLinks  # noqa: PLC0415 - the link the owner would send

        token = ShareLinks(client, "a-share-secret-for-the-tests").create(run_id).token

        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        foreign: list[str] = []
        page.on(
            "request",
            lambda request: (
                foreign.append(f"{page.url} -> {request.url}")
                if urlparse(request.url).netloc not in (urlparse(server.url).netloc,) and not request.url.startswith(("data:", "blob:"))
                else None
            ),
        )
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        for address in (
            f"{server.url}/?conversation={run_id}",
            f"{server.url}/shared?share={token}",
            f"{server.url}/traces?conversation={run_id}",
        ):
            page.goto(address)
            # the hostile text is on the page, as text
            expect(page.get_by_text(re.compile(r"evil\.example")).first).to_be_visible(timeout=30_000)
            settle(page)
            page.wait_for_timeout(1500)  # pictures and frames would have started loading by now
        for link in page.get_by_role("link").all():
            assert not (link.get_attribute("href") or "").startswith("javascript:")
        assert foreign == [], "the browser fetched from elsewhere"
        assert dialogs == [] and not page.locator("iframe").count()
        page.goto(f"{server.url}/?conversation={run_id}")
        wait_ready(page)
        context.close()
    finally:
        server.stop()
