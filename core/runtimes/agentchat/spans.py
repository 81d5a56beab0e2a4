"""The write side of the tracing contract for agentchat (core/observe/spans.py holds the runtime-neutral rest: the
turn span, `open_span`, picture and tool spans): a CHAT_MODEL span per model call (`TracedChatCompletionClient`, any
agentchat client, streamed or not, with the usage the server really sent: core.observe.wire), an AGENT span per agent
step (`TracedAgent`), both with their messages in the chat format MLflow's UI draws."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any, AsyncGenerator, Iterator, Mapping, Optional, Sequence

import mlflow
import openai
from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import (
    BaseAgentEvent,
    BaseChatMessage,
    ModelClientStreamingChunkEvent,
    MultiModalMessage,
    ToolCallExecutionEvent,
    ToolCallRequestEvent,
)
from autogen_core import CancellationToken, FunctionCall, Image
from autogen_core.models import ChatCompletionClient, CreateResult, FunctionExecutionResultMessage, LLMMessage, ModelInfo, RequestUsage
from autogen_core.tools import Tool, ToolSchema
from autogen_ext.models._utils.normalize_stop_reason import normalize_stop_reason
from mlflow.entities import SpanType

from ... import contract
from ...observe import wire
from ...observe.spans import clip, open_span, picture_part, recording


def describe_llm_messages(messages: Sequence[LLMMessage]) -> list[dict[str, Any]]:
    """Chat messages as span inputs in OpenAI's chat format, which MLflow's own trace UI draws as a chat: roles,
    tool calls with their results, pictures as MLflow attachments (a small file beside the trace, never base64
    in the span). `name` keeps which agent said it."""
    described: list[dict[str, Any]] = []
    for message in messages:
        kind = type(message).__name__
        content = getattr(message, "content", "")
        if isinstance(message, FunctionExecutionResultMessage):  # one tool message per result, as OpenAI has them
            for result in message.content:
                described.append(
                    {"role": "tool", "tool_call_id": str(result.call_id), "name": result.name, "content": clip(str(result.content))}
                )
            continue
        entry: dict[str, Any] = {"role": {"SystemMessage": "system", "AssistantMessage": "assistant"}.get(kind, "user")}
        if isinstance(content, str):
            entry["content"] = clip(content)
        elif entry["role"] == "assistant" and all(isinstance(c, FunctionCall) for c in content):
            entry["content"], entry["tool_calls"] = None, [_tool_call(c) for c in content]
        else:
            entry["content"] = [
                _picture_part(part)
                if isinstance(part, Image)
                else {"type": "text", "text": clip(part if isinstance(part, str) else json.dumps(part, default=str))}
                for part in content
            ]
        if source := getattr(message, "source", None):
            entry["name"] = source
        described.append(entry)
    return described


def _tool_call(call: FunctionCall) -> dict[str, Any]:
    return {"id": str(call.id), "type": "function", "function": {"name": call.name, "arguments": clip(call.arguments)}}


def _tool_definition(tool: Any) -> dict[str, Any]:
    """A tool as OpenAI's request lists it (MLflow's chat view shows the tools above the chat)."""
    schema = getattr(tool, "schema", tool)
    return {"type": "function", "function": {k: schema[k] for k in ("name", "description", "parameters") if k in schema}}


def _picture_part(image: Image) -> dict[str, Any]:
    return picture_part(base64.b64decode(image.to_base64()))  # EncodedImage (core.agents) keeps its encoding


def _describe_result(result: CreateResult) -> dict[str, Any]:
    """The answer as OpenAI returns it: MLflow's chat view shows it as the assistant's message."""
    message: dict[str, Any] = {"role": "assistant"}
    if isinstance(result.content, str):
        message["content"] = clip(result.content)
    else:
        message["content"], message["tool_calls"] = None, [_tool_call(c) for c in result.content]
    return {"choices": [{"index": 0, "message": message, "finish_reason": result.finish_reason}]}


def _call_usage(result: CreateResult, call: wire.WireCall) -> wire.CallUsage:
    """What one call used: the server's own usage object when the tap read the response (cached and reasoning
    tokens included, odd numbers clamped); agentchat's `RequestUsage` otherwise (the offline demo: no HTTP)."""
    if call.responded:
        return wire.usage_from(call.usage)
    return wire.CallUsage(result.usage.prompt_tokens, result.usage.completion_tokens)


class UnreadableStream(ValueError):
    """A streamed model call that produced nothing readable (core.errors says so in a sentence)."""


class StreamBrokeOff(ConnectionError):
    """A streamed model call whose connection closed before the model said it had finished."""


async def _cut_is_broken_off(
    stream: AsyncGenerator[str | CreateResult, None], call: wire.WireCall
) -> AsyncGenerator[str | CreateResult, None]:
    """agentchat's stream, with a connection that failed after the server began answering said as broken off
    (httpx's RemoteProtocolError on a cut chunked body, which the SDK raises as a connection error)."""
    try:
        async for item in stream:
            yield item
    except openai.APIConnectionError as exc:
        if call.broke_off():
            raise StreamBrokeOff("The model's streamed reply stopped before its end.") from exc
        raise


