"""The Traces page through Streamlit's AppTest, on a real sqlite store filled by the chat side and by other
MLflow-instrumented code (tests/trace_fixtures.py). Expected numbers come from MLflow's own client."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import pytest
import streamlit as st
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from core import costs, traces
from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.turn import run_turn
from tests.trace_fixtures import FOREIGN_QUESTION, fill

PAGE = str(ROOT / "pages" / "traces.py")
APP = str(ROOT / "streamlit_app.py")
pytestmark = pytest.mark.filterwarnings("ignore:Resolved model mismatch:UserWarning")


@pytest.fixture(scope="module")
def filled(tracking_uri):
    return fill(tracking_uri, f"page-{uuid.uuid4().hex[:8]}")


@pytest.fixture()
def page_env(monkeypatch, filled):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", filled.tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", filled.experiment_name)
    monkeypatch.delenv("APP_MLFLOW_UI_URL", raising=False)

    st.cache_data.clear()
    return filled


def open_page(**query) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def listed(at: AppTest):
    """The trace list: the dataframe whose columns are the list's."""
    return next(d.value for d in at.dataframe if "trace_id" in d.value.columns and "request" in d.value.columns)


def test_overview_metrics_equal_mlflows_own_sums(page_env):
    infos = [t.info for t in page_env.store.client.search_traces(locations=[page_env.store.experiment_id],
                                                                 include_spans=False, max_results=100)]
    at = open_page()
    shown = metrics(at)
    assert shown["Traces"] == f"{len(infos):,}"
    assert shown["Input tokens"] == f"{sum((i.token_usage or {}).get('input_tokens', 0) for i in infos):,}"
    assert shown["Output tokens"] == f"{sum((i.token_usage or {}).get('output_tokens', 0) for i in infos):,}"
    assert shown["Cost (USD)"] == f"${sum((i.cost or {}).get('total_cost', 0.0) for i in infos):,.4f}"
    assert shown["Errors"] == "0"
    what_if = shown["Their model calls and pictures on gpt-4o"]

    frames = traces.reader_for(page_env.tracking_uri, page_env.store.experiment_id).frames()
    assert what_if == f"${costs.what_if(frames.calls, 'gpt-4o')['on gpt-4o'].sum():,.4f}"
    assert len(at.get("download_button")) >= 2  # breakdown and list as CSV


def test_filters_narrow_the_list_and_the_totals(page_env):
    at = open_page()
    assert len(listed(at)) == 5
    at.multiselect(key="f_scenario").set_value(["other"]).run()
    assert not at.exception
    assert len(listed(at)) == 2 and metrics(at)["Traces"] == "2"
    assert FOREIGN_QUESTION in set(listed(at)["request"]), "markup in a request is listed as text"
    at.multiselect(key="f_scenario").set_value([]).run()
    at.multiselect(key="f_session").set_value(["session-alice"]).run()
    assert len(listed(at)) == 2
    at.text_input(key="f_text").set_value("beach").run()
    assert list(listed(at)["request"]) == ["now on a beach"]
    at.text_input(key="f_text").set_value("no such words anywhere").run()
    assert not at.exception and metrics(at)["Traces"] == "0"
    assert any("No traces match" in i.value for i in at.info)


def test_an_invalid_mlflow_filter_is_a_message_and_the_rest_still_works(page_env):
    at = open_page()
    at.text_input(key="f_mlflow").set_value("tags.app.turn === (").run()
    assert not at.exception
    assert any("not valid" in e.value for e in at.error)
    assert metrics(at)["Traces"] == "5"
    at.text_input(key="f_mlflow").set_value("tags.`app.turn` = '2'").run()
    assert not at.error and metrics(at)["Traces"] == "1"


def test_breakdown_by_each_dimension(page_env):
    at = open_page()
    for by, expected in (("model", "gpt-image-1"), ("agent", "critic"), ("scenario", "catify"),
                         ("session", "session-bob")):
        at.radio(key="breakdown_by").set_value(by).run()
        assert not at.exception
        table = next(d.value for d in at.dataframe if by in d.value.columns)
        assert expected in set(table[by])


