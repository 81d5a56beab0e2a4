"""A small, real HTTP server on 127.0.0.1 that speaks enough of the OpenAI API for the app's OpenAI path:
chat completions (JSON and SSE streaming), image generations and the model list. Deterministic answers,
every request recorded, and a fault switch for error-path tests.

    with OpenAIStub() as server:
        settings = Settings(provider="openai", api_key="sk-test", base_url=server.base_url, ...)
        ...
        assert server.requests_to("/chat/completions")[0].headers["authorization"] == "Bearer sk-test"

    server.fail_next(401, path="/chat/completions")       # the next chat request gets an OpenAI-style 401

Faults are objects with one method, `respond(handler, request)`: a new fault mode (429 with Retry-After,
a hanging request, a stream cut half-way) is one more small class, queued with `server.add_fault(...)`."""

from __future__ import annotations

import base64
import io
import json
import socket as _socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

TOKENS_PER_IMAGE = 85
DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-image-1", "dall-e-3")
# Image tokens a gpt-image picture writes by (quality, size), as OpenAI's image generation guide tabulates them
# ("Cost and latency"); the stub's own copy, so a wrong table in core.costs cannot agree with itself
IMAGE_OUTPUT_TOKENS = {
    ("low", "1024x1024"): 272,
    ("low", "1024x1536"): 408,
    ("low", "1536x1024"): 400,
    ("medium", "1024x1024"): 1056,
    ("medium", "1024x1536"): 1584,
    ("medium", "1536x1024"): 1568,
    ("high", "1024x1024"): 4160,
    ("high", "1024x1536"): 6240,
    ("high", "1536x1024"): 6208,
}


# --- what the stub answers ------------------------------------------------------------------------------


def count_words(text: str) -> int:
    return len((text or "").split())


def message_parts(message: dict[str, Any]) -> tuple[list[str], int]:
    """(texts, number of image parts) of one chat message, whatever its content shape."""
    content = message.get("content")
    if isinstance(content, str):
        return [content], 0
    texts, images = [], 0
    for part in content or []:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            texts.append(str(part.get("text", "")))
        elif part.get("type") == "image_url":
            images += 1
    return texts, images


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """Words in all message texts + TOKENS_PER_IMAGE per image part: deterministic, easy to recompute."""
    total = 0
    for message in messages:
        texts, images = message_parts(message)
        total += sum(count_words(t) for t in texts) + TOKENS_PER_IMAGE * images
    return total


def image_usage(prompt: str, quality: str, size: str) -> dict[str, Any]:
    """A gpt-image answer's `usage` in OpenAI's shape: the openai SDK's `openai/types/images_response.py` (`Usage`:
    input_tokens, input_tokens_details {text_tokens, image_tokens}, output_tokens, total_tokens, and the optional
    output_tokens_details {image_tokens, text_tokens}) and the API reference's ImagesResponse ("For the GPT image
    models only, the token usage information for the image generation"). A generation has no input image: its
    image input tokens are 0 (an edit's are not). Text tokens: a word a token, as the chat answers count them;
    quality "auto" is drawn as medium."""
    text = count_words(prompt)
    made = IMAGE_OUTPUT_TOKENS.get(("medium" if quality == "auto" else quality, size), IMAGE_OUTPUT_TOKENS[("medium", "1024x1024")])
    return {
        "input_tokens": text,
        "input_tokens_details": {"text_tokens": text, "image_tokens": 0},
        "output_tokens": made,
        "total_tokens": text + made,
    }


def has_data_url_image(message: dict[str, Any]) -> bool:
    content = message.get("content")
    if not isinstance(content, list):
        return False
    for part in content:
        if isinstance(part, dict) and part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            if str(url).startswith("data:image/"):
                return True
    return False


