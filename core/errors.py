"""Turn any failure of a turn into one sentence a user can act on, with no secret in it."""

from __future__ import annotations

import re
from typing import Callable, Iterable

import openai

from . import redact


class UserError(ValueError):
    """Something the person must change before anything runs; the message says what, in one sentence."""


class ConfigError(UserError):
    """Settings that cannot work (a provider without a key, a scenario without an image model)."""


class InputError(UserError):
    """Input that cannot be used: an empty or too-long message, an unreadable report, an option too long."""


class TurnRefused(UserError):
    """A turn the hosted-demo limits do not allow (spend caps, turns a minute)."""


# agentchat teams re-raise an agent's failure as RuntimeError("Type: message\nTraceback:\n...") and drop the
# exception itself (autogen_agentchat SerializableException.__str__)
_WRAPPED = re.compile(r"(?P<type>[A-Za-z_]\w*): (?P<message>.*?)(?:\nTraceback:\n.*)?", re.DOTALL)


def describe(exc: BaseException, *, secrets: Iterable[str] = (), base_url: str = "") -> str:
    """`exc` in one sentence, with `secrets` and every other secret `core.redact.scrub` knows taken out before
    anything is cut short (a key cut in half would no longer be found)."""
    secrets = tuple(secrets)

    def clean(text: str) -> str:
        return redact.scrub(text, secrets)

    return clean(_describe(exc, base_url, clean))


def _unwrap(exc: BaseException) -> tuple[BaseException, str]:
    """(the exception to describe, its type name): a stand-in of the original type for an agentchat-wrapped
    failure, so a 401 inside a team reads like a 401 and not like a traceback."""
    match = _WRAPPED.fullmatch(str(exc)) if type(exc) is RuntimeError else None
    if match is None:
        return exc, type(exc).__name__
    name, message = match["type"], match["message"].strip()
    cls = getattr(openai, name, None) or {"ConfigError": ConfigError, "InputError": InputError, "TimeoutError": TimeoutError}.get(name)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        return RuntimeError(message), name
    stand_in = cls.__new__(cls)  # the original's constructor needs the HTTP response, gone by now
    stand_in.args = (message,)
    if isinstance(stand_in, openai.OpenAIError):
        code = re.match(r"Error code: (\d+)", message)
        # an APIStatusError's fields, which the page's sentence is built from
        vars(stand_in).update(message=message, body=None, status_code=int(code[1]) if code else None)
    return stand_in, name


_CUT_OFF = ("RemoteProtocolError", "IncompleteRead", "peer closed connection", "incomplete chunked read", "ReadError")


def _describe(exc: BaseException, base_url: str, clean: Callable[[str], str]) -> str:  # noqa: C901 - over the complexity limit when it came on (issue 28); split it when it next changes
    everything = f"{exc!s} {exc.__cause__!r} {exc.__context__!r}"  # agentchat keeps the cause in its text
    exc, type_name = _unwrap(exc)
    where = f" at {base_url}" if base_url else ""
    detail = _server_message(exc, clean)
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, openai.AuthenticationError):
        return f"The model provider rejected the API key (401){where}. Check the key in the sidebar or secrets."
    if isinstance(exc, openai.PermissionDeniedError):
        return f"The API key may not use this model (403){where}: {detail}"
    if isinstance(exc, openai.RateLimitError):
        return f"The model provider is rate limiting us (429){where} and retries did not help. Wait a moment, then Retry. {detail}".strip()
    if isinstance(exc, openai.NotFoundError):
        return f"The model or endpoint was not found (404){where}: {detail}"
    if isinstance(exc, openai.APITimeoutError):
        return f"The model provider did not answer in time{where}. Retry, or raise the timeout."
    if isinstance(exc, openai.APIConnectionError):
        if any(mark in everything for mark in _CUT_OFF):
            return f"The connection to the model provider broke off in the middle of its answer{where}. Retry."
        return f"Cannot reach the model provider{where}. Is the server running and the base URL right?"
    if isinstance(exc, openai.BadRequestError):
        if "content_policy" in str(exc) or "safety" in str(exc).lower():
            return f"The model refused this request (content policy): {detail}"
        return f"The model provider rejected the request (400): {detail}"
    if isinstance(exc, openai.InternalServerError):
        return f"The model provider failed ({getattr(exc, 'status_code', 500)}){where}. Retry in a moment."
    if isinstance(exc, openai.APIStatusError):
        return f"The model provider answered HTTP {exc.status_code}{where}: {detail}"
    unreadable = ("JSONDecodeError", "ValidationError", "UnreadableStream")  # the last: core.observe.spans
    if isinstance(exc, openai.APIResponseValidationError) or type_name in unreadable:
        return f"The model provider sent a reply we could not read{where}."
    if type_name == "StreamBrokeOff":
        return f"The connection to the model provider broke off in the middle of its answer{where}. Retry."
    if isinstance(exc, TimeoutError):
        return "A step took too long and was stopped. Retry, or raise the timeout."
    return f"The turn failed: {type_name}: {clean(str(exc))[:300]}"


def _server_message(exc: BaseException, clean: Callable[[str], str]) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        message = body.get("message") or (error.get("message") if isinstance(error, dict) else None)
        if message:
            return clean(str(message))[:300]
    return clean(str(getattr(exc, "message", "") or exc))[:300]
