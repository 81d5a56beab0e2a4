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
from tests.openai_server import OpenAIStub, prompt_tokens
from tests.pages import open_app, send
from ui.transcript import usage_line

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
    assert "\\(2 pictures\\)" in line and line.endswith(f"[open the trace](traces?trace={outcome.trace_id})")
    assert usage_line({**usage, "trace_id": "javascript:alert(1)", "cost_usd": None}).count("](") == 0
    conversation = outcome.conversation.id
    assert usage_line(usage, conversation).endswith(
        f"[open the trace](traces?trace={outcome.trace_id}) · [lineage](traces?conversation={conversation})"
    )
    assert "](" not in usage_line(usage, conversation, links=False), "a shared read-only view: no links"
    assert "lineage" not in usage_line({**usage, "pictures": 0}, conversation), "no pictures, no lineage"
    assert usage_line(usage, "x) [evil](https://evil.example").count("](") == 1, "only ids make links"


def test_the_chat_shows_each_turns_figures_under_it(monkeypatch, tracking_uri, experiment_name):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    at = send(send(open_app(), "a cat"), "now a dog")
    lines = [c.value for c in at.caption if "tokens in" in c.value]
    assert len(lines) == 2 and all("[open the trace](traces?trace=tr-" in line for line in lines)
    conversation = at.query_params["conversation"]
    assert all(f" · [lineage](traces?conversation={conversation}) · " in line for line in lines)
    assert [line.rsplit(" · ", 1)[1] for line in lines] == [
        f"[run again with…](compare?conversation={conversation}&turn={turn})" for turn in (1, 2)
    ]
    reopened = open_app(conversation=at.query_params["conversation"])
    assert [c.value for c in reopened.caption if "tokens in" in c.value] == lines


def test_the_turn_counts_tokens_and_cost_as_it_goes(tracking_uri, store):
    conversation = Conversation(scenario="catify", session_id="s", provider="demo", options={"iterations": 2})
    handle = TurnHandle(TurnRequest(conversation, "a cat", Settings(tracking_uri=tracking_uri), store))
    outcome = handle.start().wait()
    counted = [e.tokens for e in handle.events if isinstance(e, (Progress, Said))]
    assert counted == sorted(counted) and counted[-1] == outcome.usage["input_tokens"] + outcome.usage["output_tokens"]
    assert len(set(counted)) >= 3, "it grows during the turn, not only at its end"
    assert all(e.cost_usd == 0.0 for e in handle.events if isinstance(e, Progress))