def chat_reply(messages: list[dict[str, Any]]) -> str:
    """A critic's answer when the last user message carries a picture, else a short echo."""
    last_user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    if last_user is None:
        return "stub reply: (no user message)"
    texts, _ = message_parts(last_user)
    text = " ".join(t.strip() for t in texts if t.strip())
    if has_data_url_image(last_user):
        return f"CRITICS: Not nearly enough cats in this picture.\nPROMPT: {text} with many more cats"
    return f"stub reply: {' '.join(text.split()[:20])}"


def weather_team_reply(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any] | None:
    """How a tool-calling model plays the Weather group chat's roles (found by their system messages): the
    planner hands off to the user for a missing city, the weather assistant calls get_weather, the selector
    names a role. A message dict (content or tool_calls), or None when this is not the weather team."""
    system = " ".join(message_parts(m)[0][0] for m in messages if m.get("role") == "system" and message_parts(m)[0])
    tool_names = {(t.get("function") or {}).get("name") for t in tools or []}
    last = messages[-1]
    last_text = " ".join(message_parts(last)[0]) if last.get("content") else ""

    def call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
            ],
        }

    if "select the next role" in system or "select the next role" in last_text:
        return {"role": "assistant", "content": "weather_assistant" if "weather" in last_text.lower() else "planner"}
    if system.startswith("You are the weather assistant"):
        if last.get("role") == "tool":
            return {"role": "assistant", "content": str(last.get("content"))}
        city = last_text.rsplit("for ", 1)[-1].strip(" .")
        if " and " in city:  # several cities: several tool calls in one message, as parallel tool calling sends them
            calls = [call("get_weather", {"city": c.strip()})["tool_calls"][0] for c in city.split(" and ")]
            return {"role": "assistant", "content": None, "tool_calls": calls}
        return call("get_weather", {"city": city})
    if system.startswith("You are the planner"):
        if last.get("name") == "weather_assistant":
            return {"role": "assistant", "content": f"The weather: {last_text} TERMINATE"}
        asked = any(m.get("role") == "tool" for m in messages[-3:])
        if "weather" in last_text.lower() and " in " not in last_text and "transfer_to_user" in tool_names:
            return call("transfer_to_user", {"question": "Which city?"})
        city = last_text.strip(" ?.") if asked else last_text.rsplit(" in ", 1)[-1].strip(" ?.")
        return {"role": "assistant", "content": f"weather_assistant: please get the current weather for {city}."}
    return None


def make_png(size: str = "32x32", color: tuple[int, int, int] = (240, 160, 60)) -> bytes:
    """A real PNG made with Pillow; small whatever size was asked (tests do not need megapixels)."""

    try:
        w, h = (int(v) for v in size.split("x"))
    except ValueError:
        w, h = 32, 32
    scale = max(w, h) / 64 if max(w, h) > 64 else 1
    image = Image.new("RGB", (max(1, int(w / scale)), max(1, int(h / scale))), color)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


# --- what the stub saw ------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # the parsed JSON body, or None
    raw: bytes = b""
    status: int = 0  # what the stub answered
    usage: dict[str, Any] | None = None  # a chat answer's usage as the stub computed it (sent, or not, by its wire)

    @property
    def authorization(self) -> str:
        return self.headers.get("authorization", "")


# --- faults -----------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """Answer one request in place of the normal handler. Subclass and override `respond` for new modes."""

    path: str | None = None  # only requests whose path contains this; None: any request
    times: int = 1  # how many matching requests it takes
    skip: int = 0  # let this many matching requests through first (a failure in the middle of a turn)

    def matches(self, request: RecordedRequest) -> bool:
        return self.path is None or self.path in request.path

    def respond(self, handler: "_Handler", request: RecordedRequest) -> None:
        raise NotImplementedError


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
    500: "server_error",
    503: "server_error",
}
_ERROR_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}


