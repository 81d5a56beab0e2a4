"""Reliability battery, secrets (issue 7): every scenario runs with a canary API key over the OpenAI path
(the local server), typed into the page's sidebar as a visitor would; then the whole MLflow store (database
files and artifacts), everything logged, and every page the app renders are searched for the canary:
zero hits.

Issue 18: a provider that quotes the owner's key in its error (a 401, a 400, a stream that breaks off with the
key in its partial text or its error event). The same search, and also the trace as the Traces page downloads it,
every span's details on that page, and every message the page sent the browser (the websocket's frames)."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from conftest import ROOT
from mlflow import MlflowClient
from streamlit.runtime.forward_msg_queue import ForwardMsgQueue
from streamlit.testing.v1 import AppTest

from core import traces
from core.observe import export
from tests.openai_server import EchoKeyFault, EchoKeyStreamFault, OpenAIStub

CANARY = "sk-canary-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
pytestmark = pytest.mark.filterwarnings("ignore:Resolved model mismatch:UserWarning")


def everything_shown(at: AppTest) -> str:
    """The text of every element on the page (main and sidebar), tables included."""
    parts = []
    for kind in (
        "title",
        "header",
        "subheader",
        "markdown",
        "caption",
        "text",
        "code",
        "info",
        "warning",
        "error",
        "success",
        "exception",
        "metric",
        "json",
        "latex",
    ):
        for element in getattr(at, kind, []):
            parts += [str(getattr(element, attr, "")) for attr in ("value", "label", "body", "help")]
    for kind in ("button", "selectbox", "multiselect", "radio", "slider", "text_area", "checkbox"):
        for element in getattr(at, kind, []):
            parts += [str(getattr(element, "label", "")), str(getattr(element, "help", "")), str(getattr(element, "options", ""))]
    parts += [e.value.to_string() for e in at.dataframe]
    parts += [str(i.value) for i in at.text_input if i.key != "api_key"]  # the key's own field holds it, unshown
    return "\n".join(parts)


def test_a_canary_key_appears_nowhere(tmp_path, monkeypatch, caplog, reliability):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    caplog.set_level(logging.DEBUG)
    with OpenAIStub() as server:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "canary")
        monkeypatch.setenv("APP_PROVIDER", "openai")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
        at.run()
        at.sidebar.text_input(key="api_key").set_value(CANARY).run()
        pages = []
        for scenario, message in (("catify", "a cat"), ("analyst", "What are the risks?"), ("weather", "What's the weather in Paris?")):
            next(b for b in at.button if b.label == "New conversation").click().run()
            next(s for s in at.selectbox if s.label == "Scenario").set_value(scenario).run()
            if scenario == "analyst":
                at.text_area(key="report_text").set_value("Sales grew. Risks: delays.")
            if scenario == "weather":  # tests stay on loopback: the offline weather source
                at.sidebar.selectbox(key="weather_source").set_value("offline").run()
            at.chat_input[0].set_value(message).run()
            assert not at.exception and not at.error, [e.value for e in at.error]
            pages.append(everything_shown(at))
        at.switch_page("pages/traces.py").run()
        pages.append(everything_shown(at))
        at.switch_page("pages/models.py").run()
        pages.append(everything_shown(at))
        used = {r.headers.get("authorization") for r in server.requests_to("/chat/completions")}
    assert used == {f"Bearer {CANARY}"}, "the canary really was the key in use"
    assert len({str(r.body.get("messages", [{}])[0]) for r in server.requests_to("/chat/completions")}) >= 3
    export.flush()
    store_dir = Path(uri.removeprefix("sqlite:///")).parent
    files = [p for p in store_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".png" for p in files) and any(p.name == "state.json" for p in files)
    leaks = [str(p) for p in files if CANARY.encode() in p.read_bytes()]
    leaks += ["log"] if CANARY in caplog.text else []
    leaks += [f"page {i}" for i, page in enumerate(pages) if CANARY in page]
    assert leaks == [], leaks
    reliability(
        area="secrets",
        fault="a canary API key through every scenario (Catify, Analyst & Summarizer, Weather), the Traces and Models pages",
        sees="nothing of the key",
        kept=f"0 hits in {len(files)} store files (database, WAL, artifacts), the logs and {len(pages)} rendered pages",
    )


OWNER_CANARY = "owner-canary-5e4d3c2b1a0f9e8d7c6b5a4938271605"  # no known prefix: only its exact value finds it
ECHOES = [  # (row, the provider's answer to the first chat call, what the user sees)
    ("401 whose body quotes the key", lambda: EchoKeyFault(path="/chat/completions", status=401), "rejected the API key (401)"),
    ("400 whose body quotes the key", lambda: EchoKeyFault(path="/chat/completions", status=400), "rejected the request (400)"),
    (
        "a stream that quotes the key, then breaks off",
        lambda: EchoKeyStreamFault(path="/chat/completions"),
        "broke off in the middle of its answer",
    ),
    (
        "a stream that quotes the key, then an error event quoting it again",
        lambda: EchoKeyStreamFault(path="/chat/completions", ending="error"),
        "Upstream broke off while answering key ***",
    ),
]


@pytest.fixture()
def frames(monkeypatch) -> list[bytes]:
    """Every message the app sends the browser, as the bytes that go over the websocket (AppTest queues each one
    as a real server session does)."""
    sent: list[bytes] = []
    enqueue = ForwardMsgQueue.enqueue

    def recorded(queue: ForwardMsgQueue, message) -> None:
        sent.append(message.SerializeToString())
        enqueue(queue, message)

    monkeypatch.setattr(ForwardMsgQueue, "enqueue", recorded)
    return sent


@pytest.fixture()
def root_log():
    """The root logger's output at DEBUG, tracebacks included, as an app log would have it."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.parametrize("row, fault, sees", ECHOES, ids=[e[0] for e in ECHOES])
