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


# --- the server -------------------------------------------------------------------------------------------


class OpenAIStub:
    """The OpenAI HTTP API on 127.0.0.1 in a background thread; a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, models: tuple[str, ...] = DEFAULT_MODELS, stream_delay_s: float = 0.0):
        self.host, self._port = host, port
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
        usage = {"prompt_tokens": prompt_tokens(messages), "completion_tokens": max(1, count_words(reply))}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
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
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self.start_sse()

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_stub",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }

        self.send_event(chunk({"role": "assistant", "content": ""}))
        if scripted and scripted.get("tool_calls"):  # as OpenAI streams a tool call: name first, then arguments
            for index, call in enumerate(scripted["tool_calls"]):
                self.send_event(
                    chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": index,
                                    "id": call["id"],
                                    "type": "function",
                                    "function": {"name": call["function"]["name"], "arguments": ""},
                                }
                            ]
                        }
                    )
                )
                self.send_event(chunk({"tool_calls": [{"index": index, "function": {"arguments": call["function"]["arguments"]}}]}))
            self.send_event(chunk({}, "tool_calls"))
        else:
            words = reply.split(" ")
            for i, word in enumerate(words):
                self.send_event(chunk({"content": word if i == 0 else " " + word}))
                time.sleep(self.stub.stream_delay_s)
            self.send_event(chunk({}, "stop"))
        if include_usage:
            self.send_event(
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "system_fingerprint": "fp_stub",
                    "choices": [],
                    "usage": usage,
                }
            )
        self.send_event("[DONE]")

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
        self.send_json(200, {"created": int(time.time()), "data": [item]})