@dataclass
class StatusFault(Fault):
    """An HTTP error status with an OpenAI-style error body (and optional extra headers such as Retry-After)."""

    status: int = 500
    message: str | None = None
    type: str | None = None
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def respond(self, handler: "_Handler", request: RecordedRequest) -> None:
        handler.send_error_json(
            self.status,
            self.message or f"Stub fault: HTTP {self.status}.",
            type_=self.type or _ERROR_TYPES.get(self.status, "api_error"),
            code=self.code if self.code is not None else _ERROR_CODES.get(self.status),
            headers=self.headers,
        )


@dataclass
class HangFault(Fault):
    """No answer for `seconds` (longer than the client waits), then the connection closes."""

    seconds: float = 5.0

    def respond(self, handler: "_Handler", request: RecordedRequest) -> None:
        time.sleep(self.seconds)
        handler.close_connection = True


@dataclass
class MalformedJSONFault(Fault):
    """HTTP 200 whose body is not JSON."""

    def respond(self, handler: "_Handler", request: RecordedRequest) -> None:
        raw = b'{"id": "chatcmpl-broken", "choices": [{"message": '
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        handler.wfile.write(raw)


@dataclass
class CutStreamFault(Fault):
    """A streamed answer that stops after its first chunk: the connection drops mid-stream."""

    def respond(self, handler: "_Handler", request: RecordedRequest) -> None:
        if not (request.body or {}).get("stream"):  # a plain answer: the body stops half-way
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", "4096")
            handler.end_headers()
            handler.wfile.write(b'{"id": "chatcmpl-cut", "object": "chat.completion", "choices": [')
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(_socket.SHUT_RDWR)
            return
        handler.start_sse()
        handler.send_event(
            {
                "id": "chatcmpl-cut",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": "CRITICS: half"}, "finish_reason": None}],
            }
        )
        handler.wfile.flush()
        handler.close_connection = True
        handler.connection.shutdown(_socket.SHUT_RDWR)


def key_sent(request: RecordedRequest) -> str:
    """The API key a request carried (its bearer token)."""
    return request.authorization.removeprefix("Bearer ").strip()


@dataclass
class EchoKeyFault(Fault):
    """An error status whose OpenAI-style body quotes the key the request was sent with, as some providers and
    gateways do ("Incorrect API key provided: sk-…"): a key in an error text, for the secrets tests."""

    status: int = 401

    def respond(self, handler: "_Handler", request: RecordedRequest) -> None:
        key = key_sent(request)
        handler.send_error_json(
            self.status,
            f"Incorrect API key provided: {key}. The request carried Authorization: Bearer {key}",
            type_=_ERROR_TYPES.get(self.status, "api_error"),
            code=_ERROR_CODES.get(self.status),
        )


@dataclass
class EchoKeyStreamFault(Fault):
    """A streamed answer whose partial text quotes the key the request was sent with, then breaks off:
    `ending="cut"` drops the connection; `ending="error"` first sends an error event quoting the key again (how
    OpenAI-compatible servers report a failure mid-stream; the openai SDK raises it as an APIError)."""

    ending: str = "cut"

    def respond(self, handler: "_Handler", request: RecordedRequest) -> None:
        key = key_sent(request)
        if not (request.body or {}).get("stream"):  # a plain answer: an error quoting the key
            handler.send_error_json(500, f"Upstream failed for key {key}", type_="server_error")
            return
        handler.start_sse()
        handler.send_event(
            {
                "id": "chatcmpl-echo",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": (request.body or {}).get("model", "gpt-4o-mini"),
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": f"CRITICS: the key {key} is"}, "finish_reason": None}],
            }
        )
        if self.ending == "error":
            handler.send_event(
                {"error": {"message": f"Upstream broke off while answering key {key}", "type": "server_error", "param": None, "code": None}}
            )
        handler.wfile.flush()
        handler.close_connection = True
        handler.connection.shutdown(_socket.SHUT_RDWR)


