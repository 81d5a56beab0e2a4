"""A link under a chat turn ("open the trace"), same tab against a new tab, on the same warm server, side by side
in one run (issue 32).

    python benchmarks/same_tab_links.py [--rounds 5]

One `streamlit run` server on the embedded default (demo provider, a fresh sqlite store and data folder), one
Catify turn, the Traces page visited once (its imports, the store's caches: warm). Each round, in alternating
order: a plain click on the turn's "open the trace" (Streamlit switches page in the same session), and a middle
click on it (a new tab: a new page load and a new Streamlit session, as every link under a turn did before).
The clock is the browser's own (epoch milliseconds, `performance.timeOrigin + performance.now()`, one clock for
both tabs): from the link's mousedown to the trace's heading laid out on the Traces page, seen by a
MutationObserver installed before any document's first script. Playwright's own
waiting is not the clock: a click spends 0.1-0.2 s on its actionability checks before the browser gets the
mousedown, and `wait_for` polls at 0, 20, 50, 100, 100, then every 500 ms, so its figures are late by a varying
part of a poll (both are printed beside, for comparison).
Target (issue 32): median same tab <= 1/3 of median new tab."""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

from cold_start import CHROMIUM, CHROMIUM_ARGS, ROOT, USABLE, app_env, start, stop, wait_up  # beside this script
from playwright.sync_api import Locator, Page, sync_playwright

SETTLED = "() => !document.querySelector('[data-testid=stStatusWidget]')"
# installed in every document of the context before its own scripts (add_init_script): notes in window.__headingAt
# the first DOM change after which an h1-h3 holding window.__headingText is laid out (offsetParent: not inside
# anything hidden), and in window.__downAt the link's mousedown (capture phase, before Streamlit's handlers). Not
# the next animation frame: a middle click opens a background tab, whose frames Chromium holds back until it is
# shown, so both tabs are timed to the same moment, the heading in the laid-out page.
WATCH = """
(() => {
  window.__headingAt = 0; window.__downAt = 0;
  document.addEventListener('mousedown', () => { window.__downAt = performance.timeOrigin + performance.now(); }, true);
  const check = () => {
    if (window.__headingAt || !window.__headingText) return;
    const found = [...document.querySelectorAll('h1, h2, h3')].some(
      (h) => h.textContent.includes(window.__headingText) && h.offsetParent !== null);
    if (found) window.__headingAt = performance.timeOrigin + performance.now();
  };
  new MutationObserver(check).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
})();
"""


def settle(page: Page) -> None:
    """Until Streamlit has finished its current run (it shows a status widget while a script runs)."""
    page.wait_for_timeout(200)
    page.wait_for_function(SETTLED, polling=20, timeout=60_000)


def on_chat(page: Page, chat_url: str) -> Locator:
    """The chat page, settled, its link to the trace; the watch reset (WATCH)."""
    page.goto(chat_url)
    page.wait_for_function(USABLE, polling=20, timeout=60_000)
    settle(page)
    page.evaluate("() => { window.__headingAt = 0; window.__downAt = 0; }")
    return page.get_by_role("link", name="open the trace")


def browser_seconds(clicked: Page, landed: Page) -> float:
    """Mousedown on the link (in `clicked`) to the heading laid out (in `landed`), on the browser's clock."""
    landed.wait_for_function("() => window.__headingAt > 0", polling=20, timeout=10_000)
    return (landed.evaluate("() => window.__headingAt") - clicked.evaluate("() => window.__downAt")) / 1000


def same_tab(page: Page, chat_url: str, trace_id: str) -> tuple[float, float]:
    """(browser's clock, Playwright's clock) in seconds."""
    link = on_chat(page, chat_url)
    started = time.perf_counter()
    link.click()
    page.get_by_role("heading", name=f"Trace {trace_id}").wait_for(timeout=60_000)
    return browser_seconds(page, page), time.perf_counter() - started


def new_tab(page: Page, chat_url: str, trace_id: str) -> tuple[float, float]:
    link = on_chat(page, chat_url)
    started = time.perf_counter()
    with page.context.expect_page() as opened:
        link.click(button="middle")
    tab = opened.value
    tab.get_by_role("heading", name=f"Trace {trace_id}").wait_for(timeout=60_000)
    seconds = time.perf_counter() - started, browser_seconds(page, tab)
    tab.close()
    return seconds[1], seconds[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "APP_PROVIDER", "MLFLOW_TRACKING_URI")}
    with tempfile.TemporaryDirectory(prefix="same-tab-") as tmp:
        work = Path(tmp)
        process, url = start(ROOT / "streamlit_app.py", work, {**app_env(base, work), "DEMO_LATENCY_MS": "0"})
        try:
            wait_up(f"{url}/_stcore/health", process)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                page.goto(url)
                page.wait_for_function(USABLE, polling=20, timeout=120_000)
                settle(page)
                box = page.locator("[data-testid=stChatInputTextArea]")
                box.fill("a cat on a red boat")
                box.press("Enter")
                page.get_by_text(re.compile(r"^Done in")).wait_for(timeout=120_000)
                settle(page)
                chat_url = page.url
                href = page.get_by_role("link", name="open the trace").get_attribute("href") or ""
                trace_id = re.search(r"tr-[0-9a-f]{32}", href).group(0)
                context.add_init_script(f"window.__headingText = {json.dumps('Trace ' + trace_id)};" + WATCH)
                runs = {"same tab": same_tab, "new tab": new_tab}
                for name, run in runs.items():  # not counted: the Traces page's imports and caches
                    print(f"not counted, {name}: {run(page, chat_url, trace_id)[0]:.2f} s", flush=True)
                times: dict[str, list[float]] = {name: [] for name in runs}
                waited: dict[str, list[float]] = {name: [] for name in runs}
                for i in range(args.rounds):
                    for name in list(runs) if i % 2 == 0 else list(runs)[::-1]:
                        clock, playwright_clock = runs[name](page, chat_url, trace_id)
                        times[name].append(clock)
                        waited[name].append(playwright_clock)
                    print(
                        f"round {i + 1}: " + ", ".join(f"{n} {t[-1]:.2f} s (Playwright {waited[n][-1]:.2f} s)" for n, t in times.items()),
                        flush=True,
                    )
                browser.close()
        finally:
            stop(process)
    med = {name: statistics.median(values) for name, values in times.items()}
    late = {name: statistics.median(values) for name, values in waited.items()}
    print(f"Playwright's clock, median of {args.rounds}: same tab {late['same tab']:.2f} s, new tab {late['new tab']:.2f} s")
    print(f"median of {args.rounds}, mousedown to heading laid out: same tab {med['same tab']:.2f} s, new tab {med['new tab']:.2f} s")
    print(f"ratio same tab / new tab: {med['same tab'] / med['new tab']:.2f}  target <= 0.33")


if __name__ == "__main__":
    main()
