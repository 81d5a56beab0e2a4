"""The write side of the tracing contract for Agent Framework: an AGENT span per agent step (`AgentStep`, an agent
middleware), a CHAT_MODEL span per model call (`ModelCall`, a chat middleware: one span and one usage record per call,
streamed or not), their messages in the chat format MLflow's UI draws, as agentchat's wrappers write them
(core/runtimes/agentchat/spans.py). core/observe/spans.py holds the runtime-neutral rest (turn, tool, picture spans).

Why our own spans and not Agent Framework's OpenTelemetry ones bridged into MLflow: its spans name no app attribute,
carry messages only with sensitive data on, leave workflow spans untyped, and its AGENT spans repeat their calls'
usage and cost (MLflow's span-level cost sums would double); ours are the app's contract, written once. Its own
instrumentation goes to the global OpenTelemetry provider, which the app never sets (agentchat's spans go there too).

A streamed call's span lives beyond the middleware (the stream is read later, by the workflow), so spans here are
started without MLflow's context and given their parent: the agent step of the same agent (`TurnSpans`), else the
turn's root. A span still open when the turn ends (a stream cut by an error or a cancel) is ended as failed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Sequence

import mlflow
from agent_framework import (
    AgentContext,
    AgentMiddleware,
    ChatContext,
    ChatMiddleware,
    FunctionInvocationContext,
    FunctionMiddleware,
    Message,
)
from mlflow.entities import LiveSpan, SpanStatusCode, SpanType

from ... import contract
from ...observe.spans import clip, picture_part, recording, scrub_attributes
from ...observe.wire import CallUsage


def _picture(uri: str) -> dict[str, Any] | None:
    if uri.startswith("data:") and ";base64," in uri:
        import base64  # noqa: PLC0415 - only for pictures

        return picture_part(base64.b64decode(uri.split(",", 1)[1]))
    return None


def _tool_call(content: Any) -> dict[str, Any]:
    arguments = content.arguments if isinstance(content.arguments, str) else json.dumps(content.arguments or {})
    return {"id": str(content.call_id), "type": "function", "function": {"name": content.name, "arguments": clip(arguments)}}


def chat_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Agent Framework messages in OpenAI's chat format: roles, tool calls and their results, pictures as MLflow
    attachments (never base64 in a span), the speaker as `name`."""
    described: list[dict[str, Any]] = []
    for message in messages:
        role = str(message.role)
        texts: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        for content in message.contents:
            if content.type == "text" and content.text:
                texts.append({"type": "text", "text": clip(content.text)})
            elif content.type in ("data", "uri") and (part := _picture(str(content.uri or ""))) is not None:
                texts.append(part)
            elif content.type == "function_call":
                calls.append(_tool_call(content))
            elif content.type == "function_result":
                described.append({"role": "tool", "tool_call_id": str(content.call_id), "content": clip(str(content.result))})
        if not texts and not calls:
            continue
        entry: dict[str, Any] = {"role": role}
        only_text = all(t["type"] == "text" for t in texts)
        entry["content"] = (" ".join(t["text"] for t in texts) if only_text else texts) if texts else None
        if calls:
            entry["tool_calls"] = calls
        if message.author_name:
            entry["name"] = message.author_name
        described.append(entry)
    return described


def _end(span: LiveSpan, error: BaseException | None = None) -> None:
    scrub_attributes(span)
    if error is not None:
        span.set_status(SpanStatusCode.ERROR)
    span.end()


@dataclass
class TurnSpans:
    """One turn's open agent steps, by agent name: a model call's span nests in its agent's step."""

    _steps: dict[str, LiveSpan] = field(default_factory=dict)
    _open: list[LiveSpan] = field(default_factory=list)

    def start(self, name: str, span_type: str, parent: LiveSpan | None, attributes: dict[str, Any] | None = None) -> LiveSpan | None:
        if not recording():
            return None
        parent = parent or mlflow.get_current_active_span()
        if parent is None:
            return None
        span = mlflow.start_span_no_context(name=name, span_type=span_type, parent_span=parent, attributes=attributes or {})
        self._open.append(span)
        return span

    def step(self, agent: str) -> LiveSpan | None:
        return self._steps.get(agent)

    def begin_step(self, agent: str, messages: Sequence[Message]) -> LiveSpan | None:
        span = self.start(agent, SpanType.AGENT, None)
        if span is not None:
            span.set_inputs({"messages": chat_messages(messages)})
            self._steps[agent] = span
        return span

    def end(self, span: LiveSpan | None, error: BaseException | None = None) -> None:
        if span is None or span not in self._open:
            return
        self._open.remove(span)
        for agent, step in list(self._steps.items()):
            if step is span:
                del self._steps[agent]
        _end(span, error)

    def close(self) -> None:
        """Spans a failure or a cancel left open end as failed (their trace is not left waiting for them)."""
        for span in list(reversed(self._open)):
            self.end(span, error=RuntimeError("ended with the turn"))


def usage_of(details: Any) -> CallUsage:
    """One call's usage as Agent Framework parsed the server's (`_parse_usage_from_openai`: the OpenAI usage object's
    counts under its own keys); unknown when the server sent none."""
    if not details or details.get("input_token_count") is None or details.get("output_token_count") is None:
        return CallUsage(None, None, note="The server reported no token usage for this call.")
    return CallUsage(
        int(details["input_token_count"]),
        int(details["output_token_count"]),
        cached_tokens=int(details.get("cache_read_input_token_count") or 0),
        reasoning_tokens=int(details.get("reasoning_output_token_count") or 0),
    )


