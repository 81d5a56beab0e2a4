"""One trace as a story a person reads: each span's conversation (who said what, the pictures, the tool calls),
where it failed and why, and the pictures a span holds. Pure reading of MLflow traces, for any writer: ours
(OpenAI's chat format since 2026-11, the older placeholder format before), MLflow's autologgers, plain
`@mlflow.trace` code. The Traces page draws what this returns (ui/trace_view.py); nothing here is markup. Also the trace as a span table
(tree order, offsets), its raw data, its JSON and its link in MLflow's UI."""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from mlflow.entities import SpanStatusCode
from mlflow.tracing.attachments import Attachment
from mlflow.tracing.client import TracingClient

from .. import contract
from ..observe import summary

MAX_PICTURE_BYTES = 10 * 1024 * 1024  # as MLflow's UI: larger attachments are not drawn


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str


@dataclass(frozen=True)
class ChatLine:
    """One message of a span's conversation. `pictures` are attachment addresses (mlflow-attachment://…) or
    notes about a picture the trace did not keep."""

    role: str  # system, user, assistant, tool
    text: str
    name: str = ""  # the agent (or tool) that said it
    pictures: tuple[str, ...] = ()
    missing_pictures: tuple[str, ...] = ()  # "512x512": older traces kept only a placeholder
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class Failure:
    """Where a trace failed and the exception's words (as MLflow recorded them)."""

    span: str
    message: str


@dataclass
class SpanStory:
    chat: list[ChatLine] = field(default_factory=list)  # empty: not a conversation (see `data`)
    data: dict[str, Any] = field(default_factory=dict)  # inputs/outputs that are not chat, shown as data
    failure: Failure | None = None


def _text_of(content: Any) -> tuple[str, tuple[str, ...], tuple[str, ...]]:  # noqa: C901 - over the complexity limit when it came on (issue 28); split it when it next changes
    """(text, attachment addresses, placeholders) of a message's content in any of the formats we meet."""
    if content is None:
        return "", (), ()
    if isinstance(content, str):
        return content, (), ()
    if not isinstance(content, list):
        return json.dumps(content, default=str, ensure_ascii=False), (), ()
    texts, pictures, missing = [], [], []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif not isinstance(part, dict):
            texts.append(str(part))
        elif part.get("type") in ("text", "input_text", "output_text"):
            texts.append(str(part.get("text", "")))
        elif part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url", "") if isinstance(part.get("image_url"), dict) else ""
            if isinstance(url, str) and url.startswith("mlflow-attachment://"):
                pictures.append(url)
            else:
                missing.append("a picture kept outside the trace")  # never fetched: an address anyone wrote
        elif part.get("type") == "image":  # our placeholder before 2026-11
            missing.append(str(part.get("size") or "?"))
        else:  # a function call or result in agentchat's own shape
            texts.append(json.dumps(part, default=str, ensure_ascii=False))
    return "\n\n".join(t for t in texts if t), tuple(pictures), tuple(missing)


def _line(message: dict[str, Any]) -> ChatLine | None:
    role = message.get("role")
    if role not in ("system", "user", "assistant", "tool", "function", "developer"):
        return None
    text, pictures, missing = _text_of(message.get("content"))
    calls = []
    for call in message.get("tool_calls") or []:
        if isinstance(call, dict):
            fn: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else call
            calls.append(ToolCall(str(fn.get("name", "")), str(fn.get("arguments", ""))))
    return ChatLine(
        role={"function": "tool", "developer": "system"}.get(role, role),
        text=text,
        name=str(message.get("name") or ""),
        pictures=pictures,
        missing_pictures=missing,
        tool_calls=tuple(calls),
    )


def _messages_in(inputs: Any) -> list[ChatLine] | None:
    if isinstance(inputs, dict):
        for key in ("messages", "input"):
            if isinstance(inputs.get(key), list):
                lines = [_line(m) for m in inputs[key] if isinstance(m, dict)]
                return [line for line in lines if line is not None] or None
        if isinstance(inputs.get("message"), str):  # our turn's root before 2026-11
            return [ChatLine("user", inputs["message"])]
        if isinstance(inputs.get("prompt"), str):  # our image span before 2026-11
            return [ChatLine("user", inputs["prompt"])]
    return None


def _answers_in(outputs: Any) -> list[ChatLine] | None:
    if isinstance(outputs, str):
        return [ChatLine("assistant", outputs)]
    if not isinstance(outputs, dict):
        return None
    choices = outputs.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict) and isinstance(choices[0].get("message"), dict):
        line = _line(choices[0]["message"])
        return [line] if line else None
    if isinstance(outputs.get("messages"), list):  # an agent's step since issue 31 (MLflow's ChatAgent shape)
        lines = [_line(m) for m in outputs["messages"] if isinstance(m, dict)]
        return [line for line in lines if line is not None] or None
    if "content" in outputs and "finish_reason" in outputs:  # our chat span before 2026-11
        return [ChatLine("assistant", str(outputs.get("content") or ""))]
    if isinstance(outputs.get("tool_calls"), list):  # the same, when it called tools
        return [
            ChatLine(
                "assistant",
                "",
                tool_calls=tuple(
                    ToolCall(str(c.get("name", "")), str(c.get("arguments", ""))) for c in outputs["tool_calls"] if isinstance(c, dict)
                ),
            )
        ]
    if isinstance(outputs.get("last_message"), str):  # our turn's root before 2026-11
        return [ChatLine("assistant", outputs["last_message"])]
    return None


