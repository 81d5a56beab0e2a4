"""The Traces page through Streamlit's AppTest, on a real sqlite store filled by the chat side and by other
MLflow-instrumented code (tests/trace_fixtures.py). Expected numbers come from MLflow's own client."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from core import costs, identity, traces
from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.observe import export
from core.turn import TurnRequest, run_turn
from tests.pages import AUTH, person
from tests.trace_fixtures import FOREIGN_QUESTION, fill
from ui import trace_data

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


def open_page(user: dict | None = None, **query) -> AppTest:
    """The Traces page; `user`: the claims of a person signed in (a hosted demo's visitor)."""
    at = AppTest.from_file(PAGE, default_timeout=120)
    if user is not None:
        at.secrets.update(AUTH)
        at.user = user
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def owner(claims: dict) -> str:
    return identity.signed_in(claims).owner


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def listed(at: AppTest):
    """The trace list: the dataframe whose columns are the list's."""
    return next(d.value for d in at.dataframe if "trace_id" in d.value.columns and "request" in d.value.columns)


def on_tab(at: AppTest, name: str) -> AppTest:
    """At scale the page's tabs are stateful and only the open one runs: a person's click on a tab, as its state."""
    at.session_state["traces_tab"] = name
    return at.run()


def test_overview_metrics_equal_mlflows_own_sums(page_env):
    infos = [
        t.info for t in page_env.store.client.search_traces(locations=[page_env.store.experiment_id], include_spans=False, max_results=100)
    ]
    at = open_page()
    shown = metrics(at)
    assert shown["Traces"] == f"{len(infos):,}"
    assert shown["Input tokens"] == f"{sum((i.token_usage or {}).get('input_tokens', 0) for i in infos):,}"
    assert shown["Output tokens"] == f"{sum((i.token_usage or {}).get('output_tokens', 0) for i in infos):,}"
    assert shown["Cost (USD)"] == f"${sum((i.cost or {}).get('total_cost', 0.0) for i in infos):,.4f}"
    assert shown["Errors"] == "0"
    what_if = shown["Their model calls and pictures on gpt-4o-mini"]  # a popular model by default

    frames = traces.reader_for(page_env.tracking_uri, page_env.store.experiment_id).frames()
    assert what_if == f"${costs.what_if(frames.calls, 'gpt-4o-mini')['on gpt-4o-mini'].sum():,.4f}"
    # latency percentiles from MLflow's own durations
    durations = pd.Series([i.execution_duration for i in infos], dtype="float64")
    p50, p90, p99 = durations.quantile([0.5, 0.9, 0.99]) / 1000
    assert any(c.value == f"Latency per trace: p50 {p50:,.2f} s · p90 {p90:,.2f} s · p99 {p99:,.2f} s" for c in at.caption), [
        c.value for c in at.caption
    ]
    by_model = next(d.value for d in at.dataframe if "model" in d.value.columns and "p90_s" in d.value.columns)
    assert by_model["p50_s"].notna().all() and (by_model["p99_s"] >= by_model["p50_s"]).all()
    assert len(at.get("download_button")) >= 2  # breakdown and list as CSV


def test_filters_narrow_the_list_and_the_totals(page_env):
    at = open_page()
    assert len(listed(at)) == 5
    at.multiselect(key="f_scenario").set_value(["other"]).run()
    assert not at.exception
    assert len(listed(at)) == 2 and metrics(at)["Traces"] == "2"
    assert FOREIGN_QUESTION in set(listed(at)["request"]), "markup in a request is listed as text"
    at.multiselect(key="f_scenario").set_value([]).run()
    at.multiselect(key="f_session").set_value([page_env.conversations["alice"]]).run()  # a session: a conversation
    assert len(listed(at)) == 2 and set(listed(at)["label"]) == {"Catify"}, "listed by label, filtered by key"
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
    for by, expected in (("model", "gpt-image-1"), ("agent", "critic"), ("scenario", "catify"), ("session", page_env.conversations["bob"])):
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
    assert labels[:3] == ["catify turn", "image_agent", "generate image gpt-image-1"]
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


def first_tab(at: AppTest) -> str:
    """The tab the page opens on (st.tabs' `default`; the first tab when it has none)."""
    container = next(node for node in at.main if node.type == "tab_container")
    return at.tabs[container.proto.tab_container.default_tab_index].label


def storyboard(at: AppTest) -> list[str]:
    """The lineage tab's cards and critiques, in page order: "#n" for a picture, "critique of #n" between."""
    shown = []
    for element in at.tabs[2]:
        if element.type == "markdown" and element.value.startswith(":material/arrow_downward: **Critique of #"):
            shown.append("critique of #" + re.search(r"#(\d+)", element.value).group(1))
        elif element.type == "image":
            shown.extend(element.captions)
    return shown


def test_lineage_is_a_storyboard_of_the_chain(page_env):
    at = open_page()
    at.selectbox(key="lineage_conversation").set_value(page_env.conversations["alice"]).run()
    assert not at.exception
    assert any(c.value.startswith("6 pictures, 4 critiques") for c in at.caption)
    assert storyboard(at) == ["#1", "critique of #1", "#2", "critique of #2", "#3", "#4", "critique of #4", "#5", "critique of #5", "#6"], (
        "picture, the critique that led on, the next picture; by turn"
    )
    assert not at.get("graphviz_chart"), "a chain needs no graph: the storyboard is its shape"
    turns = [m.value for m in at.tabs[2].markdown if m.value.startswith("**Turn ")]
    assert turns == ["**Turn 1** · 3 pictures · \\$0\\.0000", "**Turn 2** · 3 pictures · \\$0\\.0000"]
    prompts = [m.value for m in at.tabs[2].markdown if ":green-background[" in m.value]
    assert len(prompts) == 4, "each critique changed words of the prompt, marked in the next one"
    assert at.query_params["conversation"] == page_env.conversations["alice"], "the address names what is shown"


def test_each_picture_shows_its_model_and_cost(page_env):
    at = open_page(conversation=page_env.conversations["bob"])  # the OpenAI turn: gpt-image-1, low, 1024²
    heads = [m.value for m in at.tabs[2].markdown if m.value.startswith("**#")]
    assert heads == ["**#1** · gpt\\-image\\-1 · \\$0\\.0109", "**#2** · gpt\\-image\\-1 · \\$0\\.0109"]


def test_a_conversation_link_opens_the_lineage_tab_on_it(page_env):
    alice, bob = page_env.conversations["alice"], page_env.conversations["bob"]
    plain = open_page()
    assert first_tab(plain) == "Overview"
    assert plain.selectbox(key="lineage_conversation").value == bob, "the newest first when nothing asks"
    at = open_page(conversation=alice)
    assert first_tab(at) == "Image lineage"
    assert at.selectbox(key="lineage_conversation").value == alice
    assert len(at.get("image")) == 6
    at.selectbox(key="lineage_conversation").set_value(bob).run()  # the picker, then a trace: the last one wins
    assert at.query_params["conversation"] == bob and len(at.get("image")) == 2
    at.text_input(key="trace_id_input").set_value(page_env.turn_traces[0]).run()  # one of Alice's turns
    assert at.selectbox(key="lineage_conversation").value == alice
    assert first_tab(open_page(trace=page_env.turn_traces[2])) == "Trace list"


def test_a_link_to_an_unknown_conversation_says_so(page_env):
    at = open_page(conversation="[click](https://evil.example)")
    assert not at.exception
    warning = next(w.value for w in at.warning if "There is no conversation" in w.value)
    assert "\\[click\\]\\(https\\:" in warning, "escaped: it cannot render as a link"
    assert at.selectbox(key="lineage_conversation").value == page_env.conversations["bob"], "the rest still works"


def test_the_picker_names_each_conversation_once_by_title_and_date(page_env):
    alice, bob = page_env.conversations["alice"], page_env.conversations["bob"]
    page_env.store.rename(alice, "Neo's cat, renamed")
    try:
        picker = open_page().selectbox(key="lineage_conversation")
        assert list(picker.options) == [picker.format_func(bob), picker.format_func(alice)], "newest first, once each"
        labels = list(picker.options)
        assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d\d:\d\d · a red car at night · 2 pictures", labels[0])
        assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d\d:\d\d · Neo's cat, renamed · 6 pictures", labels[1]), (
            "the run's title, not its first message"
        )
        assert not any(re.search(r"[0-9a-f]{6}", label) for label in labels), "no hex: the titles differ"
    finally:
        page_env.store.rename(alice, "The matrix with a cat")