def test_a_trace_opens_with_its_span_tree_and_pictures(page_env):
    trace_id = page_env.turn_traces[2]  # the OpenAI turn: 1 iteration, 2 pictures
    at = open_page()
    at.text_input(key="trace_id_input").set_value(trace_id).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(h.value == f"Trace {trace_id}" for h in at.subheader)
    shown = metrics(at)
    assert shown["Spans"] == "7" and shown["Status"] == "OK"
    tree = next(d.value for d in at.dataframe if "span" in d.value.columns or "label" in d.value.columns)
    labels = [re.sub(r"^\d+\.", "", str(v)).strip(" \u2003└") for v in tree.iloc[:, 0]]  # "2. └ name"
    assert labels[:3] == ["catify turn 1", "image_agent", "generate image gpt-image-1"]
    assert len(at.json) == 1  # the chosen span's inputs and outputs, as data
    assert len(at.get("image")) == 2 + 2  # inline in the trace, and in the lineage tab (its conversation first)
    assert at.query_params["trace"] == trace_id
    assert len(at.get("download_button")) >= 3  # and the trace as JSON


def test_a_foreign_trace_opens(page_env):
    at = open_page(trace=page_env.foreign_traces[1])
    assert any(h.value.startswith("Trace ") for h in at.subheader)
    assert metrics(at)["Spans"] == str(len(page_env.store.client.get_trace(page_env.foreign_traces[1]).data.spans))
    assert any("Not written by this app" in c.value for c in at.caption)


def test_unknown_trace_id_is_a_message_and_the_rest_still_works(page_env):
    at = open_page()
    at.text_input(key="trace_id_input").set_value("tr-" + "0" * 32).run()
    assert not at.exception
    assert any("There is no trace" in w.value for w in at.warning)
    assert metrics(at)["Traces"] == "5"


def test_mlflow_ui_link_when_its_address_is_configured(page_env, monkeypatch):
    monkeypatch.setenv("APP_MLFLOW_UI_URL", "http://127.0.0.1:5000")
    at = open_page(trace=page_env.turn_traces[0])
    links = at.get("link_button")
    assert len(links) == 1
    assert f"selectedEvaluationId={page_env.turn_traces[0]}" in links[0].proto.url


def test_lineage_draws_the_catify_chain_with_its_pictures(page_env):
    at = open_page()
    at.selectbox(key="lineage_conversation").set_value(page_env.conversations["alice"]).run()
    assert not at.exception
    assert any(c.value.startswith("6 pictures, 4 critiques") for c in at.caption)
    graph = at.get("graphviz_chart")
    assert len(graph) == 1
    assert graph[0].proto.spec.count("shape=ellipse") == 6 and graph[0].proto.spec.count("critique:") == 4
    assert len(at.get("image")) == 6
    changes = next(d.value for d in at.dataframe if "words added" in d.value.columns)
    assert len(changes) == 4


def test_the_page_through_navigation(page_env):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/traces.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert metrics(at)["Traces"] == "5"


def test_a_deleted_picture_is_reported_where_it_was(tracking_uri, monkeypatch):
    name = f"deleted-{uuid.uuid4().hex[:6]}"
    store = ConversationStore.connect(tracking_uri, name)
    outcome = asyncio.run(run_turn(Conversation(scenario="catify", session_id="s", provider="demo",
                                                options={"iterations": 1}), "a cat", Settings(tracking_uri=tracking_uri),
                                   store))
    gone = next(iter(outcome.conversation.image_lookup))
    artifacts = Path(store.client.get_run(outcome.conversation.id).info.artifact_uri.removeprefix("file://"))
    (artifacts / "images" / f"{gone}.png").unlink()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", name)
    at = open_page(trace=outcome.trace_id)
    assert any(gone in w.value for w in at.warning)
    assert any("not in the run's artifacts any more" in w.value for w in at.warning)  # the lineage says it too
    assert len(at.get("image")) == 2  # the other picture, in the trace and in the lineage


