"""The app on a real PostgreSQL (Debian's, on loopback, tests/postgres.py), read straight through SQLAlchemy with
psycopg 3 (`postgresql://`, the scheme DEPLOY.md shows) and through a real `mlflow server` on it: what a team that
outgrew one laptop runs (issue 17). A message with a NUL in it (PostgreSQL refuses NUL in any text) is saved
without it, says so, and its conversation is there for a second instance; a value the database refuses is said
as a refusal, not as "unreachable"."""

from __future__ import annotations

import asyncio
import time
import uuid

import psycopg
import pytest
from conftest import ROOT
from mlflow.tracking import MlflowClient
from streamlit.testing.v1 import AppTest

from benchmarks.support import synthetic
from core import store as stores
from core import traces
from core.config import Settings
from core.conversations import Conversation, ConversationStore, StoreUnavailable
from core.reading import aggregates
from core.turn import TurnRequest, run_turn
from tests.mlflow_server import MlflowServer


@pytest.fixture(scope="module")
def server(postgres, tmp_path_factory):
    with MlflowServer(tmp_path_factory.mktemp("mlflow-on-postgres"), backend=postgres.uri()).start() as srv:
        yield srv


def a_turn_with_a_nul(uri: str) -> tuple[str, list[str], str]:
    name = f"pg-{uuid.uuid4().hex[:6]}"
    conversation = Conversation(scenario="weather", session_id="s-pg", provider="demo", options={"weather_source": "offline"})
    outcome = asyncio.run(
        run_turn(
            TurnRequest(conversation, "What's the weather\x00 in Oslo?", Settings(tracking_uri=uri), ConversationStore.connect(uri, name))
        )
    )
    assert outcome.status == "ok", outcome.error
    return name, list(outcome.warnings), str(outcome.conversation.id)


@pytest.mark.parametrize("through", ["database", "server"])
def test_a_message_with_a_nul_is_saved_without_it_and_said(postgres, server, through):
    uri = postgres.uri() if through == "database" else server.uri
    name, warnings, conversation_id = a_turn_with_a_nul(uri)
    assert warnings == [
        "Your message had 1 invisible control character (such as NUL) that no store can keep; the agents got it without them."
    ], "said, and nothing about an unreachable store"
    other = ConversationStore.connect(uri, name)  # a second app instance on the same store
    listed = other.recent()
    assert [c.id for c in listed] == [conversation_id] and listed[0].title == "What's the weather in Oslo?"
    assert other.load(conversation_id).transcript[0]["text"] == "What's the weather in Oslo?"
    traces = MlflowClient(uri).search_traces(locations=[other.experiment_id])
    assert len(traces) == 1 and traces[0].info.request_preview == "What's the weather in Oslo?"


def test_a_refused_value_is_a_refusal_and_a_dead_store_is_not(postgres):
    client = MlflowClient(postgres.uri())
    experiment = client.create_experiment(f"refusal-{uuid.uuid4().hex[:6]}")
    with pytest.raises(Exception) as refused:
        client.create_run(experiment, tags={"app.title": "a\x00b"})
    said = stores.refusal(refused.value, postgres.uri())
    assert said is not None and "NUL" in said and postgres.PASSWORD not in said.replace("mlflow", ""), said
    with pytest.raises(psycopg.OperationalError) as unreachable:  # what a database that is down answers with
        psycopg.connect("postgresql://mlflow:mlflow@127.0.0.1:9/mlflow", connect_timeout=3)
    assert stores.refusal(unreachable.value) is None, "no answer is not a refusal"


def test_pointing_at_the_database_of_a_server_store_says_what_to_set(postgres, server, monkeypatch):
    """Conversations written through the server keep their artifacts behind its proxy (mlflow-artifacts:/); an app
    pointed straight at the database cannot read them. It says so and what to set, instead of opening them
    empty; the chat page shows the sentence and still chats."""
    name, _, conversation_id = a_turn_with_a_nul(server.uri)
    direct = ConversationStore.connect(postgres.uri(), name)
    why = direct.artifacts_problem()
    assert why is not None and "MLFLOW_TRACKING_URI" in why and "http://" in why
    with pytest.raises(StoreUnavailable) as refused:
        direct.load(conversation_id)
    assert str(refused.value) == why
    assert ConversationStore.connect(server.uri, name).artifacts_problem() is None, "through the server: fine"

    monkeypatch.setenv("MLFLOW_TRACKING_URI", postgres.uri())
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", name)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=90)
    at.query_params["conversation"] = conversation_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(w.value.replace("\\", "") for w in at.warning)
    assert "Set MLFLOW_TRACKING_URI to that server's address" in said, said
    assert postgres.PASSWORD + "@" not in said


def test_filled_traces_on_postgresql_read_the_same_every_way(postgres, server):
    """The filler's rows (COPY on PostgreSQL) as MLflow reads them: the whole read straight from the database and
    through the server, and the at-scale aggregates both ways, agree."""
    uri = postgres.uri()
    report = synthetic.fill(uri, f"fill-{uuid.uuid4().hex[:6]}", 120, seed=9)
    whole = traces.reader_for(uri, report.experiment_id).frames()
    expected = traces.totals(whole.traces)
    assert expected.traces == 120 and expected.errors > 0 and expected.cost_usd > 0
    assert traces.totals(traces.ApiTraceReader(server.uri, report.experiment_id).frames().traces) == expected
    for where in (uri, server.uri):
        got = aggregates.MetricsReader(where, report.experiment_id).overview(None, None, int(time.time() * 1000))
        assert (got.totals.traces, got.totals.input_tokens, got.totals.output_tokens, got.totals.errors) == (
            expected.traces,
            expected.input_tokens,
            expected.output_tokens,
            expected.errors,
        ), where
        assert got.totals.cost_usd == pytest.approx(expected.cost_usd), where
        assert int(got.daily["traces"].sum()) == 120, where
    one = MlflowClient(server.uri).get_trace(whole.traces.loc[whole.traces["scenario"] == "catify", "trace_id"].iloc[0])
    assert len(one.data.spans) >= 7 and one.info.token_usage["total_tokens"] > 0
