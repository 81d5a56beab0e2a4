"""The write side of the tracing contract (docs/ARCHITECTURE.md): one trace per turn, a span per agent
step, per model call, per tool call and per generated image.

We instrument through thin wrappers instead of `mlflow.autogen.autolog()`: autolog leaves model spans
without a model name (so MLflow prices nothing), does not trace `create_stream`, and only patches
classes that exist when it is called. Wrappers are explicit, work for every provider the same way, and
only record while a turn span is open (a context variable), so scripts and benchmarks can switch them off."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import logging
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import mlflow
from mlflow.entities import LiveSpan, SpanEvent, SpanStatus, SpanStatusCode, SpanType
from mlflow.entities.trace_location import MlflowExperimentLocation
from mlflow.tracing.attachments import Attachment
from mlflow.tracing.trace_manager import InMemoryTraceManager

from .. import contract, redact
from . import summary

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
    kind: str = contract.TraceKind.CHAT  # what the trace is (contract.TraceTag.KIND)
    defuse_markup: bool = False  # a hosted demo: markdown pictures in the spans become links (`defused`)
    label: str = ""  # the scenario's label (a team file's, from the file): shown wherever the key would be
    runtime: str = ""  # the agent runtime that ran the turn (contract.RunTag.RUNTIME)


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
                    contract.RunTag.SCENARIO: info.scenario,
                    contract.TraceTag.CONVERSATION: info.conversation_id,
                    contract.TraceTag.TURN: str(info.turn),
                    contract.RunTag.PROVIDER: info.provider,
                    contract.TraceTag.ATTEMPT: str(info.attempt),
                    contract.TraceTag.KIND: info.kind,
                    contract.TraceTag.OWNER: info.session_id,
                    **({contract.TraceTag.LABEL: info.label} if info.label else {}),
                    **({contract.RunTag.RUNTIME: info.runtime} if info.runtime else {}),
                    **({contract.TraceTag.BILLING: contract.BILLED_TO_OWNER} if info.billed_to_owner else {}),
                },
                **trace_identity(info),
                request_preview=_said(request, info.defuse_markup),
            )
            try:
                yield span
            except BaseException as exc:
                if describe is not None:
                    said = clip(describe(exc), 1000)
                    span.set_attributes({contract.TurnAttr.STATUS: "error", contract.TurnAttr.ERROR: said})
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
    span.set_attributes({contract.TurnAttr.STATUS: status, contract.TurnAttr.STOP_REASON: stop_reason, contract.TurnAttr.STEPS: steps})


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
                "runtime": info.runtime,
            },
            rows,
        )
        if value is not None:
            mlflow.update_current_trace(tags={contract.TraceTag.SUMMARY: value})
    except Exception:
        log.warning("could not summarise trace %s", getattr(root, "trace_id", "?"), exc_info=True)


def clip(text: str, limit: int = MAX_TEXT_IN_SPAN) -> str:
    text = text or ""
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more characters]"


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


@contextlib.contextmanager
def image_span(model: str, size: str, quality: str, prompt: str) -> Iterator[Any]:
    """A span per generated picture; the caller adds id, artifact path and cost once they are known."""
    if not recording():
        yield None
        return
    with open_span(
        name=f"{contract.ImageSpan.NAME_PREFIX}{model}",
        span_type=contract.ImageSpan.TYPE,
        attributes={
            contract.SpanAttr.IMAGE_MODEL: model,
            contract.SpanAttr.IMAGE_SIZE: size,
            contract.SpanAttr.IMAGE_QUALITY: quality,
            contract.SpanAttr.MODEL: model,
        },
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
            contract.SpanAttr.IMAGE_ID: image_id,
            contract.SpanAttr.IMAGE_PATH: artifact_path or "",
            contract.SpanAttr.IMAGE_COST: cost_usd if cost_usd is not None else -1,
            contract.SpanAttr.IMAGE_PARENT: parent or "",
        }
    )
    if cost_usd is not None:
        span.set_attribute(contract.SpanAttr.COST, {"input_cost": 0.0, "output_cost": float(cost_usd), "total_cost": float(cost_usd)})


def record_image_usage(span: Any, usage: dict[str, int] | None, note: str) -> None:
    """A picture's tokens as its server reported them (`app.image.usage`), kept out of MLflow's usage key (the trace's
    token totals count chat tokens), and what MLflow's catalog did not know about its price (`app.usage.note`)."""
    if span is None:
        return
    if usage is not None:
        span.set_attribute(contract.SpanAttr.IMAGE_USAGE, usage)
    if note:
        span.set_attribute(contract.SpanAttr.USAGE_NOTE, note)


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
