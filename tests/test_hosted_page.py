"""Hosted-demo mode through AppTest (real Streamlit, real store): two visitors never see each other's
conversations or traces, a reload keeps the visitor, the admin sees all, and with the owner's key behind the
local OpenAI-compatible server a $0.05 cap refuses the turn that would pass it before anything is sent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import streamlit as st
from mlflow import MlflowClient
from streamlit.testing.v1 import AppTest

from core import contract, identity
from core.config import Settings
from core.mlflow_model import registry
from core.observe import export
from tests.openai_server import OpenAIStub
from tests.pages import AUTH, person, send, turn_links
from tests.pages import open_app as visit

pytestmark = pytest.mark.filterwarnings("ignore:Resolved model mismatch:UserWarning")


@pytest.fixture(autouse=True)
def hosted_env(monkeypatch, tracking_uri, experiment_name):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    monkeypatch.setenv("APP_HOSTED", "1")
    monkeypatch.setenv("APP_ADMINS", "root@example.com")
    for name in ("OPENAI_API_KEY", "APP_PROVIDER", "OPENAI_BASE_URL", "APP_VISITOR_BASE_URLS"):
        monkeypatch.delenv(name, raising=False)


ALICE, BOB = person("alice-sub", "alice@example.com"), person("bob-sub", "bob@example.com")


def traces_metric(at: AppTest) -> str:
    at.switch_page("pages/traces.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return next(m.value for m in at.metric if m.label == "Traces")


def predictions_metric(at: AppTest) -> str:
    traces_metric(at)
    at.radio(key="trace_kind").set_value(contract.TraceKind.PREDICTION).run()
    assert not at.exception, [e.value for e in at.exception]
    return next(m.value for m in at.metric if m.label == "Traces")


def test_two_people_never_see_each_other_and_the_address_names_nobody():
    alice = send(visit(user=ALICE), "What's the weather in Paris?")
    conversation = alice.query_params["conversation"]
    assert "visitor" not in alice.query_params, "no visitor credential in any address"
    links = turn_links(alice)
    assert links and not [q for _, _, q in links if "visitor" in q], "the links under a turn carry no identity"
    assert any("Signed in as alice@example" in c.value for c in alice.sidebar.caption)
    bob = visit(user=BOB)
    assert not [b for b in bob.sidebar.button if b.key and b.key.startswith("open_")], "no one else's list"
    peeking = visit(user=BOB, conversation=conversation)
    assert any("belongs to another visitor" in w.value for w in peeking.warning)
    assert not [m for m in peeking.chat_message if "Paris" in str(m.children)]
    assert traces_metric(bob) == "0"
    # Alice again, in a new Streamlit session (a reload, another device): her sign-in finds her things
    again = visit(user=ALICE)
    assert [b for b in again.sidebar.button if b.key == f"open_{conversation}"]
    assert traces_metric(again) == "1"
    # an old-style link with her id, opened by someone who has not signed in (break 3): it names nobody
    owner = identity.signed_in(ALICE).owner
    stranger = visit(secrets=AUTH, visitor=owner, conversation=conversation)
    assert any("belongs to another visitor" in w.value for w in stranger.warning)
    assert not [b for b in stranger.sidebar.button if b.key and b.key.startswith("open_")]
    assert traces_metric(stranger) == "0"

    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name(os.environ["MLFLOW_EXPERIMENT_NAME"]).experiment_id
    trace_id = client.search_traces(locations=[experiment])[0].info.trace_id
    snooping = visit(user=BOB, trace=trace_id)
    snooping.switch_page("pages/traces.py").run()
    assert any("no trace" in w.value for w in snooping.warning)
    # the admin: a signed-in person on the allow-list, by a verified email
    admin = visit(user=person("root-sub", "root@example.com"))
    assert [b for b in admin.sidebar.button if b.key == f"open_{conversation}"]
    assert any("admin" in c.value for c in admin.sidebar.caption)
    assert traces_metric(admin) == "1"
    unverified = visit(user=person("mallory", "root@example.com", email_verified=False))
    assert not [b for b in unverified.sidebar.button if b.key == f"open_{conversation}"]
    # a provider that says nothing of the email (some let people type any): not verified, so not the admin
    unsaid = {k: v for k, v in person("eve", "root@example.com").items() if k != "email_verified"}
    assert not [b for b in visit(user=unsaid).sidebar.button if b.key == f"open_{conversation}"]


def test_an_anonymous_visitor_gets_the_free_demo_provider_only(monkeypatch):
    monkeypatch.setenv("APP_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-owner-canary")
    at = visit(secrets=AUTH)
    assert at.sidebar.selectbox(key="provider").options == ["Demo (offline, free)"]
    assert [b for b in at.sidebar.button if b.key == "sign_in"], "a way to sign in"
    send(at, "a cat")
    assert not at.error and len(at.get("image")) == 3
    shown = str(at.main) + str(at.sidebar)
    assert os.environ["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///") not in shown, "no store path for visitors"
    assert "sqlite" not in shown
    assert st.get_option("client.showErrorDetails") == "none", "an unexpected error shows no details to visitors"
    st.set_option("client.showErrorDetails", "full")  # process-wide: as it was for the tests that follow


def test_a_visitor_gets_no_link_into_mlflows_own_ui_and_the_admin_does(monkeypatch):
    """MLflow's UI shows every visitor's traces: its link is the admin's only."""
    monkeypatch.setenv("APP_MLFLOW_UI_URL", "http://127.0.0.1:5000")
    alice = send(visit(user=ALICE), "a cat")
    trace_id = next(q for label, _, q in turn_links(alice) if label == "open the trace").removeprefix("trace=")
    for who, expected in ((ALICE, 0), (person("root-sub", "root@example.com"), 1)):
        at = visit(user=who, trace=trace_id)
        at.switch_page("pages/traces.py").run()
        assert not at.exception, [e.value for e in at.exception]
        assert len([b for b in at.get("link_button") if "MLflow UI" in str(b.proto)]) == expected, who["sub"]


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
        at = visit(user=ALICE)
        assert any("up to $0.05 per person" in i.value.replace("\\", "") for i in at.sidebar.info)
        send(at, "a cat on a roof")
        assert not at.error, [e.value for e in at.error]
        assert len(at.get("image")) == 3
        sent = len(server.requests)
        send(at, "now a dog")
        assert any("$0.05 cap" in e.value.replace("\\", "") for e in at.error)
        assert len(server.requests) == sent, "the refused turn sent nothing"
        assert not [w for w in at.text if "sk-owner-canary" in w.value]
        # the bare address again (a new Streamlit session, break 2): the same person, the same cap
        again = send(visit(user=ALICE), "a third cat")
        assert any("$0.05 cap" in e.value.replace("\\", "") for e in again.error)
        assert len(server.requests) == sent


