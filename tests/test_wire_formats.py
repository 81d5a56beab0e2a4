"""Every OpenAI-compatible server as it really streams (issue 30): the stub (tests/openai_server.py) writes each
shape of the wire-format matrix (`WIRES`, each citing the server code it copies) and a real turn runs through
agentchat and the openai SDK over HTTP. Each shape completes the turn with the tokens and cost the server
reported, except an error event and a cut connection, which fail with their own sentences and lose nothing.
"Broke off" is decided from what the server sent (core/observe/wire.py), not from agentchat's normalised reason."""

from __future__ import annotations

import asyncio

import pytest
from mlflow.tracing.utils import calculate_cost_by_model_and_token_usage

from core import compare, contract, costs, traces
from core.config import Settings
from core.conversations import Conversation
from core.observe import export
from core.turn import TurnRequest, run_turn
from tests.openai_server import WIRES, OpenAIStub
from ui.transcript import usage_line

pytestmark = pytest.mark.filterwarnings("ignore:Resolved model mismatch:UserWarning", "ignore:No text content:UserWarning")
REPORT = "Sales grew 12% to $4.5 million in Q3. Costs rose 3% because of freight. Risks include supply delays."


@pytest.fixture(scope="module")
def stub():
    with OpenAIStub() as server:
        yield server


@pytest.fixture()
def server(stub):
    stub.reset()
    stub.wire, stub.cached_share, stub.reasoning_tokens = WIRES["openai"], 0.0, 0
    yield stub
    stub.wire, stub.cached_share, stub.reasoning_tokens = WIRES["openai"], 0.0, 0


def settings_for(server: OpenAIStub, tracking_uri: str, **changes) -> Settings:
    return Settings(
        provider="openai", api_key="sk-wire", base_url=server.base_url, chat_model="gpt-4o-mini", tracking_uri=tracking_uri, max_retries=0
    ).with_(**changes)


def analyst(report: str = REPORT) -> Conversation:
    return Conversation(scenario="analyst", session_id="s", provider="openai", options={"report": report})


def weather() -> Conversation:
    return Conversation(scenario="weather", session_id="s", provider="openai", options={"weather_source": "offline"})


def sent(server: OpenAIStub, key: str) -> int:
    return sum(int((r.usage or {}).get(key, 0)) for r in server.requests_to("/chat/completions"))


def chat_spans(trace) -> list:
    return [s for s in trace.data.spans if s.span_type == "CHAT_MODEL"]


def run(conversation: Conversation, message: str, settings: Settings, store):
    outcome = asyncio.run(run_turn(TurnRequest(conversation, message, settings, store)))
    export.flush()
    return outcome, (store.client.get_trace(outcome.trace_id) if outcome.trace_id else None)


# --- shapes that complete a turn --------------------------------------------------------------------------------------
COMPLETES = ["openai", "llama.cpp", "no-done", "reasoning_content", "reasoning", "junk-lines", "no-model"]


@pytest.mark.parametrize("shape", COMPLETES)
def test_each_server_shape_completes_a_turn_with_the_tokens_and_cost_it_reported(shape, server, tracking_uri, store):
    """The llama.cpp row (usage on the finish chunk) failed before issue 30: every streamed turn was "broke off"."""
    server.wire = WIRES[shape]
    outcome, trace = run(analyst(), "What are the risks?", settings_for(server, tracking_uri), store)
    assert outcome.status == "ok", outcome.error
    usage = outcome.usage
    assert usage["input_tokens"] == sent(server, "prompt_tokens") > 0
    assert usage["output_tokens"] == sent(server, "completion_tokens") > 0
    assert usage["cost_usd"] == pytest.approx(costs.token_cost("gpt-4o-mini", usage["input_tokens"], usage["output_tokens"], "openai"))
    assert trace.info.token_usage["input_tokens"] == usage["input_tokens"]
    assert trace.info.cost["total_cost"] == pytest.approx(usage["cost_usd"], rel=1e-9)
    spans = chat_spans(trace)
    assert len(spans) == 2 and all(s.inputs["stream"] is True for s in spans), "streamed calls are marked"
    assert all(s.outputs["choices"][0]["finish_reason"] == "stop" for s in spans), "the server's finish_reason, not 'unknown'"
    assert all(s.get_attribute(contract.SpanAttr.STREAM_CHUNKS) > 3 for s in spans)
    answers = [e["text"] for e in outcome.entries if e["role"] == "assistant"]
    assert len(answers) == 2 and all(a.startswith("stub reply:") for a in answers), answers
    if shape == "junk-lines":
        assert all("left out" in s.get_attribute(contract.SpanAttr.USAGE_NOTE) for s in spans), "what the tap dropped is said"


def test_tool_call_arguments_split_over_many_deltas_and_several_calls_in_one_message(server, tracking_uri, store):
    server.wire = WIRES["vllm-tools"]
    outcome, trace = run(weather(), "What's the weather in Lehi and Oslo?", settings_for(server, tracking_uri), store)
    assert outcome.status == "ok", outcome.error
    tools = [e for e in outcome.entries if e["role"] == "tool"]
    assert [e["text"].split("(", 1)[1].split(")", 1)[0] for e in tools] == ['city="Lehi"', 'city="Oslo"'], tools
    assert outcome.usage["input_tokens"] == sent(server, "prompt_tokens")
    assert trace.info.cost["total_cost"] == pytest.approx(outcome.usage["cost_usd"], rel=1e-9)
    [calls] = [s for s in chat_spans(trace) if s.outputs["choices"][0]["message"].get("tool_calls")]
    assert [c["function"]["arguments"] for c in calls.outputs["choices"][0]["message"]["tool_calls"]] == [
        '{"city": "Lehi"}',
        '{"city": "Oslo"}',
    ]