@dataclass
class ReplyFault(Fault):
    """A well-formed chat answer with this content (a model that ignores the format it was asked for)."""

    content: str = ""

    def respond(self, handler: "_Handler", request: RecordedRequest) -> None:
        model = (request.body or {}).get("model", "gpt-4o-mini")
        usage = {"prompt_tokens": 10, "completion_tokens": count_words(self.content), "total_tokens": 10 + count_words(self.content)}
        if (request.body or {}).get("stream"):  # asked for a stream: the same answer as one
            base = {"id": "chatcmpl-odd", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
            handler.start_sse()
            for i, word in enumerate(self.content.split(" ")):  # word by word, at the stub's pace
                handler.send_event(
                    {
                        **base,
                        "choices": [
                            {"index": 0, "delta": {"role": "assistant", "content": word if i == 0 else " " + word}, "finish_reason": None}
                        ],
                    }
                )
                time.sleep(handler.stub.stream_delay_s)
            handler.send_event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            handler.send_event({**base, "choices": [], "usage": usage})
            handler.send_event("[DONE]")
            return
        handler.send_json(
            200,
            {
                "id": "chatcmpl-odd",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": self.content}, "finish_reason": "stop"}],
                "usage": usage,
            },
        )


@dataclass
class WhileAnswering(Fault):
    """Something else goes wrong in the world at this request (a store killed mid-turn); the model answers
    as usual."""

    action: Any = None  # called with no arguments before the normal answer
    passes_through = True

    def respond(self, handler: "_Handler", request: RecordedRequest) -> None:
        self.action()


# --- how servers stream (issue 30) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wire:
    """How one OpenAI-compatible server writes a streamed chat completion; the stub streams in the shape it is given
    (`OpenAIStub.wire`). Each shape in WIRES cites the server code it copies."""

    usage: str = "last-chunk"  # "last-chunk" (its own chunk, empty choices), "finish-chunk" (on the finish chunk), "none"
    done: bool = True  # `data: [DONE]` at the end
    tool_args_piece: int = 0  # tool-call arguments in pieces of this many characters (0: whole, in one delta)
    reasoning_field: str = ""  # reasoning deltas before the content: "reasoning_content" or "reasoning"
    error_after: int = -1  # an error event after this many content deltas
    cut_after: int = -1  # the connection cut (a chunked body left unfinished) after this many content deltas
    junk: bool = False  # an empty data: line, a line that is not JSON, a chunk with neither choices nor usage
    model: bool = True  # chunks name the model
    usage_numbers: tuple[int, int] | None = None  # (prompt, completion) tokens reported instead of the true ones
    ignores_stream_options: bool = False  # usage only when the server would send it anyway


WIRES: dict[str, Wire] = {
    # OpenAI's reference: with stream_options.include_usage "an additional chunk will be streamed before the
    # data: [DONE] message ... the choices field will always be an empty array" (openai/openai-openapi, openapi.yaml,
    # ChatCompletionStreamOptions); the openai SDK stops at [DONE] (openai-python src/openai/_streaming.py).
    # vLLM does the same (vllm/entrypoints/openai/serving_chat.py, chat_completion_stream_generator:
    # final_usage_chunk with choices=[], prompt_tokens_details.cached_tokens with --enable-prompt-tokens-details,
    # tool-call arguments streamed as many deltas), and Ollama (openai/openai.go ToChunk / ToUsage, usage chunk
    # written by middleware/openai.go when include_usage; tool calls whole in one delta).
    "openai": Wire(),
    "vllm-tools": Wire(tool_args_piece=4),
    # llama.cpp's server: the final chunk holds finish_reason *and* usage (and timings), then data: [DONE]
    # (ggml-org/llama.cpp tools/server/server-task.cpp, server_task_result_cmpl_final::to_json_oaicompat_chat_stream);
    # LiteLLM's stream chunk builder does the same for some providers (autogen-ext's "liteLLM" workaround)
    "llama.cpp": Wire(usage="finish-chunk"),
    # a server that ignores stream_options (Ollama before it read include_usage; many gateways): no usage at all
    "no-usage": Wire(usage="none", ignores_stream_options=True),
    # a finish chunk, then the body simply ends: no [DONE] (the openai SDK ends the stream at the end of the body)
    "no-done": Wire(done=False),
    # reasoning before the content: llama.cpp and vLLM (reasoning parsers) send delta.reasoning_content, DeepSeek's
    # API too; Ollama sends delta.reasoning (openai/openai.go, Message.Reasoning), as newer vLLM does
    "reasoning_content": Wire(reasoning_field="reasoning_content"),
    "reasoning": Wire(reasoning_field="reasoning"),
    # an error mid-stream: vLLM yields data: {"error": ...} from create_streaming_error_response then data: [DONE]
    # (serving_chat.py); LiteLLM's proxy yields data: {"error": ...} from async_data_generator
    # (litellm/proxy/proxy_server.py)
    "error-mid-stream": Wire(error_after=2),
    # the connection truly cut: a chunked HTTP/1.1 body (uvicorn, Go's net/http, cpp-httplib all stream chunked)
    # that stops without its last chunk
    "cut": Wire(cut_after=2),
    # bad input
    "junk-lines": Wire(junk=True),
    "no-model": Wire(model=False),
    "odd-usage": Wire(usage_numbers=(-5, 10**13)),
}


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] if size else [text]


