"""core.reading.story reads spans of every writer as a conversation: ours now (OpenAI's chat format with
attachments), ours before 2026-11 (placeholders), MLflow's openai autolog, and anything else as data."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
from mlflow.entities import SpanStatus, SpanStatusCode

from core import costs
from core.reading import story as trace_view  # its tests name their stories `story`


def span(inputs, outputs, name="s", status=SpanStatusCode.OK, events=(), span_id="1", parent_id=None, start=0, attributes=None):
    return SimpleNamespace(
        inputs=inputs,
        outputs=outputs,
        name=name,
        status=SpanStatus(status),
        events=list(events),
        span_id=span_id,
        parent_id=parent_id,
        start_time_ns=start,
        get_attribute=lambda key: (attributes or {}).get(key),
    )


PICTURE = "mlflow-attachment://0b1c?content_type=image%2Fpng&trace_id=tr-1&size=70"


def test_our_chat_span_reads_as_roles_pictures_and_tool_calls():
    story = trace_view.span_story(
        span(
            {
                "model": "m",
                "messages": [
                    {"role": "system", "content": "Line one.\nLine two."},
                    {
                        "role": "user",
                        "name": "image_agent",
                        "content": [{"type": "text", "text": "a cat"}, {"type": "image_url", "image_url": {"url": PICTURE}}],
                    },
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
                        ],
                    },
                    {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": "-4 °C"},
                ],
            },
            {"choices": [{"message": {"role": "assistant", "content": "CRITICS: fine"}, "finish_reason": "stop"}]},
        )
    )
    assert [line.role for line in story.chat] == ["system", "user", "assistant", "tool", "assistant"]
    assert story.chat[0].text == "Line one.\nLine two."
    assert story.chat[1].name == "image_agent" and story.chat[1].pictures == (PICTURE,)
    assert story.chat[2].tool_calls == (trace_view.ToolCall("get_weather", '{"city": "Oslo"}'),)
    assert story.chat[-1].text == "CRITICS: fine" and not story.data and story.failure is None


def test_older_traces_of_ours_still_read():
    story = trace_view.span_story(
        span(
            {
                "model": "m",
                "messages": [{"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image", "size": "512x512"}]}],
            },
            {"content": "CRITICS: old", "finish_reason": "stop"},
        )
    )
    assert story.chat[0].missing_pictures == ("512x512",) and story.chat[1].text == "CRITICS: old"
    root = trace_view.span_story(span({"message": "hi"}, {"status": "ok", "stop_reason": "", "steps": 3, "last_message": "bye"}))
    assert [(line.role, line.text) for line in root.chat] == [("user", "hi"), ("assistant", "bye")]


def test_a_picture_address_that_is_not_an_attachment_is_never_fetched():
    story = trace_view.span_story(
        span(
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.invalid/x.png"}}]}]},
            None,
        )
    )
    assert story.chat[0].pictures == () and story.chat[0].missing_pictures == ("a picture kept outside the trace",)
    assert trace_view.picture("sqlite://", SimpleNamespace(info=None), "https://example.invalid/x.png") is None
    assert trace_view.picture("sqlite://", SimpleNamespace(info=None), PICTURE.replace("image%2Fpng", "text%2Fhtml")) is None


def test_other_spans_are_data_and_failures_say_where_and_what():
    plain = trace_view.span_story(span({"text": "three words"}, ["three", "words"]))
    assert not plain.chat and plain.data == {"inputs": {"text": "three words"}, "outputs": ["three", "words"]}
    boom = {"name": "exception", "attributes": {"exception.type": "APIConnectionError", "exception.message": "Connection error."}}
    root = span({"message": "x"}, None, name="turn", status=SpanStatusCode.ERROR, span_id="r", start=0, events=[SimpleNamespace(**boom)])
    agent = span(
        {}, None, name="critic", status=SpanStatusCode.ERROR, span_id="a", parent_id="r", start=1, events=[SimpleNamespace(**boom)]
    )
    call = span(
        {}, None, name="chat gpt-4o", status=SpanStatusCode.ERROR, span_id="c", parent_id="a", start=2, events=[SimpleNamespace(**boom)]
    )
    trace = SimpleNamespace(data=SimpleNamespace(spans=[root, agent, call]))
    assert trace_view.first_failure(trace) == trace_view.Failure("chat gpt-4o", "APIConnectionError: Connection error.")
    assert trace_view.first_failure(SimpleNamespace(data=SimpleNamespace(spans=[span({}, None)]))) is None
    ours = span(
        {"message": "x"},
        None,
        name="turn",
        status=SpanStatusCode.ERROR,
        span_id="r",
        events=[SimpleNamespace(**boom)],
        attributes={"app.turn.error": "The model server could not be reached."},
    )
    said = trace_view.first_failure(SimpleNamespace(data=SimpleNamespace(spans=[ours, agent, call])))
    assert said == trace_view.Failure("chat gpt-4o", "The model server could not be reached."), "our sentence, where"


def test_money_and_readable_tables():
    assert costs.money(0.0123) == "$0.0123" and costs.money(0) == "$0.0000"
    assert costs.money(0.0000093) == "$0.0000093" and costs.money(0.000012345) == "$0.000012"
    assert costs.money(None) == "" and costs.money(float("nan")) == ""
    table = pd.DataFrame(
        {
            "model": ["", "gpt-4o", "demo-chat"],
            "cost_usd": [None, 0.01, None],
            "input_tokens": [None, 12.0, 3.0],
            "output_tokens": [None, 1000.0, 2.0],
            "duration_ms": [1.0, None, 2.5],
            "status": ["OK", "UNSET", "ERROR"],
        }
    )
    shown = trace_view.readable(table)
    assert list(shown["cost_usd"]) == ["", "$0.0100", "not priced"]
    assert list(shown["output_tokens"]) == ["", "1,000", "2"] and list(shown["duration_ms"]) == ["1.0", "running", "2.5"]
    assert list(shown["status"]) == ["OK", "", "ERROR"]
