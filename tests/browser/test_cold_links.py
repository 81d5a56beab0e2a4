"""Direct links on a server nobody has visited yet (issue 15): `/traces?trace=…`, `/models` and
`/?conversation=…` as the very first request after `streamlit run` render the app's own navigation and wide
layout, not Streamlit's folder mode ("streamlit app / chat / models / traces")."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import AppServer
from tests.browser.test_in_a_browser import settle

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    "path, heading",
    [
        ("/traces?trace=tr-00000000000000000000000000000000", "Traces"),
        ("/models", "Agent teams as MLflow models"),
        ("/?conversation=0123456789abcdef0123456789abcdef", "Chat with an agent team"),
    ],
)
def test_a_direct_link_is_the_first_request_after_a_start(page, tmp_path, path, heading):
    server = AppServer(tmp_path)  # fresh: no session has run the entry script yet
    try:
        page.goto(server.url + path)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible(timeout=60_000)
        settle(page)
        nav = page.locator("[data-testid=stTopNav]")  # the app's navigation, at the top (streamlit_app.py)
        expect(nav.get_by_role("link", name="Chat")).to_be_visible()
        expect(nav.get_by_role("link", name="Traces")).to_be_visible()
        assert nav.get_by_role("link", name="streamlit app").count() == 0, "not Streamlit's folder mode"
        assert "Agent chats, traced" in page.title() or page.title() in ("Chat", "Traces", "Models")
        title = page.get_by_role("heading", name=heading, exact=True)
        assert title.bounding_box()["width"] > 900, "the wide layout of st.set_page_config (centered: 736 px)"
    finally:
        server.stop()