def test_the_page_through_navigation(page_env):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/traces.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert metrics(at)["Traces"] == "5"


def test_a_deleted_picture_is_reported_where_it_was(tracking_uri, monkeypatch):
    name = f"deleted-{uuid.uuid4().hex[:6]}"
    store = ConversationStore.connect(tracking_uri, name)
    outcome = asyncio.run(
        run_turn(
            TurnRequest(
                Conversation(scenario="catify", session_id="s", provider="demo", options={"iterations": 1}),
                "a cat",
                Settings(tracking_uri=tracking_uri),
                store,
            )
        )
    )
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
    asyncio.run(run_turn(TurnRequest(conversation, "a cat", Settings(tracking_uri=tracking_uri), store)))
    at = open_page()
    assert metrics(at)["Traces"] == "1"
    asyncio.run(run_turn(TurnRequest(conversation, "a dog", Settings(tracking_uri=tracking_uri), store)))
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


def test_a_model_call_reads_as_a_chat_with_its_picture(page_env):
    """Issue 16: the critic's call as a conversation (roles, the instruction with its line breaks, the picture it
    was shown inline from the trace's attachment, the answer), costs written one way, no None/nan cells."""
    trace_id = page_env.turn_traces[2]  # the OpenAI turn: priced
    at = open_page(trace=trace_id)
    tree = next(d.value for d in at.dataframe if "span" in d.value.columns or "label" in d.value.columns)
    assert not tree.isin(["None", "nan", "NaN"]).any().any() and not tree.isna().any().any()
    chat_row = next(i for i, label in enumerate(tree.iloc[:, 0]) if "chat gpt-4o-mini" in str(label))
    assert str(tree["cost_usd"].iloc[chat_row]).startswith("$"), "the critic's call is priced, in dollars"
    span_id = next(s.span_id for s in page_env.store.client.get_trace(trace_id).data.spans if s.name == "chat gpt-4o-mini")
    pictures_before = len(at.get("image"))
    at.selectbox(key="span_pick").set_value(span_id).run()
    assert not at.exception, [e.value for e in at.exception]
    roles = [m.name for m in at.chat_message]
    assert roles[0] == "system" and "user" in roles and roles[-1] == "assistant", roles
    assistant = at.chat_message[-1]
    assert "CRITICS:" in " ".join(md.value for md in assistant.markdown)
    assert len(at.get("image")) == pictures_before + 1, "the picture the critic saw, from the trace's attachment"


