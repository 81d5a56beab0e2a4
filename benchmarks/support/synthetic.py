"""Fill a store with N realistic traces: for the Traces page benchmarks, and to try the page on months of data.
Support code, not the app's: it writes MLflow's own tables directly (the rows `log_spans` writes), which no part of
the app does (`core/reading/sql.py` only reads them).

Templates come from the real write side: real demo Catify turns through `run_turn` (our spans, MLflow's
exporter) and foreign traces written by plain `@mlflow.trace` code with an OpenAI-style model span, as
`mlflow.openai.autolog()` writes it. Copies vary what users vary (time over the last `days`, session,
conversation, turn, model, token counts, status, request). A database store gets them as the rows MLflow's own
span ingestion (`store.log_spans`, the path OTLP exporters use) would write, in multi-row INSERTs (COPY on
PostgreSQL), 1,000 traces a transaction: about 1 ms a trace, where `log_spans` takes 14-33 ms (it creates, updates and merges per trace); a
tracking server gets them through `log_spans`. Copied conversations have no MLflow run behind them: their
lineage cannot be drawn."""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime
import hashlib
import json
import os
import queue
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import mlflow
from mlflow.entities import Span, SpanType
from mlflow.store.tracking.dbmodels.models import SqlSpan, SqlTraceInfo, SqlTraceRollupRebuild, SqlTraceTag
from mlflow.tracing.client import TracingClient
from mlflow.tracing.constant import SpansLocation, TraceTagKey
from mlflow.tracing.otel.translation import translate_span_when_storing
from mlflow.tracing.utils import calculate_cost_by_model_and_token_usage
from mlflow.tracing.utils.truncation import _get_truncated_preview
from mlflow.utils.mlflow_tags import MLFLOW_ARTIFACT_LOCATION
from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite

from core import contract
from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.costs import image_price_usd
from core.observe import export, summary
from core.scenarios.catify import KEY as CATIFY
from core.turn import TurnRequest, run_turn

PROMPTS = (
    "The matrix with a cat",
    "a red car on a beach at night",
    "three cats in the snow",
    "a lighthouse in a storm",
    "a black and white portrait of a dog",
    "two cats playing chess in a forest",
    "a city skyline at sunset",
    "a bowl of fruit, bright colours",
    "an astronaut cat on the moon",
    "a quiet street after rain",
)
QUESTIONS = (
    "What is MLflow tracing?",
    "Summarise the quarterly report",
    "Which city is warmer today?",
    "Explain token usage in two lines",
    "List three uses of agents",
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
EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


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
    conversation = Conversation(scenario=CATIFY, session_id="template", provider="demo", options={"iterations": iterations})
    outcome = asyncio.run(run_turn(TurnRequest(conversation, PROMPTS[0], Settings(tracking_uri=tracking_uri), store)))
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
        with mlflow.start_span(
            "Completions",
            span_type=SpanType.CHAT_MODEL,
            attributes={contract.SpanAttr.MODEL: "gpt-4o-mini", contract.SpanAttr.MODEL_PROVIDER: "openai"},
        ) as chat:
            chat.set_inputs({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question}]})
            chat.set_outputs({"choices": [{"message": {"role": "assistant", "content": "It records traces."}}]})
            chat.set_attribute(contract.SpanAttr.USAGE, {"input_tokens": 120, "output_tokens": 40, "total_tokens": 160})
        return "It records traces."

    @mlflow.trace
    def tokenize(text: str) -> list[str]:
        return text.split()

    mlflow.set_experiment(experiment_id=experiment_id)
    for call in (lambda: answer(QUESTIONS[0]), lambda: tokenize(QUESTIONS[1])):
        call()
        ids.append(str(mlflow.get_last_active_trace_id()))
    return ids


def _node(d: dict[str, Any]) -> summary.SpanNode:
    """summary.SpanNode of a span dict (attribute values JSON-encoded, as `Span.to_dict` keeps them)."""
    attrs = d["attributes"]
    model = json.loads(attrs[contract.SpanAttr.MODEL]) if contract.SpanAttr.MODEL in attrs else None
    return summary.SpanNode(
        span_id=d["span_id"],
        parent_id=d.get("parent_span_id") or None,
        name=d.get("name"),
        span_type=json.loads(attrs.get(contract.SpanAttr.TYPE, "null")),
        model=model if isinstance(model, str) and model else None,
        usage=summary.attribute_data(attrs.get(contract.SpanAttr.USAGE)),
        cost=summary.attribute_data(attrs.get(contract.SpanAttr.COST)),
        start_ns=d["start_time_unix_nano"],
    )