def arguments_text(text: str) -> str:
    """A tool call's arguments as the page shows them: pretty JSON when they are JSON, else as written."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def span_story(span: Any) -> SpanStory:
    """A span as a conversation when its inputs are one (and its outputs, when it has any), else as data."""
    story = SpanStory()
    asked, answered = _messages_in(span.inputs), _answers_in(span.outputs)
    if asked is not None and (answered is not None or span.outputs in (None, "", {})):
        story.chat = [*asked, *(answered or [])]
        extra = (
            {k: v for k, v in (span.outputs or {}).items() if k != "choices"}
            if isinstance(span.outputs, dict) and "choices" in span.outputs
            else {}
        )
        if extra:
            story.data = {"outputs": extra}
    else:
        story.data = {"inputs": span.inputs, "outputs": span.outputs}
    story.failure = _failure_of(span)
    return story


def _failure_of(span: Any) -> Failure | None:
    status = getattr(span, "status", None)
    if status is None or getattr(status, "status_code", None) not in (SpanStatusCode.ERROR, "ERROR"):
        return None
    said = span.get_attribute(contract.TurnAttr.ERROR) if hasattr(span, "get_attribute") else None
    if said:  # our turn's root: the sentence the user saw
        return Failure(span.name, str(said))
    for event in reversed(span.events or []):
        if event.name == "exception":
            attributes = event.attributes or {}
            kind = str(attributes.get("exception.type", "") or "")
            words = _last_line(str(attributes.get("exception.message", "") or ""))
            return Failure(span.name, f"{kind}: {words}" if kind and words else words or kind or "failed")
    return Failure(
        span.name,
        str(getattr(status, "description", "") or "") or ("the tool said: " + str(span.outputs)[:500] if span.outputs else "failed"),
    )


def _last_line(message: str) -> str:
    """A message that carries a traceback (agentchat wraps an agent's failure so) by its last line, the
    exception itself; the whole text stays in the span's raw data."""
    if "Traceback (most recent call last)" not in message:
        return message
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[-1] if lines else message


def first_failure(trace: Any) -> Failure | None:
    """The deepest failed span that failed first: where the trouble started, not every parent it bubbled
    through (MLflow marks each of them failed too)."""
    failed = [s for s in trace.data.spans if _failure_of(s) is not None]
    if not failed:
        return None
    parents = {s.parent_id for s in failed}
    leaves = [s for s in failed if s.span_id not in parents] or failed
    where = _failure_of(min(leaves, key=lambda s: s.start_time_ns or 0))
    said = next((s.get_attribute(contract.TurnAttr.ERROR) for s in trace.data.spans if not s.parent_id), None)
    # our turns: the sentence the user saw (secrets out) rather than the raw exception
    return Failure(where.span, str(said)) if where is not None and said else where


def picture(tracking_uri: str, trace: Any, address: str) -> bytes | None:
    """The bytes of an attachment of *this* trace (the address's own trace id is ignored: it is text anyone
    could have written), or None when it is not a picture, too big, or gone."""
    parsed = Attachment.parse_ref(address)
    if not parsed or not str(parsed.get("content_type") or "").startswith("image/"):
        return None
    if (parsed.get("size") or 0) > MAX_PICTURE_BYTES:  # type: ignore[operator]
        return None
    try:
        # MLflow has no public reader for attachments yet; its own judges use this accessor (genai/judges/tools)
        repo = TracingClient(tracking_uri)._get_artifact_repo_for_trace(trace.info)
        data = repo.download_trace_attachment(str(parsed["attachment_id"]))
    except Exception:  # noqa: BLE001 - a picture that cannot be read is shown as missing
        return None
    return data if len(data) <= MAX_PICTURE_BYTES else None


def span_of(trace: Any, span_id: str) -> Any:
    for span in trace.data.spans:
        if span.span_id == span_id:
            return span
    raise KeyError(span_id)


def prompt_of(trace: Any, span_id: str) -> str:
    """The prompt an image span drew (ours, old and new), or ""."""
    inputs = span_of(trace, span_id).inputs
    return str(inputs.get("prompt") or "") if isinstance(inputs, dict) else ""


def money(value: Any) -> str:
    """One way to write a cost everywhere: $0.0123; tiny amounts keep their first digits ($0.0000093)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    if number != number:  # NaN
        return ""
    if 0 < abs(number) < 0.0001:
        digits = f"{abs(number):.2g}"  # the first two significant digits, written out
        return "$" + ("-" if number < 0 else "") + f"{float(digits):.12f}".rstrip("0")
    return f"${number:,.4f}"


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """A span table for people: blanks instead of None/NaN, tokens with separators, one money format; a model
    call MLflow could not price says so."""
    out = table.copy()
    for column in ("input_tokens", "output_tokens"):
        if column in out:
            out[column] = [f"{int(v):,}" if v == v and v is not None else "" for v in out[column]]
    if "duration_ms" in out:
        out["duration_ms"] = [f"{v:,.1f}" if v == v and v is not None else "running" for v in out["duration_ms"]]
    if "cost_usd" in out:
        models = out["model"] if "model" in out else pd.Series([""] * len(out), index=out.index)
        out["cost_usd"] = [money(c) or ("not priced" if m else "") for c, m in zip(out["cost_usd"], models)]
    if "status" in out:
        out["status"] = out["status"].replace({"UNSET": "", "None": ""}).fillna("")
    return out.fillna("")


# --- one trace as a table, as data, as a link ---------------------------------------------------------------------

SPAN_COLUMNS = [
    "label",
    "name",
    "type",
    "status",
    "start_ms",
    "duration_ms",
    "model",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "depth",
    "span_id",
    "parent_id",
    "image_id",
]


def span_table(trace: Any) -> pd.DataFrame:
    """The spans in tree order (parents before children, siblings by start), indented names, offsets from
    the trace's start in ms, and tokens and cost per span. Missing attributes are blanks, not errors."""
    spans = list(trace.data.spans)
    if not spans:
        return pd.DataFrame(columns=SPAN_COLUMNS)
    known = {s.span_id for s in spans}
    children: dict[str | None, list[Any]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in known else None
        children.setdefault(parent, []).append(span)
    for group in children.values():
        group.sort(key=lambda s: s.start_time_ns or 0)
    t0 = min(s.start_time_ns or 0 for s in spans)
    rows: list[dict[str, Any]] = []
    stack = [(s, 0) for s in reversed(children.get(None, []))]
    while stack:
        span, depth = stack.pop()
        usage = summary.as_dict(span.get_attribute(contract.SpanAttr.USAGE))
        cost = summary.as_dict(span.get_attribute(contract.SpanAttr.COST))
        end = span.end_time_ns
        rows.append(
            {
                "label": f"{len(rows) + 1}. " + "\u2003" * depth + ("└ " if depth else "") + str(span.name),
                "name": span.name,
                "type": span.span_type or "UNKNOWN",
                "status": str(getattr(span.status, "status_code", "") or "").replace("SpanStatusCode.", ""),
                "start_ms": ((span.start_time_ns or t0) - t0) / 1e6,
                "duration_ms": None if end is None else (end - (span.start_time_ns or end)) / 1e6,
                "model": span.get_attribute(contract.SpanAttr.MODEL) or "",
                "input_tokens": usage.get("input_tokens"),
                "output_tokens": usage.get("output_tokens"),
                "cost_usd": cost.get("total_cost"),
                "depth": depth,
                "span_id": span.span_id,
                "parent_id": span.parent_id or "",
                "image_id": span.get_attribute(contract.SpanAttr.IMAGE_ID) or "",
            }
        )
        stack.extend((child, depth + 1) for child in reversed(children.get(span.span_id, [])))
    return pd.DataFrame(rows, columns=SPAN_COLUMNS)


def span_io(trace: Any, span_id: str) -> dict[str, Any]:
    """One span's inputs, outputs, attributes and events, as plain data for a JSON view (never as markup)."""
    span = span_of(trace, span_id)
    return {
        "inputs": span.inputs,
        "outputs": span.outputs,
        "attributes": {k: v for k, v in (span.attributes or {}).items() if not k.startswith(contract.SpanAttr.INTERNAL_PREFIX)},
        "events": [{"name": e.name, "attributes": e.attributes} for e in (span.events or [])],
    }


def trace_json(trace: Any) -> str:
    """The trace as MLflow serialises it (info and every span)."""
    return trace.to_json(pretty=True)


def ui_link(mlflow_ui_url: str, experiment_id: str, trace_id: str) -> str | None:
    """The same trace in the MLflow UI, when its address is known."""
    if not mlflow_ui_url:
        return None
    parts = urllib.parse.urlsplit(mlflow_ui_url)
    base = (
        urllib.parse.urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")))
        if parts.hostname
        else mlflow_ui_url
    )  # never publish user:password@ in a link
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/traces?selectedEvaluationId={trace_id}"


def trace_owner(trace: Any) -> str:
    """Who owns a trace (hosted: the visitor; contract.trace_owner, old traces too); "" when nobody does."""
    return contract.trace_owner(trace.info.tags, trace.info.trace_metadata)


def trace_conversation(trace: Any) -> str:
    """The conversation (run id) a trace of ours is a turn of; "" for other code's traces."""
    return str((trace.info.tags or {}).get(contract.TraceTag.CONVERSATION) or "")