def test_the_owners_key_never_goes_to_a_server_a_visitor_names(monkeypatch):
    """With visitors allowed their own OpenAI-compatible server, one who types no key gets none: the owner's key
    pays only on OpenAI itself (the attacker's server here is the loopback stub)."""
    with OpenAIStub() as attacker:
        monkeypatch.setenv("APP_PROVIDER", "openai")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-owner-canary-9999")
        monkeypatch.setenv("APP_VISITOR_BASE_URLS", "1")
        mallory = visit(user=ALICE)
        mallory.sidebar.selectbox(key="provider").set_value("openai-compatible").run()
        mallory.sidebar.text_input(key="base_url").set_value(attacker.base_url).run()
        assert not any("demo's key pays" in i.value for i in mallory.sidebar.info)
        mallory.chat_input[0].set_value("a cat").run()
        sent = [r.headers.get("authorization", "") for r in attacker.requests]
        assert not [h for h in sent if "sk-owner-canary-9999" in h], "the owner's key reached a visitor's server"


def test_a_key_a_visitor_types_stays_in_their_session(monkeypatch, tracking_uri):
    canary = "sk-visitor-canary-4242"
    with OpenAIStub() as server:
        monkeypatch.setenv("APP_PROVIDER", "openai")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("APP_VISITOR_BASE_URLS", "1")  # the owner lets visitors name their own server
        alice = visit(user=ALICE)
        alice.sidebar.selectbox(key="provider").set_value("openai-compatible").run()
        alice.sidebar.text_input(key="base_url").set_value(server.base_url).run()
        alice.sidebar.text_input(key="image_model_c").set_value("gpt-image-1").run()
        alice.sidebar.text_input(key="api_key").set_value(canary).run()
        assert not any("demo's key pays" in i.value for i in alice.sidebar.info), "her own key: no owner cap"
        send(alice, "a cat in a hat")
        assert not alice.error, [e.value for e in alice.error]
        assert server.requests_to("/chat/completions")[0].headers["authorization"] == f"Bearer {canary}"
        bob = visit(user=BOB)
        assert bob.sidebar.text_input(key="api_key").value == ""
        assert canary not in str(bob.main) + str(bob.sidebar)

    export.flush()
    store_dir = Path(tracking_uri.removeprefix("sqlite:///")).parent
    leaks = [p for p in store_dir.rglob("*") if p.is_file() and canary.encode() in p.read_bytes()]
    assert leaks == [], "the key must never reach the store, its traces or its artifacts"


