"""The write side of the tracing contract (docs/ARCHITECTURE.md): one trace per turn, a span per agent
step, per model call, per tool call and per generated image.

We instrument through thin wrappers instead of `mlflow.autogen.autolog()`: autolog leaves model spans
without a model name (so MLflow prices nothing), does not trace `create_stream`, and only patches
classes that exist when it is called. Wrappers are explicit, work for every provider the same way, and
only record while a turn span is open (a context variable), so scripts and benchmarks can switch them off."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, AsyncGenerator, Callable, Iterator, Mapping, Optional, Sequence

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
from mlflow.entities import LiveSpan, SpanEvent, SpanStatus, SpanStatusCode, SpanType
from mlflow.entities.trace_location import MlflowExperimentLocation
from mlflow.tracing.attachments import Attachment
from mlflow.tracing.trace_manager import InMemoryTraceManager

from .. import contract, redact
from . import summary, wire

log = logging.getLogger(__name__)

MAX_TEXT_IN_SPAN = 20_000

_recording: ContextVar[bool] = ContextVar("app_tracing_recording", default=False)
_defusing: ContextVar[bool] = ContextVar("app_tracing_defusing", default=False)  # a hosted demo's turn: see `defused`


def recording() -> bool:
    return _recording.get()


@contextlib.contextmanager
def open_span(name: str, span_type: str, **kwargs: Any) -> Iterator[Any]:
    """`mlflow.start_span`, keeping no secret: MLflow records an exception that leaves its block with the
    exception's words verbatim (an "exception" event with message and traceback, and the status's description),
    and a provider's error may quote the very key it was sent (issue 18). So a failure is recorded here, scrubbed
    (`record_failure`), leaves MLflow's block unseen and is raised again as it was; and every attribute (inputs,
    outputs, ours) is scrubbed before the span ends (`scrub_attributes`). Every span of ours opens here."""
    failure: Exception | None = None
    with mlflow.start_span(name=name, span_type=span_type, **kwargs) as span:
        try:
            yield span
        except Exception as exc:  # noqa: BLE001 - raised again below; as in MLflow's block, a cancellation is none
            failure = exc
            record_failure(span, exc)
        finally:
            scrub_attributes(span)
    if failure is not None:
        raise failure


def record_failure(span: Any, exc: Exception) -> None:
    """What MLflow's `LiveSpan.record_exception` records (the exception as an "exception" event: message, type,
    traceback; status ERROR with "Type: message"), with every secret taken out (core.redact)."""
    if not isinstance(span, LiveSpan):
        return
    event = SpanEvent.from_exception(exc)
    span.add_event(dataclasses.replace(event, attributes=redact.scrub_value(dict(event.attributes))))
    # a SpanStatus, as MLflow's record_exception passes (set_status's annotation names only codes)
    span.set_status(
        SpanStatus(
            SpanStatusCode.ERROR,  # type: ignore[arg-type]
            description=redact.scrub(f"{type(exc).__name__}: {exc}"),
        )
    )


def scrub_attributes(span: Any) -> None:
    """Every attribute of the span with its secrets taken out, and in a hosted demo's turn its markdown pictures
    defused (`defused`); an unchanged one is not written again."""
    if not isinstance(span, LiveSpan):
        return
    for key, value in span.attributes.items():
        clean = redact.scrub_value(value)
        if _defusing.get():
            clean = defused(clean)
        if clean is not value:
            span.set_attribute(key, clean)


_PICTURE_OPENER = re.compile(r"!(?=\[)")


def defused(value: Any) -> Any:
    """Markdown pictures made links, in every string of JSON-like data (a new value only where one changed). MLflow's
    own UI renders span inputs and outputs and a trace's request and response as markdown and fetches any picture
    they name (`![t](http://…)`, also `![t][ref]`): the admin's browser would load an address a visitor typed, or a
    model echoed, when the trace is opened there. A zero-width space after the `!` keeps the words and makes it a
    link, fetched only if clicked (docs/DEPLOY.md, "Pictures in MLflow's own UI"). The transcript keeps the text as typed."""
    if isinstance(value, str):
        return _PICTURE_OPENER.sub("!\u200b", value) if "![" in value else value
    if isinstance(value, dict):
        items = {k: defused(v) for k, v in value.items()}
        return value if all(items[k] is value[k] for k in value) else items
    if isinstance(value, list):
        found = [defused(v) for v in value]
        return value if all(a is b for a, b in zip(found, value)) else found
    return value


def _said(text: str, defuse: bool) -> str:
    """A trace's request or response preview: secrets out, and pictures defused in a hosted demo's turn."""
    clean = clip(redact.scrub(text), 1000)
    return defused(clean) if defuse else clean


@dataclass(frozen=True)
class TurnInfo:
    experiment_id: str
    conversation_id: str
    scenario: str
    turn: int
    session_id: str
    provider: str
    attempt: int = 1
    billed_to_owner: bool = False
    kind: str = contract.CHAT_TURN  # what the trace is (contract.TRACE_KIND)
    defuse_markup: bool = False  # a hosted demo: markdown pictures in the spans become links (`defused`)
    label: str = ""  # the scenario's label (a team file's, from the file): shown wherever the key would be


def trace_identity(info: TurnInfo) -> dict[str, Any]:
    """MLflow's session and user of a turn (issue 31): the session is the conversation, so MLflow's "Group by session"
    shows one conversation per session; the user is its owner (`Visitor.owner`: opaque, never an email). A model
    prediction outside any conversation has no session."""
    return {"session_id": info.conversation_id or None, "user": info.session_id or None}


@contextlib.contextmanager
def turn_span(info: TurnInfo | None, request: str, describe: Callable[[BaseException], str] | None = None) -> Iterator[Any]:
    """The root span of one turn: one user message becomes exactly one trace in the conversation's run. A
    failure is said in `describe`'s words (the sentence the user sees, secrets removed) on the root and as the
    trace's response, so MLflow's list and ours show why, not an empty cell.

    With info=None nothing is recorded (store unreachable, or tracing switched off)."""
    if info is None:
        token = _recording.set(False)
        try:
            yield None
        finally:
            _recording.reset(token)
        return
    token = _recording.set(True)
    defusing = _defusing.set(info.defuse_markup)
    pictures = _pictures.set({})
    try:
        with open_span(
            name=contract.turn_name(info.scenario),
            span_type=SpanType.AGENT,
            trace_destination=MlflowExperimentLocation(experiment_id=info.experiment_id),
            run_id=info.conversation_id or None,  # a model prediction may run outside any run
        ) as span:
            span.set_inputs({"messages": [{"role": "user", "content": clip(request)}]})  # a chat in MLflow's UI
            mlflow.update_current_trace(
                tags={
                    contract.SCENARIO: info.scenario,
                    contract.CONVERSATION: info.conversation_id,
                    contract.TURN: str(info.turn),
                    contract.PROVIDER: info.provider,
                    contract.ATTEMPT: str(info.attempt),
                    contract.TRACE_KIND: info.kind,
                    contract.OWNER: info.session_id,
                    **({contract.LABEL: info.label} if info.label else {}),
                    **({contract.BILLING: contract.BILLED_TO_OWNER} if info.billed_to_owner else {}),
                },
                **trace_identity(info),
                request_preview=_said(request, info.defuse_markup),
            )
            try:
                yield span
            except BaseException as exc:
                if describe is not None:
                    said = clip(describe(exc), 1000)
                    span.set_attributes({contract.TURN_STATUS: "error", contract.TURN_ERROR: said})
                    mlflow.update_current_trace(response_preview=f"Failed: {said}")
                raise
            finally:
                _write_summary(span, info)
    finally:
        _pictures.reset(pictures)
        _defusing.reset(defusing)
        _recording.reset(token)


def end_turn(span: Any, answer: str, status: str, stop_reason: str, steps: int) -> None:
    """The turn's output is the team's last word (MLflow's trace list shows it as the response, its chat view
    as the assistant's answer); how the turn ended goes into attributes."""
    if span is None:
        return
    span.set_outputs(clip(answer, 2000))
    mlflow.update_current_trace(response_preview=_said(answer, _defusing.get()))  # the words, not their JSON
    span.set_attributes({contract.TURN_STATUS: status, contract.TURN_STOP_REASON: stop_reason, contract.TURN_STEPS: steps})


def _write_summary(root: Any, info: TurnInfo) -> None:
    """The turn's `app.summary` tag (core/observe/summary.py), from its finished spans, just before the root
    ends and the trace is exported. A summary that fails is left out: the read side then walks the spans."""
    try:
        with InMemoryTraceManager.get_instance().get_trace(root.trace_id) as trace:
            children = [s for s in trace.span_dict.values() if s.span_id != root.span_id] if trace else []
        rows = summary.call_rows(root.trace_id, [root, *summary.as_stored(children)])
        value = summary.summarize(
            {
                "scenario": info.scenario,
                "conversation": info.conversation_id,
                "turn": str(info.turn),
                "provider": info.provider,
                "owner": info.session_id,
                "label": info.label,
            },
            rows,
        )
        if value is not None:
            mlflow.update_current_trace(tags={contract.SUMMARY: value})
    except Exception:
        log.warning("could not summarise trace %s", getattr(root, "trace_id", "?"), exc_info=True)


def clip(text: str, limit: int = MAX_TEXT_IN_SPAN) -> str:
    text = text or ""
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more characters]"


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


