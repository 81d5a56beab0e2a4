"""Fill a store with N realistic traces: for the Traces page benchmarks, and to try the page on months of data.

Templates come from the real write side: real demo Catify turns through `run_turn` (our spans, MLflow's
exporter) and foreign traces written by plain `@mlflow.trace` code with an OpenAI-style model span, as
`mlflow.openai.autolog()` writes it. Copies vary what users vary (time over the last `days`, session,
conversation, turn, model, token counts, status, request) and go in through MLflow's own span ingestion,
`store.log_spans` (the path OTLP exporters use; the store computes token totals and prices chat spans from
its catalog), 500 traces a transaction: about 4 ms a trace instead of about 22 ms through the per-trace
exporter. Copied conversations have no MLflow run behind them: their lineage cannot be drawn."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import json
import os
import random
import time
from dataclasses import dataclass
from typing import Any, Callable

import mlflow
from mlflow.entities import Span, SpanType
from mlflow.tracing.client import TracingClient

from .. import contract
from ..config import Settings
from ..conversations import Conversation, ConversationStore
from ..costs import image_price_usd
from ..scenarios.catify import KEY as CATIFY
from ..turn.runner import run_turn
from . import export, summary

PROMPTS = (
    "The matrix with a cat", "a red car on a beach at night", "three cats in the snow", "a lighthouse in a storm",
    "a black and white portrait of a dog", "two cats playing chess in a forest", "a city skyline at sunset",
    "a bowl of fruit, bright colours", "an astronaut cat on the moon", "a quiet street after rain",
)
QUESTIONS = (
    "What is MLflow tracing?", "Summarise the quarterly report", "Which city is warmer today?",
    "Explain token usage in two lines", "List three uses of agents",
)
# (chat model, provider, image model, image quality, image size, weight)
MODEL_MIX = (
    ("demo", None, "demo-image", "standard", "1024x1024", 0.5),
    ("gpt-4o-mini", "openai", "dall-e-3", "standard", "1024x1024", 0.35),
    ("gpt-4o", "openai", "gpt-image-1", "low", "1024x1024", 0.15),
)
FOREIGN_SHARE = 0.1
ERROR_SHARE = 0.03
TURNS_PER_CONVERSATION = 4
TRACES_PER_SESSION = 25


@dataclass(frozen=True)
class FillReport:
    traces: int
    seconds: float
    experiment_id: str


def _otel_id(n_bytes: int) -> bytes:
    return os.urandom(n_bytes)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _template_catify(tracking_uri: str, experiment_name: str, iterations: int) -> str:
    store = ConversationStore.connect(tracking_uri, experiment_name)
    conversation = Conversation(scenario=CATIFY, session_id="template", provider="demo",
                                options={"iterations": iterations})
    outcome = asyncio.run(run_turn(conversation, PROMPTS[0], Settings(tracking_uri=tracking_uri), store))
    if outcome.status != "ok" or not outcome.trace_id:
        raise RuntimeError(f"the template turn failed: {outcome.error}")
    return outcome.trace_id


def _template_foreign(experiment_id: str) -> list[str]:
    """Traces as other MLflow-instrumented code writes them: no app.* keys, other span types."""
    ids = []

    @mlflow.trace(span_type=SpanType.CHAIN)
    def answer(question: str) -> str:
        with mlflow.start_span("retrieve", span_type=SpanType.RETRIEVER) as retrieve:
            retrieve.set_inputs({"query": question})
            retrieve.set_outputs([{"page_content": "MLflow records traces of GenAI apps.", "id": "doc-1"}])
        with mlflow.start_span("Completions", span_type=SpanType.CHAT_MODEL,
                               attributes={contract.MODEL: "gpt-4o-mini", contract.MODEL_PROVIDER: "openai"}) as chat:
            chat.set_inputs({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question}]})
            chat.set_outputs({"choices": [{"message": {"role": "assistant", "content": "It records traces."}}]})
            chat.set_attribute(contract.USAGE, {"input_tokens": 120, "output_tokens": 40, "total_tokens": 160})
        return "It records traces."

    @mlflow.trace
    def tokenize(text: str) -> list[str]:
        return text.split()

    mlflow.set_experiment(experiment_id=experiment_id)
    for call in (lambda: answer(QUESTIONS[0]), lambda: tokenize(QUESTIONS[1])):
        call()
        ids.append(str(mlflow.get_last_active_trace_id()))
    return ids


class _Cloner:
    """Makes one new trace from a template's span dicts."""

    def __init__(self, rng: random.Random, experiment_id: str, now_ns: int, days: float):
        self.rng, self.experiment_id, self.now_ns, self.days = rng, experiment_id, now_ns, days

    def clone(self, template: list[dict[str, Any]], *, ours: bool, index: int) -> list[Any]:
        rng = self.rng
        otel_trace = _otel_id(16)
        trace_id = "tr-" + otel_trace.hex()
        ids = {d["span_id"]: _b64(_otel_id(8)) for d in template}
        root_start = min(d["start_time_unix_nano"] for d in template)
        shift = self.now_ns - int(rng.random() * self.days * 86400e9) - root_start
        stretch = rng.uniform(0.6, 1.8)
        chat_model, provider, image_model, quality, size, _ = rng.choices(MODEL_MIX, [m[-1] for m in MODEL_MIX])[0]
        scale = rng.uniform(0.5, 2.0)
        failed = rng.random() < ERROR_SHARE
        session = f"session-{index // TRACES_PER_SESSION:05d}"
        spans: list[Span] = []
        for d in template:
            d = copy.deepcopy(d)
            d["trace_id"] = _b64(otel_trace)
            d["span_id"] = ids[d["span_id"]]
            if d.get("parent_span_id"):
                d["parent_span_id"] = ids[d["parent_span_id"]]
            start = d["start_time_unix_nano"]
            d["start_time_unix_nano"] = root_start + shift + int((start - root_start) * stretch)
            if d.get("end_time_unix_nano"):
                d["end_time_unix_nano"] = root_start + shift + int((d["end_time_unix_nano"] - root_start) * stretch)
            attrs = d["attributes"]
            attrs[contract.REQUEST_ID] = json.dumps(trace_id)
            attrs[contract.EXPERIMENT_ID] = json.dumps(self.experiment_id)
            if contract.USAGE in attrs:
                usage = json.loads(attrs[contract.USAGE])
                usage = {k: max(1, int(v * scale)) for k, v in usage.items() if k in ("input_tokens", "output_tokens")}
                usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
                attrs[contract.USAGE] = json.dumps(usage)
                attrs.pop(contract.COST, None)  # the store prices it from its catalog, as for any span
                if ours:
                    attrs[contract.MODEL] = json.dumps(chat_model)
                    if provider:
                        attrs[contract.MODEL_PROVIDER] = json.dumps(provider)
                    else:
                        attrs.pop(contract.MODEL_PROVIDER, None)
            if ours and contract.IMAGE_MODEL in attrs:
                price = image_price_usd(image_model, quality, size)
                attrs[contract.IMAGE_MODEL] = json.dumps(image_model)
                attrs[contract.MODEL] = json.dumps(image_model)
                attrs[contract.IMAGE_COST] = json.dumps(price)
                attrs[contract.COST] = json.dumps({"input_cost": 0.0, "output_cost": price, "total_cost": price})
            if not d.get("parent_span_id"):
                root = len(spans)
                fields = self._root(d, attrs, ours=ours, failed=failed, session=session, index=index,
                                    provider=provider)
            spans.append(Span.from_dict(d))
        if ours:  # the summary tag the write side puts on every turn, from the copy's own spans
            value = summary.summarize(fields, summary.call_rows(trace_id, summary.as_stored(spans)))
            if value is not None:
                root_dict = spans[root].to_dict()
                root_dict["attributes"][contract.TRACE_TAG_PREFIX + contract.SUMMARY] = json.dumps(value)
                spans[root] = Span.from_dict(root_dict)
        return spans

    def _root(self, d: dict[str, Any], attrs: dict[str, Any], *, ours: bool, failed: bool, session: str,
              index: int, provider: str | None) -> dict[str, str]:
        """Root attributes of a copy; the contract tags of ours, for its summary."""
        rng = self.rng
        fields: dict[str, str] = {}
        attrs[contract.SESSION_ID] = json.dumps(session)
        if ours:
            turn = index % TURNS_PER_CONVERSATION + 1
            conversation = hashlib.md5(f"{self.experiment_id}/{index // TURNS_PER_CONVERSATION}".encode()).hexdigest()
            request = rng.choice(PROMPTS)
            attrs[contract.SPAN_INPUTS] = json.dumps({"messages": [{"role": "user", "content": request}]})
            for key, value in ((contract.SCENARIO, CATIFY), (contract.CONVERSATION, conversation),
                               (contract.TURN, str(turn)), (contract.PROVIDER, provider or "demo"),
                               (contract.ATTEMPT, "1"), (contract.TRACE_NAME, f"{CATIFY} turn {turn}")):
                attrs[contract.TRACE_TAG_PREFIX + key] = json.dumps(value)
            d["name"] = f"catify turn {turn}"
            fields = {"scenario": CATIFY, "conversation": conversation, "turn": str(turn),
                      "provider": provider or "demo"}
        elif "question" in attrs.get(contract.SPAN_INPUTS, ""):
            attrs[contract.SPAN_INPUTS] = json.dumps({"question": rng.choice(QUESTIONS)})
        if failed:
            d["status"] = {"code": "STATUS_CODE_ERROR", "message": "RateLimitError: 429 Too Many Requests"}
        return fields