def test_unreachable_store_says_so_instead_of_failing(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    st.cache_data.clear()
    at = open_page()
    assert any("cannot be read" in e.value or "cannot be reached" in e.value for e in at.error)


def test_a_new_trace_shows_on_the_next_rerun_without_refresh(tracking_uri, monkeypatch):
    name = f"fresh-{uuid.uuid4().hex[:6]}"
    store = ConversationStore.connect(tracking_uri, name)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", name)
    conversation = Conversation(scenario="catify", session_id="s", provider="demo", options={"iterations": 1})
    asyncio.run(run_turn(conversation, "a cat", Settings(tracking_uri=tracking_uri), store))
    at = open_page()
    assert metrics(at)["Traces"] == "1"
    asyncio.run(run_turn(conversation, "a dog", Settings(tracking_uri=tracking_uri), store))
    at.run()
    assert metrics(at)["Traces"] == "2", "the cached read is keyed by the store's version"


def test_markdown_in_a_url_or_a_tag_is_shown_as_text(page_env):
    at = open_page(trace="[Re-enter your key](https://evil.example)")
    assert not at.exception
    warning = next(w.value for w in at.warning if "not a trace id" in w.value)
    assert "\\[Re\\-enter your key\\]\\(https\\:" in warning, "escaped, so it cannot render as a link"


def test_a_trace_closes_and_the_last_choice_wins(page_env):
    first, second = page_env.turn_traces[0], page_env.turn_traces[1]
    at = open_page(trace=first)
    assert any(h.value == f"Trace {first}" for h in at.subheader)
    at.text_input(key="trace_id_input").set_value(second).run()
    assert any(h.value == f"Trace {second}" for h in at.subheader)
    at.button(key="close_trace").click().run()
    assert not any(h.value.startswith("Trace ") for h in at.subheader)
    assert "trace" not in at.query_params


def test_spans_with_the_same_name_can_each_be_chosen(page_env):
    at = open_page(trace=page_env.turn_traces[0])  # two critics and three image agents
    picker = at.selectbox(key="span_pick")
    labels = list(picker.options)
    assert len(set(labels)) == len(labels) == 11
    assert sum("critic" in label for label in labels) == 2


def test_ratings_are_a_list_column_a_filter_and_a_count(page_env):
    at = open_page()
    assert metrics(at)["Feedback"] == "1 👍 · 3 👎"
    first, second, paid = page_env.turn_traces
    cells = dict(zip(listed(at)["trace_id"], listed(at)["feedback"]))
    assert cells == {first: "👍 1 · 👎 1", second: "👎", paid: "👎", **{t: "" for t in page_env.foreign_traces}}
    at.multiselect(key="f_feedback").set_value(["up"]).run()
    assert metrics(at)["Traces"] == "1" and metrics(at)["Feedback"] == "1 👍 · 1 👎"
    at.multiselect(key="f_feedback").set_value(["down"]).run()
    assert set(listed(at)["trace_id"]) == {first, second, paid}
    at.multiselect(key="f_feedback").set_value(["none"]).run()
    assert set(listed(at)["trace_id"]) == set(page_env.foreign_traces) and metrics(at)["Feedback"] == "0 👍 · 0 👎"


def test_an_opened_trace_shows_who_rated_it_and_their_comment_as_text(page_env):
    at = open_page(trace=page_env.turn_traces[0])
    given = [c.value for c in at.caption if c.value.startswith(("👍", "👎"))]
    assert len(given) == 2, given
    assert any(c.startswith("👍 by alice@example\\.com · ") and c.endswith("\\: Lovely \\*cats\\*") for c in given), given
    assert any(c.startswith("👎 by carol · ") for c in given)
    at = open_page(trace=page_env.turn_traces[2])
    assert [c.value.split(" · ")[0] for c in at.caption if c.value.startswith(("👍", "👎"))] == ["👎 by dana"], \
        "Bob's thumb was overridden in MLflow's UI: only the override is current"
