"""Prompt sets: the few prompts a team's versions are evaluated on, each with an optional expectation (the answer
contains a text, matches a regular expression, or, for Catify, the final picture holds at least so many cats).

Stored the MLflow way: an MLflow evaluation dataset (`mlflow.genai.datasets.create_dataset`, MLflow 3.17: a table
of its tracking store, on sqlite, PostgreSQL and through `mlflow server` alike), linked to the app's experiment,
one record per prompt: `inputs={"prompt": …}`, `expectations={"contains": …, "regex": …, "min_cats": …}`, and
the record's place as a tag (the dataset keeps no order). Prompts taken from past turns keep their trace as the
record's source. A set comes from typed lines, an uploaded CSV or JSON file, or past turns' requests; bad input is
an `InputError` with one sentence."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

import mlflow
import pandas as pd

from . import contract
from .conversations import find_models_experiment
from .errors import InputError
from .store import fluent_lock

MAX_PROMPTS = 20  # as a model takes in one request (core.mlflow_model.inputs)
MAX_PROMPT_CHARS = 2000
MAX_UPLOAD_BYTES = 200_000
EXPECTATIONS = ("contains", "regex", "min_cats")


class PromptSetError(RuntimeError):
    """The store could not save or read a prompt set; the message is for the user."""


@dataclass(frozen=True)
class PromptRow:
    """One prompt and what its answer is expected to do (each expectation optional)."""

    prompt: str
    contains: str = ""
    regex: str = ""
    min_cats: int | None = None
    source_trace: str = ""  # the past turn it was taken from

    def expectations(self) -> dict[str, Any]:
        found: dict[str, Any] = {"contains": self.contains, "regex": self.regex, "min_cats": self.min_cats}
        return {k: v for k, v in found.items() if v not in ("", None)}


def preview(rows: Iterable[PromptRow]) -> pd.DataFrame:
    """The rows as the Models page previews them, one type a column: a missing expectation is a null, not "" in a
    number column (pyarrow refused that mix, and Streamlit printed an ArrowInvalid traceback on every rerun)."""
    return pd.DataFrame([{"prompt": r.prompt, **r.expectations()} for r in rows]).convert_dtypes()


@dataclass(frozen=True)
class PromptSet:
    name: str
    rows: tuple[PromptRow, ...]
    dataset_id: str = ""  # the MLflow evaluation dataset's id once stored
    created_by: str = ""
    created_ms: int = 0
    tags: dict[str, str] = field(default_factory=dict)


def row(prompt: Any, contains: Any = "", regex: Any = "", min_cats: Any = None, where: str = "", source_trace: str = "") -> PromptRow:
    """One checked row; `where` says which line or item it came from in the sentence of an error."""
    text = "" if prompt is None else str(prompt).strip()
    at = f" ({where})" if where else ""
    if not text:
        raise InputError(f"A prompt is empty{at}: every row needs a prompt.")
    if len(text) > MAX_PROMPT_CHARS:
        raise InputError(f"A prompt has {len(text):,} characters{at}; the limit is {MAX_PROMPT_CHARS:,}.")
    pattern = "" if regex is None else str(regex).strip()
    if pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise InputError(f"The regular expression {pattern[:80]!r}{at} is not valid: {exc}.") from None
    cats: int | None = None
    if min_cats not in (None, "") and not (isinstance(min_cats, float) and min_cats != min_cats):  # NaN: empty cell
        try:
            cats = int(float(str(min_cats)))
        except ValueError:
            raise InputError(f"min_cats must be a whole number{at}, not {str(min_cats)[:40]!r}.") from None
        if cats < 0:
            raise InputError(f"min_cats cannot be negative{at}.")
    return PromptRow(text, "" if contains is None else str(contains).strip(), pattern, cats, source_trace)


def _checked(rows: list[PromptRow]) -> tuple[PromptRow, ...]:
    if not rows:
        raise InputError("The prompt set is empty: give at least one prompt.")
    if len(rows) > MAX_PROMPTS:
        raise InputError(f"{len(rows)} prompts; a prompt set holds at most {MAX_PROMPTS}.")
    seen: set[str] = set()
    for r in rows:
        if r.prompt in seen:
            raise InputError(f"“{r.prompt[:60]}” is in the set twice: MLflow's dataset keeps one record per prompt.")
        seen.add(r.prompt)
    return tuple(rows)


def from_lines(text: str) -> tuple[PromptRow, ...]:
    """Typed prompts, one a line; `prompt | contains: text | regex: pattern | min_cats: 10` adds expectations."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        prompt, *parts = line.split(" | ")
        found: dict[str, str] = {}
        for part in parts:
            key, sep, value = part.partition(":")
            if not sep or key.strip() not in EXPECTATIONS:
                raise InputError(
                    f"Line {number}: “{part.strip()[:60]}” is not an expectation; write contains: …, regex: … or min_cats: … after a “ | ”."
                )
            found[key.strip()] = value.strip()
        rows.append(row(prompt, where=f"line {number}", **found))
    return _checked(rows)