def _template_spans(tracking_uri: str, trace_ids: list[str]) -> list[list[dict[str, Any]]]:
    client = TracingClient(tracking_uri)
    return [[s.to_dict() for s in client.get_trace(trace_id).data.spans] for trace_id in trace_ids]


def fill(tracking_uri: str, experiment_name: str, n: int, *, days: float = 90, seed: int = 7, batch: int = 500,
         progress: Callable[[int], None] | None = None) -> FillReport:
    """Write n traces into the experiment (created if needed); the templates count among them."""
    started = time.perf_counter()
    export.configure(tracking_uri)
    experiment_id = ConversationStore.connect(tracking_uri, experiment_name).experiment_id
    catify = [_template_catify(tracking_uri, experiment_name, iterations) for iterations in (1, 2)]
    foreign = _template_foreign(experiment_id)
    export.flush()
    ours_t, foreign_t = _template_spans(tracking_uri, catify), _template_spans(tracking_uri, foreign)
    rng = random.Random(seed)
    cloner = _Cloner(rng, experiment_id, time.time_ns(), days)
    store = TracingClient(tracking_uri).store
    written = len(catify) + len(foreign)
    pending: list[Any] = []
    index = 0
    while written < n:
        ours = rng.random() >= FOREIGN_SHARE
        template = rng.choice(ours_t if ours else foreign_t)
        pending.extend(cloner.clone(template, ours=ours, index=index))
        index += 1
        written += 1
        if index % batch == 0 or written >= n:
            store.log_spans(experiment_id, pending)
            pending = []
            if progress:
                progress(written)
    return FillReport(traces=written, seconds=time.perf_counter() - started, experiment_id=experiment_id)
