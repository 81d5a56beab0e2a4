"""The tables people read first fit a 1400 px screen (issue 32, finding 6): the Traces page's breakdown (its p90 was
clipped), the trace list (tokens, cost, status, feedback were) and the Models page's evaluation table (cost was), in
Chromium at 1400x900 against `streamlit run` on a filled store.

Streamlit's dataframe is a glide-data-grid canvas: the cells are pixels, but the grid scrolls in a `.dvn-scroller`
element whose scrollWidth passes its clientWidth exactly when a person would have to scroll sideways, and it keeps an
accessible table of its visible column headers. Each table's picture is left in test-artifacts/screenshots/."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from core import evaluation, prompt_sets
from core.config import Settings
from core.conversations import ConversationStore
from core.mlflow_model import registry
from tests.browser.conftest import SCREENSHOTS, AppServer
from tests.browser.test_in_a_browser import settle
from tests.trace_fixtures import fill

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1400, "height": 900}
OVERFLOW = """grid => {
    const scroller = grid.querySelector('.dvn-scroller');
    return scroller && scroller.clientWidth > 0 ? scroller.scrollWidth - scroller.clientWidth : null;
}"""
HEADERS = "grid => [...grid.querySelectorAll('[role=columnheader]')].map(h => h.textContent.trim())"


@pytest.fixture(scope="module")
def filled_app(tmp_path_factory):
    """The app on a store with chat turns (a paid one, rated ones, traces other code wrote) and an evaluation of
    two Catify versions, the first champion."""
    server = AppServer(tmp_path_factory.mktemp("tables-fit"))
    try:
        uri = server.tracking_uri
        fill(uri, "browser")
        settings = Settings(tracking_uri=uri)
        first = registry.log_catify(uri, "browser", settings, 1)
        second = registry.log_catify(uri, "browser", settings, 1, instruction="Add fluffy cats. At least 100 cats.")
        registry.set_alias(uri, "champion", first)
        experiment_id = ConversationStore.connect(uri, "browser").experiment_id
        rows = prompt_sets.from_lines("a cat on a windowsill | min_cats: 10\na sunny beach | contains: beach")
        saved = prompt_sets.save(uri, experiment_id, "two prompts", rows, "catify")
        evaluation.evaluate(uri, "browser", "catify", ["champion", str(second)], saved, settings)
        yield server
    finally:
        server.stop()


@pytest.fixture()
def screen(browser):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def fits(grid: Locator, name: str, must_show: list[str]) -> None:
    """The grid is drawn, shows these columns, and needs no sideways scroll; its picture is kept for a person."""
    grid.scroll_into_view_if_needed()
    expect(grid.locator(".dvn-scroller")).to_be_visible(timeout=60_000)
    grid.page.wait_for_function(f"g => ({OVERFLOW})(g) !== null", arg=grid.element_handle())
    settle(grid.page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    grid.screenshot(path=str(SCREENSHOTS / f"table-{name}.png"))
    headers = grid.evaluate(HEADERS)
    assert set(must_show) <= set(headers), f"{name}: {headers}"
    overflow = grid.evaluate(OVERFLOW)
    assert overflow <= 0, f"{name} needs {overflow} px of sideways scrolling at 1400 px (columns {headers})"


def after(page: Page, text: str) -> Locator:
    """The first table after the element whose whole text is `text`."""
    return page.locator(f"xpath=//*[normalize-space(text())='{text}']/following::*[@data-testid='stDataFrame'][1]")


def test_the_traces_pages_breakdown_and_trace_list_fit_1400_px(filled_app, screen):
    screen.goto(f"{filled_app.url}/traces")
    expect(screen.get_by_text("Breakdown", exact=True)).to_be_visible(timeout=60_000)
    fits(after(screen, "Breakdown"), "breakdown", ["model", "traces", "cost", "p90 (s)"])
    screen.get_by_role("tab", name="Trace list").click()
    grid = screen.locator("[class*=st-key-trace_table_] [data-testid=stDataFrame]")
    fits(grid, "trace-list", ["request", "response", "tokens", "cost", "status", "feedback"])


def test_the_models_pages_evaluation_table_fits_1400_px(filled_app, screen):
    screen.goto(f"{filled_app.url}/models")
    expect(screen.get_by_text("Per prompt and version", exact=True)).to_be_visible(timeout=60_000)
    fits(after(screen, "Per prompt and version"), "evaluation", ["prompt", "version", "cats", "cost", "latency"])