def test_a_server_that_sends_no_usage_leaves_tokens_and_cost_unknown_never_zero(server, tracking_uri, store):
    server.wire = WIRES["no-usage"]
    outcome, trace = run(analyst(), "What are the risks?", settings_for(server, tracking_uri), store)
    assert outcome.status == "ok", outcome.error
    usage = outcome.usage
    assert usage["unknown_calls"] == 2 and usage["cost_usd"] is None
    assert usage_line(usage).startswith("tokens unknown (the server reported none) · cost unknown")
    assert all(s.get_attribute(contract.SpanAttr.USAGE) is None for s in chat_spans(trace)), "no usage written as if it were 0"
    assert all("no token usage" in s.get_attribute(contract.SpanAttr.USAGE_NOTE) for s in chat_spans(trace))


def test_absurd_or_negative_usage_is_clamped_and_said(server, tracking_uri, store):
    server.wire = WIRES["odd-usage"]
    outcome, trace = run(analyst(), "What are the risks?", settings_for(server, tracking_uri), store)
    assert outcome.status == "ok", outcome.error
    assert outcome.usage["input_tokens"] == 0 and outcome.usage["output_tokens"] == 2 * 2_000_000
    notes = [s.get_attribute(contract.SpanAttr.USAGE_NOTE) for s in chat_spans(trace)]
    assert all("-5 clamped to 0" in n and "clamped to 2,000,000" in n for n in notes), notes


# --- shapes that fail the turn, losing nothing ------------------------------------------------------------------------
FAILS = [("error-mid-stream", "The model backend failed"), ("cut", "broke off in the middle of its answer")]


@pytest.mark.parametrize("shape, sees", FAILS, ids=[f[0] for f in FAILS])
def test_an_error_event_or_a_cut_connection_fails_with_its_own_sentence_and_loses_nothing(shape, sees, server, tracking_uri, store):
    settings = settings_for(server, tracking_uri)
    first, _ = run(analyst(), "What are the risks?", settings, store)
    assert first.status == "ok", first.error
    server.wire = WIRES[shape]
    failed, trace = run(first.conversation, "And the costs?", settings, store)
    assert failed.status == "error" and sees in failed.error, failed.error
    assert failed.entries[0]["text"] == "And the costs?", "the message stays"
    assert store.load(first.conversation.id).transcript == first.conversation.transcript, "the last good state is kept"
    assert trace.info.state.value == "ERROR"
    server.wire = WIRES["openai"]
    again, _ = run(failed.conversation, "And the costs?", settings, store)
    assert again.status == "ok", again.error


# --- cost as billed ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("streamed", [True, False], ids=["streamed", "unstreamed"])
def test_cached_input_tokens_are_priced_as_mlflow_prices_the_span_and_every_reader_agrees(streamed, server, tracking_uri, store):
    server.cached_share, server.reasoning_tokens = 0.75, 7
    outcome, trace = run(analyst(REPORT * 40), "What are the risks?", settings_for(server, tracking_uri, stream_tokens=streamed), store)
    assert outcome.status == "ok", outcome.error
    usage = outcome.usage
    assert usage["cached_tokens"] == sum(int(r.usage["prompt_tokens"] * 0.75) for r in server.requests_to("/chat/completions"))
    assert usage["reasoning_tokens"] == 14
    assert f"({usage['cached_tokens']:,} cached)" in usage_line(usage)
    mlflow_own = 0.0
    for span in chat_spans(trace):
        attribute = span.get_attribute(contract.SpanAttr.USAGE)
        assert attribute[contract.Usage.CACHE_READ_INPUT_TOKENS] > 0 and span.get_attribute(contract.SpanAttr.REASONING_TOKENS) == 7
        mlflow_own += calculate_cost_by_model_and_token_usage("gpt-4o-mini", attribute, "openai")["total_cost"]
        assert span.get_attribute(contract.SpanAttr.COST)["total_cost"] == pytest.approx(
            calculate_cost_by_model_and_token_usage("gpt-4o-mini", attribute, "openai")["total_cost"], abs=1e-12
        )
    full_price = costs.token_cost("gpt-4o-mini", usage["input_tokens"], usage["output_tokens"], "openai")
    assert usage["cost_usd"] == pytest.approx(mlflow_own, rel=1e-9, abs=1e-9) and usage["cost_usd"] < full_price
    assert trace.info.cost["total_cost"] == pytest.approx(usage["cost_usd"], rel=1e-9, abs=1e-9), "MLflow's own trace cost"
    assert compare.side_of(trace).cost_usd == pytest.approx(usage["cost_usd"], rel=1e-9), "the Compare page"
    frames = traces.reader_for(tracking_uri, store.experiment_id).frames()
    row = frames.traces.set_index("trace_id").loc[outcome.trace_id]
    assert row["cost_usd"] == pytest.approx(usage["cost_usd"], rel=1e-9), "the Traces page"