_pictures: ContextVar[dict[str, Any] | None] = ContextVar("app_tracing_pictures", default=None)


def picture_part(png: bytes) -> dict[str, Any]:
    """An OpenAI image part holding the picture as an MLflow attachment, which MLflow's UI shows inline (3.17
    has `Attachment` in mlflow.tracing.attachments, outside `mlflow.tracing`'s public names: its format is the
    contract, `mlflow-attachment://<id>?content_type=…&trace_id=…`). A picture the history repeats in every
    later call is stored once per trace: later parts reuse the first one's address."""
    seen = _pictures.get()
    digest = hashlib.sha1(png).hexdigest()
    if seen is not None and digest in seen:
        return {"type": "image_url", "image_url": {"url": seen[digest], "detail": "auto"}}
    attachment = Attachment(content_type="image/png", content_bytes=png)
    span = mlflow.get_current_active_span()
    if seen is not None and span is not None:
        seen[digest] = attachment.ref(span.trace_id)  # what MLflow writes in its place (Span._store_attachment)
    return {"type": "image_url", "image_url": {"url": attachment, "detail": "auto"}}


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
        attributes = {contract.MODEL: self.model}
        if self._provider:
            attributes[contract.MODEL_PROVIDER] = self._provider
        caller = mlflow.get_current_active_span()  # the agent's step this call belongs to (MLflow's Attributes tab)
        if caller is not None and caller.span_type == SpanType.AGENT and caller.parent_id:
            attributes[contract.CALLING_AGENT] = caller.name
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
            span.set_attribute(contract.USAGE, attribute)
        if usage.reasoning_tokens:  # part of the output tokens (OpenAI bills them as output); MLflow has no key
            span.set_attribute(contract.REASONING_TOKENS, usage.reasoning_tokens)
        if said := " ".join(n for n in (usage.note, call.problems()) if n):
            span.set_attribute(contract.USAGE_NOTE, said)
        if call.streamed:
            span.set_attribute(contract.STREAM_CHUNKS, call.chunks)
        if self._free:  # MLflow's catalog prices what it knows; it does not know the demo's models
            span.set_attribute(contract.COST, {"input_cost": 0.0, "output_cost": 0.0, "total_cost": 0.0})

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


