"""What an OpenAI-compatible server really sent for one model call, read where the bytes are.

agentchat's `OpenAIChatCompletionClient` normalises a server's answer before we see it: its `RequestUsage` keeps
prompt and completion tokens only (cached and reasoning tokens are dropped), a streamed reply whose finish chunk
also carries usage ends with `finish_reason="unknown"` (its LiteLLM workaround, autogen_ext
`models/openai/_openai_client.py`, `create_stream`), and a server that never sent usage reads as 0 tokens. The
openai SDK under it never shows `data: [DONE]` to its caller (`openai/_streaming.py` stops at it), and a body that
simply ends looks like a finished stream. So each call's HTTP response is read here, in the transport of the openai
client's httpx client (`WireTap`, given to the client as `http_client`): the SSE events as the server wrote them,
whether a finish_reason and `[DONE]` came, and the server's own usage object (for a plain JSON answer, the body).

Which response belongs to which call: `TracedChatCompletionClient` puts a fresh `WireCall` in a context variable
(`watching`) before it calls agentchat; agentchat sends the request on an asyncio task it creates then, which copies
the context, so the transport finds that call, also when two agents call one client at once.

The tap also drops what the SDK cannot read and a server should not have sent (each counted on the call and said
on its span): an empty `data:` line (no event, by the SSE spec; the SDK would parse "" as JSON and fail), a line
that is not JSON, and a chunk with neither `choices` nor `usage` nor `error`. An `error` event passes through: the
SDK raises it as an `APIError`, the turn's own sentence."""

from __future__ import annotations

import contextlib
import json
import zlib
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Iterator

import httpx2
from openai import DefaultAsyncHttpx2Client

from .. import contract

# More than any model's context window (gpt-4.1: 1,047,576): a count above it is a server's bug, not a bill.
MAX_TOKENS_PER_CALL = 2_000_000


@dataclass
class WireCall:
    """One model call as its server answered it: the last attempt's response (the SDK retries on its own)."""

    responded: bool = False
    streamed: bool = False
    done: bool = False  # `data: [DONE]` came
    finish_reason: str | None = None  # the last non-null finish_reason the server sent
    usage: dict[str, Any] | None = None  # the server's own usage object, the last one it sent
    model: str | None = None
    chunks: int = 0  # stream events handed to the SDK (JSON chunks)
    dropped: dict[str, int] = field(default_factory=dict)  # what the tap left out, by what it was

    def begin(self, streamed: bool) -> None:
        """A (new) response for this call: whatever an earlier attempt sent no longer counts."""
        self.responded, self.streamed, self.done, self.finish_reason = True, streamed, False, None
        self.usage, self.model, self.chunks, self.dropped = None, None, 0, {}

    def broke_off(self) -> bool:
        """The server's stream ended without saying it ended: no finish_reason and no `[DONE]`."""
        return self.responded and self.streamed and not self.done and self.finish_reason is None

    def read_answer(self, answer: Any) -> None:
        """A chunk or a whole answer as JSON: its finish_reason, usage and model."""
        for choice in answer.get("choices") or ():
            if isinstance(choice, dict) and choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        if isinstance(answer.get("usage"), dict):
            self.usage = answer["usage"]
        if answer.get("model"):
            self.model = str(answer["model"])

    def drop(self, what: str) -> None:
        self.dropped[what] = self.dropped.get(what, 0) + 1

    def problems(self) -> str:
        """What the tap left out, in words ("" when nothing)."""
        said = [f"{n} {what}{'s' if n > 1 else ''}" for what, n in self.dropped.items()]
        return f"The server's stream held {', '.join(said)}; left out." if said else ""


_watched: ContextVar[WireCall | None] = ContextVar("app_wire_call", default=None)


@contextlib.contextmanager
def watching(call: WireCall) -> Iterator[WireCall]:
    """Requests sent from here (and from tasks started here) report to `call`."""
    token = _watched.set(call)
    try:
        yield call
    finally:
        with contextlib.suppress(ValueError):  # an async generator closed from another context: nothing to undo there
            _watched.reset(token)


