"""The OpenAI path end to end against a real HTTP server on 127.0.0.1 (tests/openai_server.py): the real
agentchat client and `openai` SDK, real sockets, a real sqlite MLflow store. No internet, no key."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from pathlib import Path

import openai
import pytest
from autogen_core.models import CreateResult, UserMessage

from core import contract, costs
from core.config import Settings
from core.conversations import Conversation
from core.costs import image_price_usd
from core.image_models import usage_of
from core.observe import export, spans
from core.runtimes.agentchat.providers import build_clients
from core.traces import reader_for
from core.turn import TurnRequest, run_turn
from tests.catalog_prices import catalog_entry, picture_usd_from_catalog
from tests.openai_server import TOKENS_PER_IMAGE, OpenAIStub, chat_reply, count_words, prompt_tokens

CANARY = "sk-test-canary-123"
MASKED_CANARY = "sk-test-**********-123"  # what the real API echoes in a 401: never the whole key
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.filterwarnings(
    # agentchat resolves "gpt-4o-mini" to a dated snapshot and warns when a server echoes the plain name
    "ignore:Resolved model mismatch:UserWarning",
)


@pytest.fixture()
def server():
    with OpenAIStub() as stub:
        yield stub


def openai_settings(server: OpenAIStub, tracking_uri: str, **changes) -> Settings:
    settings = Settings(
        provider="openai",
        api_key=CANARY,
        base_url=server.base_url,
        chat_model="gpt-4o-mini",
        vision_model="gpt-4o-mini",
        image_model="gpt-image-1",
        image_size="1024x1024",
        image_quality="low",
        tracking_uri=tracking_uri,
        max_retries=0,
    )
    return settings.with_(**changes) if changes else settings


def catify(**options) -> Conversation:
    return Conversation(scenario="catify", session_id="s", provider="openai", options=dict(options))


def only_trace(mlflow_client, store):
    traces = mlflow_client.search_traces(locations=[store.experiment_id])
    assert len(traces) == 1, f"expected exactly one trace, found {len(traces)}"
    return traces[0]


def spans_of(trace, span_type: str) -> list:
    return sorted((s for s in trace.data.spans if s.span_type == span_type), key=lambda s: s.start_time_ns)


def picture_spans(trace) -> list:
    return sorted((s for s in trace.data.spans if s.get_attribute(contract.SpanAttr.IMAGE_ID)), key=lambda s: s.start_time_ns)


def expected_usage(request) -> dict[str, int]:
    """What the stub reported for one recorded chat request (recomputed from what was sent)."""
    messages = request.body["messages"]
    prompt, completion = prompt_tokens(messages), count_words(chat_reply(messages))
    return {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion}


def image_parts(message: dict) -> list[dict]:
    content = message.get("content")
    return [p for p in content if p.get("type") == "image_url"] if isinstance(content, list) else []


def store_dir(tracking_uri: str) -> Path:
    """The folder holding the sqlite file and, beside it, `mlartifacts` (ConversationStore puts them there)."""
    return Path(tracking_uri[len("sqlite:///") :]).resolve().parent


def files_containing(root: Path, needle: str) -> list[str]:
    raw = needle.encode()
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and raw in p.read_bytes())


# --- a. the Catify turn, priced and traced -----------------------------------------------------------------


def test_catify_turn_through_openai_api_is_traced_and_priced(server, tracking_uri, store, mlflow_client):
    conversation = catify()
    outcome = asyncio.run(run_turn(TurnRequest(conversation, "a red house on a hill", openai_settings(server, tracking_uri), store)))

    assert outcome.status == "ok", outcome.error
    assert outcome.conversation.turns == 1
    images = outcome.conversation.images
    assert len(images) == 3  # 1 + 2 iterations (the default)
    assert all(png.startswith(PNG_MAGIC) for png in images.values())
    assert set(outcome.conversation.image_lookup) == set(images)

    # what the stub saw: the key, three pictures asked the gpt-image way, two vision calls with a picture
    assert server.requests and all(r.authorization == f"Bearer {CANARY}" for r in server.requests)
    image_requests = server.requests_to("/images/generations")
    assert len(image_requests) == 3
    for request in image_requests:
        assert request.status == 200
        assert request.body["model"] == "gpt-image-1"
        assert request.body["quality"] == "low" and request.body["size"] == "1024x1024"
        assert "response_format" not in request.body
    assert image_requests[0].body["prompt"] == "a red house on a hill"
    assert image_requests[1].body["prompt"] == "a red house on a hill with many more cats"
    chat_requests = server.requests_to("/chat/completions")
    assert len(chat_requests) == 2
    for request in chat_requests:
        assert request.status == 200 and request.body["model"] == "gpt-4o-mini"
        last_user = [m for m in request.body["messages"] if m["role"] == "user"][-1]
        parts = image_parts(last_user)
        assert len(parts) == 1 and parts[0]["image_url"]["url"].startswith("data:image/png;base64,")
        assert base64.b64decode(parts[0]["image_url"]["url"].split(",", 1)[1]).startswith(PNG_MAGIC)

    # one trace for the turn, model spans named and counted as the stub reported
    trace = only_trace(mlflow_client, store)
    assert trace.info.trace_id == outcome.trace_id
    assert trace.info.state.value == "OK"
    assert trace.info.tags[contract.RunTag.PROVIDER] == "openai"
    chat_spans = spans_of(trace, "CHAT_MODEL")
    assert len(chat_spans) == 2
    for span, request in zip(chat_spans, chat_requests):
        assert span.get_attribute("mlflow.llm.model") == "gpt-4o-mini"
        assert span.get_attribute("mlflow.chat.tokenUsage") == expected_usage(request)
        assert span.get_attribute("mlflow.chat.tokenUsage")["input_tokens"] > TOKENS_PER_IMAGE  # the picture counted
        cost = span.get_attribute("mlflow.llm.cost")
        assert cost and cost["total_cost"] > 0, f"MLflow did not price gpt-4o-mini: {cost}"
    total_input = sum(expected_usage(r)["input_tokens"] for r in chat_requests)
    assert trace.info.token_usage["input_tokens"] == total_input
    chat_cost = sum(s.get_attribute("mlflow.llm.cost")["total_cost"] for s in chat_spans)

    # image spans: priced from the tokens the server reported (the next test: both providers, a size where tokens
    # cost more than our per-picture table), and the ids the lineage knows
    image_spans = picture_spans(trace)
    assert len(image_spans) == 3
    prices = [picture_usd_from_catalog(r.body["prompt"], 272) for r in image_requests]  # low 1024x1024: 272 image tokens
    assert [s.get_attribute(contract.SpanAttr.IMAGE_COST) for s in image_spans] == pytest.approx(prices, abs=1e-12)
    assert [s.get_attribute(contract.SpanAttr.IMAGE_USAGE)["image_output_tokens"] for s in image_spans] == [272] * 3
    # the pictures' price is part of MLflow's own trace cost, so every reader sums to one number
    assert [s.get_attribute("mlflow.llm.cost")["total_cost"] for s in image_spans] == pytest.approx(prices, abs=1e-12)
    assert trace.info.cost["total_cost"] == pytest.approx(chat_cost + sum(prices), abs=1e-9)
    assert outcome.cost_usd == pytest.approx(trace.info.cost["total_cost"], abs=1e-9)  # the turn line's figure
    span_ids = [s.get_attribute(contract.SpanAttr.IMAGE_ID) for s in image_spans]
    assert set(span_ids) == set(images)
    assert [s.get_attribute(contract.SpanAttr.IMAGE_PARENT) for s in image_spans] == ["", span_ids[0], span_ids[1]]
    lookup = outcome.conversation.image_lookup
    assert [lookup[i]["cost_usd"] for i in span_ids] == pytest.approx(prices, abs=1e-12)
    assert all(lookup[i]["trace_id"] == outcome.trace_id and lookup[i]["priced_from"] == "tokens" for i in span_ids)


@pytest.mark.parametrize("provider", ["openai", "openai-compatible"])
def test_gpt_image_1_is_priced_from_the_tokens_its_server_reported(provider, server, tracking_uri, store, mlflow_client):
    """The picture's price is the server's usage at MLflow's catalog rates: the prompt's text tokens at the text
    input rate, the image output tokens at the image output rate (a rate MLflow's own cost function never reads: it
    would price them at $0). Portrait low: 408 image tokens, $0.01632, more than the $0.016 per-picture table. The
    span, the lineage, the turn line, the Traces page's rows and MLflow's trace cost are the same number."""
    settings = openai_settings(server, tracking_uri, provider=provider, image_size="1024x1536")
    outcome = asyncio.run(run_turn(TurnRequest(catify(iterations=1), "a tall tower of cats", settings, store)))
    assert outcome.status == "ok", outcome.error

    catalog = "openai" if provider == "openai" else None  # OpenAI's own entry only for OpenAI (core.costs.catalog_provider)
    image_requests = server.requests_to("/images/generations")
    assert [r.body["size"] for r in image_requests] == ["1024x1536"] * 2
    prices = [picture_usd_from_catalog(r.body["prompt"], 408, catalog) for r in image_requests]
    assert all(p > image_price_usd("gpt-image-1", "low", "1024x1536") for p in prices), "tokens cost more than the table here"
    trace = only_trace(mlflow_client, store)
    image_spans = picture_spans(trace)
    assert [s.get_attribute(contract.SpanAttr.IMAGE_USAGE) for s in image_spans] == [
        {
            "input_tokens": count_words(r.body["prompt"]),
            "output_tokens": 408,
            "total_tokens": count_words(r.body["prompt"]) + 408,
            "text_input_tokens": count_words(r.body["prompt"]),
            "image_input_tokens": 0,
            "image_output_tokens": 408,
        }
        for r in image_requests
    ]
    assert [s.get_attribute(contract.SpanAttr.IMAGE_COST) for s in image_spans] == pytest.approx(prices, abs=1e-12)
    assert [s.get_attribute("mlflow.llm.cost")["total_cost"] for s in image_spans] == pytest.approx(prices, abs=1e-12)
    assert [s.get_attribute(contract.SpanAttr.USAGE_NOTE) for s in image_spans] == [None, None], "nothing the catalog did not know"
    assert [s.get_attribute("mlflow.chat.tokenUsage") for s in image_spans] == [None, None], "picture tokens are not chat tokens"
    chat_cost = sum(s.get_attribute("mlflow.llm.cost")["total_cost"] for s in spans_of(trace, "CHAT_MODEL"))
    assert trace.info.cost["total_cost"] == pytest.approx(chat_cost + sum(prices), abs=1e-9)
    usage = outcome.conversation.transcript[-1]["usage"]
    assert usage["cost_usd"] == pytest.approx(trace.info.cost["total_cost"], abs=1e-9) and "picture_note" not in usage
    assert outcome.billed_usd == pytest.approx(outcome.cost_usd, abs=1e-12), "the prompts' tokens are in the price, settled once"
    lookup = outcome.conversation.image_lookup
    assert sorted(e["cost_usd"] for e in lookup.values()) == pytest.approx(sorted(prices), abs=1e-12)
    # the Traces page's rows: its picture calls and its trace cost
    frames = reader_for(tracking_uri, store.experiment_id).frames()
    pictures = frames.calls[frames.calls["kind"] == "image"]
    assert float(pictures["cost_usd"].sum()) == pytest.approx(sum(prices), abs=1e-9)
    assert float(frames.traces["cost_usd"].sum()) == pytest.approx(trace.info.cost["total_cost"], abs=1e-9)


def test_a_server_that_reports_no_picture_usage_is_priced_per_picture_and_says_so(server, tracking_uri, store, mlflow_client):
    server.image_usage = False
    outcome = asyncio.run(run_turn(TurnRequest(catify(iterations=1), "a cat", openai_settings(server, tracking_uri), store)))
    assert outcome.status == "ok", outcome.error
    image_spans = picture_spans(only_trace(mlflow_client, store))
    assert [s.get_attribute(contract.SpanAttr.IMAGE_COST) for s in image_spans] == [0.011, 0.011]
    said = "The server reported no usage for this gpt-image-1 picture: priced per picture."
    assert [s.get_attribute(contract.SpanAttr.USAGE_NOTE) for s in image_spans] == [said, said]
    assert outcome.conversation.transcript[-1]["usage"]["picture_note"] == said
    assert outcome.billed_usd > outcome.cost_usd, "its prompts' tokens are settled on top of the per-picture price"


def test_picture_usage_is_read_in_the_sdks_shape_and_a_rate_the_catalog_lacks_is_said():
    """`ImagesResponse.usage` as the openai SDK types it (openai/types/images_response.py), with and without its
    optional output details; text output tokens need a rate gpt-image-1's catalog entry does not have."""
    answer = {
        "created": 1,
        "data": [],
        "usage": {
            "input_tokens": 50,
            "input_tokens_details": {"text_tokens": 20, "image_tokens": 30},
            "output_tokens": 280,
            "total_tokens": 330,
        },
    }
    plain = usage_of(openai.types.ImagesResponse.model_validate(answer))
    assert plain == costs.PictureUsage(text_input_tokens=20, image_input_tokens=30, image_output_tokens=280)
    entry = catalog_entry("gpt-image-1")
    expected = (
        20 * entry["input_cost_per_token"]
        + (30 * entry["modality"]["image"]["input_per_million_tokens"] + 280 * entry["modality"]["image"]["output_per_million_tokens"])
        / 1e6
    )
    assert costs.picture_price("gpt-image-1", "low", "1024x1024", plain, "openai").usd == pytest.approx(expected, abs=1e-15)
    answer["usage"]["output_tokens_details"] = {"image_tokens": 272, "text_tokens": 8}
    detailed = usage_of(openai.types.ImagesResponse.model_validate(answer))
    assert detailed == costs.PictureUsage(20, 30, 272, 8)
    price = costs.picture_price("gpt-image-1", "low", "1024x1024", detailed, "openai")
    assert "output_cost_per_token" not in entry
    assert (price.usd, price.from_tokens) == (0.011, False)
    assert price.note == "MLflow's model catalog has no text output rate for gpt-image-1: priced per picture."
    assert usage_of(openai.types.ImagesResponse.model_validate({"created": 1, "data": []})) is None  # dall-e-3