def _answer(response: Any) -> dict[str, Any]:
    said = chat_messages(list(getattr(response, "messages", []) or []))
    message = said[-1] if said else {"role": "assistant", "content": ""}
    finish = getattr(response, "finish_reason", None)
    return {"choices": [{"index": 0, "message": message, "finish_reason": str(finish) if finish else "stop"}]}


class ModelCall(ChatMiddleware):
    """Each model call of one role's client: a CHAT_MODEL span (model, usage, the messages and tools it got, the answer)
    inside its agent's step, and its usage kept for the turn's figures (core.costs)."""

    def __init__(self, spans: TurnSpans, model: str, agent: str, provider: str | None, free: bool):
        self.spans, self.model, self.agent, self.provider, self.free = spans, model, agent, provider, free
        self.calls: list[CallUsage] = []

    def _open(self, context: ChatContext) -> LiveSpan | None:
        attributes: dict[str, Any] = {contract.SpanAttr.MODEL: self.model, contract.SpanAttr.AGENT: self.agent}
        if self.provider:
            attributes[contract.SpanAttr.MODEL_PROVIDER] = self.provider
        span = self.spans.start(f"chat {self.model}", SpanType.CHAT_MODEL, self.spans.step(self.agent), attributes)
        if span is not None:
            inputs: dict[str, Any] = {"model": self.model, "messages": chat_messages(context.messages)}
            tools = (context.options or {}).get("tools") or []
            if tools:
                inputs["tools"] = [{"type": "function", "function": {"name": getattr(t, "name", str(t))}} for t in tools]
            if context.stream:
                inputs["stream"] = True
            span.set_inputs(inputs)
        return span

    def _record(self, span: LiveSpan | None, response: Any) -> Any:
        usage = usage_of(getattr(response, "usage_details", None))
        self.calls.append(usage)
        if span is not None:
            span.set_outputs(_answer(response))
            if (attribute := usage.attribute()) is not None:
                span.set_attribute(contract.SpanAttr.USAGE, attribute)
            if usage.reasoning_tokens:
                span.set_attribute(contract.SpanAttr.REASONING_TOKENS, usage.reasoning_tokens)
            if usage.note:
                span.set_attribute(contract.SpanAttr.USAGE_NOTE, usage.note)
            if self.free:  # MLflow's catalog does not know the demo's models: they cost $0, not "not priced"
                span.set_attribute(contract.SpanAttr.COST, {"input_cost": 0.0, "output_cost": 0.0, "total_cost": 0.0})
            self.spans.end(span)
        return response

    async def process(self, context: ChatContext, call_next: Callable[[], Awaitable[None]]) -> None:
        span = self._open(context)
        try:
            await call_next()
        except BaseException as exc:
            self.spans.end(span, exc)
            raise
        if context.stream:  # the call happens as the stream is read: its final response ends the span
            context.result.with_result_hook(lambda response: self._record(span, response))  # type: ignore[union-attr]
        else:
            self._record(span, context.result)


class AgentStep(AgentMiddleware):
    """Each run of an agent: an AGENT span named after it, its model calls and tools inside."""

    def __init__(self, spans: TurnSpans, agent: str):
        self.spans, self.agent = spans, agent

    def _done(self, span: LiveSpan | None, response: Any) -> Any:
        if span is not None:
            span.set_outputs({"messages": chat_messages(list(getattr(response, "messages", []) or []))})
            self.spans.end(span)
        return response

    async def process(self, context: AgentContext, call_next: Callable[[], Awaitable[None]]) -> None:
        span = self.spans.begin_step(self.agent, list(context.messages or []))
        try:
            await call_next()
        except BaseException as exc:
            self.spans.end(span, exc)
            raise
        if context.stream:
            context.result.with_result_hook(lambda response: self._done(span, response))  # type: ignore[union-attr]
        else:
            self._done(span, context.result)


class ToolCall(FunctionMiddleware):
    """Each tool call of an agent a team factory built: a TOOL span in the agent's step, its arguments in and its result
    out, as core.observe.spans.traced_tool writes the built-in teams' (whose tools are wrapped where they are made)."""

    def __init__(self, spans: TurnSpans, agent: str):
        self.spans, self.agent = spans, agent

    async def process(self, context: FunctionInvocationContext, call_next: Callable[[], Awaitable[None]]) -> None:
        span = self.spans.start(str(context.function.name), SpanType.TOOL, self.spans.step(self.agent))
        if span is not None:
            arguments = context.arguments
            given = arguments.model_dump() if hasattr(arguments, "model_dump") else dict(arguments or {})
            span.set_inputs({k: clip(str(v), 2000) for k, v in given.items()})
        try:
            await call_next()
        except BaseException as exc:
            self.spans.end(span, exc)
            raise
        if span is not None:
            result = context.result
            span.set_outputs(clip(result, 4000) if isinstance(result, str) else str(result))
            failed = isinstance(result, str) and result.startswith(contract.TOOL_ERROR_PREFIX)
            self.spans.end(span, RuntimeError(result) if failed else None)