def test_a_typed_key_goes_to_openai_itself_never_to_the_owners_gateway(monkeypatch):
    """Break 5: a key a visitor typed went to the owner's OPENAI_BASE_URL (the openai SDK reads it from the
    server's environment when the app passes no base URL)."""
    canary = "sk-visitor-canary-5151"
    with OpenAIStub() as gateway:
        monkeypatch.setenv("APP_PROVIDER", "openai")
        monkeypatch.setenv("OPENAI_BASE_URL", gateway.base_url)  # the owner's gateway, for the owner's key
        at = visit(user=ALICE)
        assert "OpenAI-compatible (Ollama, vLLM…)" not in at.sidebar.selectbox(key="provider").options
        at.sidebar.text_input(key="api_key").set_value(canary).run()
        send(at, "a cat in a hat")
        assert at.error, "api.openai.com cannot be reached from the tests: the turn fails, said"
        assert not [r for r in gateway.requests if canary in str(r.headers)], "the key never reached the gateway"
        assert gateway.requests == []


def test_an_instruction_is_held_to_the_demos_limit(monkeypatch):
    """It joins every model call, so its length is part of the cost: the field keeps at most 2,000 characters
    (and core.hosted.check_options refuses longer ones that arrive another way)."""
    at = visit()
    at.session_state["instruction"] = "cats " * 1000
    at.run()
    assert len(at.sidebar.text_area(key="instruction").value) == 2_000
    send(at, "a cat")
    assert not at.error and len(at.get("image")) == 3


def test_a_visitors_prediction_on_the_models_page_is_their_own_trace(tracking_uri, experiment_name):
    """Issue 29: a visitor sees their own predictions (their session, so their Traces page counts it) and nobody
    else's; a prediction's trace says what it is."""
    registry.log_catify(tracking_uri, experiment_name, Settings(tracking_uri=tracking_uri), 1)
    bob = visit(user=BOB)
    bob.switch_page("pages/models.py").run()
    bob.button(key="predict").click().run()
    assert not bob.exception, [e.value for e in bob.exception]
    trace_id = bob.session_state["prediction"][1]["trace_id"]
    export.flush()
    info = MlflowClient(tracking_uri).get_trace(trace_id).info
    assert contract.trace_owner(info.tags, info.trace_metadata) == identity.signed_in(BOB).owner
    assert info.tags[contract.TraceTag.KIND] == contract.TraceKind.PREDICTION
    assert traces_metric(bob) == "0", "not as chat usage (issue 32)"
    assert predictions_metric(bob) == "1", "Bob's Traces page shows his prediction among model predictions"
    assert predictions_metric(visit(user=ALICE)) == "0", "and Alice's does not"
    assert "evaluation" not in bob.radio(key="trace_kind").options, "evaluations are the admin's"