# --- usage as billed ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CallUsage:
    """One call's usage: input, output, cached input and reasoning tokens; None = the server reported none."""

    input_tokens: int | None
    output_tokens: int | None
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    note: str = ""  # what was clamped, or why the tokens are unknown

    @property
    def known(self) -> bool:
        return self.input_tokens is not None and self.output_tokens is not None

    def attribute(self) -> dict[str, int] | None:
        """In MLflow's usage keys (`mlflow.chat.tokenUsage`): input tokens include the cached ones, which
        `cache_read_input_tokens` names so MLflow's catalog prices them at the model's cache-read rate. None when
        the server reported none (MLflow then counts nothing for the call, rather than 0)."""
        if not self.known:
            return None
        tokens_in, tokens_out = int(self.input_tokens or 0), int(self.output_tokens or 0)
        usage = {contract.Usage.INPUT_TOKENS: tokens_in, contract.Usage.OUTPUT_TOKENS: tokens_out, contract.Usage.TOTAL_TOKENS: tokens_in + tokens_out}
        if self.cached_tokens:
            usage[contract.Usage.CACHE_READ_INPUT_TOKENS] = self.cached_tokens
        return usage


def _count(value: Any, name: str, notes: list[str], top: int = MAX_TOKENS_PER_CALL) -> int:
    """A token count as the server reported it, within 0..top; anything else clamped and said."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if value is not None:
            notes.append(f"{name} {value!r} is not a number, counted as 0")
        return 0
    if value < 0 or value > top:
        clamped = 0 if value < 0 else top
        notes.append(f"{name} {value:,} clamped to {clamped:,}")
        return clamped
    return int(value)


def _details(server: dict[str, Any], key: str) -> dict[str, Any]:
    value = server.get(key)
    return value if isinstance(value, dict) else {}


def usage_from(server: dict[str, Any] | None) -> CallUsage:
    """The server's usage object (OpenAI's `CompletionUsage`: prompt/completion tokens, with
    `prompt_tokens_details.cached_tokens` and `completion_tokens_details.reasoning_tokens`) as billed: negative or
    absurd numbers clamped and said; no usage at all is unknown, never 0."""
    if not isinstance(server, dict):
        return CallUsage(None, None, note="The server reported no token usage for this call.")
    notes: list[str] = []
    tokens_in = _count(server.get("prompt_tokens"), "input tokens", notes)
    tokens_out = _count(server.get("completion_tokens"), "output tokens", notes)
    prompt_details = _details(server, "prompt_tokens_details")
    output_details = _details(server, "completion_tokens_details")
    cached = _count(prompt_details.get("cached_tokens"), "cached tokens", notes, tokens_in)
    reasoning = _count(output_details.get("reasoning_tokens"), "reasoning tokens", notes, tokens_out)
    note = f"The server's usage was odd: {'; '.join(notes)}." if notes else ""
    return CallUsage(tokens_in, tokens_out, cached, reasoning, note)


# --- the transport ----------------------------------------------------------------------------------------------------
class WireTap(httpx2.AsyncBaseTransport):
    """The openai client's transport, reading each chat completion's response for the call that is watching."""

    def __init__(self, inner: httpx2.AsyncBaseTransport | None = None) -> None:
        self._inner = inner or httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        call = _watched.get()
        response = await self._inner.handle_async_request(request)
        if call is None or not request.url.path.endswith("/chat/completions") or response.status_code >= 400:
            return response  # an error status is the SDK's to raise
        streamed = response.headers.get("content-type", "").startswith("text/event-stream")
        encoding = response.headers.get("content-encoding", "identity").lower()
        if streamed and encoding != "identity":
            return response  # a compressed stream (no server here sends one): left to agentchat's reading
        call.begin(streamed)
        tap = _EventTap(response.stream, call) if streamed else _BodyTap(response.stream, call, encoding)
        response.stream = tap
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def http_client(**kwargs: Any) -> httpx2.AsyncClient:
    """An httpx client with the openai SDK's own defaults (timeouts, connection limits) and the tap."""
    return DefaultAsyncHttpx2Client(transport=WireTap(), **kwargs)


