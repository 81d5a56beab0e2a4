"""Chat usage apart from model predictions and evaluations (issue 32): the Traces page counts chat turns by default and
shows predictions or evaluations by its own choice, on an older store that holds them all in the chat experiment and on
a newer one whose predictions and evaluations live in the chat experiment's models experiment."""

from __future__ import annotations

import asyncio
import uuid

import mlflow
import pandas as pd
import pytest
import streamlit as st
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from core import contract, traces
from core.config import Settings
from core.conversations import Conversation, ConversationStore, find_models_experiment
from core.mlflow_model import registry
from core.observe import export
from core.reading import aggregates
from core.turn import TurnRequest, run_turn

PAGE = str(ROOT / "pages" / "traces.py")
pytestmark = pytest.mark.filterwarnings("ignore:Resolved model mismatch:UserWarning")

# what an older store holds in its chat experiment: (tags, session) of each trace, and what kind it is
OLD_LAYOUT = [
    ({contract.TraceTag.KIND: contract.TraceKind.CHAT, contract.RunTag.SCENARIO: "catify"}, "c" * 32, contract.TraceKind.CHAT),
    ({contract.TraceTag.KIND: contract.TraceKind.CHAT, contract.RunTag.SCENARIO: "analyst"}, "d" * 32, contract.TraceKind.CHAT),
    ({contract.RunTag.SCENARIO: "catify"}, "visitor-1", contract.TraceKind.CHAT),  # before issue 29: no kind, the owner as session
    ({contract.RunTag.SCENARIO: "weather"}, "", contract.TraceKind.CHAT),
    ({contract.RunTag.SCENARIO: "catify"}, contract.TraceKind.PREDICTION_SESSION, contract.TraceKind.PREDICTION),  # before issue 29
    ({contract.RunTag.SCENARIO: "team:calc@model"}, "visitor-1", contract.TraceKind.PREDICTION),  # a team's, before issue 29
    ({contract.TraceTag.KIND: contract.TraceKind.PREDICTION, contract.RunTag.SCENARIO: "catify", contract.TraceTag.OWNER: "visitor-2"}, "", contract.TraceKind.PREDICTION),
    (
        {contract.TraceTag.KIND: contract.TraceKind.EVALUATION, contract.RunTag.SCENARIO: "catify"},
        contract.TraceKind.PREDICTION_SESSION,
        contract.TraceKind.EVALUATION,
    ),
    ({contract.TraceTag.KIND: contract.TraceKind.EVALUATION, contract.RunTag.SCENARIO: "catify"}, "", contract.TraceKind.EVALUATION),
]
CHATS = sum(1 for *_, kind in OLD_LAYOUT if kind == contract.TraceKind.CHAT)


def write_traces(experiment_id: str, layout: list) -> list[str]:
    ids = []
    mlflow.set_experiment(experiment_id=experiment_id)
    for number, (tags, session, _kind) in enumerate(layout):
        with mlflow.start_span(name=f"{tags[contract.RunTag.SCENARIO]} turn") as span:
            span.set_inputs({"message": f"request {number}"})
            mlflow.update_current_trace(tags=tags, metadata={contract.TraceMetadata.SESSION: session} if session else None)
            span.set_outputs(f"answer {number}")
            ids.append(span.trace_id)
    export.flush()
    return ids


@pytest.fixture(scope="module")
def old_store(tracking_uri):
    """An experiment written before issue 32: chat turns, predictions and evaluations' answers together."""
    store = ConversationStore.connect(tracking_uri, f"old-{uuid.uuid4().hex[:8]}")
    write_traces(store.experiment_id, OLD_LAYOUT)
    return store


def kinds_of(frames: traces.Frames) -> dict[str, int]:
    return frames.traces["kind"].value_counts().to_dict()


def expected() -> dict[str, int]:
    return pd.Series([kind for *_, kind in OLD_LAYOUT]).value_counts().to_dict()


def test_the_kind_column_is_contract_kind_of():
    rows = [
        (tag, session, owner, scenario)
        for tag in ("", "chat", "prediction", "evaluation", "odd")
        for session in ("", contract.TraceKind.PREDICTION_SESSION, "x" * 32)
        for owner in ("", contract.TraceKind.PREDICTION_SESSION, "visitor")
        for scenario in ("catify", "team:calc@model", traces.OTHER)
    ]
    frame = pd.DataFrame(rows, columns=["tag", "session", "owner", "scenario"])
    got = traces.kinds(frame["tag"], frame["session"], frame["owner"], frame["scenario"]).tolist()
    want = [
        contract.kind_of(
            {contract.TraceTag.KIND: tag, contract.RunTag.SCENARIO: scenario},
            contract.TraceKind.PREDICTION_SESSION if contract.TraceKind.PREDICTION_SESSION in (session, owner) else session,
        )
        for tag, session, owner, scenario in rows
    ]
    assert got == want


