"""Twenty visitors at once on one hosted-demo server, each in their own browser context: a demo Catify turn
and a weather turn each. Every turn completes, no visitor sees another's messages or traces, and the
p50/p95 turn latency is printed (and kept in test-artifacts/twenty_visitors.txt). Loopback only; bounded
to 20 visitors and a few minutes."""

from __future__ import annotations

import asyncio
import re
import statistics
import time

import pytest
from playwright.async_api import async_playwright, expect

from tests.browser.conftest import CHROMIUM_ARGS, ROOT, AppServer

pytestmark = pytest.mark.browser
VISITORS = 20
# Streamlit's spinners, skeletons, fades and the like are CSS animations and transitions that redraw their page frame
# by frame: twenty pages of them, rastered in software on two cores, cost about as much CPU as the app server
# itself and slowed every turn. Turned off in each visitor's page; what this test checks (every turn completes,
# no visitor sees another's messages or traces) is the server's doing, not the browser's drawing.
NO_ANIMATIONS = """document.addEventListener("DOMContentLoaded", () => {
  const style = document.createElement("style");
  style.textContent = "*, *::before, *::after { animation: none !important; transition: none !important; }";
  document.head.appendChild(style);
});"""
CITIES = (
    "Paris",
    "Oslo",
    "Rome",
    "Lima",
    "Tokyo",
    "Cairo",
    "Dublin",
    "Lisbon",
    "Madrid",
    "Vienna",
    "Prague",
    "Warsaw",
    "Zurich",
    "Seoul",
    "Sydney",
    "Toronto",
    "Boston",
    "Miami",
    "Dubai",
    "Athens",
)


async def settle(page) -> None:
    await page.wait_for_timeout(200)
    await page.wait_for_selector("[data-testid=stStatusWidget]", state="detached", timeout=120_000)


async def turn(page, text: str, done) -> float:
    """Send a message and wait for the visible answer; the latency as the visitor sees it."""
    await settle(page)
    box = page.locator("[data-testid=stChatInput] textarea")
    await box.fill(text)
    started = time.perf_counter()
    await box.press("Enter")
    await page.locator("[data-testid=stChatMessage]").filter(has_text=text).first.wait_for(timeout=60_000)
    await done.wait_for(timeout=180_000)
    return time.perf_counter() - started


async def visitor(browser, url: str, number: int) -> dict:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    await context.add_init_script(NO_ANIMATIONS)
    page = await context.new_page()
    tag = f"visitor-{number:02d}"
    try:
        await page.goto(url, timeout=120_000)
        await page.wait_for_selector("[data-testid=stChatInput] textarea", timeout=120_000)
        catify = await turn(page, f"{tag}: a cat on a sofa", page.get_by_text(re.compile(r"^Done in")).first)
        await expect(page.locator("[data-testid=stChatMessage] [data-testid=stImage] img")).to_have_count(3, timeout=120_000)
        await settle(page)
        scenario = page.get_by_role("combobox", name="Scenario")
        # under load a click can land while the page is still rerunning; a person would click again
        for _ in range(5):
            await page.get_by_role("button", name="New conversation").click()
            try:
                await expect(scenario).to_be_enabled(timeout=20_000)
                break
            except AssertionError:
                pass
        for _ in range(5):
            await settle(page)
            await page.locator("[data-testid=stSelectbox]").filter(has_text="Scenario").click()
            try:
                await page.get_by_role("option", name="Weather group chat").click(timeout=10_000)
                await expect(scenario).to_have_value("Weather group chat", timeout=20_000)
                break
            except Exception:
                await page.keyboard.press("Escape")
        await settle(page)
        city = CITIES[number]
        weather = await turn(
            page,
            f"{tag}: what's the weather in {city}?",
            page.locator("[data-testid=stChatMessage]").filter(has_text=f"Here is what I found. {city}:").first,
        )
        await settle(page)
        seen = await page.locator("body").inner_text()  # the sidebar list included
        others = sorted(set(re.findall(r"visitor-\d\d", seen)) - {tag})
        await page.get_by_role("link", name="Traces").click()
        await page.locator("[data-testid=stMetric]").filter(has_text="Traces").first.wait_for(timeout=120_000)
        return {"visitor": tag, "latencies": [catify, weather], "others": others, "page": page, "context": context}
    except Exception:
        (ROOT / "test-artifacts" / "screenshots").mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ROOT / "test-artifacts" / "screenshots" / f"twenty_{tag}.png"), full_page=True)
        await context.close()
        raise


async def own_traces(result: dict) -> tuple[str, float]:
    """Once every turn is done: the number of traces this visitor's Traces page shows, and how long it took
    to reach two (traces are exported in the background; Refresh reads the store again)."""
    page = result["page"]
    metric = page.locator("[data-testid=stMetric]").filter(has_text="Traces").first
    started, shown = time.perf_counter(), ""
    while time.perf_counter() - started < 120:
        await metric.wait_for(timeout=120_000)
        shown = (await metric.locator("[data-testid=stMetricValue]").inner_text()).strip()
        if shown == "2":
            break
        await page.wait_for_timeout(2_000)
        await page.get_by_role("button", name="Refresh").click()
        await settle(page)
    await result["context"].close()
    return shown, time.perf_counter() - started


async def crowd(url: str, chromium: str) -> list[dict]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            results = await asyncio.wait_for(asyncio.gather(*(visitor(browser, url, i) for i in range(VISITORS))), timeout=600)
            checked = await asyncio.wait_for(asyncio.gather(*(own_traces(r) for r in results)), timeout=300)
            for result, (shown, lag) in zip(results, checked):
                result.update(traces=shown, trace_wait=lag)
            return results
        finally:
            await browser.close()


def test_twenty_visitors_at_once(tmp_path, chromium_path):
    server = AppServer(tmp_path, env={"APP_HOSTED": "1"})
    try:
        started = time.perf_counter()
        results = asyncio.run(crowd(server.url, chromium_path))
        wall = time.perf_counter() - started
    finally:
        server.stop()
    latencies = sorted(t for r in results for t in r["latencies"])
    p50 = statistics.median(latencies)
    p95 = latencies[max(0, int(round(0.95 * len(latencies))) - 1)]
    report = (
        f"{VISITORS} visitors, {len(latencies)} turns in {wall:.1f} s; turn latency as seen in the browser: "
        f"p50 {p50:.2f} s, p95 {p95:.2f} s, max {latencies[-1]:.2f} s; every visitor's two traces shown "
        f"within {max(r['trace_wait'] for r in results):.1f} s of the last turn"
    )
    print("\n" + report)
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "twenty_visitors.txt").write_text(report + "\n")
    assert len(results) == VISITORS and len(latencies) == 2 * VISITORS
    assert [r["others"] for r in results] == [[]] * VISITORS, "a visitor saw another visitor's messages"
    assert [r["traces"] for r in results] == ["2"] * VISITORS, "each visitor sees exactly their own two traces"
