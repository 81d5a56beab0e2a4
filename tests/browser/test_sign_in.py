"""Sign-in through Streamlit's real OpenID Connect flow (issue 18), in Chromium, against an OpenID Connect
provider on loopback (`oidc-provider-mock`): the sidebar's Sign in goes to the provider and back; a person finds
their conversations again from another browser (a fresh context, no cookies) by signing in, another person does
not, and only a signed-in person may use the owner's key."""

from __future__ import annotations

import re

import pytest
from oidc_provider_mock import run_server_in_thread
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS, AppServer
from tests.browser.test_in_a_browser import send, settle, wait_ready
from tests.net import free_port
from tests.openai_server import OpenAIStub

pytestmark = pytest.mark.browser

SECRETS = """
APP_HOSTED = "1"
OPENAI_API_KEY = "sk-owner-never-used-here"
[auth]
redirect_uri = "{url}/oauth2callback"
cookie_secret = "a-cookie-secret-for-the-tests-only"
client_id = "dashboard"
client_secret = "dashboard-secret"
server_metadata_url = "http://localhost:%d/.well-known/openid-configuration"
"""


@pytest.fixture(scope="module")
def provider():
    port = free_port()
    with run_server_in_thread(port=port):
        yield port


def sign_in(page, server: AppServer, subject: str) -> None:
    page.goto(server.url)
    wait_ready(page)
    expect(page.get_by_role("combobox", name=re.compile("Provider"))).to_be_visible()
    page.get_by_role("button", name="Sign in").click()
    page.get_by_placeholder("sub").fill(subject)  # the provider's own consent form
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(re.compile(re.escape(server.url)))
    wait_ready(page)
    expect(page.get_by_text(f"Signed in as {subject}")).to_be_visible(timeout=30_000)


def test_a_person_signs_in_and_finds_their_conversation_from_another_browser(browser, provider, tmp_path):
    server = AppServer(tmp_path, secrets=SECRETS % provider)
    try:
        first = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = first.new_page()
        page.goto(server.url)
        wait_ready(page)
        page.get_by_role("combobox", name=re.compile("Provider")).click()
        expect(page.get_by_role("option")).to_have_count(1)  # anonymous: the demo provider only
        page.keyboard.press("Escape")
        sign_in(page, server, "alice@example.com")
        page.get_by_role("combobox", name=re.compile("Provider")).click()
        expect(page.get_by_role("option", name="OpenAI", exact=True)).to_be_visible()
        page.keyboard.press("Escape")
        send(page, "a cat on the moon")
        expect(page.get_by_text(re.compile(r"^Done in"))).to_be_visible(timeout=60_000)
        settle(page)
        assert "visitor" not in page.url
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "signed-in.png"), full_page=True)
        first.close()

        elsewhere = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        sign_in(elsewhere, server, "alice@example.com")
        expect(elsewhere.get_by_role("button", name=re.compile("a cat on the moon"))).to_be_visible()

        bob = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        sign_in(bob, server, "bob@example.com")
        expect(bob.get_by_text("Your conversations will show here")).to_be_visible()
        expect(bob.get_by_role("button", name=re.compile("a cat on the moon"))).to_have_count(0)
        bob.get_by_role("button", name="Sign out").click()
        bob.wait_for_url(lambda url: not url.startswith(server.url))  # Streamlit drops its cookie, then the
        bob.goto(server.url)  # provider's own end-session page; back at the app, nobody is signed in
        wait_ready(bob)
        expect(bob.get_by_role("button", name="Sign in")).to_be_visible()
        expect(bob.get_by_text("Signed in as")).to_have_count(0)
    finally:
        server.stop()


def test_a_signed_in_person_on_the_owners_key_is_refused_the_turn_that_would_pass_their_cap(browser, provider, tmp_path):
    with OpenAIStub() as stub:
        secrets = (SECRETS % provider).replace(
            'OPENAI_API_KEY = "sk-owner-never-used-here"',
            f'OPENAI_API_KEY = "sk-owner-x"\nOPENAI_BASE_URL = "{stub.base_url}"\nAPP_PROVIDER = "openai"\nAPP_SESSION_CAP_USD = "0.05"',
        )
        server = AppServer(tmp_path, env={"OPENAI_BASE_URL": stub.base_url, "APP_PROVIDER": "openai"}, secrets=secrets)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            sign_in(page, server, "carol@example.com")
            expect(page.get_by_text(re.compile(r"up to \$0\.05 per person"))).to_be_visible()
            send(page, "a cat on a roof")
            expect(page.get_by_text(re.compile(r"^Done in"))).to_be_visible(timeout=60_000)
            expect(page.locator("[data-testid=stChatMessage] [data-testid=stImage] img")).to_have_count(3)
            settle(page)
            sent = len(stub.requests)
            box = page.locator("[data-testid=stChatInput] textarea")
            box.fill("now a dog")
            box.press("Enter")
            expect(
                page.get_by_text(
                    re.compile(
                        r"could cost up to \$0\.\d+, and you have \$0\.\d+ left of your "
                        r"\$0\.05 cap for today"
                    )
                )
            ).to_be_visible(timeout=30_000)
            assert len(stub.requests) == sent, "the refused turn sent nothing"
        finally:
            server.stop()
