"""Cold start: from starting `streamlit run` to a usable chat input in Chromium, the app against a minimal Streamlit
chat page, side by side in one run (issue 32).

    python benchmarks/cold_start.py [--rounds 5] [--path /]

Each round starts a fresh server process (headless, a free loopback port) for each of the two, in alternating
order, opens `--path` in a new browser context at 1400x900 as soon as the port accepts connections, and stops the
clock when the chat input is visible and enabled. The app runs on its embedded default (the offline demo
provider) with a fresh sqlite store and data folder (APP_DATA_DIR) each round; the minimal page is `st.title` +
`st.chat_input`. One round of each before the counted ones is not counted (the disk cache: a first Python
process reads every module from disk). Target (issue 32): median app / median minimal <= 1.5."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("APP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-dev-shm-usage"]
MINIMAL = """import streamlit as st

st.title("Chat")
if prompt := st.chat_input("Say something"):
    st.chat_message("user").write(prompt)
"""
CHAT_INPUT = "[data-testid=stChatInputTextArea]"
USABLE = f"() => {{ const e = document.querySelector('{CHAT_INPUT}'); return !!e && !e.disabled && e.offsetParent !== null; }}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, process: subprocess.Popen, timeout_s: float = 120) -> None:
    """Until the server answers its health check (polled every 20 ms)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up")
        time.sleep(0.02)


def start(script: Path, workdir: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true", "--server.port", str(port)]
    command += ["--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    log = (workdir / "streamlit.log").open("a")
    process = subprocess.Popen(command, cwd=str(workdir), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return process, f"http://127.0.0.1:{port}"


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def cold_start(browser: Browser, script: Path, workdir: Path, env: dict[str, str], path: str) -> float:
    """Seconds from starting the server process to a visible, enabled chat input on `path`."""
    workdir.mkdir(parents=True)
    started = time.perf_counter()
    process, url = start(script, workdir, env)
    try:
        wait_up(f"{url}/_stcore/health", process)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        try:
            page = context.new_page()
            page.goto(url + path)
            page.wait_for_function(USABLE, polling=10, timeout=120_000)
            return time.perf_counter() - started
        finally:
            context.close()
    finally:
        stop(process)


def app_env(base: dict[str, str], workdir: Path) -> dict[str, str]:
    """The embedded default (demo provider: no key, no APP_PROVIDER) on a store and data folder of its own."""
    return {
        **base,
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        "APP_DATA_DIR": str(workdir / "data"),
        "MLFLOW_MODEL_CATALOG_URI": "",  # prices from the catalog MLflow ships: no network here
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--path", default="/", help="the app's address to open (the minimal page is opened at /)")
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "APP_PROVIDER", "MLFLOW_TRACKING_URI")}
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        work = Path(tmp)
        minimal = work / "minimal.py"
        minimal.write_text(MINIMAL)
        runs = {
            "app": lambda b, d: cold_start(b, ROOT / "streamlit_app.py", d, app_env(base, d), args.path),
            "minimal": lambda b, d: cold_start(b, minimal, d, base, "/"),
        }
        times: dict[str, list[float]] = {name: [] for name in runs}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for name, run in runs.items():
                print(f"not counted, {name}: {run(browser, work / f'warm-{name}'):.2f} s", flush=True)
            for i in range(args.rounds):
                for name in list(runs) if i % 2 == 0 else list(runs)[::-1]:
                    times[name].append(runs[name](browser, work / f"round-{i}-{name}"))
                print(f"round {i + 1}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()), flush=True)
            browser.close()
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"median of {args.rounds}: app {med['app']:.2f} s (path {args.path}), minimal Streamlit chat page {med['minimal']:.2f} s")
    print(f"ratio app / minimal: {med['app'] / med['minimal']:.2f}  target <= 1.5")


if __name__ == "__main__":
    main()