def test_a_tool_call_and_a_failure_read_as_what_happened(monkeypatch, tracking_uri):
    """A weather turn's assistant call shows the tool and its arguments; a failed turn says where and why in the
    header, with no span to open. (An experiment of its own: the shared one's numbers stay as other tests expect.)"""
    name = f"tools-{uuid.uuid4().hex[:6]}"
    store = ConversationStore.connect(tracking_uri, name)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", name)
    st.cache_data.clear()
    settings = Settings(tracking_uri=tracking_uri)
    weather = Conversation(scenario="weather", session_id="s-tools", provider="demo", options={"weather_source": "offline"})
    ok = asyncio.run(run_turn(TurnRequest(weather, "What's the weather in Oslo?", settings, store)))
    assert ok.status == "ok", ok.error
    at = open_page(trace=ok.trace_id)
    trace = store.client.get_trace(ok.trace_id)
    calling = next(s for s in trace.data.spans if s.name.startswith("chat ") and "tool_calls" in s.outputs["choices"][0]["message"])
    at.selectbox(key="span_pick").set_value(calling.span_id).run()
    assert any("get_weather" in md.value for md in at.markdown)
    assert any('"city": "Oslo"' in c.value for c in at.code)

    broken = Settings(
        provider="openai", api_key="sk-test-broken", base_url="http://127.0.0.1:9/v1", tracking_uri=tracking_uri, max_retries=0
    )
    failed = asyncio.run(
        run_turn(
            TurnRequest(
                Conversation(scenario="weather", session_id="s-tools", provider="openai", options={"weather_source": "offline"}),
                "And in Bergen?",
                broken,
                store,
            )
        )
    )
    assert failed.status == "error" and failed.trace_id
    export.flush()
    at = open_page(trace=failed.trace_id)
    said = [e.value.replace("\\", "") for e in at.error]
    assert any(s.startswith("Failed in “chat ") and "cannot reach the model provider" in s.lower() for s in said), said
    assert not any("Traceback" in s or "raise " in s for s in said), said
    assert "sk-test-broken" not in " ".join(said)
    row = listed(open_page()).set_index("trace_id").loc[failed.trace_id]
    assert row["status"] == "ERROR" and row["response"].startswith("Failed: ") and failed.error[:40] in row["response"]
    answered = listed(open_page()).set_index("trace_id").loc[ok.trace_id]
    assert answered["response"].startswith("Here is what I found"), "the list shows the answer"


