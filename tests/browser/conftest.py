"""Real-browser fixtures: the app under `streamlit run` on 127.0.0.1 with its own sqlite store, and Debian's
Chromium driven by Playwright. A failing test leaves a screenshot in test-artifacts/screenshots/."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.net import free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("APP_CHROMIUM", "/usr/bin/chromium")
# Chromium's own background traffic is refused by a closed network (and must not leave loopback anyway)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


class AppServer:
    """`streamlit run streamlit_app.py` as a real process with its own store, until stop()."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None, secrets: str = ""):
        """`secrets`: the app's .streamlit/secrets.toml, `{url}` standing for the app's own address."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if secrets:
            (workdir / ".streamlit").mkdir(exist_ok=True)
            (workdir / ".streamlit" / "secrets.toml").write_text(secrets.replace("{url}", self.url))
        self.tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
        self.log = workdir / "streamlit.log"
        full_env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "MLFLOW_EXPERIMENT_NAME": "browser",
            "DEMO_LATENCY_MS": "0",
            "MLFLOW_MODEL_CATALOG_URI": "",
            **(env or {}),
        }
        full_env.pop("OPENAI_API_KEY", None) if "OPENAI_API_KEY" not in (env or {}) else None
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(ROOT / "streamlit_app.py"),
                "--server.headless",
                "true",
                "--server.port",
                str(self.port),
                "--server.address",
                "127.0.0.1",
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            cwd=str(workdir),
            env=full_env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until_up(f"{self.url}/_stcore/health", self.process, 60, lambda: self.log.read_text()[-2000:])

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: run `bash scripts/test.sh`, which installs Debian's chromium.")
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


@pytest.fixture(scope="module")
def browser(chromium_path):
    """Per module: Playwright's sync API keeps an event loop running in this thread while it is open, and the
    rest of the suite calls asyncio.run()."""

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    """One app server for the modules that need nothing special of it (starting one costs seconds): each test opens
    its own browser context, so its own Streamlit session and conversations."""
    server = AppServer(tmp_path_factory.mktemp("browser-app"))
    yield server
    server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.failed_call = report.failed


@pytest.fixture()
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    if getattr(request.node, "failed_call", False):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()
