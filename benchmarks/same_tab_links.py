"""A link under a chat turn ("open the trace"), same tab against a new tab, on the same warm server, side by side
in one run (issue 32).

    python benchmarks/same_tab_links.py [--rounds 5]

One `streamlit run` server on the embedded default (demo provider, a fresh sqlite store and data folder), one
Catify turn, the Traces page visited once (its imports, the store's caches: warm). Each round, in alternating
order: a plain click on the turn's "open the trace" (Streamlit switches page in the same session), and a middle
click on it (a new tab: a new page load and a new Streamlit session, as every link under a turn did before);
the clock runs from the click to the trace's heading being visible on the Traces page.
Target (issue 32): median same tab <= 1/3 of median new tab."""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

from cold_start import CHROMIUM, CHROMIUM_ARGS, ROOT, USABLE, app_env, start, stop, wait_up  # beside this script
from playwright.sync_api import Page, sync_playwright

SETTLED = "() => !document.querySelector('[data-testid=stStatusWidget]')"


def settle(page: Page) -> None:
    """Until Streamlit has finished its current run (it shows a status widget while a script runs)."""
    page.wait_for_timeout(200)
    page.wait_for_function(SETTLED, polling=20, timeout=60_000)


def same_tab(page: Page, chat_url: str, trace_id: str) -> float:
    page.goto(chat_url)
    page.wait_for_function(USABLE, polling=20, timeout=60_000)
    settle(page)
    link = page.get_by_role("link", name="open the trace")
    started = time.perf_counter()
    link.click()
    page.get_by_role("heading", name=f"Trace {trace_id}").wait_for(timeout=60_000)
    return time.perf_counter() - started


def new_tab(page: Page, chat_url: str, trace_id: str) -> float:
    page.goto(chat_url)
    page.wait_for_function(USABLE, polling=20, timeout=60_000)
    settle(page)
    link = page.get_by_role("link", name="open the trace")
    started = time.perf_counter()
    with page.context.expect_page() as opened:
        link.click(button="middle")
    tab = opened.value
    tab.get_by_role("heading", name=f"Trace {trace_id}").wait_for(timeout=60_000)
    seconds = time.perf_counter() - started
    tab.close()
    return seconds


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
                page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
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
                runs = {"same tab": same_tab, "new tab": new_tab}
                for name, run in runs.items():  # not counted: the Traces page's imports and caches
                    print(f"not counted, {name}: {run(page, chat_url, trace_id):.2f} s", flush=True)
                times: dict[str, list[float]] = {name: [] for name in runs}
                for i in range(args.rounds):
                    for name in list(runs) if i % 2 == 0 else list(runs)[::-1]:
                        times[name].append(runs[name](page, chat_url, trace_id))
                    print(f"round {i + 1}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()), flush=True)
                browser.close()
        finally:
            stop(process)
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"median of {args.rounds}, click to the trace's heading: same tab {med['same tab']:.2f} s, new tab {med['new tab']:.2f} s")
    print(f"ratio same tab / new tab: {med['same tab'] / med['new tab']:.2f}  target <= 0.33")


if __name__ == "__main__":
    main()