# --- the server -------------------------------------------------------------------------------------------


class OpenAIStub:
    """The OpenAI HTTP API on 127.0.0.1 in a background thread; a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, models: tuple[str, ...] = DEFAULT_MODELS, stream_delay_s: float = 0.0):
        self.host, self._port = host, port
        self.wire = WIRES["openai"]  # how streamed answers are written (issue 30)
        self.cached_share = 0.0  # this share of each prompt's tokens reported as cached (prompt_tokens_details)
        self.reasoning_tokens = 0  # reported in completion_tokens_details (part of the completion tokens)
        self.image_usage = True  # gpt-image answers carry `usage` (as OpenAI's do); False: a server that reports none
        self.stream_delay_s = stream_delay_s  # between the words of a streamed answer: a slow model
        self.models = list(models)
        self.requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> "OpenAIStub":
        handler = type("BoundHandler", (_Handler,), {"stub": self})
        self._httpd = ThreadingHTTPServer((self.host, self._port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="openai-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "OpenAIStub":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "start() the stub first"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # faults
    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def fail_next(
        self,
        status: int = 500,
        *,
        times: int = 1,
        path: str | None = None,
        message: str | None = None,
        type: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """The next `times` requests (whose path contains `path`, when given) get this error status."""
        return self.add_fault(
            StatusFault(path=path, times=times, status=status, message=message, type=type, code=code, headers=dict(headers or {}))
        )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, request: RecordedRequest) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.matches(request):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # what was seen
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if path in r.path]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()


class _Handler(BaseHTTPRequestHandler):
    stub: OpenAIStub  # set on the bound subclass
    server_version = "OpenAIStub/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    # plumbing
    def _read(self, method: str) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = self.path.split("?", 1)[0]
        request = RecordedRequest(method=method, path=path, headers={k.lower(): v for k, v in self.headers.items()}, body=body, raw=raw)
        self.stub._record(request)
        self._request = request
        return request

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self._request.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_error_json(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_json(status, {"error": {"message": message, "type": type_, "param": param, "code": code}}, headers)

    def start_sse(self) -> None:
        self._request.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")  # HTTP/1.0: the body ends when the connection closes
        self.end_headers()

    def send_event(self, data: Any) -> None:
        text = data if isinstance(data, str) else json.dumps(data)
        self.wfile.write(f"data: {text}\n\n".encode())
        self.wfile.flush()

    def _dispatch(self, method: str, routes: dict[str, Any]) -> None:
        request = self._read(method)
        fault = self.stub._take_fault(request)
        if fault is not None:
            fault.respond(self, request)
            if not getattr(fault, "passes_through", False):
                return
        route = routes.get(request.path)
        if route is None:
            self.send_error_json(404, f"Unknown endpoint {method} {request.path}.", code="unknown_url")
            return
        if method == "POST" and not isinstance(request.body, dict):
            self.send_error_json(400, "The body must be a JSON object.")
            return
        route(request)

    def do_GET(self) -> None:
        self._dispatch("GET", {"/v1/models": self._models})

    def do_POST(self) -> None:
        self._dispatch("POST", {"/v1/chat/completions": self._chat, "/v1/images/generations": self._images})

    # endpoints
    def _models(self, request: RecordedRequest) -> None:
        self.send_json(
            200,
            {
                "object": "list",
                "data": [{"id": m, "object": "model", "created": 1700000000, "owned_by": "openai-stub"} for m in self.stub.models],
            },
        )

    def _chat(self, request: RecordedRequest) -> None:
        body = request.body
        model, messages = body.get("model"), body.get("messages")
        if not model or not isinstance(messages, list) or not messages:
            self.send_error_json(400, "'model' and a non-empty 'messages' list are required.")
            return
        scripted = weather_team_reply(messages, body.get("tools") or [])
        reply = scripted.get("content") or "" if scripted else chat_reply(messages)
        usage = request.usage = self._usage(messages, reply)
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        if not body.get("stream"):
            message = {"role": "assistant", "content": reply, "refusal": None}
            if scripted and scripted.get("tool_calls"):
                message = {**scripted, "refusal": None}
            self.send_json(
                200,
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "system_fingerprint": "fp_stub",
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "logprobs": None,
                            "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                        }
                    ],
                    "usage": usage,
                },
            )
            return
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        _Stream(self, self.stub.wire, completion_id, created, model).send(scripted, reply, usage if wants_usage else None)

    def _usage(self, messages: list[dict[str, Any]], reply: str) -> dict[str, Any]:
        """OpenAI's CompletionUsage for this answer: cached prompt tokens and reasoning tokens in their details."""
        stub = self.stub
        usage: dict[str, Any] = {"prompt_tokens": prompt_tokens(messages), "completion_tokens": max(1, count_words(reply))}
        usage["completion_tokens"] += stub.reasoning_tokens
        if stub.wire.usage_numbers is not None:
            usage["prompt_tokens"], usage["completion_tokens"] = stub.wire.usage_numbers
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if stub.cached_share:
            usage["prompt_tokens_details"] = {"cached_tokens": int(usage["prompt_tokens"] * stub.cached_share), "audio_tokens": 0}
        if stub.reasoning_tokens:
            usage["completion_tokens_details"] = {"reasoning_tokens": stub.reasoning_tokens, "audio_tokens": 0}
        return usage

    def _images(self, request: RecordedRequest) -> None:
        body = request.body
        model, prompt = str(body.get("model") or "dall-e-2"), body.get("prompt")
        if not prompt:
            self.send_error_json(400, "'prompt' is required.", param="prompt")
            return
        if model.startswith("gpt-image") and "response_format" in body:
            self.send_error_json(400, "Unknown parameter: 'response_format'.", param="response_format", code="unknown_parameter")
            return
        if model.startswith("dall-e") and body.get("response_format") != "b64_json":
            # the real API answers a URL then; the app must ask for base64
            self.send_error_json(400, "This stub only answers response_format='b64_json' for DALL-E models.", param="response_format")
            return
        png = make_png(str(body.get("size") or "1024x1024"))
        item = {"b64_json": base64.b64encode(png).decode(), "revised_prompt": f"{prompt} (revised by the stub)"}
        answer: dict[str, Any] = {"created": int(time.time()), "data": [item]}
        if model.startswith("gpt-image") and self.stub.image_usage:
            answer["usage"] = image_usage(str(prompt), str(body.get("quality") or "auto"), str(body.get("size") or "1024x1024"))
        self.send_json(200, answer)


