"""Stop and the progress line stay in view while a long turn's output grows below them (issue 15)."""

from __future__ import annotations

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import AppServer
from tests.browser.test_in_a_browser import send, wait_ready

pytestmark = pytest.mark.browser


def test_stop_stays_in_view_as_pictures_pile_up(page, tmp_path):
    server = AppServer(tmp_path, env={"DEMO_LATENCY_MS": "1000"})
    try:
        page.set_viewport_size({"width": 1400, "height": 700})
        page.goto(server.url)
        wait_ready(page)
        page.get_by_role("slider").last.focus()
        # iterations up to 6: many pictures, a long page, and half the turn still to run (a second a step) when Stop
        # is clicked after the third, on a busy machine too
        for _ in range(4):
            page.keyboard.press("ArrowRight")
        send(page, "a cat in a garden")
        stop = page.get_by_role("button", name="Stop")
        expect(page.locator("[data-testid=stChatMessage] [data-testid=stImage] img")).to_have_count(3, timeout=60_000)
        page.mouse.wheel(0, 20_000)  # scroll down to the newest output
        page.wait_for_timeout(500)
        box = stop.bounding_box()
        assert box is not None and 0 <= box["y"] <= 700 - box["height"], f"Stop is out of view: {box}"
        page.screenshot(path=str(tmp_path / "stop_in_view.png"))
        # above the controls: the page's top bar (its navigation links end left of x=700), no picture under it
        with Image.open(tmp_path / "stop_in_view.png") as shot:
            above = {shot.convert("RGB").getpixel((x, y)) for x in range(700, 1100, 40) for y in (30, 50)}
        assert above == {(255, 255, 255)}, f"answers show through above the controls: {above}"
        stop.click()
        expect(page.get_by_text("Stopped by you", exact=False)).to_be_visible(timeout=60_000)
    finally:
        server.stop()
