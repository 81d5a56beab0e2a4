"""Hosted-demo mode through AppTest (real Streamlit, real store): two visitors never see each other's
conversations or traces, a reload keeps the visitor, the admin sees all, and with the owner's key behind the
local OpenAI-compatible server a $0.05 cap refuses the turn that would pass it before anything is sent."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from mlflow import MlflowClient
from streamlit.testing.v1 import AppTest

from core.observe import export
from tests.openai_server import OpenAIStub
from tests.pages import open_app as visit
from tests.pages import send
from ui import session

pytestmark = pytest.mark.filterwarnings("ignore:Resolved model mismatch:UserWarning")


@pytest.fixture(autouse=True)
def hosted_env(monkeypatch, tracking_uri, experiment_name):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    monkeypatch.setenv("APP_HOSTED", "1")
    monkeypatch.setenv("APP_ADMIN_PASSWORD", "let-me-see")
    for name in ("OPENAI_API_KEY", "APP_PROVIDER", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def traces_metric(at: AppTest) -> str:
    at.switch_page("pages/traces.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return next(m.value for m in at.metric if m.label == "Traces")


def test_two_visitors_never_see_each_other():
    alice = send(visit(), "What's the weather in Paris?")
    conversation, alice_id = alice.query_params["conversation"], alice.query_params["visitor"]
    assert any("traces?trace=tr-" in c.value and f"&visitor={alice_id})" in c.value for c in alice.caption), \
        "the link under her turn opens a new tab, a new session: it says whose trace it is"
    trace_id = None
    bob = visit()
    assert bob.query_params["visitor"] != alice_id
    assert not [b for b in bob.sidebar.button if b.key and b.key.startswith("open_")], "no one else's list"
    peeking = visit(conversation=conversation)
    assert any("belongs to another visitor" in w.value for w in peeking.warning)
    assert not [m for m in peeking.chat_message if "Paris" in str(m.children)]
    assert traces_metric(bob) == "0"
    # Alice, after a reload (a new Streamlit session, same address): her conversation and her trace
    again = visit(visitor=alice_id)
    assert [b for b in again.sidebar.button if b.key == f"open_{conversation}"]
    assert traces_metric(again) == "1"


    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name(os.environ["MLFLOW_EXPERIMENT_NAME"]).experiment_id
    trace_id = client.search_traces(locations=[experiment])[0].info.trace_id
    snooping = visit(trace=trace_id)
    snooping.switch_page("pages/traces.py").run()
    assert any("no trace" in w.value for w in snooping.warning)
    # the admin sees everyone
    admin = visit()
    admin.sidebar.text_input(key="admin_password").set_value("let-me-see").run()
    assert [b for b in admin.sidebar.button if b.key == f"open_{conversation}"]
    assert traces_metric(admin) == "1"


def test_messages_over_the_hosted_limit_are_refused_and_kept(monkeypatch):
    monkeypatch.setenv("APP_HOSTED_MAX_MESSAGE_CHARS", "50")
    at = send(visit(), "a cat " * 20)
    assert any("up to 50 characters" in e.value for e in at.error)
    assert any(c.value.startswith("a cat a cat") for c in at.code)


def test_the_owners_key_is_capped_at_005_per_visitor(monkeypatch):
    with OpenAIStub() as server:
        monkeypatch.setenv("APP_PROVIDER", "openai")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-owner-canary")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("APP_SESSION_CAP_USD", "0.05")
        at = visit()
        assert any("up to $0.05 per visitor session" in i.value.replace("\\", "") for i in at.sidebar.info)
        send(at, "a cat on a roof")
        assert not at.error, [e.value for e in at.error]
        assert len(at.get("image")) == 3
        sent = len(server.requests)
        send(at, "now a dog")
        assert any("your session has" in e.value and "$0.05 cap" in e.value.replace("\\", "") for e in at.error)
        assert len(server.requests) == sent, "the refused turn sent nothing"
        assert not [w for w in at.text if "sk-owner-canary" in w.value]


def test_a_key_a_visitor_types_stays_in_their_session(monkeypatch, tracking_uri):
    canary = "sk-visitor-canary-4242"
    with OpenAIStub() as server:
        monkeypatch.setenv("APP_PROVIDER", "openai")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        alice = visit()
        alice.sidebar.text_input(key="api_key").set_value(canary).run()
        assert not any("demo's key pays" in i.value for i in alice.sidebar.info), "her own key: no owner cap"
        send(alice, "a cat in a hat")
        assert not alice.error, [e.value for e in alice.error]
        assert server.requests_to("/chat/completions")[0].headers["authorization"] == f"Bearer {canary}"
        bob = visit()
        assert bob.sidebar.text_input(key="api_key").value == ""
        assert canary not in str(bob.main) + str(bob.sidebar)

    export.flush()
    store_dir = Path(tracking_uri.removeprefix("sqlite:///")).parent
    leaks = [p for p in store_dir.rglob("*") if p.is_file() and canary.encode() in p.read_bytes()]
    assert leaks == [], "the key must never reach the store, its traces or its artifacts"


def test_admin_login_survives_odd_passwords_and_guessing(monkeypatch):
    slept: list[float] = []  # each wrong password costs a second: counted here instead of waited for
    monkeypatch.setattr(session, "time", SimpleNamespace(sleep=slept.append))
    at = visit()
    at.sidebar.text_input(key="admin_password").set_value("pässwörd ✓").run()
    assert not at.exception and any("not the admin password" in e.value for e in at.sidebar.error)
    for _ in range(5):
        at.sidebar.text_input(key="admin_password").set_value("guess").run()
    at.sidebar.text_input(key="admin_password").set_value("let-me-see").run()
    assert any("Too many wrong passwords" in e.value for e in at.sidebar.error)
    assert not [b for b in at.sidebar.button if b.key == "admin_logout"], "locked out, even with the password"
    assert slept == [1.0] * 5, "every wrong password until the lock-out cost a second"


def test_an_instruction_is_held_to_the_demos_limit(monkeypatch):
    """It joins every model call, so its length is part of the cost: the field keeps at most 2,000 characters
    (and core.hosted.check_options refuses longer ones that arrive another way)."""
    at = visit()
    at.session_state["instruction"] = "cats " * 1000
    at.run()
    assert len(at.sidebar.text_area(key="instruction").value) == 2_000
    send(at, "a cat")
    assert not at.error and len(at.get("image")) == 3

