"""Token streaming (issue 15): agents' answers arrive piece by piece (agentchat's model_client_stream) on the
demo provider and over the OpenAI API, and each streamed model call is still one CHAT_MODEL span with its
model, token usage and cost: the trace of a streamed turn holds the same usage as the same turn unstreamed."""

from __future__ import annotations

import asyncio

import pytest

from core.config import Settings
from core.conversations import Conversation
from core.observe import export
from core.turn import Chunk, Said, TurnHandle, TurnRequest, run_turn
from tests.openai_server import OpenAIStub

pytestmark = pytest.mark.filterwarnings("ignore:Resolved model mismatch:UserWarning")
REPORT = "Sales grew 12% to $4.5 million in Q3. Costs rose 3% because of freight. Risks include supply delays."


def analyst_turn(store, settings):
    conversation = Conversation(scenario="analyst", session_id="s", provider=settings.provider, options={"report": REPORT})
    outcome = asyncio.run(run_turn(TurnRequest(conversation, "What are the risks?", settings, store)))
    assert outcome.status == "ok", outcome.error
    export.flush()
    return outcome, store.client.get_trace(outcome.trace_id)


def chat_spans(trace):
    return sorted(
        (
            (
                s.attributes.get("mlflow.chat_model.usage") or s.attributes.get("app.usage") or s.attributes.get("mlflow.chat.tokenUsage"),
                s.name,
            )
            for s in trace.data.spans
            if s.span_type == "CHAT_MODEL"
        ),
        key=str,
    )


def test_a_streamed_turn_is_traced_with_the_same_usage_as_unstreamed(tracking_uri, store):
    with OpenAIStub() as stub:
        base = Settings(
            provider="openai",
            api_key="sk-stream",
            base_url=stub.base_url,
            chat_model="gpt-4o-mini",
            tracking_uri=tracking_uri,
            max_retries=0,
        )
        streamed, streamed_trace = analyst_turn(store, base)
        asked_to_stream = [r.body.get("stream") for r in stub.requests_to("/chat/completions")]
        stub.requests.clear()
        plain, plain_trace = analyst_turn(store, base.with_(stream_tokens=False))
        asked_plainly = [bool(r.body.get("stream")) for r in stub.requests_to("/chat/completions")]
    assert asked_to_stream == [True, True] and asked_plainly == [False, False]
    assert streamed.usage["input_tokens"] == plain.usage["input_tokens"] > 0
    assert streamed.usage["output_tokens"] == plain.usage["output_tokens"] > 0
    assert streamed_trace.info.token_usage == plain_trace.info.token_usage
    assert (streamed_trace.info.cost or {}).get("total_cost") == pytest.approx((plain_trace.info.cost or {}).get("total_cost"))
    assert len([s for s in streamed_trace.data.spans if s.span_type == "CHAT_MODEL"]) == 2, "one span per call"
    assert [e["text"] for e in streamed.entries] == [e["text"] for e in plain.entries], "the same answers"


def test_pieces_of_an_answer_arrive_before_the_answer(tracking_uri, store, monkeypatch):
    monkeypatch.setenv("DEMO_LATENCY_MS", "200")
    conversation = Conversation(scenario="weather", session_id="s", provider="demo", options={"weather_source": "offline"})
    handle = TurnHandle(TurnRequest(conversation, "What's the weather in Oslo?", Settings(tracking_uri=tracking_uri), store))
    outcome = handle.start().wait()
    assert outcome.status == "ok", outcome.error
    kinds = [
        ("chunk", e.source) if isinstance(e, Chunk) else ("message", e.entry.get("name", ""))
        for e in handle.events
        if isinstance(e, (Chunk, Said))
    ]
    planner = [kind for kind, source in kinds if source == "planner"]
    assert planner[0] == "chunk" and "message" in planner, kinds
    first_answer = kinds.index(("message", "planner"))
    assert ("chunk", "planner") in kinds[:first_answer], "the planner's words came before its finished message"
    pieces = "".join(
        e.text
        for e in handle.events[: [i for i, e in enumerate(handle.events) if isinstance(e, Said) and e.entry.get("name") == "planner"][0]]
        if isinstance(e, Chunk) and e.source == "planner"
    )
    finished = next(e["text"] for e in outcome.entries if e["name"] == "planner")
    assert len(pieces.split()) > 3 and finished.startswith(pieces.strip()[:20]), (pieces, finished)