def test_the_first_view_on_the_demo_is_not_flat_zeros(monkeypatch, tracking_uri):
    """Everything ran on the free demo: the page says what it would have cost on a real model up front, and
    its charts count tokens instead of drawing flat $0 bars."""
    name = f"demo-only-{uuid.uuid4().hex[:6]}"
    store = ConversationStore.connect(tracking_uri, name)
    outcome = asyncio.run(
        run_turn(
            TurnRequest(
                Conversation(scenario="catify", session_id="s", provider="demo", options={"iterations": 1}),
                "a cat",
                Settings(tracking_uri=tracking_uri),
                store,
            )
        )
    )
    assert outcome.status == "ok"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", name)
    st.cache_data.clear()
    at = open_page()
    assert metrics(at)["Cost (USD)"] == "$0.0000"
    said = [i.value.replace("\\", "") for i in at.info]
    assert any(s.startswith("These turns cost nothing") and "on gpt-4o-mini: about **$0.0" in s for s in said), said
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert specs and "Tokens per day" in specs[0] and "Cost per day" not in specs[0]
    assert '"tokens"' in specs[2] and '"USD"' not in specs[2], "the breakdown chart counts tokens"


def test_a_hosted_visitor_sees_only_their_own_lineage(tracking_uri, monkeypatch):
    name = f"hosted-lineage-{uuid.uuid4().hex[:6]}"
    store = ConversationStore.connect(tracking_uri, name)
    alice, bob = person("alice"), person("bob")
    made = {}
    for visitor, prompt in ((alice, "a cat on a roof"), (bob, "a dog in a hat")):
        outcome = asyncio.run(
            run_turn(
                TurnRequest(
                    Conversation(scenario="catify", session_id=owner(visitor), provider="demo", options={"iterations": 1}),
                    prompt,
                    Settings(tracking_uri=tracking_uri),
                    store,
                )
            )
        )
        made[visitor["sub"]] = outcome.conversation.id
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", name)
    monkeypatch.setenv("APP_HOSTED", "1")
    st.cache_data.clear()
    own = open_page(alice, conversation=made["alice"])  # the link under Alice's turn
    assert own.selectbox(key="lineage_conversation").value == made["alice"] and len(own.get("image")) == 2
    assert len(own.selectbox(key="lineage_conversation").options) == 1, "her conversations only"
    peeking = open_page(bob, conversation=made["alice"])  # Bob, with Alice's link
    assert any("no conversation" in w.value and "among your conversations in this demo" in w.value for w in peeking.warning)
    assert peeking.selectbox(key="lineage_conversation").value == made["bob"]
    assert len(peeking.selectbox(key="lineage_conversation").options) == 1
    assert len(peeking.get("image")) == 2 and "a cat on a roof" not in str(peeking.main), "nothing of hers"


