"""The Models page of a hosted demo shows a visitor nobody else's words and nobody's name (issue 29, findings 1 and
2), in Chromium against `streamlit run` with Streamlit's real sign-in through an OpenID Connect provider on loopback.

Visitor V1 (anonymous) writes a private message in Catify. The admin (signed in, verified email on APP_ADMINS) has
two versions logged, evaluated "from past turns" (V1's message among them) and the winner promoted. A fresh
anonymous browser V2 opening only /models then receives (over Streamlit's websocket, what any page could draw) no
evaluation, not V1's message, not the admin's email, not the OS account that logged the versions; the admin, on the
same page, receives all of them (so the check can fail)."""

from __future__ import annotations

import re

import pytest
from oidc_provider_mock import User, run_server_in_thread
from playwright.sync_api import Page, expect

from core import evaluation, prompt_sets
from core.config import Settings
from core.conversations import ConversationStore
from core.mlflow_model import registry
from tests.browser.conftest import AppServer
from tests.browser.test_in_a_browser import send, settle, wait_ready
from tests.browser.test_sign_in import sign_in
from tests.net import free_port

pytestmark = pytest.mark.browser

ADMIN = "admin@example.com"
OS_ACCOUNT = "os-account-29"  # the server's account MLflow records as a run's mlflow.user
PRIVATE = "PRIVATE-V1 my account number is 4242"
SECRETS = f"""
APP_HOSTED = "1"
APP_ADMINS = "{ADMIN}"
[auth]
redirect_uri = "{{url}}/oauth2callback"
cookie_secret = "a-cookie-secret-for-the-tests-only"
client_id = "dashboard"
client_secret = "dashboard-secret"
server_metadata_url = "http://localhost:%d/.well-known/openid-configuration"
"""


def received(page: Page) -> list[bytes]:
    """Every websocket frame the page receives from now on: what Streamlit sends the browser to draw."""
    frames: list[bytes] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda data: frames.append(data if isinstance(data, bytes) else data.encode())))
    return frames


def open_models(page: Page, url: str) -> None:
    page.goto(f"{url}/models")
    expect(page.get_by_role("heading", name="Agent teams as MLflow models")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Evaluate versions", exact=True)).to_be_visible(timeout=60_000)
    settle(page)


def admin_evaluates_past_turns(tracking_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the admin does on the page (log two versions, evaluate them from past turns, promote), through the same
    core calls: the page's own clicks are tested in tests/test_model_evaluation.py."""
    settings = Settings(tracking_uri=tracking_uri)
    monkeypatch.setenv("LOGNAME", OS_ACCOUNT)  # getpass, as MLflow asks it
    first = registry.log_catify(tracking_uri, "browser", settings, 1)
    second = registry.log_catify(tracking_uri, "browser", settings, 1, instruction="Ask for more cats.")
    experiment_id = ConversationStore.connect(tracking_uri, "browser").experiment_id
    past = prompt_sets.from_past_turns(tracking_uri, experiment_id, "catify", 5)
    assert PRIVATE in [r.prompt for r in past], "the admin's prompt set holds V1's message"
    saved = prompt_sets.save(tracking_uri, experiment_id, "past turns", past, "catify")
    done = evaluation.evaluate(tracking_uri, "browser", "catify", [str(second), str(first)], saved, settings)
    evaluation.promote(tracking_uri, done, "champion", ADMIN)


def test_a_visitor_sees_no_evaluation_no_other_visitors_words_and_nobodys_name_on_the_models_page(browser, tmp_path, monkeypatch):
    port = free_port()
    admin = User(sub=ADMIN, claims={"email": ADMIN, "email_verified": True})
    with run_server_in_thread(port=port, user_claims=[admin]):
        server = AppServer(tmp_path, secrets=SECRETS % port)
        try:
            v1 = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            v1.goto(server.url)
            wait_ready(v1)
            send(v1, PRIVATE)
            expect(v1.get_by_text(re.compile(r"^Done in"))).to_be_visible(timeout=60_000)
            settle(v1)
            admin_evaluates_past_turns(server.tracking_uri, monkeypatch)

            chief = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            sign_in(chief, server, ADMIN)
            admin_saw = received(chief)
            open_models(chief, server.url)
            expect(chief.get_by_text(re.compile("Results of"))).to_be_visible()
            wanted = (PRIVATE.encode(), ADMIN.encode(), OS_ACCOUNT.encode())
            for _ in range(60):  # the results table's rows come after its heading (later still on a busy machine)
                seen = b"".join(admin_saw)
                if all(w in seen for w in wanted):
                    break
                chief.wait_for_timeout(500)
            assert PRIVATE.encode() in seen and ADMIN.encode() in seen and OS_ACCOUNT.encode() in seen, "the admin sees all"

            v2 = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            v2_saw = received(v2)
            open_models(v2, server.url)
            seen = b"".join(v2_saw)
            assert b"champion" in seen, "V2 does see the versions and their aliases"
            for private in (PRIVATE, ADMIN, OS_ACCOUNT):
                assert private.encode() not in seen, f"V2 received {private!r}"
            assert PRIVATE not in v2.content() and ADMIN not in v2.content()
            expect(v2.get_by_text(re.compile("Results of"))).to_have_count(0)
            expect(v2.get_by_text("In this hosted demo, evaluations and their results are for its admin.")).to_be_visible()
        finally:
            server.stop()
