"""The raw SQL on MLflow's own tables (core/reading/sql.py, the only module that holds any) against MLflow's schema:
a changed or renamed column fails here, not on someone's Traces page. Three checks: every column the statements
name is declared (`sql.SCHEMA`), every declared column is in MLflow's SQLAlchemy models and in the tables a fresh
store creates, and every statement runs on a store MLflow made (sqlite prepares each one against its tables)."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import mlflow
import pytest
import sqlalchemy as sa
from mlflow.store.db.base_sql_model import Base
from mlflow.store.tracking import dbmodels  # noqa: F401 - registers MLflow's tracking tables on Base.metadata
from mlflow.tracing.client import TracingClient

from core import contract, feedback
from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.observe import export
from core.reading import sql
from core.turn import run_turn

SOURCE = Path(sql.__file__).read_text(encoding="utf-8")


def _missing(schema: dict[str, tuple[str, ...]], tables: dict[str, set[str]]) -> list[str]:
    """`table.column` of `schema` that `tables` (a name -> column names) does not have."""
    return [f"{table}.{column}" for table, columns in schema.items() for column in columns if column not in tables.get(table, set())]


def test_the_sql_was_written_against_the_pinned_mlflow():
    assert mlflow.__version__ == sql.MLFLOW_VERSION, (
        f"MLflow {mlflow.__version__} is installed; core/reading/sql.py was written against {sql.MLFLOW_VERSION}: check its "
        "statements against the new schema (mlflow/store/tracking/dbmodels/models.py), then update MLFLOW_VERSION"
    )


def test_every_table_and_column_the_sql_names_is_declared():
    named = {(sql.ALIASES[alias], column) for alias, column in re.findall(r"\b([itosa])\.([a-z_]{2,})\b", SOURCE)}
    assert named, "no aliased column found: the pattern no longer matches how core/reading/sql.py writes its SQL"
    undeclared = sorted(f"{table}.{column}" for table, column in named if column not in sql.SCHEMA[table])
    assert not undeclared, f"core/reading/sql.py names columns its SCHEMA does not declare: {undeclared}"
    tables = set(re.findall(r"\b(?:FROM|JOIN)\s+([a-z_]+)", SOURCE))
    assert tables and tables <= set(sql.SCHEMA), f"tables not in SCHEMA: {sorted(tables - set(sql.SCHEMA))}"


def test_every_declared_column_is_in_mlflows_models():
    models = {name: {c.name for c in table.columns} for name, table in Base.metadata.tables.items()}
    assert not _missing(sql.SCHEMA, models)


def test_the_schema_check_can_fail():
    models = {name: {c.name for c in table.columns} for name, table in Base.metadata.tables.items()}
    models["spans"] = models["spans"] - {"model_name"}
    assert _missing(sql.SCHEMA, models) == ["spans.model_name"]


@pytest.fixture(scope="module")
def fresh_store(tracking_uri):
    """The test session's store, which MLflow created (its migrations, the pinned version), with one of our turns in
    an experiment of its own, its summary tag taken off (so it is read span by span) and one rating."""
    store = ConversationStore.connect(tracking_uri, f"schema-{uuid.uuid4().hex[:6]}")
    conversation = Conversation(scenario="catify", session_id="s", provider="demo", options={"iterations": 1})
    outcome = asyncio.run(run_turn(conversation, "a cat", Settings(tracking_uri=tracking_uri), store))
    assert outcome.trace_id and export.wait_for_trace(tracking_uri, outcome.trace_id)
    TracingClient(tracking_uri).delete_trace_tag(outcome.trace_id, contract.TraceTag.SUMMARY)
    feedback.rate(tracking_uri, outcome.trace_id, "local:tester", True)
    return tracking_uri, store.experiment_id


def test_every_declared_column_is_in_a_fresh_store(fresh_store):
    uri, _ = fresh_store
    inspector = sa.inspect(TracingClient(uri).store.engine)
    tables = {name: {c["name"] for c in inspector.get_columns(name)} for name in sql.SCHEMA}
    assert not _missing(sql.SCHEMA, tables)


def test_every_statement_runs_on_a_fresh_store(fresh_store, monkeypatch):
    uri, experiment_id = fresh_store
    reader = sql.SqlTraceReader(uri, experiment_id)
    assert reader.version().startswith("1/")  # one trace in the experiment (the ratings it counts are the store's)
    by_id = reader.frames()
    monkeypatch.setattr(sql.SqlTraceReader, "WALK_BY_ID_MAX", 0)  # the other walk: one pass over the experiment's spans
    in_one_pass = reader.frames(0, 2**62)
    assert len(by_id.traces) == len(in_one_pass.traces) == 1 and int(by_id.traces["feedback_up"].iloc[0]) == 1
    assert len(by_id.calls) == len(in_one_pass.calls) > 1, "the turn's calls, read from its spans"
    rows = sql.SqliteRows(TracingClient(uri).store.engine, int(experiment_id))
    assert len(rows.read(None, None, None)) == 1
    assert len(rows.read(0, 2**62, "somebody")) == 0