def from_upload(name: str, data: bytes) -> tuple[PromptRow, ...]:
    """A CSV (a `prompt` column, optional `contains`, `regex`, `min_cats`) or JSON file (a list of strings or of
    objects with those keys, or MLflow's record shape `{"inputs": {"prompt": …}, "expectations": {…}}`)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError(f"{name} has {len(data):,} bytes; a prompt set file may have {MAX_UPLOAD_BYTES:,}.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{name} is not UTF-8 text.") from None
    if name.lower().endswith(".json"):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{name} is not valid JSON: {exc.msg} at line {exc.lineno}.") from None
        if isinstance(items, dict):
            items = items.get("prompts", items.get("records"))
        if not isinstance(items, list):
            raise InputError(f"{name} must hold a list of prompts (strings or objects with a “prompt”).")
        return _checked([_json_row(item, f"item {i}") for i, item in enumerate(items, 1)])
    if name.lower().endswith(".csv"):
        reader = csv.DictReader(io.StringIO(text))
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        if "prompt" not in columns:
            raise InputError(f"{name} needs a “prompt” column (found: {', '.join(columns) or 'none'}).")
        return _checked(
            [
                row(
                    **{k: v for k, v in ((str(k).strip().lower(), v) for k, v in line.items()) if k in ("prompt", *EXPECTATIONS)},
                    where=f"row {n}",
                )
                for n, line in enumerate(reader, 2)
                if any((v or "").strip() for v in line.values())
            ]
        )
    raise InputError(f"{name}: upload a .csv or .json file.")


def _json_row(item: Any, where: str) -> PromptRow:
    if isinstance(item, str):
        return row(item, where=where)
    if not isinstance(item, dict):
        raise InputError(f"{where.capitalize()} is neither a prompt nor an object with a “prompt”.")
    if isinstance(item.get("inputs"), dict):  # MLflow's record shape
        item = {"prompt": item["inputs"].get("prompt"), **(item.get("expectations") or {})}
    unknown = set(item) - {"prompt", *EXPECTATIONS}
    if unknown:
        raise InputError(f"{where.capitalize()} has {', '.join(sorted(unknown))}; a row has prompt, {', '.join(EXPECTATIONS)}.")
    return row(where=where, **item)


def from_past_turns(tracking_uri: str, experiment_id: str, scenario: str, limit: int = 10) -> tuple[PromptRow, ...]:
    """The newest distinct requests of a team's past turns (chat turns and model predictions, not an evaluation's
    answers: contract.kind_of), each with its trace as the source; none is an InputError that says so. Everyone's:
    in a hosted demo only its admin takes prompts from past turns (core.hosted.sees_evaluations)."""
    client = mlflow.MlflowClient(tracking_uri)
    rows: list[PromptRow] = []
    try:
        models = find_models_experiment(client, str(experiment_id))  # predictions since issue 32
        for key in (scenario, scenario + contract.TraceKind.MODEL_SCENARIO_SUFFIX):
            quoted = key.replace("'", "''")  # a team file's name is the user's
            found = client.search_traces(
                locations=[str(experiment_id), *([models] if models else [])],
                max_results=100,
                include_spans=False,
                filter_string=f"tags.`{contract.RunTag.SCENARIO}` = '{quoted}'",
                order_by=["timestamp_ms DESC"],
            )
            for info in (t.info for t in found):
                if contract.kind_of(info.tags, info.trace_metadata.get(contract.TraceMetadata.SESSION, "")) == contract.TraceKind.EVALUATION:
                    continue
                text = _request_text(client, info)
                if text and len(text) <= MAX_PROMPT_CHARS and text not in {r.prompt for r in rows}:
                    rows.append(PromptRow(text, source_trace=info.trace_id))
    except Exception as exc:
        raise PromptSetError(f"Past turns could not be read: {str(exc).splitlines()[0][:200]}") from exc
    if not rows:
        raise InputError("This team has no past turns in the experiment yet: type or upload prompts instead.")
    return tuple(rows[: min(limit, MAX_PROMPTS)])


PREVIEW_CHARS = 300  # MLflow cuts a trace's request preview there


def _request_text(client: Any, info: Any) -> str:
    """A turn's message: its request preview, or the root span's input when the preview was cut short."""
    preview = (info.request_preview or "").strip()
    if len(preview) < PREVIEW_CHARS:
        return _unquoted(preview)
    root = client.get_trace(info.trace_id).data._get_root_span()
    inputs = root.inputs if root is not None else None
    return str(inputs.get("message", "") if isinstance(inputs, dict) else inputs or "").strip()


def _unquoted(preview: str) -> str:
    """A preview is the request as MLflow wrote it: a plain string, or JSON of the turn span's inputs."""
    try:
        value = json.loads(preview)
    except ValueError:
        return preview
    if isinstance(value, dict):
        value = value.get("message", next(iter(value.values()), ""))
    return str(value).strip() if isinstance(value, str) else preview