def test_a_hosted_visitors_page_reads_their_own_traces_only(tracking_uri, monkeypatch):
    """A visitor's page asks the store for their session's traces: it never reads everyone's (at 100,000
    traces in the store that would be seconds a visitor)."""
    name = f"hosted-own-{uuid.uuid4().hex[:6]}"
    store = ConversationStore.connect(tracking_uri, name)
    alice, bob = person("alice"), person("bob")
    for visitor, prompt in ((alice, "a cat on a roof"), (bob, "a dog in a hat"), (bob, "a dog on a bike")):
        asyncio.run(
            run_turn(
                TurnRequest(
                    Conversation(scenario="catify", session_id=owner(visitor), provider="demo", options={"iterations": 1}),
                    prompt,
                    Settings(tracking_uri=tracking_uri),
                    store,
                )
            )
        )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", name)
    monkeypatch.setenv("APP_HOSTED", "1")

    def everyone(*_args, **_kwargs):
        raise AssertionError("a visitor's page read every trace of the store")

    monkeypatch.setattr(traces.SqlTraceReader, "frames", everyone)
    st.cache_data.clear()
    at = open_page(bob)
    assert metrics(at)["Traces"] == "2" and set(listed(at)["request"]) == {"a dog in a hat", "a dog on a bike"}


def test_ratings_are_a_list_column_a_filter_and_a_count(page_env):
    at = open_page()
    assert metrics(at)["Feedback"] == "1 up · 3 down"
    first, second, paid = page_env.turn_traces
    cells = dict(zip(listed(at)["trace_id"], listed(at)["feedback"]))
    assert cells == {first: "1 up · 1 down", second: "1 down", paid: "1 down", **{t: "" for t in page_env.foreign_traces}}
    at.multiselect(key="f_feedback").set_value(["up"]).run()
    assert metrics(at)["Traces"] == "1" and metrics(at)["Feedback"] == "1 up · 1 down"
    at.multiselect(key="f_feedback").set_value(["down"]).run()
    assert set(listed(at)["trace_id"]) == {first, second, paid}
    at.multiselect(key="f_feedback").set_value(["none"]).run()
    assert set(listed(at)["trace_id"]) == set(page_env.foreign_traces) and metrics(at)["Feedback"] == "0 up · 0 down"


def test_an_opened_trace_shows_who_rated_it_and_their_comment_as_text(page_env):
    at = open_page(trace=page_env.turn_traces[0])
    given = [c.value for c in at.caption if c.value.startswith((":material/thumb_up:", ":material/thumb_down:"))]
    assert len(given) == 2, given
    assert any(
        c.startswith(":material/thumb_up: thumbs up by alice@example\\.com · ") and c.endswith("\\: Lovely \\*cats\\*") for c in given
    ), given
    assert any(c.startswith(":material/thumb_down: thumbs down by carol · ") for c in given)
    at = open_page(trace=page_env.turn_traces[2])
    assert [c.value.split(" · ")[0] for c in at.caption if c.value.startswith((":material/thumb_up:", ":material/thumb_down:"))] == [
        ":material/thumb_down: thumbs down by dana"
    ], "Bob's thumb was overridden in MLflow's UI: only the override is current"