def _finished(result: CreateResult, call: wire.WireCall, pieces: int) -> CreateResult:
    """A streamed call's result, judged by what the server sent (`core.observe.wire`), not by agentchat's
    normalised reason: broken off when the stream held neither a finish_reason nor `[DONE]`; otherwise finished,
    with the server's finish_reason where agentchat lost it (a finish chunk that also carried usage)."""
    if call.broke_off():
        raise StreamBrokeOff("The model's streamed reply stopped before its end.")
    if not call.responded and not pieces and result.content == "" and not (result.usage.prompt_tokens or result.usage.completion_tokens):
        raise UnreadableStream("The model's streamed reply held no answer and no usage.")
    if call.responded and not call.chunks:
        # a server that answered something other than a stream (the SDK then reads no event): not an empty answer
        raise UnreadableStream("The model's streamed reply held no answer and no usage.")
    if result.finish_reason == "unknown" and call.finish_reason:
        return result.model_copy(update={"finish_reason": normalize_stop_reason(call.finish_reason)})
    return result


class TracedChatCompletionClient(ChatCompletionClient):
    """Any agentchat model client, with a CHAT_MODEL span per call that names the model and its token
    usage, so MLflow prices it from its own catalog when the model is in it."""

    def __init__(self, inner: ChatCompletionClient, model: str, provider: str | None = None, free: bool = False):
        self._inner = inner
        self.model = model
        self._provider = provider
        self._free = free  # the offline demo's models: their calls cost $0, said as such (not "not priced")
        self._calls: list[wire.CallUsage] = []

    @property
    def inner(self) -> ChatCompletionClient:
        return self._inner

    @contextlib.contextmanager
    def _span(self, messages: Sequence[LLMMessage], tools: Sequence[Any], stream: bool = False) -> Iterator[Any]:
        if not recording():
            yield None
            return
        attributes = {contract.SpanAttr.MODEL: self.model}
        if self._provider:
            attributes[contract.SpanAttr.MODEL_PROVIDER] = self._provider
        caller = mlflow.get_current_active_span()  # the agent's step this call belongs to (MLflow's Attributes tab)
        if caller is not None and caller.span_type == SpanType.AGENT and caller.parent_id:
            attributes[contract.SpanAttr.AGENT] = caller.name
        with open_span(name=f"chat {self.model}", span_type=SpanType.CHAT_MODEL, attributes=attributes) as span:
            inputs: dict[str, Any] = {"model": self.model, "messages": describe_llm_messages(messages)}
            if tools:
                inputs["tools"] = [_tool_definition(t) for t in tools]
            if stream:  # as MLflow's openai autolog records a streamed call's request
                inputs["stream"] = True
            span.set_inputs(inputs)
            yield span

    def _record(self, span: Any, result: CreateResult, call: wire.WireCall) -> None:
        """The call's usage as billed, kept for the turn's figures (`calls`) and written on its span."""
        usage = _call_usage(result, call)
        self._calls.append(usage)
        if span is None:
            return
        span.set_outputs(_describe_result(result))
        if (attribute := usage.attribute()) is not None:
            span.set_attribute(contract.SpanAttr.USAGE, attribute)
        if usage.reasoning_tokens:  # part of the output tokens (OpenAI bills them as output); MLflow has no key
            span.set_attribute(contract.SpanAttr.REASONING_TOKENS, usage.reasoning_tokens)
        if said := " ".join(n for n in (usage.note, call.problems()) if n):
            span.set_attribute(contract.SpanAttr.USAGE_NOTE, said)
        if call.streamed:
            span.set_attribute(contract.SpanAttr.STREAM_CHUNKS, call.chunks)
        if self._free:  # MLflow's catalog prices what it knows; it does not know the demo's models
            span.set_attribute(contract.SpanAttr.COST, {"input_cost": 0.0, "output_cost": 0.0, "total_cost": 0.0})

    @property
    def calls(self) -> list[wire.CallUsage]:
        """Every call's usage as billed, in order (core.costs prices them as MLflow prices their spans)."""
        return list(self._calls)

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Any = "auto",
        json_output: Optional[bool | type] = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: Optional[CancellationToken] = None,
    ) -> CreateResult:
        with self._span(messages, tools) as span, wire.watching(wire.WireCall()) as call:
            result = await self._inner.create(
                messages,
                tools=tools,
                tool_choice=tool_choice,
                json_output=json_output,
                extra_create_args=extra_create_args,
                cancellation_token=cancellation_token,
            )
            self._record(span, result, call)
            return result

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Any = "auto",
        json_output: Optional[bool | type] = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: Optional[CancellationToken] = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        kwargs: dict[str, Any] = {}
        if type(self._inner).__name__ == "OpenAIChatCompletionClient":
            kwargs["include_usage"] = True  # otherwise streamed calls report zero tokens
        with self._span(messages, tools, stream=True) as span, wire.watching(wire.WireCall()) as call:
            pieces = 0
            stream = self._inner.create_stream(
                messages,
                tools=tools,
                tool_choice=tool_choice,
                json_output=json_output,
                extra_create_args=extra_create_args,
                cancellation_token=cancellation_token,
                **kwargs,
            )
            async for item in _cut_is_broken_off(stream, call):
                if isinstance(item, CreateResult):
                    item = _finished(item, call, pieces)
                    self._record(span, item, call)
                else:
                    pieces += 1
                yield item

    async def close(self) -> None:
        await self._inner.close()

    def actual_usage(self) -> RequestUsage:
        return self._inner.actual_usage()

    def total_usage(self) -> RequestUsage:
        return self._inner.total_usage()

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return self._inner.count_tokens(messages, tools=tools)

    def remaining_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return self._inner.remaining_tokens(messages, tools=tools)

    @property
    def capabilities(self) -> ModelInfo:
        return self._inner.model_info

    @property
    def model_info(self) -> ModelInfo:
        return self._inner.model_info


