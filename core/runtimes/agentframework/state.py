"""A workflow checkpoint as the conversation keeps it (`conversation/state.json`): the newest checkpoint of the turn,
with what must not or need not be kept taken out before Agent Framework's codec pickles its values (inside a pickle,
base64-encoded, a secret could not be found by core.redact, which scrubs the saved state as JSON):

- every text of every message (an agent's words, a tool's result, a pending question to the user) scrubbed of
  secrets (core.redact);
- pictures left out: a group chat keeps each picture in every participant's history and in the orchestrator's, and
  no later turn needs an earlier picture (the critic sees the newest only; the image agent reads the previous
  prompt and picture id, which stay); the pictures themselves are the run's artifacts. A turn of Catify with two
  critiques kept ~220 KB of base64 per turn without this, and scrubbing pickled pictures took seconds."""

from __future__ import annotations

import dataclasses
from typing import Any

from agent_framework import Content, Message, WorkflowEvent

from ... import redact

PICTURE_LEFT_OUT = "(a picture: kept as the conversation's artifact, not in its state)"


def _content(content: Content) -> Content:
    if content.type in ("data", "uri") and str(content.media_type or "").startswith("image/"):
        return Content.from_text(PICTURE_LEFT_OUT)
    if content.type == "text" and content.text:
        clean = redact.scrub(content.text)
        return content if clean == content.text else Content.from_text(clean)
    if content.type == "function_result" and isinstance(content.result, str):
        clean = redact.scrub(content.result)
        if clean != content.result:
            content.result = clean
    return content


def _content_dict(content: dict[str, Any]) -> dict[str, Any]:
    if content.get("type") in ("data", "uri") and str(content.get("media_type") or content.get("uri") or "").startswith(
        ("image/", "data:image/")
    ):
        return {"type": "text", "text": PICTURE_LEFT_OUT}
    return redact.scrub_value(content)


def kept(value: Any) -> Any:
    """The checkpoint's values with messages cleaned (objects, and the dict form sessions keep them in)."""
    if isinstance(value, Message):
        return Message(
            role=value.role,
            contents=[_content(c) for c in value.contents],
            author_name=value.author_name,
            message_id=value.message_id,
            additional_properties=value.additional_properties,
        )
    if isinstance(value, dict):
        if isinstance(value.get("contents"), list) and "role" in value:
            return {**value, "contents": [_content_dict(c) if isinstance(c, dict) else kept(c) for c in value["contents"]]}
        return {k: kept(v) for k, v in value.items()}
    if isinstance(value, list):
        return [kept(v) for v in value]
    if isinstance(value, tuple):
        return tuple(kept(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # an executor's record (AgentExecutorResponse)
        changes = {f.name: kept(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    if isinstance(value, WorkflowEvent):  # a pending request_info: its question (an agent's hand-back) is kept too
        value.data = kept(value.data)
        return value
    if type(value).__name__ == "AgentResponse" and hasattr(value, "messages"):
        value.messages = [kept(m) for m in value.messages]
    return value