class _Cloner:
    """Makes one new trace from a template's span dicts."""

    def __init__(self, rng: random.Random, experiment_id: str, now_ns: int, days: float):
        self.rng, self.experiment_id, self.now_ns, self.days = rng, experiment_id, now_ns, days

    def clone(self, template: list[dict[str, Any]], *, ours: bool, index: int) -> list[dict[str, Any]]:  # noqa: C901 - over the complexity limit when it came on (issue 28); split it when it next changes
        """Span dicts of a new trace (MLflow's `Span.to_dict` shape), priced as MLflow's store prices them; ours
        carry the summary tag the write side puts on every turn, computed from the copy's own spans."""
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
        spans: list[dict[str, Any]] = []
        fields: dict[str, str] = {}
        root = 0
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
            attrs[contract.SpanAttr.REQUEST_ID] = json.dumps(trace_id)
            attrs[contract.SpanAttr.EXPERIMENT_ID] = json.dumps(self.experiment_id)
            if contract.SpanAttr.USAGE in attrs:
                usage = json.loads(attrs[contract.SpanAttr.USAGE])
                usage = {k: max(1, int(v * scale)) for k, v in usage.items() if k in ("input_tokens", "output_tokens")}
                usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
                attrs[contract.SpanAttr.USAGE] = json.dumps(usage)
                if ours:
                    attrs[contract.SpanAttr.MODEL] = json.dumps(chat_model)
                    if provider:
                        attrs[contract.SpanAttr.MODEL_PROVIDER] = json.dumps(provider)
                    else:
                        attrs.pop(contract.SpanAttr.MODEL_PROVIDER, None)
                model = json.loads(attrs.get(contract.SpanAttr.MODEL, "null"))
                # what MLflow's store does for a span with a model and usage and no cost (log_spans)
                cost = calculate_cost_by_model_and_token_usage(model, usage, provider) if model else None
                if cost is not None:
                    attrs[contract.SpanAttr.COST] = json.dumps(cost)
                else:
                    attrs.pop(contract.SpanAttr.COST, None)
            if ours and contract.SpanAttr.IMAGE_MODEL in attrs:
                price = image_price_usd(image_model, quality, size)
                attrs[contract.SpanAttr.IMAGE_MODEL] = json.dumps(image_model)
                attrs[contract.SpanAttr.MODEL] = json.dumps(image_model)
                attrs[contract.SpanAttr.IMAGE_COST] = json.dumps(price)
                attrs[contract.SpanAttr.COST] = json.dumps({"input_cost": 0.0, "output_cost": price, "total_cost": price})
            if not d.get("parent_span_id"):
                root = len(spans)
                fields = self._root(d, attrs, ours=ours, failed=failed, session=session, index=index, provider=provider)
            spans.append(d)
        if ours:  # the summary tag the write side puts on every turn, from the copy's own spans
            value = summary.summarize(fields, summary.calls(trace_id, [_node(d) for d in spans]))
            if value is not None:
                spans[root]["attributes"][contract.SpanAttr.TRACE_TAG_PREFIX + contract.TraceTag.SUMMARY] = json.dumps(value)
        return spans

    def _root(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
        self, d: dict[str, Any], attrs: dict[str, Any], *, ours: bool, failed: bool, session: str, index: int, provider: str | None
    ) -> dict[str, str]:
        """Root attributes of a copy; the contract tags of ours, for its summary."""
        rng = self.rng
        fields: dict[str, str] = {}
        attrs[contract.SpanAttr.SESSION_ID] = json.dumps(session)
        if ours:
            turn = index % TURNS_PER_CONVERSATION + 1
            conversation = hashlib.md5(f"{self.experiment_id}/{index // TURNS_PER_CONVERSATION}".encode()).hexdigest()
            request = rng.choice(PROMPTS)
            attrs[contract.SpanAttr.INPUTS] = json.dumps({"messages": [{"role": "user", "content": request}]})
            for key, value in (
                (contract.RunTag.SCENARIO, CATIFY),
                (contract.TraceTag.CONVERSATION, conversation),
                (contract.TraceTag.TURN, str(turn)),
                (contract.RunTag.PROVIDER, provider or "demo"),
                (contract.TraceTag.ATTEMPT, "1"),
                (contract.TraceTag.KIND, contract.TraceKind.CHAT),
                (contract.TraceTag.NAME, contract.turn_name(CATIFY)),
                (contract.TraceTag.OWNER, session),
                (contract.TraceTag.LABEL, "Catify"),
            ):
                attrs[contract.SpanAttr.TRACE_TAG_PREFIX + key] = json.dumps(value)
            attrs[contract.SpanAttr.SESSION_ID] = json.dumps(conversation)  # MLflow's session is the conversation (issue 31)
            d["name"] = contract.turn_name(CATIFY)
            fields = {
                "scenario": CATIFY,
                "conversation": conversation,
                "turn": str(turn),
                "provider": provider or "demo",
                "owner": session,
                "label": "Catify",
            }
        elif "question" in attrs.get(contract.SpanAttr.INPUTS, ""):
            attrs[contract.SpanAttr.INPUTS] = json.dumps({"question": rng.choice(QUESTIONS)})
        if failed:
            d["status"] = {"code": "STATUS_CODE_ERROR", "message": "RateLimitError: 429 Too Many Requests"}
        return fields


