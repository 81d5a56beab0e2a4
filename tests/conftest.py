"""Shared fixtures. One real sqlite MLflow store per test session (creating one costs seconds of schema
migrations); each test gets its own experiment in it, so tests never see each other's runs or traces."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import uuid
from pathlib import Path

import pytest
from mlflow import MlflowClient

from core import scenarios
from core.conversations import ConversationStore
from tests.mlflow_server import MlflowServer
from tests.postgres import Postgres

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("DEMO_LATENCY_MS", "0")
os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")  # tests never reach for the remote price catalog
# the app's data folder (uploaded teams): the test run's own, never the user's home
os.environ.setdefault("APP_DATA_DIR", tempfile.mkdtemp(prefix="app-data-"))


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory) -> str:
    db = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    return f"sqlite:///{db}"


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """One real `mlflow server` (sqlite, artifact proxy) per test session for the tests that only talk to one (each
    in experiments of its own names); starting one costs seconds. Tests that kill or restart a server, or run it
    on another backend, start their own."""
    with MlflowServer(tmp_path_factory.mktemp("mlflow-server")).start() as running:
        yield running


@pytest.fixture()
def experiment_name() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def store(tracking_uri, experiment_name):
    return ConversationStore.connect(tracking_uri, experiment_name)


@pytest.fixture()
def mlflow_client(tracking_uri):
    return MlflowClient(tracking_uri)


RELIABILITY_ROWS: list[dict] = []


@pytest.fixture()
def reliability(request):
    """Record one row of docs/RELIABILITY.md from a test's own outcome (written only if the test passes)."""
    rows: list[dict] = []

    def record(**row) -> None:
        rows.append({"test": request.node.nodeid, **row})

    yield record
    RELIABILITY_ROWS.extend(rows)


def pytest_collection_modifyitems(config, items):
    """Every test that runs a PostgreSQL is in the `postgres` group (`-m postgres`, `-m "not postgres"`): those that
    ask for the fixture, by name or as a parameter of their store."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "postgres" in item.fixturenames or "postgresql" in params.values():
            item.add_marker(pytest.mark.postgres)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """Under pytest-xdist (the test command runs two workers): each worker's rows reach the controller, which
    writes the one file."""
    RELIABILITY_ROWS.extend(getattr(node, "workeroutput", {}).get("reliability", []))


def pytest_sessionfinish(session, exitstatus):
    """The battery's rows, for scripts/reliability_table.py (docs/RELIABILITY.md)."""
    if hasattr(session.config, "workeroutput"):  # a pytest-xdist worker: its rows go to the controller
        session.config.workeroutput["reliability"] = RELIABILITY_ROWS
        return
    if RELIABILITY_ROWS:
        out = ROOT / "test-artifacts" / "reliability.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(RELIABILITY_ROWS, indent=1, ensure_ascii=False))


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Tests never touch the internet: a name lookup for anything but this machine fails at once, loudly
    (a silent DNS attempt is how a test would reach out by accident)."""

    real = socket.getaddrinfo
    local = {None, "", "localhost", "::1", "0.0.0.0", socket.gethostname()}

    def lookup(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in local and not str(name).startswith("127."):
            raise OSError(f"tests stay on loopback: refused to look up {name!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)


@pytest.fixture(autouse=True)
def fresh_turns_a_minute():
    """Every test starts with no turns counted this minute: AppTest's anonymous visitors all come from no client
    address (counted together as "local", core.identity), and one process runs every test."""
    yield
    from ui import stores  # noqa: PLC0415 - Streamlit only for the tests that loaded it

    stores.spend_ledger.clear()


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """A real PostgreSQL on a loopback port for the module that asks (tests/postgres.py)."""
    with Postgres(tmp_path_factory.mktemp("postgres")).start() as pg:
        yield pg


@pytest.fixture()
def teams_dir(tmp_path, monkeypatch):
    """An empty teams folder (and data folder) the scenario registry offers for this test only."""
    folder = tmp_path / "teams"
    folder.mkdir()
    before = {name: os.environ.get(name) for name in ("APP_TEAMS_DIR", "APP_DATA_DIR")}
    monkeypatch.setenv("APP_TEAMS_DIR", str(folder))
    monkeypatch.setenv("APP_DATA_DIR", str(tmp_path / "data"))
    scenarios.rescan()
    yield folder
    # the folders the next tests see (this worker's data folder, set at import), not none: rescanned without them,
    # the registry changed again at its next look a second later, mid-test, and a page's scenario list with it
    # (the chat page's Scenario box then fell back to its first scenario: tests/test_shown_text.py failed in CI)
    for name, value in before.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    scenarios.rescan()