# --- b. DALL-E 3 ----------------------------------------------------------------------------------------------


def test_dalle3_asks_for_base64_and_is_priced(server, tracking_uri, store, mlflow_client):
    settings = openai_settings(server, tracking_uri, image_model="dall-e-3", image_quality="standard")
    outcome = asyncio.run(run_turn(TurnRequest(catify(iterations=1), "a lighthouse", settings, store)))

    assert outcome.status == "ok", outcome.error
    assert len(outcome.conversation.images) == 2
    image_requests = server.requests_to("/images/generations")
    assert len(image_requests) == 2
    for request in image_requests:
        assert request.status == 200
        assert request.body["model"] == "dall-e-3"
        assert request.body["response_format"] == "b64_json"
        assert request.body["quality"] == "standard" and request.body["size"] == "1024x1024"
    image_spans = picture_spans(only_trace(mlflow_client, store))
    assert [s.get_attribute(contract.SpanAttr.IMAGE_COST) for s in image_spans] == [0.040, 0.040]
    assert image_price_usd("dall-e-3", "standard", "1024x1024") == 0.040
    # MLflow's catalog has no rates for dall-e-3: priced per picture, and said on the span and under the turn
    assert not {k for k in catalog_entry("dall-e-3") if "cost" in k} and "modality" not in catalog_entry("dall-e-3")
    said = "MLflow's model catalog has no rates for dall-e-3: priced per picture ($0.040)."
    assert [s.get_attribute(contract.SpanAttr.USAGE_NOTE) for s in image_spans] == [said, said]
    assert [s.get_attribute(contract.SpanAttr.IMAGE_USAGE) for s in image_spans] == [None, None]
    assert outcome.conversation.transcript[-1]["usage"]["picture_note"] == said