@dataclass
class Batch:
    """The rows of one batch of copies, for MLflow's three trace tables."""

    infos: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    spans: list[dict[str, Any]]


class _Pipeline:
    """Writes prepared batches in a thread of its own while the caller makes the next ones: the filler's Python
    work (cloning, rows) and the database's (COPY, index upkeep, on its own core) overlap instead of taking turns.
    At most `depth` batches wait; a failed write is raised in the caller at its next `put` or at `close`."""

    def __init__(self, write: Callable[[Batch], None], depth: int = 2):
        self._write, self._queue = write, queue.Queue[Batch | None](maxsize=depth)
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="filler-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._failed is None:
                try:
                    self._write(batch)
                except BaseException as error:  # handed to the caller's thread, which raises it
                    self._failed = error

    def put(self, batch: Batch) -> None:
        self._raise()
        self._queue.put(batch)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._failed is not None:
            raise self._failed


_STATUS = {"STATUS_CODE_OK": "OK", "STATUS_CODE_ERROR": "ERROR", "STATUS_CODE_UNSET": "UNSET"}


class _RowWriter:
    """Writes copies straight into MLflow's own tables, the rows `store.log_spans` would write for them
    (tests/test_traces_read.py compares the two): one multi-row INSERT per table and batch. `log_spans` creates
    and updates each trace and merges each tag on its own (about 14 ms a trace on PostgreSQL, 20 on sqlite);
    at 100,000 traces that is half an hour. Database stores only; a server gets `log_spans`."""

    def __init__(self, store: Any, experiment_id: str, enqueue: bool = True):
        self.engine = store.engine
        self.experiment_id = int(experiment_id)
        self.artifacts = store.get_experiment(experiment_id).artifact_location.rstrip("/")
        # MLflow's writer contract for its daily rollups (mlflow/store/db/trace_rollups.py): a write into a UTC day
        # queues that day's rebuild in the same transaction, so MLflow reads it from every trace until its next build
        # instead of serving a rollup that no longer counts it (core/reading/rollups.py: "stale"). Queue rows are
        # harmless where rollups are off (a server refuses to start only on built rows).
        self.enqueue = enqueue and self.engine.dialect.name in ("postgresql", "sqlite")

    def rows(self, spans: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        """(trace_info row, trace_tags rows, spans rows) of one copy."""
        root = next(d for d in spans if not d.get("parent_span_id"))
        trace_id = json.loads(root["attributes"][contract.SpanAttr.REQUEST_ID])
        start_ms = min(d["start_time_unix_nano"] for d in spans) // 1_000_000
        end_ms = max(d.get("end_time_unix_nano") or 0 for d in spans) // 1_000_000
        calls = summary.calls(trace_id, [_node(d) for d in spans])
        usage = [c for c in calls if c["input_tokens"] or c["output_tokens"]]
        priced = [c["cost_usd"] for c in calls if c["cost_usd"] is not None]
        tokens_in, tokens_out = sum(c["input_tokens"] for c in usage), sum(c["output_tokens"] for c in usage)
        cost_parts = [summary.attribute_data(d["attributes"].get(contract.SpanAttr.COST)) or {} for d in spans]
        root_attrs = root["attributes"]
        tags = {
            key[len(contract.SpanAttr.TRACE_TAG_PREFIX) :]: str(json.loads(value))
            for key, value in root_attrs.items()
            if key.startswith(contract.SpanAttr.TRACE_TAG_PREFIX)
        }
        name = tags.pop(contract.TraceTag.NAME, None)
        session = root_attrs.get(contract.SpanAttr.SESSION_ID)
        info = {
            "request_id": trace_id,
            "experiment_id": self.experiment_id,
            "timestamp_ms": start_ms,
            "execution_time_ms": end_ms - start_ms,
            "status": _STATUS.get(root["status"]["code"], "OK"),
            "client_request_id": None,
            "db_payload_generation": 1,
            "trace_name": name,
            "session_id": json.loads(session) if session else None,
            # MLflow's own preview rule (mlflow/tracing/utils/truncation.py), as log_spans applies it
            "request_preview": _get_truncated_preview(root_attrs.get(contract.SpanAttr.INPUTS), role="user"),
            "response_preview": _get_truncated_preview(root_attrs.get(contract.SpanAttr.OUTPUTS), role="assistant"),
            "input_tokens": tokens_in if usage else None,
            "output_tokens": tokens_out if usage else None,
            "total_tokens": tokens_in + tokens_out if usage else None,
            "input_cost": sum(c.get("input_cost", 0.0) for c in cost_parts) if priced else None,
            "output_cost": sum(c.get("output_cost", 0.0) for c in cost_parts) if priced else None,
            "total_cost": sum(priced) if priced else None,
        }
        tag_rows = [
            {"request_id": trace_id, "key": MLFLOW_ARTIFACT_LOCATION, "value": f"{self.artifacts}/traces/{trace_id}/artifacts"},
            {"request_id": trace_id, "key": TraceTagKey.SPANS_LOCATION, "value": SpansLocation.TRACKING_STORE.value},
        ]
        tag_rows += [{"request_id": trace_id, "key": k, "value": v} for k, v in tags.items()]
        span_rows = []
        for d in spans:
            if d is root:  # MLflow's storing translation changes the root's trace-tag attributes only (measured on
                d = translate_span_when_storing(Span.from_dict(d))  # these templates), and costs 0.3 ms a span
            attrs, cost = d["attributes"], summary.attribute_data(d["attributes"].get(contract.SpanAttr.COST)) or {}
            model = json.loads(attrs[contract.SpanAttr.MODEL]) if contract.SpanAttr.MODEL in attrs else None
            provider = json.loads(attrs[contract.SpanAttr.MODEL_PROVIDER]) if contract.SpanAttr.MODEL_PROVIDER in attrs else None
            parent = d.get("parent_span_id")
            span_rows.append(
                {
                    "trace_id": trace_id,
                    "experiment_id": self.experiment_id,
                    "span_id": base64.b64decode(d["span_id"]).hex(),
                    "parent_span_id": base64.b64decode(parent).hex() if parent else None,
                    "name": d["name"],
                    "type": json.loads(attrs.get(contract.SpanAttr.TYPE, "null")),
                    "status": _STATUS.get(d["status"]["code"], "UNSET"),
                    "start_time_unix_nano": d["start_time_unix_nano"],
                    "end_time_unix_nano": d.get("end_time_unix_nano"),
                    "content": json.dumps(d, ensure_ascii=False),
                    "input_cost": cost.get("input_cost"),
                    "output_cost": cost.get("output_cost"),
                    "total_cost": cost.get("total_cost"),
                    "model_name": model if isinstance(model, str) else None,
                    "model_provider": provider if isinstance(provider, str) else None,
                }
            )
        return info, tag_rows, span_rows

    def write(self, copies: list[list[dict[str, Any]]]) -> None:
        self.store(self.prepare(copies))

    def prepare(self, copies: list[list[dict[str, Any]]]) -> Batch:
        """The rows of a batch of copies (Python's work: the filler's main thread)."""
        batch = Batch([], [], [])
        for copy_ in copies:
            info, tag_rows, span_rows = self.rows(copy_)
            batch.infos.append(info)
            batch.tags.extend(tag_rows)
            batch.spans.extend(span_rows)
        return batch

    def store(self, batch: Batch) -> None:
        """Write a prepared batch (the database's work: waits on it, so the filler does this in a thread of its own)."""
        with self.engine.begin() as connection:  # one transaction: a batch lands whole or not at all
            for table, rows in (
                (SqlTraceInfo.__table__, batch.infos),
                (SqlTraceTag.__table__, batch.tags),
                (SqlSpan.__table__, batch.spans),
            ):
                if self.engine.dialect.name == "postgresql" and self.engine.dialect.driver == "psycopg":
                    _copy(connection, table, rows)  # PostgreSQL's bulk load: a third of the INSERTs' time
                else:
                    connection.execute(insert(table), rows)
            if self.enqueue:
                self._queue_rebuilds(connection, batch.infos, batch.spans)

    def _queue_rebuilds(self, connection: Any, infos: list[dict[str, Any]], spans: list[dict[str, Any]]) -> None:
        """Queue the rebuild of every UTC day this batch wrote into, each of MLflow's rollup families (trace days
        by the trace's time, span-cost days by each span's start, as MLflow builds them)."""
        day_ms = 86_400_000
        days = {r["timestamp_ms"] // day_ms for r in infos} | {r["start_time_unix_nano"] // 1_000_000 // day_ms for r in spans}
        rows = [
            {"experiment_id": self.experiment_id, "rollup_day": datetime.date.fromordinal(EPOCH_ORDINAL + day), "rollup_family": family}
            for day in sorted(days)
            for family in ("trace_metric", "span_cost", "assessment")
        ]
        dialect_insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        connection.execute(dialect_insert(SqlTraceRollupRebuild.__table__).values(rows).on_conflict_do_nothing())


def _copy(connection: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    """COPY rows into a table through psycopg 3, inside the connection's transaction."""
    columns = list(rows[0])
    cursor = connection.connection.driver_connection.cursor()
    quoted = ", ".join('"' + c + '"' for c in columns)  # "key" and friends are keywords
    with cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def _template_spans(tracking_uri: str, trace_ids: list[str]) -> list[list[dict[str, Any]]]:
    client = TracingClient(tracking_uri)
    return [[s.to_dict() for s in client.get_trace(trace_id).data.spans] for trace_id in trace_ids]


def fill(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
    tracking_uri: str,
    experiment_name: str,
    n: int,
    *,
    days: float = 90,
    seed: int = 7,
    batch: int = 1000,
    progress: Callable[[int], None] | None = None,
    rows: bool = True,
    enqueue: bool = True,
) -> FillReport:
    """Write n traces into the experiment (created if needed); the templates count among them. A database
    store gets the copies as rows (`rows=False`: through `log_spans`, as a tracking server does), and the days they
    land in queued for MLflow's rollup rebuild (`enqueue=False`: a writer that bypasses that, as tests need one)."""
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
    writer = _RowWriter(store, experiment_id, enqueue) if rows and hasattr(store, "engine") else None
    pipeline = _Pipeline(writer.store) if writer is not None else None
    written = len(catify) + len(foreign)
    pending: list[list[dict[str, Any]]] = []
    index = 0
    try:
        while written < n:
            ours = rng.random() >= FOREIGN_SHARE
            template = rng.choice(ours_t if ours else foreign_t)
            pending.append(cloner.clone(template, ours=ours, index=index))
            index += 1
            written += 1
            if index % batch == 0 or written >= n:
                if writer is not None and pipeline is not None:
                    pipeline.put(writer.prepare(pending))
                else:  # a tracking server: MLflow's span ingestion over its REST API
                    store.log_spans(experiment_id, [Span.from_dict(d) for copy_ in pending for d in copy_])
                pending = []
                if progress:
                    progress(written)
    finally:
        if pipeline is not None:
            pipeline.close()  # every batch written (or the first failure raised) before the report
    return FillReport(traces=written, seconds=time.perf_counter() - started, experiment_id=experiment_id)
