"""The Image lineage tab as a person sees it (issue 16): the link under a Catify turn lands on that conversation's
lineage; the storyboard reads at page width (picture, the critique that led on, the next picture, with the
changed words marked); and the graph a branching lineage adds fits the page's column with its text at a
readable size, not scaled down to fit."""

from __future__ import annotations

import re
from contextlib import nullcontext

import pytest
from playwright.sync_api import expect

from core.conversations import ConversationStore
from tests.browser.test_in_a_browser import send, settle, wait_ready

pytestmark = pytest.mark.browser
LAPTOP = {"width": 1100, "height": 900}  # the main column is ~640 px wide beside the sidebar
LONG_PROMPT = (
    "A photorealistic wide shot of a ginger tabby cat sitting on the ridge of a terracotta roof in an "
    "old Mediterranean town, chimneys and television aerials around it, soft haze over the hills behind,"
)
LONG_CRITIQUE = (
    "The composition is balanced but the cat is too small in the frame and the light is flat; the roof "
    "tiles lack texture and the background hills compete with the subject for attention."
)


def test_a_turns_lineage_link_lands_on_a_storyboard_that_fits_the_page(app, page):
    page.set_viewport_size(LAPTOP)
    page.goto(app.url)
    wait_ready(page)
    send(page, "a cat on a roof")
    expect(page.get_by_text(re.compile(r"^Done in"))).to_be_visible(timeout=60_000)
    settle(page)
    link = page.get_by_role("link", name="lineage").last
    conversation = link.get_attribute("href").split("conversation=")[1]
    with page.context.expect_page() if link.get_attribute("target") == "_blank" else nullcontext() as opened:
        link.click()
    lineage = opened.value if hasattr(opened, "value") else page
    lineage.set_viewport_size(LAPTOP)
    expect(lineage.get_by_role("tab", name="Image lineage")).to_have_attribute("aria-selected", "true", timeout=60_000)
    settle(lineage)
    panel = lineage.locator("[role=tabpanel]:visible")
    pictures = panel.locator("[data-testid=stImage] img")
    expect(pictures).to_have_count(3)
    critiques = panel.get_by_text(re.compile(r"^Critique of #\d:"))
    expect(critiques).to_have_count(2)
    expect(panel).not_to_contain_text("-background[")  # the changed words are marked, not shown as markup

    column = panel.bounding_box()
    tops = [pictures.nth(k).bounding_box()["y"] for k in range(3)]
    between = [critiques.nth(k).bounding_box()["y"] for k in range(2)]
    assert tops[0] < between[0] < tops[1] < between[1] < tops[2], "picture, critique, picture, critique, picture"
    for k in range(3):
        box = pictures.nth(k).bounding_box()
        assert 120 <= box["width"] <= column["width"] / 3, "a thumbnail beside its prompt, not a page-wide picture"
    font = critiques.first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert font >= 14, f"the critique at the page's own text size ({font} px)"
    assert lineage.evaluate("document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth"), "nothing wider than the page"
    assert lineage.get_by_role("combobox", name="Conversation").input_value().endswith("a cat on a roof · 3 pictures")

    # the same conversation made to branch (#3 redrawn from #1 too), with prompts and critiques as long as real
    # models write them: now a graph says its shape, at the page's width and a readable size
    store = ConversationStore(app.tracking_uri, "browser")
    found = store.load(conversation)
    first, second, third = sorted(found.image_lookup, key=lambda i: found.image_lookup[i]["index"])
    found.image_lookup[third]["parent"] = first
    for image_id, words in (
        (first, ""),
        (second, "at dusk, warm rim light on the fur"),
        (third, "at noon, far more cats, each one different"),
    ):  # as long as real models write
        found.image_lookup[image_id]["prompt"] = f"{LONG_PROMPT} {words}"
        found.image_lookup[image_id]["critique"] = LONG_CRITIQUE
    store.save_lookup(found)
    lineage.reload()
    graph = lineage.locator("[role=tabpanel]:visible").locator("[data-testid=stGraphVizChart] svg")
    expect(graph).to_be_visible(timeout=60_000)
    settle(lineage)
    column = lineage.locator("[role=tabpanel]:visible").bounding_box()
    drawn = graph.bounding_box()
    assert drawn["width"] <= column["width"], f"the graph fits the column ({drawn['width']} ≤ {column['width']} px)"
    text_height = min(t["height"] for t in graph.locator("text").evaluate_all("ts => ts.map(t => t.getBoundingClientRect().toJSON())"))
    assert text_height >= 12, f"its text is not scaled down to fit ({text_height:.1f} px high; 9 px before issue 16)"
