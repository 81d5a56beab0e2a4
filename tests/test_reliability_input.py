"""Reliability battery, bad input (issue 7): each case gets a clear message or is handled, nothing crashes,
and markup stays text. Through the real pages (AppTest) where a person would meet it; rows go to
docs/RELIABILITY.md via the `reliability` fixture."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import documents
from core.conversations import Conversation
from core.errors import InputError
from tests.openai_server import OpenAIStub, ReplyFault
from tests.pages import open_app as app
from tests.pages import send
from ui.text import safe_markdown

MARKUP = "<script>alert(1)</script> <img src=x onerror=alert(2)> **bold** [click](javascript:alert(3)) $x^2$"
pytestmark = pytest.mark.filterwarnings("ignore:Resolved model mismatch:UserWarning")


@pytest.fixture(autouse=True)
def app_env(monkeypatch, tracking_uri, experiment_name):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    for name in ("OPENAI_API_KEY", "APP_PROVIDER", "OPENAI_BASE_URL", "APP_HOSTED"):
        monkeypatch.delenv(name, raising=False)


def rendered_markdown(at: AppTest) -> str:
    """Everything that Streamlit renders as markdown (where markup would come alive), joined."""
    return " ".join(str(e.value) for kind in ("markdown", "caption", "info", "warning", "error", "success") for e in getattr(at, kind))


@pytest.mark.parametrize(
    "message, expected",
    [
        ("   ", "The message is empty"),
        ("x" * 100_000, "has 100,000 characters; the limit is 20,000"),
    ],
    ids=["whitespace", "100,000 characters"],
)
def test_empty_and_huge_messages_are_refused_and_kept(message, expected, reliability):
    at = send(app(), message)
    assert any(expected in e.value for e in at.error)
    assert not at.chat_message, "nothing ran"
    if message.strip():
        assert any(c.value == message[:5000] for c in at.code), "the message is kept to copy"
    reliability(
        area="input",
        fault=f"a {'whitespace' if not message.strip() else '100,000-character'} message",
        sees=next(e.value for e in at.error if expected in e.value)[:160],
        kept="the typed message (shown to copy); nothing runs",
    )


def test_markup_in_a_message_and_in_a_model_reply_stays_text(reliability, monkeypatch):
    with OpenAIStub() as server:
        monkeypatch.setenv("APP_PROVIDER", "openai")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-markup")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        at = app()
        next(s for s in at.selectbox if s.label == "Scenario").set_value("analyst").run()
        at.text_area(key="report_text").set_value("A report. " + MARKUP)
        server.add_fault(ReplyFault(path="/chat/completions", content=MARKUP, times=2))
        send(at, MARKUP)
    texts = [t.value for m in at.chat_message for t in m.text]
    assert texts.count(MARKUP) == 1, "the user's message, verbatim, as text"
    replies = [md.value for m in at.chat_message if m.name != "user" for md in m.markdown[1:]]
    assert replies == [safe_markdown(MARKUP)] * 2, "both replies as markdown, made safe"
    assert "<script" not in rendered_markdown(at) and "](javascript:" not in rendered_markdown(at)
    assert "\\$x^2\\$" in replies[0], "no LaTeX from a model's dollar signs"
    reliability(
        area="input",
        fault="HTML, script tags and markdown in a message and in model replies",
        sees="the user's message as typed (st.text); replies as markdown with HTML shown as text, no "
        "javascript: link, no LaTeX, no picture fetched (ui.text.safe_markdown)",
        kept="everything; the stored transcript keeps the model's words verbatim",
    )


def test_right_to_left_and_zero_width_text_round_trips(reliability):
    message = "مرحبا\u200f cats\u200b in \u202eRTL\u202c snow"
    at = send(app(), message)
    assert [t.value for m in at.chat_message if m.name == "user" for t in m.text] == [message]
    reopened = app(conversation=at.query_params["conversation"])
    assert [t.value for m in reopened.chat_message if m.name == "user" for t in m.text] == [message]
    reliability(
        area="input",
        fault="right-to-left and zero-width unicode",
        sees="the text as typed",
        kept="the exact characters, also after reopening the conversation",
    )


@pytest.mark.parametrize(
    "name, data, expected",
    [
        ("report.txt", "Umsatz über Plan".encode("latin-1"), "is not UTF-8 text"),
        ("report.txt", b"x" * 2_000_000, "reports can be up to 1 MB"),
    ],
    ids=["non-UTF-8", "huge"],
)
def test_unusable_uploads_are_explained(name, data, expected, reliability):
    with pytest.raises(InputError, match=expected) as caught:
        documents.read_upload(name, data)
    reliability(
        area="input",
        fault=f"a {'non-UTF-8' if len(data) < 100 else '2 MB'} uploaded report",
        sees=str(caught.value)[:160],
        kept="the conversation; nothing runs",
    )


@pytest.mark.parametrize(
    "bad_id, expected",
    [
        ("../../etc/passwd", "is not a conversation id"),
        ("0" * 32, "There is no conversation"),
    ],
    ids=["path-like", "unknown"],
)
def test_malformed_or_unknown_conversation_in_the_address(bad_id, expected, reliability):
    at = app(conversation=bad_id)
    assert any(expected in w.value for w in at.warning)
    assert "conversation" not in at.query_params
    reliability(
        area="input",
        fault=f"a {'malformed' if '/' in bad_id else 'unknown'} ?conversation=",
        sees=next(w.value for w in at.warning if expected in w.value)[:160].replace("\\", ""),
        kept="a fresh conversation; nothing else changes",
    )


def test_a_foreign_run_in_the_address_is_not_opened(reliability, mlflow_client, store):
    run = mlflow_client.create_run(store.experiment_id)  # a run some other code made: no app.scenario
    at = app(conversation=run.info.run_id)
    assert any("is not a conversation of this app" in w.value for w in at.warning)
    reliability(
        area="input",
        fault="a foreign run id in ?conversation=",
        sees="“… exists but is not a conversation of this app.” and a fresh conversation",
        kept="the foreign run, untouched",
    )


def test_a_malformed_trace_filter_is_explained(reliability):
    at = app()
    at.switch_page("pages/traces.py").run()
    at.text_input(key="f_mlflow").set_value("tags.app.turn = ").run()
    assert not at.exception
    message = next(e.value for e in at.error if "not valid" in e.value)
    assert at.metric, "the rest of the page still works"
    reliability(
        area="input", fault="a malformed MLflow trace filter", sees=message[:160].replace("\\", ""), kept="the page and its other filters"
    )


def test_a_path_like_image_id_is_refused(store, reliability):
    conversation = Conversation(scenario="catify", session_id="s", provider="demo")
    store.create(conversation)
    with pytest.raises(ValueError, match="not plain hex"):
        store.save_image(conversation.id, "../../escape", b"\x89PNG")
    assert store.load_image(conversation.id, "../../../etc/passwd") is None
    reliability(
        area="input",
        fault="a path-like image id",
        sees="nothing is written; a missing picture is shown as missing",
        kept="the run's artifacts stay inside images/",
    )