def test_stub_rejects_image_requests_the_real_api_rejects(server):
    """So the two tests above can fail: a wrong response_format is an error here as it is at OpenAI."""

    client = openai.OpenAI(api_key=CANARY, base_url=server.base_url, max_retries=0)
    try:
        with pytest.raises(openai.BadRequestError, match="response_format"):
            client.images.generate(model="gpt-image-1", prompt="x", response_format="b64_json")
        with pytest.raises(openai.BadRequestError, match="response_format"):
            client.images.generate(model="dall-e-3", prompt="x")
        assert [m.id for m in client.models.list().data][:1] == ["gpt-4o-mini"]
        server.fail_next(401, message="bad key", path="/chat/completions")
        with pytest.raises(openai.AuthenticationError) as caught:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.body == {"message": "bad key", "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "stub reply: hi"  # one request only got the fault
    finally:
        client.close()


# --- c. the key never reaches the store ---------------------------------------------------------------------


def test_api_key_never_written_to_mlflow(server, tracking_uri, store, mlflow_client):
    marker = f"key-scan-marker-{uuid.uuid4().hex[:8]}"
    settings = openai_settings(server, tracking_uri)
    ok = asyncio.run(run_turn(TurnRequest(catify(iterations=1), f"a cat named {marker}", settings, store)))
    assert ok.status == "ok", ok.error
    server.fail_next(
        401,
        path="/chat/completions",
        code="invalid_api_key",
        message=f"Incorrect API key provided: {MASKED_CANARY}. You can find your API key at https://platform.openai.com/account/api-keys.",
    )
    failed = asyncio.run(run_turn(TurnRequest(catify(iterations=1), f"a dog named {marker}", settings, store)))
    assert failed.status == "error"

    # the key did travel, to the model provider only
    assert server.requests and all(r.authorization == f"Bearer {CANARY}" for r in server.requests)
    # the scan works: what the turns wrote is found in the same bytes the key is searched in
    root = store_dir(tracking_uri)
    assert (root / "mlartifacts").is_dir()
    assert files_containing(root, marker), "the scan found not even the user's message: it proves nothing"
    assert files_containing(root, CANARY) == []

    # and through MLflow's own API: traces (spans, tags, metadata), runs (tags, params), artifacts
    traces = mlflow_client.search_traces(locations=[store.experiment_id])
    assert len(traces) == 2
    for trace in traces:
        dumped = trace.to_json()
        assert marker in dumped and CANARY not in dumped
    for run in mlflow_client.search_runs([store.experiment_id]):
        assert CANARY not in json.dumps({"tags": run.data.tags, "params": run.data.params})
    assert CANARY not in (failed.error or "")


# --- d. an OpenAI-compatible server with model names agentchat does not know -------------------------------


def test_openai_compatible_unknown_models_work_unpriced(server, tracking_uri, store, mlflow_client):
    settings = Settings.for_provider("openai-compatible").with_(
        base_url=server.base_url,
        chat_model="llama3.2",
        vision_model="llava",
        image_model="sdxl-turbo",
        image_size="1024x1024",
        image_quality="standard",
        tracking_uri=tracking_uri,
        max_retries=0,
    )
    conversation = Conversation(scenario="catify", session_id="s", provider="openai-compatible", options={"iterations": 1})
    outcome = asyncio.run(run_turn(TurnRequest(conversation, "a boat", settings, store)))

    assert outcome.status == "ok", outcome.error
    assert len(outcome.conversation.images) == 2
    chat_requests = server.requests_to("/chat/completions")
    assert [r.body["model"] for r in chat_requests] == ["llava"]
    assert chat_requests[0].authorization == "Bearer not-needed"  # no key: a placeholder the SDK insists on
    assert image_parts([m for m in chat_requests[0].body["messages"] if m["role"] == "user"][-1])

    trace = only_trace(mlflow_client, store)
    assert trace.info.state.value == "OK"
    [chat_span] = spans_of(trace, "CHAT_MODEL")
    assert chat_span.get_attribute("mlflow.llm.model") == "llava"
    assert chat_span.get_attribute("mlflow.llm.provider") is None
    assert chat_span.get_attribute("mlflow.chat.tokenUsage") == expected_usage(chat_requests[0])
    assert not (chat_span.get_attribute("mlflow.llm.cost") or {}).get("total_cost")
    assert not (trace.info.cost or {}).get("total_cost")
    # an image model with no known price is marked unknown (-1), never guessed, and says why
    assert [s.get_attribute(contract.SpanAttr.IMAGE_COST) for s in picture_spans(trace)] == [-1, -1]
    assert all(e["cost_usd"] is None for e in outcome.conversation.image_lookup.values())
    said = "MLflow's model catalog has no rates for sdxl-turbo: not priced (our per-picture table does not list it)."
    assert [s.get_attribute(contract.SpanAttr.USAGE_NOTE) for s in picture_spans(trace)] == [said, said]
    assert outcome.conversation.transcript[-1]["usage"]["picture_note"] == said


# --- e. streaming reports tokens --------------------------------------------------------------------------


def test_create_stream_asks_for_and_records_usage(server, tracking_uri, store, mlflow_client):
    settings = openai_settings(server, tracking_uri)
    conversation = catify()
    info = spans.TurnInfo(
        experiment_id=store.experiment_id,
        conversation_id=store.create(conversation),
        scenario="catify",
        turn=1,
        session_id="s",
        provider="openai",
    )

    async def stream() -> tuple[str, list]:
        clients = build_clients(settings)
        try:
            with spans.turn_span(info, "count the cats") as span:
                items = [
                    item async for item in clients.chat.create_stream([UserMessage(content="please count all the cats", source="user")])
                ]
            return span.trace_id, items
        finally:
            await clients.close()

    trace_id, items = asyncio.run(stream())

    [request] = server.requests_to("/chat/completions")
    assert request.body["stream"] is True
    assert request.body.get("stream_options") == {"include_usage": True}
    expected = expected_usage(request)
    assert expected["input_tokens"] > 0 and expected["output_tokens"] > 0
    result = items[-1]
    assert isinstance(result, CreateResult)
    assert "".join(i for i in items if isinstance(i, str)) == result.content == chat_reply(request.body["messages"])
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (expected["input_tokens"], expected["output_tokens"])

    assert export.wait_for_trace(store.tracking_uri, trace_id), "the trace never landed in the store"
    trace = mlflow_client.get_trace(trace_id)
    [span] = spans_of(trace, "CHAT_MODEL")
    assert span.get_attribute("mlflow.llm.model") == "gpt-4o-mini"
    assert span.get_attribute("mlflow.chat.tokenUsage") == expected
    assert trace.info.cost and trace.info.cost["total_cost"] > 0


# --- f. a rejected key, then Retry --------------------------------------------------------------------------


def test_rejected_key_fails_cleanly_then_retry_succeeds(server, tracking_uri, store, mlflow_client):
    settings = openai_settings(server, tracking_uri)
    conversation = catify()
    server.fail_next(401, path="/chat/completions", code="invalid_api_key", message=f"Incorrect API key provided: {MASKED_CANARY}.")

    failed = asyncio.run(run_turn(TurnRequest(conversation, "a garden", settings, store)))

    assert failed.status == "error"
    assert failed.conversation is conversation
    assert "API key" in failed.error and "401" in failed.error, failed.error
    assert "Traceback" not in failed.error and "RuntimeError" not in failed.error  # not agentchat's wrapper
    assert CANARY not in failed.error
    assert conversation.turns == 0 and conversation.transcript == [] and conversation.state is None
    assert conversation.id  # the run exists, so Retry continues the same conversation
    assert len(conversation.image_lookup) == 1  # the picture drawn before the 401 was paid for: kept in the lineage
    assert [r.status for r in server.requests_to("/chat/completions")] == [401]

    failed_trace = mlflow_client.get_trace(failed.trace_id)
    assert failed_trace.info.state.value == "ERROR"
    assert failed_trace.info.tags[contract.TraceTag.ATTEMPT] == "1"
    [chat_span] = spans_of(failed_trace, "CHAT_MODEL")
    assert chat_span.status.status_code.value == "ERROR"

    server.clear_faults()
    retried = asyncio.run(run_turn(TurnRequest(conversation, "a garden", settings, store, attempt=2)))

    assert retried.status == "ok", retried.error
    assert retried.conversation.turns == 1
    assert [e["role"] for e in retried.conversation.transcript][:1] == ["user"]
    assert len(retried.conversation.images) == 3
    assert len(retried.conversation.image_lookup) == 4
    retry_trace = mlflow_client.get_trace(retried.trace_id)
    assert retry_trace.info.state.value == "OK"
    assert retry_trace.info.tags[contract.TraceTag.ATTEMPT] == "2"
    assert len(mlflow_client.search_traces(locations=[store.experiment_id])) == 2
    reopened = store.load(conversation.id)
    assert reopened.turns == 1 and len(reopened.transcript) == len(retried.conversation.transcript)
