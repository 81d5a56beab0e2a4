"""How traces leave the process: batched, off the turn's thread, into the store `configure` points at; `flush`
drains them; `wait_for_trace` waits until one turn's trace is completely in the store.

Called once, explicitly, by `core.store.prepare` (whoever opens a store for turns), never as a side effect
of constructing something."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import mlflow
from mlflow.tracing.client import TracingClient
from mlflow.tracing.processor import base_mlflow
from mlflow.tracing.provider import _get_trace_exporter

from .. import contract

_configure_lock = threading.Lock()
_configured_uri: str | None = None


def configure(tracking_uri: str) -> None:
    """Point MLflow at the store and choose how traces are exported, once per process and URI.

    MLflow's default commits every span to the store as it ends, on the thread that ends it (about
    10 ms of Python each on sqlite; 11 spans a Catify turn): +70% on a demo turn. Instead spans are
    batched (one store write per batch, not per span) and written off the turn's thread. Chosen so
    no trace is silently lost (MLflow's queue DROPS traces when full: 533 of 1,000 kept in a burst,
    docs/ARCHITECTURE.md "Export"): the trace queue holds 100,000 tasks; the span batch queue holds 2,048 spans (~180
    turns within one 0.2 s export interval); sqlite gets a single writer so no export fails on a
    locked database. `run_turn` waits for its own trace by default; the chat page does not (the answer
    shows at once, the trace lands ~0.2 s later); `flush()` drains everything.

    MLflow's HTTP client retries a dead tracking server 7 times with exponential backoff: one failed
    save held a chat turn for 247 s (measured). Two retries, quick backoff and a 20 s timeout end it in
    a few seconds; the conversation then waits in the session until the server is back. Set the
    MLFLOW_* variables yourself to override any of this."""
    global _configured_uri
    with _configure_lock:
        for name, value in (
            ("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "true"),
            ("MLFLOW_USE_BATCH_SPAN_PROCESSOR", "true"),
            ("MLFLOW_ASYNC_TRACE_LOGGING_MAX_SPAN_BATCH_SIZE", "256"),
            ("MLFLOW_ASYNC_TRACE_LOGGING_MAX_INTERVAL_MILLIS", "200"),
            ("MLFLOW_ASYNC_TRACE_LOGGING_MAX_QUEUE_SIZE", "100000"),
            ("MLFLOW_ASYNC_TRACE_LOGGING_MAX_WORKERS", "1" if tracking_uri.startswith("sqlite:") else "4"),
            # prices come from the catalog bundled with the pinned MLflow: offline, reproducible, and no
            # 7 s network timeout on the first priced span when GitHub is out of reach
            ("MLFLOW_MODEL_CATALOG_URI", ""),
            ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"),
            ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
            ("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0.5"),
            ("MLFLOW_HTTP_REQUEST_TIMEOUT", "20"),
        ):
            os.environ.setdefault(name, value)
        if _configured_uri == tracking_uri:
            return
        mlflow.set_tracking_uri(tracking_uri)
        _configured_uri = tracking_uri


def flush() -> None:
    """Write every trace still queued (before reading them back in this process, or at shutdown).

    What MLflow lacks: its own flush (`mlflow.flush_trace_async_logging`) stops and restarts each exporter's writer
    thread, and that thread notices the stop only after its 1 s poll of the queue: 1 to 2 s per flush even with
    nothing queued (measured). The same two layers are drained here without the restart: every span batch is handed
    to its exporter (`force_flush`, after the spans being ended), then every queued write is waited for
    (`Queue.join`: each task is marked done once it is written). MLflow's flush when its internals are not there."""
    try:
        processors = list(base_mlflow._batch_processor_registry)
        for processor in processors:
            _ended(processor)
            processor.force_flush(30_000)
        for exporter in [p.span_exporter for p in processors] + [_get_trace_exporter()]:
            writes = getattr(getattr(exporter, "_async_queue", None), "_queue", None)
            if writes is not None:
                writes.join()
    except AttributeError:
        mlflow.flush_trace_async_logging()


def _ended(processor: Any) -> None:
    """Until the spans being ended right now are in the processor's batch (as MLflow's own flush waits)."""
    with processor._pending_on_end_condition:
        processor._pending_on_end_condition.wait_for(lambda: processor._pending_on_end_count == 0, timeout=30)


def wait_for_trace(tracking_uri: str, trace_id: str, timeout_s: float = 30.0) -> bool:
    """Poll until this turn's trace is completely in the store; False if it is not within the timeout."""
    store = TracingClient(tracking_uri).store  # the store itself: TracingClient answers live traces from memory
    deadline = time.monotonic() + timeout_s
    delay = 0.005
    while True:
        try:
            info = store.get_trace_info(trace_id)
            # the span batch can set the final state before the full-trace write adds tags and metadata;
            # our tags arrive only with that last write, so they mark the trace as complete
            if str(getattr(info.state, "value", info.state)) in ("OK", "ERROR") and contract.TraceTag.TURN in info.tags:
                return True
        except Exception:  # noqa: BLE001 - not written yet
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