def test_past_the_read_all_limit_the_store_aggregates_and_the_numbers_are_the_same(page_env, monkeypatch):
    """Over read_all_max traces the page asks MLflow's trace metrics and pages its search: the same totals,
    per-day counts, list order and scenario filter as reading every trace; "Read all" gives the full page back."""
    whole = open_page()
    full = metrics(whole)
    full_list = listed(whole)
    monkeypatch.setattr(trace_data, "READ_ALL_MAX_DATABASE", 2)
    st.cache_data.clear()
    at = open_page()
    assert any("aggregated by the MLflow store itself" in i.value for i in at.info)
    shown = metrics(at)
    for label in ("Traces", "Input tokens", "Output tokens", "Cost (USD)", "Errors"):
        assert shown[label] == full[label], label
    assert "Feedback" not in shown, "ratings are not among MLflow's trace metrics: not shown as zero"
    assert not [c.value for c in at.caption if "rollups" in c.value], "a sqlite store's rows are read: no server's rollups to speak of"
    assert not [m.value for m in at.markdown if m.value.strip() in ("None", "`None`")], "nothing stray on the page"
    latency = [c.value for c in at.caption if c.value.startswith("Latency per trace")]
    assert latency == [c.value for c in whole.caption if c.value.startswith("Latency per trace")]
    assert not [d for d in at.dataframe if "trace_id" in d.value.columns], "at scale only the open tab is read"
    page = listed(on_tab(at, "Trace list"))
    assert list(page["trace_id"]) == list(full_list["trace_id"]) and list(page["request"]) == list(full_list["request"])
    on_tab(at, "Overview")
    frames = traces.reader_for(page_env.tracking_uri, page_env.store.experiment_id).frames()
    by_scenario = next(d.value for d in at.dataframe if "scenario" in d.value.columns and "traces" in d.value.columns)
    expected = traces.breakdown(frames, "scenario").set_index("scenario")
    assert set(by_scenario["scenario"]) == set(expected.index)
    for row in by_scenario.itertuples():
        assert (row.traces, row.input_tokens, row.output_tokens) == tuple(
            expected.loc[row.scenario, ["traces", "input_tokens", "output_tokens"]]
        )
        assert row.cost_usd == pytest.approx(expected.loc[row.scenario, "cost_usd"], abs=1e-9)
    at.radio(key="a_breakdown_by").set_value("model").run()
    by_model = next(d.value for d in at.dataframe if "model" in d.value.columns and "calls" in d.value.columns)
    priced = frames.calls.groupby("model")["cost_usd"].sum()
    assert len(by_model) and set(by_model["model"]) <= set(priced.index)
    for row in by_model.itertuples():
        assert row.cost_usd == pytest.approx(priced.get(row.model, 0.0), abs=1e-9), row.model

    at.selectbox(key="a_scenario").set_value("catify").run()
    assert not at.exception
    catify = frames.traces[frames.traces["scenario"] == "catify"]
    assert metrics(at)["Traces"] == f"{len(catify):,}" and set(listed(on_tab(at, "Trace list"))["scenario"]) == {"catify"}
    at.selectbox(key="a_sort").set_value("oldest").run()
    assert list(listed(at)["trace_id"]) == list(catify.sort_values("timestamp_ms")["trace_id"])

    at.button(key="read_all").click().run()
    assert not at.exception
    assert not any("aggregated by the MLflow store itself" in i.value for i in at.info)
    assert metrics(at)["Feedback"] == full["Feedback"] and len(listed(at)) == len(full_list)


def test_a_link_to_one_trace_at_scale_reads_that_trace_not_the_stores_aggregates(page_env, monkeypatch):
    """Past the read-all limit a `?trace=` link lands on the trace list's tab and only that tab runs: none of the
    overview's store-wide aggregates (which grow with the store) is asked, so the link costs the same at any size;
    the overview is read when its tab is opened."""
    client, experiment_id = page_env.store.client, page_env.store.experiment_id
    trace_id = page_env.turn_traces[0]
    monkeypatch.setattr(trace_data, "READ_ALL_MAX_DATABASE", 2)
    st.cache_data.clear()
    trace_data.forget_prefetched()
    asked: list[str] = []
    real = trace_data.overview
    monkeypatch.setattr(trace_data, "overview", lambda *a, **k: asked.append("overview") or real(*a, **k))
    at = open_page(trace=trace_id)
    assert not at.exception, [e.value for e in at.exception]
    assert any(h.value.startswith("Trace ") for h in at.subheader) and metrics(at)["Spans"] == str(
        len(client.get_trace(trace_id).data.spans)
    )
    assert asked == [] and "Traces" not in metrics(at), "no store-wide aggregate was read for a link to one trace"
    on_tab(at, "Overview")
    everything = client.search_traces(locations=[experiment_id], include_spans=False, max_results=500)
    assert not at.exception and asked and metrics(at)["Traces"] == f"{len(everything):,}"