class _Stream:
    """One streamed answer written in a server's shape (`Wire`)."""

    def __init__(self, handler: _Handler, wire: Wire, completion_id: str, created: int, model: str):
        self.handler, self.wire = handler, wire
        self.base: dict[str, Any] = {"id": completion_id, "object": "chat.completion.chunk", "created": created}
        if wire.model:
            self.base["model"] = model
        self.base["system_fingerprint"] = "fp_stub"
        self.chunked = wire.cut_after >= 0  # HTTP/1.1 chunked, as real servers stream, so a cut is a cut

    def send(self, scripted: dict[str, Any] | None, reply: str, usage: dict[str, Any] | None) -> None:
        if self.wire.ignores_stream_options:
            usage = None
        self.start()
        self.event(self.chunk({"role": "assistant", "content": ""}))
        if self.wire.reasoning_field:
            for word in ("Let", " me", " think."):
                self.event(self.chunk({self.wire.reasoning_field: word}))
        if scripted and scripted.get("tool_calls"):
            self.tool_calls(scripted["tool_calls"])
            finish = "tool_calls"
        else:
            if not self.content(reply):
                return
            finish = "stop"
        self.finish(finish, usage)

    def start(self) -> None:
        h = self.handler
        h._request.status = 200
        if self.chunked:
            h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            return
        h.start_sse()

    def write(self, data: bytes) -> None:
        if self.chunked:
            data = f"{len(data):x}\r\n".encode() + data + b"\r\n"
        self.handler.wfile.write(data)
        self.handler.wfile.flush()

    def event(self, data: Any) -> None:
        self.write(f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode())

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
        return {**self.base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}], **extra}

    def tool_calls(self, calls: list[dict[str, Any]]) -> None:
        """As OpenAI streams a tool call: id and name first, then the arguments (in pieces, as vLLM and OpenAI do)."""
        for index, call in enumerate(calls):
            head = {"index": index, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": ""}}
            self.event(self.chunk({"tool_calls": [head]}))
            for piece in _pieces(call["function"]["arguments"], self.wire.tool_args_piece):
                self.event(self.chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))

    def content(self, reply: str) -> bool:
        """The answer word by word; False when the shape ends the stream early (an error event, a cut)."""
        for i, word in enumerate(reply.split(" ")):
            if i == self.wire.error_after:
                error = {"message": "The model backend failed while answering.", "type": "server_error", "param": None, "code": None}
                self.event({"error": error})
                self.event("[DONE]")
                return False
            if i == self.wire.cut_after:
                self.handler.close_connection = True
                self.handler.connection.shutdown(_socket.SHUT_RDWR)
                return False
            if self.wire.junk and i == 1:
                self.write(b"data: \n\n")  # an empty data: line
                self.write(b"data: {not json\n\n")
                self.event({**self.base, "object": "chat.completion.chunk"})  # neither choices nor usage
            self.event(self.chunk({"content": word if i == 0 else " " + word}))
            time.sleep(self.handler.stub.stream_delay_s)
        return True

    def finish(self, finish: str, usage: dict[str, Any] | None) -> None:
        if usage is not None and self.wire.usage == "finish-chunk":
            timings = {"prompt_n": usage["prompt_tokens"], "predicted_n": usage["completion_tokens"]}  # llama.cpp's
            self.event(self.chunk({}, finish, usage=usage, timings=timings))
        else:
            self.event(self.chunk({}, finish))
            if usage is not None and self.wire.usage == "last-chunk":
                self.event({**self.base, "choices": [], "usage": usage})
        if self.wire.done:
            self.event("[DONE]")
        if self.chunked:
            self.handler.wfile.write(b"0\r\n\r\n")