@contextlib.contextmanager
def image_span(model: str, size: str, quality: str, prompt: str) -> Iterator[Any]:
    """A span per generated picture; the caller adds id, artifact path and cost once they are known."""
    if not recording():
        yield None
        return
    with open_span(
        name=f"{contract.IMAGE_SPAN_PREFIX}{model}",
        span_type=contract.IMAGE_SPAN_TYPE,
        attributes={contract.IMAGE_MODEL: model, contract.IMAGE_SIZE: size, contract.IMAGE_QUALITY: quality, contract.MODEL: model},
    ) as span:
        # the prompt as a user message (MLflow's chat view), and by itself (the lineage reads it)
        span.set_inputs(
            {
                "model": model,
                "messages": [{"role": "user", "content": clip(prompt)}],
                "prompt": clip(prompt),
                "size": size,
                "quality": quality,
            }
        )
        yield span


def image_outputs(span: Any, png: bytes, said: str, **details: Any) -> None:
    """The picture as the assistant's answer (MLflow's UI shows it inline on the span), with its details."""
    if span is not None:
        answer = {"role": "assistant", "content": [{"type": "text", "text": clip(said)}, picture_part(png)]}
        span.set_outputs({"choices": [{"index": 0, "message": answer, "finish_reason": "stop"}], **details})


def record_image(span: Any, image_id: str, artifact_path: str | None, cost_usd: float | None, parent: str | None) -> None:
    """What the image span learns once the picture exists. The price also goes into MLflow's own cost
    attribute, so the trace's cost (TraceInfo.cost, the store's cost columns) includes the pictures and
    every reader agrees on one number."""
    if span is None:
        return
    span.set_attributes(
        {
            contract.IMAGE_ID: image_id,
            contract.IMAGE_PATH: artifact_path or "",
            contract.IMAGE_COST: cost_usd if cost_usd is not None else -1,
            contract.IMAGE_PARENT: parent or "",
        }
    )
    if cost_usd is not None:
        span.set_attribute(contract.COST, {"input_cost": 0.0, "output_cost": float(cost_usd), "total_cost": float(cost_usd)})


def record_image_usage(span: Any, usage: dict[str, int] | None, note: str) -> None:
    """A picture's tokens as its server reported them (`app.image.usage`), kept out of MLflow's usage key (the trace's
    token totals count chat tokens), and what MLflow's catalog did not know about its price (`app.usage.note`)."""
    if span is None:
        return
    if usage is not None:
        span.set_attribute(contract.IMAGE_USAGE, usage)
    if note:
        span.set_attribute(contract.USAGE_NOTE, note)


def traced_tool(fn: Any) -> Any:
    """An async function tool whose every call is a TOOL span (arguments in, result out). A result starting
    with "ERROR:" (how our tools report failure to the agents) marks the span as failed."""

    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> Any:
        if not recording():
            return await fn(*args, **kwargs)
        with open_span(name=fn.__name__, span_type=SpanType.TOOL) as span:
            span.set_inputs({k: clip(str(v), 2000) for k, v in kwargs.items()} if kwargs else {"args": [str(a) for a in args]})
            result = await fn(*args, **kwargs)
            span.set_outputs(clip(result, 4000) if isinstance(result, str) else result)
            if isinstance(result, str) and result.startswith(contract.TOOL_ERROR_PREFIX):
                span.set_status(SpanStatusCode.ERROR)
            return result

    return call


def current_trace_id() -> str | None:
    if not recording():
        return None
    span = mlflow.get_current_active_span()
    return getattr(span, "trace_id", None) if span is not None else None