class _EventTap(httpx2.AsyncByteStream):
    """A stream's bytes, event by event (an event ends at a blank line), on to the SDK unchanged but for the
    events it cannot read (`WireCall.drop`). Only whole lines go on: the SDK's decoder acts on whole lines too."""

    def __init__(self, inner: Any, call: WireCall) -> None:
        self._inner, self._call = inner, call
        self._event: list[bytes] = []

    async def __aiter__(self) -> AsyncIterator[bytes]:
        rest = b""
        async for piece in self._inner:
            data = rest + piece
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            if cut and (out := self._lines(data[:cut])):
                yield out
        if rest and (out := self._lines(rest + b"\n")):
            yield out
        if self._event and (out := self._lines(b"\n")):  # the last event, had the server not ended it
            yield out

    def _lines(self, block: bytes) -> bytes:
        out: list[bytes] = []
        for line in block.splitlines(keepends=True):
            self._event.append(line)
            if not line.strip(b"\r\n"):  # a blank line: the event is whole
                event, self._event = self._event, []
                out.extend(event if self._keep(event) else event[-1:])
        return b"".join(out)

    def _keep(self, event: list[bytes]) -> bool:
        data = [line[5:].strip() for line in event if line.startswith(b"data:")]
        if not data:
            return True  # comments, retry:, a bare blank line: the SDK skips them itself
        payload = b"\n".join(data)
        return _judge(self._call, payload)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _judge(call: WireCall, payload: bytes) -> bool:
    """Whether one event's data goes on to the SDK; what it says is noted on the call."""
    if payload == b"[DONE]":
        call.done = True
        return True
    if not payload:
        call.drop("empty data: line")
        return False
    if _plain_delta(payload):
        call.chunks += 1  # a delta with nothing to read for the call: the SDK parses it, not us too
        return True
    try:
        answer = json.loads(payload)
    except ValueError:
        call.drop("line that is not JSON")
        return False
    if not isinstance(answer, dict) or not ({"choices", "usage", "error"} & answer.keys()):
        call.drop("chunk with neither choices nor usage")
        return False
    if isinstance(answer.get("choices"), list) or isinstance(answer.get("usage"), dict):
        call.chunks += 1
        call.read_answer(answer)
    return True


_NO_FINISH = (b'"finish_reason":null', b'"finish_reason": null')


def _plain_delta(payload: bytes) -> bool:
    """A chunk that is surely one JSON object of choices without a finish_reason or usage: most of a stream."""
    return (
        payload[:1] == b"{"
        and payload[-1:] == b"}"
        and b'"choices"' in payload
        and b'"usage"' not in payload
        and payload.count(b'"finish_reason"') == 1
        and any(mark in payload for mark in _NO_FINISH)
    )


class _BodyTap(httpx2.AsyncByteStream):
    """A plain JSON answer's bytes, passed on unchanged and read once whole (gzip or deflate undone here: the tap
    sees the bytes before httpx decodes them)."""

    def __init__(self, inner: Any, call: WireCall, encoding: str) -> None:
        self._inner, self._call, self._encoding = inner, call, encoding
        self._body: list[bytes] = []

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for piece in self._inner:
            self._body.append(piece)
            yield piece
        self._read(b"".join(self._body))

    def _read(self, body: bytes) -> None:
        try:
            if self._encoding in ("gzip", "deflate"):
                body = zlib.decompress(body, 47)  # 32 + 15: a gzip or zlib header, found by itself
            elif self._encoding != "identity":
                return  # another encoding (br, zstd): usage as agentchat read it
            answer = json.loads(body)
        except (ValueError, zlib.error):
            return  # the SDK says what it could not read
        if isinstance(answer, dict):
            self._call.read_answer(answer)

    async def aclose(self) -> None:
        await self._inner.aclose()