def agent_message(message: BaseChatMessage | BaseAgentEvent, me: str) -> list[dict[str, Any]]:
    """An agentchat message or event of an agent's step as chat messages in the shape MLflow's UI draws (issue 31:
    these were YAML of message objects, `[FunctionCall(...)]` reprs and `<image>` placeholders): role-tagged, the
    speaker as `name`, tool requests as `tool_calls`, tool results as `tool` messages, pictures as image parts
    whose url is an attachment (as the model spans have them). What the agent itself said is the assistant's;
    anything else is what it was told (agentchat gives other agents' messages to a model as user messages)."""
    source = str(getattr(message, "source", "") or "")
    role = "assistant" if source == me else "user"
    if isinstance(message, ToolCallRequestEvent):
        return [{"role": "assistant", "name": source, "content": None, "tool_calls": [_tool_call(c) for c in message.content]}]
    if isinstance(message, ToolCallExecutionEvent):
        return [{"role": "tool", "tool_call_id": str(r.call_id), "name": r.name, "content": clip(str(r.content))} for r in message.content]
    if isinstance(message, MultiModalMessage):
        parts = [_picture_part(p) if isinstance(p, Image) else {"type": "text", "text": clip(str(p))} for p in message.content]
        return [{"role": role, "name": source, "content": parts}]
    content = getattr(message, "content", None)
    if isinstance(message, BaseChatMessage):
        return [{"role": role, "name": source, "content": clip(message.to_model_text())}]
    if isinstance(content, str):  # an event with words (a thought): said by the agent
        return [{"role": "assistant", "name": source, "content": clip(content)}]
    return []  # other events (a memory query, a speaker choice) hold no conversation


def agent_messages(messages: Sequence[BaseChatMessage | BaseAgentEvent], me: str) -> list[dict[str, Any]]:
    return [m for message in messages for m in agent_message(message, me)]


class TracedAgent(BaseChatAgent):
    """Wraps any agentchat agent so each of its steps is an AGENT span named after it; model, tool and
    image spans made during the step nest inside. State, reset and pause go straight to the agent."""

    def __init__(self, inner: BaseChatAgent):
        super().__init__(inner.name, inner.description)
        self._inner = inner

    @property
    def inner(self) -> BaseChatAgent:
        return self._inner

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return self._inner.produced_message_types

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        response = None
        async for item in self.on_messages_stream(messages, cancellation_token):
            if isinstance(item, Response):
                response = item
        assert response is not None, f"{self.name} produced no response"
        return response

    async def on_messages_stream(
        self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken
    ) -> AsyncGenerator[BaseAgentEvent | BaseChatMessage | Response, None]:
        if not recording():
            async for item in self._inner.on_messages_stream(messages, cancellation_token):
                yield item
            return
        with open_span(name=self.name, span_type=SpanType.AGENT) as span:
            # inputs and outputs as chat messages (MLflow's ChatAgent shape: {"messages": [...]}), drawn as a chat
            span.set_inputs({"messages": agent_messages(messages, self.name)})
            said: list[dict[str, Any]] = []
            async for item in self._inner.on_messages_stream(messages, cancellation_token):
                if isinstance(item, Response):
                    span.set_outputs({"messages": [*said, *agent_message(item.chat_message, self.name)]})
                elif not isinstance(item, ModelClientStreamingChunkEvent):  # the pieces of the response, which
                    said.extend(agent_message(item, self.name))  # has them whole (a key split over pieces is found)
                yield item

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        await self._inner.on_reset(cancellation_token)

    async def on_pause(self, cancellation_token: CancellationToken) -> None:
        await self._inner.on_pause(cancellation_token)

    async def on_resume(self, cancellation_token: CancellationToken) -> None:
        await self._inner.on_resume(cancellation_token)

    async def save_state(self) -> Mapping[str, Any]:
        return await self._inner.save_state()

    async def load_state(self, state: Mapping[str, Any]) -> None:
        await self._inner.load_state(state)

    async def close(self) -> None:
        await self._inner.close()
