"""A workflow that asks the human (Agent Framework's `request_info`: `ctx.request_info(question, str)` in an executor,
a `HandoffBuilder` agent handing back to the user with a `HandoffAgentUserRequest`) pauses the turn as the built-in
Weather's question does: the turn ends `waiting`, the workflow's checkpoint (its pending request in it) is the
conversation's state, and the next message is the answer, sent as `run(checkpoint_id=…, responses={id: answer})` in
whichever process runs that turn (core/runtimes/agentframework/runtime.py). Here: what the chat shows of a request,
and the answer built from the user's text, or a sentence saying why the app cannot build it."""

from __future__ import annotations

import re
import typing
from typing import Any

from agent_framework import Message
from agent_framework.orchestrations import HandoffAgentUserRequest

from ...errors import UserError


def question(data: Any) -> str:
    """What a request asks, as the chat shows it: the text itself, or the words of the agent that handed back."""
    if isinstance(data, HandoffAgentUserRequest):
        return str(getattr(data.agent_response, "text", "") or "")
    if isinstance(data, str):
        return data
    return str(getattr(data, "question", None) or getattr(data, "prompt", None) or data)


def _takes_messages(response_type: Any) -> bool:
    """`list[Message]` (a hand-off's answer) or `Message`."""
    if response_type is Message:
        return True
    return typing.get_origin(response_type) is list and typing.get_args(response_type) == (Message,)


def answerable(response_type: Any) -> bool:
    """Whether the app can build this answer from a chat message."""
    return response_type is str or _takes_messages(response_type)


def answer(response_type: Any, text: str) -> Any:
    """The user's message as the answer the request asked for."""
    if response_type is str:
        return text
    if response_type is Message:
        return Message(role="user", contents=[text])
    if _takes_messages(response_type):
        return HandoffAgentUserRequest.create_response(text)
    raise cannot_answer("", response_type)


def type_name(response_type: Any) -> str:
    """`int`, `list[Message]`: as a Python programmer writes it."""
    if typing.get_args(response_type) or not hasattr(response_type, "__name__"):
        return re.sub(r"\b[\w.]+\.(\w+)", r"\1", str(response_type))
    return str(response_type.__name__)


def cannot_answer(asker: str, response_type: Any) -> UserError:
    """The sentence for a request the chat cannot answer (a structured response the file's own code must build)."""
    who = f"The step “{asker}” of the workflow" if asker else "The workflow"
    return UserError(
        f"{who} asked for an answer of type {type_name(response_type)}, which the app cannot make from a chat message: "
        "it answers requests for a str (ctx.request_info(…, str)) and hand-offs to the user (HandoffBuilder). "
        "Change the team file to ask for a str."
    )
