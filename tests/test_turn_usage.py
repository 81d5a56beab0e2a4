"""Each turn's figures (issue 15): tokens in and out, cost with pictures, the models used, the time and the
trace, kept on the turn's last transcript line and shown under it in the chat with a link to the trace.
Checked against what an OpenAI-compatible server (the loopback stub) reported for the same requests, and
against MLflow's own trace totals."""

from __future__ import annotations

import asyncio

import pytest

from core import costs
from core.config import Settings
from core.conversations import Conversation
from core.observe import export
from core.turn import Progress, Said, TurnHandle, TurnRequest, run_turn
from tests import pages as tests_pages
from tests.openai_server import OpenAIStub, prompt_tokens
from tests.pages import follow, open_app, send
from tests.test_traces_page import first_tab
from ui.transcript import turn_links, usage_line

pytestmark = pytest.mark.filterwarnings("ignore:Resolved model mismatch:UserWarning")


def test_a_turn_on_an_openai_server_counts_what_the_server_reported(tracking_uri, store):
    with OpenAIStub() as stub:
        settings = Settings(
            provider="openai",
            api_key="sk-usage",
            base_url=stub.base_url,
            chat_model="gpt-4o-mini",
            tracking_uri=tracking_uri,
            max_retries=0,
        )
        conversation = Conversation(
            scenario="analyst", session_id="s", provider="openai", options={"report": "Sales grew 12% to $4.5 million in Q3."}
        )
        outcome = asyncio.run(run_turn(TurnRequest(conversation, "What are the risks?", settings, store)))
        chats = stub.requests_to("/chat/completions")
    assert outcome.status == "ok", outcome.error
    usage = outcome.usage
    assert usage["input_tokens"] == sum(prompt_tokens(r.body["messages"]) for r in chats) > 0
    assert usage["output_tokens"] > 0 and usage["models"] == ["gpt-4o-mini"] and usage["pictures"] == 0
    assert usage["cost_usd"] == pytest.approx(costs.token_cost("gpt-4o-mini", usage["input_tokens"], usage["output_tokens"], "openai"))
    export.flush()
    trace = store.client.get_trace(outcome.trace_id)
    assert usage["trace_id"] == outcome.trace_id
    assert trace.info.token_usage["input_tokens"] == usage["input_tokens"], "the same figure MLflow keeps"
    assert (trace.info.cost or {}).get("total_cost") == pytest.approx(usage["cost_usd"])
    saved = store.load(outcome.conversation.id).transcript
    assert saved[-1]["usage"] == usage, "kept with the transcript: shown again when reopened"


def test_a_demo_catify_turn_is_free_and_names_its_models(tracking_uri, store):
    conversation = Conversation(scenario="catify", session_id="s", provider="demo", options={"iterations": 1})
    outcome = asyncio.run(run_turn(TurnRequest(conversation, "a cat", Settings(tracking_uri=tracking_uri), store)))
    usage = outcome.usage
    assert usage["cost_usd"] == 0.0 and usage["pictures"] == 2
    assert usage["models"][-1] == "demo-image" and "demo-vision" in usage["models"]
    line = usage_line(usage)
    assert line.startswith(f"{usage['input_tokens']:,} tokens in · {usage['output_tokens']:,} out · \\$0.0000 · ")
    assert "\\(2 pictures\\)" in line and "](" not in line, "the figures; the links are page links under them"
    assert [(link.label, link.page, link.query_params) for link in turn_links(usage)] == [
        ("open the trace", "pages/traces.py", {"trace": outcome.trace_id})
    ]
    assert turn_links({**usage, "trace_id": "javascript:alert(1)"}) == []
    conversation = outcome.conversation.id
    assert [(link.label, link.query_params) for link in turn_links(usage, conversation, 1)] == [
        ("open the trace", {"trace": outcome.trace_id}),
        ("lineage", {"conversation": conversation}),
        ("run again with…", {"conversation": conversation, "turn": "1"}),
    ]
    assert "lineage" not in [link.label for link in turn_links({**usage, "pictures": 0}, conversation)], "no pictures, no lineage"
    assert len(turn_links(usage, "x) [evil](https://evil.example)", 1)) == 1, "only ids make links"


def test_the_chat_shows_each_turns_figures_under_it(monkeypatch, tracking_uri, experiment_name):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    at = send(send(open_app(), "a cat"), "now a dog")
    lines = [c.value for c in at.caption if "tokens in" in c.value]
    assert len(lines) == 2 and all("](" not in line for line in lines)
    conversation = at.query_params["conversation"]
    links = tests_pages.turn_links(at)
    traces_of = [query.removeprefix("trace=") for label, page, query in links if label == "open the trace"]
    assert len(traces_of) == 2 and all(t.startswith("tr-") for t in traces_of) and traces_of[0] != traces_of[1]
    assert links == [
        row
        for turn, trace_id in ((1, traces_of[0]), (2, traces_of[1]))
        for row in (
            ("open the trace", "traces", f"trace={trace_id}"),
            ("lineage", "traces", f"conversation={conversation}"),
            ("run again with…", "compare", f"conversation={conversation}&turn={turn}"),
        )
    ]
    reopened = open_app(conversation=at.query_params["conversation"])
    assert [c.value for c in reopened.caption if "tokens in" in c.value] == lines and tests_pages.turn_links(reopened) == links


def test_the_links_under_turns_switch_page_in_the_session_and_land_on_their_thing(monkeypatch, tracking_uri, experiment_name):
    """Same tab, same session (issue 32): a second link to the Traces page lands on its own trace, not on the one
    the session opened before; back on the chat, the conversation and its address are as they were."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    at = send(send(open_app(), "a cat"), "now a dog")
    conversation = at.query_params["conversation"]
    links = tests_pages.turn_links(at)
    first, second = [(page, query) for label, page, query in links if label == "open the trace"]
    for page, query in (first, second):
        follow(at, page, query)
        trace_id = query.removeprefix("trace=")
        assert [h.value for h in at.subheader if h.value.startswith("Trace tr-")] == [f"Trace {trace_id}"]
        assert first_tab(at) == "Trace list"
        follow(at, "")  # the app's navigation back to the chat
        assert at.session_state.conversation.id == conversation and at.query_params["conversation"] == conversation
        assert len([m for m in at.chat_message if m.name == "user"]) == 2
    lineage = next((page, query) for label, page, query in links if label == "lineage")
    assert first_tab(follow(at, *lineage)) == "Image lineage"
    run_again = [(page, query) for label, page, query in links if label == "run again with…"][1]
    follow(at, *run_again)
    assert at.session_state.cmp_origin_of == (conversation, "2")


def test_the_turn_counts_tokens_and_cost_as_it_goes(tracking_uri, store):
    conversation = Conversation(scenario="catify", session_id="s", provider="demo", options={"iterations": 2})
    handle = TurnHandle(TurnRequest(conversation, "a cat", Settings(tracking_uri=tracking_uri), store))
    outcome = handle.start().wait()
    counted = [e.tokens for e in handle.events if isinstance(e, (Progress, Said))]
    assert counted == sorted(counted) and counted[-1] == outcome.usage["input_tokens"] + outcome.usage["output_tokens"]
    assert len(set(counted)) >= 3, "it grows during the turn, not only at its end"
    assert all(e.cost_usd == 0.0 for e in handle.events if isinstance(e, Progress))