def test_a_key_the_provider_quotes_in_its_error_appears_nowhere(
    row, fault, sees, tmp_path, monkeypatch, caplog, frames, root_log, reliability
):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    caplog.set_level(logging.DEBUG)
    with OpenAIStub() as server:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "echo")
        monkeypatch.setenv("APP_PROVIDER", "openai")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", OWNER_CANARY)  # the owner's key, from the server's environment
        echo = server.add_fault(fault())
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
        at.run()
        at.chat_input[0].set_value("a cat").run()
        assert not at.exception, [e.value for e in at.exception]
        assert echo.times == 0, "the provider answered with the key in its error"
        assert {r.authorization for r in server.requests_to("/chat/completions")} == {f"Bearer {OWNER_CANARY}"}
        said = [str(e.value).replace("\\", "") for e in at.error]  # as shown: markdown-escaped (ui.text.plain)
        assert any(sees in e for e in said), said
        pages = [everything_shown(at)]
    export.flush()
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("echo")
    [trace_id] = [t.info.trace_id for t in client.search_traces(locations=[experiment.experiment_id])]
    trace = traces.load_trace(uri, trace_id)
    downloaded = traces.trace_json(trace)  # what the Traces page's "Download trace (JSON)" gives
    assert '"exception"' in downloaded and "ERROR" in downloaded, "the failure is in the trace"
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.query_params["trace"] = trace_id
    at.switch_page("pages/traces.py").run()
    for span in trace.data.spans:  # every span's details and raw data, as a visitor would open them
        at.selectbox(key="span_pick").set_value(span.span_id).run()
        assert not at.exception, [e.value for e in at.exception]
        pages.append(everything_shown(at))
    assert any("Failed in" in page for page in pages)

    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".png" for p in files), "the turn drew a picture before the critic failed"
    logged = caplog.text + root_log.getvalue()
    assert "Traceback (most recent call last)" in logged, "autogen logged the failure with its traceback"
    leaks = [str(p.relative_to(tmp_path)) for p in files if OWNER_CANARY.encode() in p.read_bytes()]
    leaks += ["log"] if OWNER_CANARY in logged else []
    leaks += ["trace JSON"] if OWNER_CANARY in downloaded else []
    leaks += [f"page {i}" for i, page in enumerate(pages) if OWNER_CANARY in page]
    leaks += (
        [f"{sum(OWNER_CANARY.encode() in f for f in frames)} websocket frames"] if any(OWNER_CANARY.encode() in f for f in frames) else []
    )
    assert leaks == [], leaks
    reliability(
        area="secrets",
        fault=f"the provider quotes the owner's key in its error: {row}",
        sees=said[0] if said else "",
        trace="ERROR",
        kept=f"0 hits in {len(files)} store files, the logs (autogen's traceback included), the downloaded "
        f"trace, {len(pages)} rendered pages and {len(frames)} websocket frames",
    )