# ---- stored as MLflow evaluation datasets --------------------------------------------------------------------------


def save(tracking_uri: str, experiment_id: str, name: str, rows: Iterable[PromptRow], scenario: str = "") -> PromptSet:
    """A new evaluation dataset named `name` in the experiment, one record per prompt."""
    from mlflow.genai import datasets  # noqa: PLC0415 - MLflow's GenAI package is heavy: imported when used

    name = (name or "").strip()
    if not re.fullmatch(r"[\w .:-]{1,100}", name):
        raise InputError("Name the prompt set with letters, digits, spaces, . : _ or - (at most 100).")
    checked = _checked(list(rows))
    if any(s.name == name for s in list_sets(tracking_uri, experiment_id)):
        raise InputError(f"A prompt set named “{name}” exists already: choose another name.")
    records = []
    for order, r in enumerate(checked):
        record: dict[str, Any] = {
            "inputs": {"prompt": r.prompt},
            "expectations": r.expectations(),
            "tags": {contract.PROMPT_ORDER: str(order)},
        }
        if r.source_trace:
            record["source"] = {"source_type": "TRACE", "source_data": {"trace_id": r.source_trace}}
        records.append(record)
    tags = {contract.RunTag.KIND: contract.RunKind.PROMPT_SET, **({contract.RunTag.SCENARIO: scenario} if scenario else {})}
    try:
        with _uri(tracking_uri):
            dataset = datasets.create_dataset(name=name, experiment_id=str(experiment_id), tags=tags)
            dataset.merge_records(records)
    except Exception as exc:
        raise PromptSetError(f"The prompt set could not be saved: {str(exc).splitlines()[0][:200]}") from exc
    return PromptSet(name, checked, dataset.dataset_id, tags=tags)


def list_sets(tracking_uri: str, experiment_id: str) -> list[PromptSet]:
    """The experiment's prompt sets (the datasets the app made), newest first, without their records."""
    try:
        found = mlflow.MlflowClient(tracking_uri).search_datasets(
            experiment_ids=[str(experiment_id)],
            filter_string=f"tags.{contract.RunTag.KIND} = '{contract.RunKind.PROMPT_SET}'",  # no backticks here
            order_by=["created_time DESC"],
            max_results=100,
        )
    except Exception as exc:
        raise PromptSetError(f"The prompt sets could not be listed: {str(exc).splitlines()[0][:200]}") from exc
    return [PromptSet(d.name, (), d.dataset_id, d.created_by or "", int(d.created_time or 0), dict(d.tags or {})) for d in found]


def load(tracking_uri: str, dataset_id: str) -> PromptSet:
    """A stored prompt set with its records in their order."""
    from mlflow.genai import datasets  # noqa: PLC0415 - mlflow.genai is slow to import and only prompt sets need it

    try:
        with _uri(tracking_uri):
            dataset = datasets.get_dataset(dataset_id=dataset_id)
            frame = dataset.to_df()
    except Exception as exc:
        raise PromptSetError(f"Prompt set {dataset_id[:40]} could not be read: {str(exc).splitlines()[0][:200]}") from exc
    records = sorted(frame.to_dict("records"), key=lambda r: int((r.get("tags") or {}).get(contract.PROMPT_ORDER, 0)))
    rows = []
    for record in records:
        expected = record.get("expectations") or {}
        source = record.get("source")
        trace = (getattr(source, "source_data", None) or {}).get("trace_id", "") if source is not None else ""
        rows.append(
            PromptRow(
                str((record.get("inputs") or {}).get("prompt", "")),
                str(expected.get("contains", "")),
                str(expected.get("regex", "")),
                expected.get("min_cats"),
                trace,
            )
        )
    return PromptSet(
        dataset.name, tuple(rows), dataset.dataset_id, dataset.created_by or "", int(dataset.created_time or 0), dict(dataset.tags or {})
    )


class _uri:
    """MLflow's dataset records are written and read through the process-wide tracking URI: pointed here under
    the app's lock for MLflow's global settings (core.store.fluent_lock)."""

    def __init__(self, tracking_uri: str):
        self.tracking_uri = tracking_uri

    def __enter__(self) -> None:
        fluent_lock.acquire()
        mlflow.set_tracking_uri(self.tracking_uri)

    def __exit__(self, *exc: Any) -> None:
        fluent_lock.release()