def test_an_old_layout_store_reads_each_traces_kind_in_every_reader(old_store):
    uri, experiment_id = old_store.tracking_uri, old_store.experiment_id
    assert kinds_of(traces.SqlTraceReader(uri, experiment_id).frames()) == expected()
    assert kinds_of(traces.ApiTraceReader(uri, experiment_id).frames()) == expected()
    shown = traces.apply_filter(traces.SqlTraceReader(uri, experiment_id).frames(), traces.TraceFilter(kinds=(contract.TraceKind.CHAT,)))
    assert traces.totals(shown.traces).traces == CHATS
    # past the read-all limit: the sqlite store's lean rows and the list's pages leave the other kinds out too
    reader = aggregates.MetricsReader(uri, experiment_id)
    chat = aggregates.Scope(kind=contract.TraceKind.CHAT)
    assert aggregates.from_rows(reader.rows(None, None), chat).totals.traces == CHATS
    assert int(aggregates.scenarios_from_rows(reader.rows(None, None), chat)["traces"].sum()) == CHATS
    assert len(reader.list_page(None, None, chat)[0]) == CHATS
    # the searches that find an experiment's predictions and evaluations too big to read whole find them all
    api = traces.ApiTraceReader(uri, experiment_id)
    for kind in (contract.TraceKind.PREDICTION, contract.TraceKind.EVALUATION):
        found = [api.frames(filter_string=f) for f in aggregates.kind_searches(kind)]
        merged = traces.apply_filter(_merge(found), traces.TraceFilter(kinds=(kind,)))
        assert len(merged.traces) == expected()[kind]


def _merge(parts: list[traces.Frames]) -> traces.Frames:
    out = parts[0]
    for part in parts[1:]:
        out = traces.merged(out, part)
    return out


def open_page(monkeypatch, store: ConversationStore, **query: str) -> AppTest:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", store.experiment_name)
    monkeypatch.delenv("APP_MLFLOW_UI_URL", raising=False)
    st.cache_data.clear()
    at = AppTest.from_file(PAGE, default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown(at: AppTest) -> tuple[str, str]:
    """(the Traces metric, the sentence saying what is shown)."""
    sentence = next(c.value for c in at.caption if c.value.startswith(("Chat turns only", "Model predictions only", "Evaluations only")))
    return {m.label: m.value for m in at.metric}["Traces"], sentence


def choose(at: AppTest, label: str) -> AppTest:
    at.radio(key="trace_kind").set_value(next(k for k, v in _labels().items() if v == label)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _labels() -> dict[str, str]:
    from ui import trace_data  # noqa: PLC0415 - Streamlit glue, imported where a page test needs its labels

    return trace_data.KIND_LABELS


def test_the_page_counts_chat_turns_by_default_and_shows_predictions_and_evaluations_by_choice(monkeypatch, old_store):
    at = open_page(monkeypatch, old_store)
    count, sentence = shown(at)
    assert count == str(CHATS) and sentence.startswith("Chat turns only")
    count, sentence = shown(choose(at, "Model predictions"))
    assert count == str(expected()[contract.TraceKind.PREDICTION]) and sentence.startswith("Model predictions only")
    count, sentence = shown(choose(at, "Evaluations"))
    assert count == str(expected()[contract.TraceKind.EVALUATION]) and sentence.startswith("Evaluations only")


@pytest.fixture(scope="module")
def new_store(tracking_uri):
    """A store since issue 32: a chat turn, then a version's prediction as the Models page asks it."""
    settings = Settings(tracking_uri=tracking_uri)
    store = ConversationStore.connect(tracking_uri, f"new-{uuid.uuid4().hex[:8]}")
    conversation = Conversation(scenario="catify", session_id="s" * 32, provider="demo", options={"iterations": 1})
    outcome = asyncio.run(run_turn(TurnRequest(conversation, "a cat on a windowsill", settings, store)))
    assert outcome.status == "ok"
    version = registry.log_catify(tracking_uri, store.experiment_name, settings, 1)
    model = registry.load(tracking_uri, f"models:/catify/{version}")
    [predicted] = registry.predict(model, ["a cat in the snow"], experiment_id=store.models_experiment_id)
    assert export.wait_for_trace(tracking_uri, predicted["trace_id"])
    return store, outcome.conversation, predicted["trace_id"]


def test_predictions_live_in_the_models_experiment_and_the_chat_experiment_holds_chat_turns_alone(monkeypatch, new_store):
    store, conversation, prediction = new_store
    models = find_models_experiment(store.client, store.experiment_id)
    assert models == store.models_experiment_id
    experiment = store.client.get_experiment(models)
    assert experiment.name == f"{store.experiment_name} (models)" and experiment.tags[contract.ExperimentTag.MODELS_OF] == store.experiment_id
    assert store.client.get_trace(prediction).info.experiment_id == models
    chat = traces.SqlTraceReader(store.tracking_uri, store.experiment_id).frames()
    assert chat.traces["kind"].tolist() == [contract.TraceKind.CHAT]  # the unfiltered view is chat turns alone
    at = open_page(monkeypatch, store)
    assert shown(at)[0] == "1"
    assert shown(choose(at, "Model predictions"))[0] == "1"
    # the Models page's link opens the prediction with predictions shown
    at = open_page(monkeypatch, store, trace=prediction, kind=contract.TraceKind.PREDICTION)
    assert shown(at)[0] == "1" and at.radio(key="trace_kind").value == contract.TraceKind.PREDICTION
    # the experiment picker lists the chats' experiment, not its models experiment (the choice above reads it)
    assert models not in at.selectbox(key="experiment").options


def test_an_old_conversation_still_opens_and_resumes(new_store):
    store, conversation, _ = new_store
    settings = Settings(tracking_uri=store.tracking_uri)
    loaded = store.load(conversation.id)
    assert loaded.turns == 1
    assert asyncio.run(run_turn(TurnRequest(loaded, "now in the rain", settings, store))).status == "ok"
    assert store.load(conversation.id).turns == 2
    assert [c.id for c in store.recent()][:1] == [conversation.id]
