"""The offline demo models behind OpenAI's Chat Completions wire format, in process: an httpx transport that reads a
`/chat/completions` request, answers it with the demo model (`demo_models.DemoChatCompletionClient` and the scenario's
scripted roles) and writes the answer as OpenAI does, JSON or Server-Sent Events with a usage chunk. Any OpenAI client
(the openai SDK under Agent Framework's `OpenAIChatCompletionClient`, core/runtimes/agentframework/) then runs offline
with no key, the same deterministic replies as agentchat's teams get, through its own parsing and tool loop.

The shapes copied: the request and response of OpenAI's Chat Completions (openai-python `types/chat/
chat_completion.py`, `chat_completion_chunk.py`: a chunk per piece with `delta`, the last with `finish_reason`,
then, when `stream_options.include_usage` is set, a chunk with empty `choices` and `usage`, then `data: [DONE]`)."""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
from typing import Any, AsyncIterator, Sequence

import httpx2
from autogen_core import FunctionCall, Image
from autogen_core.models import (
    AssistantMessage,
    CreateResult,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    SystemMessage,
    UserMessage,
)
from PIL import Image as PILImage

from .demo_models import DEFAULT_RESPONDERS, DemoChatCompletionClient, Responder

DEMO_BASE_URL = "http://demo.invalid/v1"  # never resolved: the transport answers before any connection


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(str(p.get("text", "")) for p in content or [] if isinstance(p, dict) and p.get("type") == "text")


def _user_content(content: Any) -> str | list[str | Image]:
    """A user message's content: its text, or its parts with data-URL pictures as agentchat Images (the demo critic
    looks at the pixels)."""
    if isinstance(content, str):
        return content
    parts: list[str | Image] = []
    for part in content or []:
        if part.get("type") == "text":
            parts.append(str(part.get("text", "")))
        elif part.get("type") == "image_url":
            url = str((part.get("image_url") or {}).get("url", ""))
            if url.startswith("data:") and "," in url:
                parts.append(Image(PILImage.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))))
    return parts


def llm_messages(messages: Sequence[dict[str, Any]], me: str = "") -> list[LLMMessage]:
    """OpenAI chat messages as agentchat's model messages (what the demo's scripted roles read); a message's `name`
    is its source, and another agent's words (an assistant message named for someone other than `me`) come as a user
    message from it, as agentchat gives other agents' words to a model."""
    out: list[LLMMessage] = []
    for m in messages:
        role, source = m.get("role"), str(m.get("name") or m.get("role") or "user")
        if role == "assistant" and me and m.get("name") and m.get("name") != me and not m.get("tool_calls"):
            role = "user"
        if role in ("system", "developer"):
            out.append(SystemMessage(content=_text(m.get("content"))))
        elif role == "assistant" and m.get("tool_calls"):
            calls = [
                FunctionCall(id=str(c.get("id")), name=c["function"]["name"], arguments=c["function"].get("arguments") or "{}")
                for c in m["tool_calls"]
            ]
            out.append(AssistantMessage(content=calls, source=source))
        elif role == "assistant":
            out.append(AssistantMessage(content=_text(m.get("content")), source=source))
        elif role == "tool":
            result = FunctionExecutionResult(
                content=_text(m.get("content")), call_id=str(m.get("tool_call_id")), name=str(m.get("name") or ""), is_error=False
            )
            if out and isinstance(out[-1], FunctionExecutionResultMessage):  # consecutive results: one message, as agentchat
                out[-1].content.append(result)
            else:
                out.append(FunctionExecutionResultMessage(content=[result]))
        else:
            out.append(UserMessage(content=_user_content(m.get("content")), source=source if m.get("name") else "user"))
    return out


def _message(result: CreateResult) -> dict[str, Any]:
    if isinstance(result.content, str):
        return {"role": "assistant", "content": result.content}
    calls = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in result.content]
    return {"role": "assistant", "content": None, "tool_calls": calls}


def _usage(result: CreateResult) -> dict[str, int]:
    tokens_in, tokens_out = result.usage.prompt_tokens, result.usage.completion_tokens
    return {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out}


def _finish(result: CreateResult) -> str:
    return "tool_calls" if not isinstance(result.content, str) else "stop"


class DemoTransport(httpx2.AsyncBaseTransport):
    """One role's demo model as an OpenAI-compatible endpoint (no socket; every answer costs nothing)."""

    def __init__(self, model: str, responders: Sequence[Responder] = DEFAULT_RESPONDERS, me: str = ""):
        self.model, self.me = model, me
        self._client = DemoChatCompletionClient(model, responders)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if not request.url.path.endswith("/chat/completions"):
            return httpx2.Response(404, json={"error": {"message": "The demo serves chat completions only.", "type": "not_found"}})
        body = json.loads(await request.aread() or b"{}")
        messages = llm_messages(body.get("messages") or [], self.me)
        tools = [t.get("function", t) for t in body.get("tools") or []]
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            stream = _Stream(self._client, messages, tools, include_usage)
            return httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=stream)
        result = await self._client.create(messages, tools=tools)
        answer = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": _message(result), "finish_reason": _finish(result), "logprobs": None}],
            "usage": _usage(result),
        }
        return httpx2.Response(200, json=answer)


class _Stream(httpx2.AsyncByteStream):
    """The demo's streamed answer as Server-Sent Events: its pieces as they come (paced by `DEMO_LATENCY_MS`)."""

    def __init__(self, client: DemoChatCompletionClient, messages: list[LLMMessage], tools: list[Any], include_usage: bool):
        self._client, self._messages, self._tools, self._include_usage = client, messages, tools, include_usage
        self._id, self._created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())

    def _chunk(self, delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
        choices = [] if usage is not None else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
        chunk: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._client.model,
            "choices": choices,
        }
        if usage is not None:
            chunk["usage"] = usage
        return f"data: {json.dumps(chunk)}\n\n".encode()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._chunk({"role": "assistant", "content": ""})
        async for item in self._client.create_stream(self._messages, tools=self._tools):
            if isinstance(item, str):
                yield self._chunk({"content": item})
                continue
            if not isinstance(item.content, str):
                calls = _message(item)["tool_calls"]
                yield self._chunk({"tool_calls": [{"index": i, **c} for i, c in enumerate(calls)]})
            yield self._chunk({}, finish=_finish(item))
            if self._include_usage:
                yield self._chunk({}, usage=_usage(item))
        yield b"data: [DONE]\n\n"


def http_client(model: str, responders: Sequence[Responder] = DEFAULT_RESPONDERS, me: str = "") -> httpx2.AsyncClient:
    """An httpx client whose every request the demo model answers in process, as the agent named `me`."""
    return httpx2.AsyncClient(transport=DemoTransport(model, responders, me))
