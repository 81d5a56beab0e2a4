"""Pieces the demo model's scripted roles share (core/scenarios declare one role per agent): the text of a
message as a model reads it, the function calls in a reply, a deterministic function call."""

from __future__ import annotations

import json
from typing import Any

from autogen_core import FunctionCall
from autogen_core.models import LLMMessage


def text_of(message: LLMMessage) -> str:
    content = getattr(message, "content", "")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(c if isinstance(c, str) else getattr(c, "content", "") if hasattr(c, "content") else "" for c in content)
    return str(content)


def calls_in(message: LLMMessage) -> list[FunctionCall]:
    content = getattr(message, "content", None)
    return [c for c in content if isinstance(c, FunctionCall)] if isinstance(content, list) else []


def call(name: str, **arguments: Any) -> FunctionCall:
    return FunctionCall(
        id=f"call_{name}_{abs(hash(json.dumps(arguments, sort_keys=True))) % 10**8}", name=name, arguments=json.dumps(arguments)
    )
