"""Reliability battery, secrets (issue 7): every scenario runs with a canary API key over the OpenAI path
(the local server), typed into the page's sidebar as a visitor would; then the whole MLflow store (database
files and artifacts), everything logged, and every page the app renders are searched for the canary:
zero hits."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from core.observe import export
from tests.openai_server import OpenAIStub

CANARY = "sk-canary-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
pytestmark = pytest.mark.filterwarnings("ignore:Resolved model mismatch:UserWarning")


def everything_shown(at: AppTest) -> str:
    """The text of every element on the page (main and sidebar), tables included."""
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "text", "code", "info", "warning", "error",
                 "success", "exception", "metric", "json", "latex"):
        for element in getattr(at, kind, []):
            parts += [str(getattr(element, attr, "")) for attr in ("value", "label", "body", "help")]
    for kind in ("button", "selectbox", "multiselect", "radio", "slider", "text_area", "checkbox"):
        for element in getattr(at, kind, []):
            parts += [str(getattr(element, "label", "")), str(getattr(element, "help", "")),
                      str(getattr(element, "options", ""))]
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
        for scenario, message in (("catify", "a cat"), ("analyst", "What are the risks?"),
                                  ("weather", "What's the weather in Paris?")):
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
    assert leaks == []
    reliability(area="secrets", fault="a canary API key through every scenario (Catify, Analyst & Summarizer, "
                "Weather), the Traces and Models pages",
                sees="nothing of the key", kept=f"0 hits in {len(files)} store files (database, WAL, artifacts), "
                f"the logs and {len(pages)} rendered pages")
