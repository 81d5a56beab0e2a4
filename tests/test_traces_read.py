"""The read side (core.traces, core.costs, core.reading.lineage) on a real sqlite store filled by the chat side and
by other MLflow-instrumented code. Every number is checked against MLflow's own API, computed here."""

from __future__ import annotations

import base64
import io
import json
import re
import sqlite3
import time
import uuid

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import Span, SpanType, Trace
from mlflow.tracing.client import TracingClient
from mlflow.utils.providers import cost_per_token

from benchmarks.support import synthetic
from core import contract, costs, exports, feedback, traces
from core.conversations import ConversationStore
from core.observe import export, summary
from core.reading import lineage
from tests.catalog_prices import picture_usd_from_catalog
from tests.openai_server import IMAGE_OUTPUT_TOKENS
from tests.trace_fixtures import FOREIGN_QUESTION, fill

pytestmark = pytest.mark.filterwarnings("ignore:Resolved model mismatch:UserWarning")


@pytest.fixture(scope="module")
def filled(tracking_uri):
    return fill(tracking_uri, f"read-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def frames(filled):
    return traces.SqlTraceReader(filled.tracking_uri, filled.store.experiment_id).frames()


@pytest.fixture(scope="module")
def infos(filled):
    """TraceInfo of every trace, straight from MLflow's client: the independent side of each comparison."""
    found = filled.store.client.search_traces(locations=[filled.store.experiment_id], include_spans=False, max_results=500)
    return {t.info.trace_id: t.info for t in found}


def test_every_trace_is_listed_with_mlflows_own_tokens_and_cost(frames, filled, infos):
    assert set(frames.traces["trace_id"]) == set(infos) == set(filled.turn_traces + filled.foreign_traces)
    for row in frames.traces.itertuples():
        info = infos[row.trace_id]
        usage = info.token_usage or {}
        assert row.input_tokens == usage.get("input_tokens", 0)
        assert row.output_tokens == usage.get("output_tokens", 0)
        assert row.cost_usd == pytest.approx((info.cost or {}).get("total_cost", 0.0), abs=1e-12)
        assert row.status == info.state.value
        assert row.scenario == info.tags.get("app.scenario", "other")
    total = traces.totals(frames.traces)
    assert total.traces == 5 and total.errors == 0
    assert total.input_tokens == sum((i.token_usage or {}).get("input_tokens", 0) for i in infos.values())
    assert total.cost_usd == pytest.approx(sum((i.cost or {}).get("total_cost", 0) for i in infos.values()))
    assert total.cost_usd > 0.02, "the OpenAI turn's pictures and tokens are priced"


def test_sql_and_api_readers_agree_row_for_row(filled, frames):
    api = traces.ApiTraceReader(filled.tracking_uri, filled.store.experiment_id).frames()
    key = ["trace_id"]
    pd.testing.assert_frame_equal(frames.traces.sort_values(key).reset_index(drop=True), api.traces.sort_values(key).reset_index(drop=True))
    pd.testing.assert_frame_equal(_grouped(frames.calls), _grouped(api.calls))
    assert api.notes == []


def _grouped(calls: pd.DataFrame) -> pd.DataFrame:
    """Calls summed per trace, kind, model and agent: how summaries group them, so walked and summarised
    traces compare row for row."""
    key = ["trace_id", "kind", "model", "agent"]
    return (
        calls.groupby(key, dropna=False)
        .agg(
            calls=("calls", "sum"),
            input_tokens=("input_tokens", "sum"),
            output_tokens=("output_tokens", "sum"),
            cost_usd=("cost_usd", lambda c: c.sum(min_count=1)),
        )
        .reset_index()
        .sort_values(key)
        .reset_index(drop=True)
    )


def _without_summaries(tracking_uri: str, tmp_path, replace_with: str | None = None) -> str:
    """A copy of the store whose traces lost their summary tag, as if written before summaries existed (or
    whose summaries are replaced by this value)."""

    copy = tmp_path / "no-summaries.db"
    source = sqlite3.connect(tracking_uri.removeprefix("sqlite:///"))
    target = sqlite3.connect(copy)
    source.backup(target)
    source.close()
    if replace_with is None:
        target.execute("DELETE FROM trace_tags WHERE key = ?", (contract.TraceTag.SUMMARY,))
    else:
        target.execute("UPDATE trace_tags SET value = ? WHERE key = ?", (replace_with, contract.TraceTag.SUMMARY))
    target.commit()
    target.close()
    return f"sqlite:///{copy}"


@pytest.mark.parametrize("walk_by_id_max", [traces.SqlTraceReader.WALK_BY_ID_MAX, 0])
def test_summaries_give_what_walking_the_spans_gives(filled, frames, tmp_path, monkeypatch, walk_by_id_max):
    """Every turn carries an app.summary tag; reading it equals walking the trace's spans (both ways of
    walking: by trace id, and one pass over the experiment)."""
    infos = filled.store.client.search_traces(locations=[filled.store.experiment_id], include_spans=False)
    assert {t.info.trace_id for t in infos if contract.TraceTag.SUMMARY in t.info.tags} == set(filled.turn_traces)
    monkeypatch.setattr(traces.SqlTraceReader, "WALK_BY_ID_MAX", walk_by_id_max)
    uri = _without_summaries(filled.tracking_uri, tmp_path)
    walked = traces.SqlTraceReader(uri, filled.store.experiment_id).frames()
    key = ["trace_id"]
    pd.testing.assert_frame_equal(
        frames.traces.sort_values(key).reset_index(drop=True), walked.traces.sort_values(key).reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(_grouped(frames.calls), _grouped(walked.calls))
    assert (walked.calls["calls"] == 1).all() and frames.calls["calls"].max() > 1, "one side really grouped"
    api_walked = traces.ApiTraceReader(uri, filled.store.experiment_id).frames()
    pd.testing.assert_frame_equal(_grouped(frames.calls), _grouped(api_walked.calls))


def test_each_trace_s_calls_add_up_to_mlflows_own_tokens_and_cost(filled, frames, infos, tmp_path):
    """Per trace, not only in sum: ours (summaries, and their spans walked), a plain `@mlflow.trace` function and
    an autologged OpenAI call, by every reader."""
    walked = _without_summaries(filled.tracking_uri, tmp_path)
    exp = filled.store.experiment_id
    readers = {
        "sql": frames,
        "api": traces.ApiTraceReader(filled.tracking_uri, exp).frames(),
        "sql walk": traces.SqlTraceReader(walked, exp).frames(),
        "api walk": traces.ApiTraceReader(walked, exp).frames(),
    }
    for name, got in readers.items():
        sums = (
            got.calls.groupby("trace_id")[["input_tokens", "output_tokens", "cost_usd"]].sum().reindex(list(infos)).fillna(0)
        )  # a trace without calls (the plain function) sums to nothing
        for trace_id, info in infos.items():
            usage, cost = info.token_usage or {}, info.cost or {}
            assert sums.loc[trace_id, "input_tokens"] == usage.get("input_tokens", 0), (name, trace_id)
            assert sums.loc[trace_id, "output_tokens"] == usage.get("output_tokens", 0), (name, trace_id)
            assert sums.loc[trace_id, "cost_usd"] == pytest.approx(cost.get("total_cost", 0.0), abs=1e-12), (name, trace_id)


@pytest.mark.parametrize("bad", ['{"v":1,"calls":[["chat"', '{"v":99,"calls":[]}', "[]", '{"v":1,"calls":[[1,2]]}'])
def test_a_malformed_summary_is_walked_instead(filled, frames, tmp_path, bad):
    assert summary.parse(bad) is None
    uri = _without_summaries(filled.tracking_uri, tmp_path, replace_with=bad)
    walked = traces.SqlTraceReader(uri, filled.store.experiment_id).frames()
    pd.testing.assert_frame_equal(_grouped(frames.calls), _grouped(walked.calls))


def test_a_summary_too_long_for_a_tag_is_left_out():
    row = {"kind": "CHAT_MODEL", "input_tokens": 1, "output_tokens": 1, "cost_usd": 0.1, "parent_is_root": False, "parent_is_call": False}
    few = [dict(row, model="m", parent_name=f"agent {i}") for i in range(3)]
    many = [dict(row, model="m" * 50, parent_name=f"agent {i}") for i in range(100)]
    fields = {"scenario": "weather", "conversation": "c", "turn": "1", "provider": "demo"}
    tags, groups = summary.parse(summary.summarize(fields, few))
    assert {k: tags[k] for k in fields} == fields and [g[2] for g in groups] == ["agent 0", "agent 1", "agent 2"]
    assert summary.summarize(fields, many) is None


def test_api_reader_says_when_breakdowns_cover_only_the_newest_traces(filled):
    """Summarised traces need no spans; of the two foreign ones, only the newest is walked."""
    api = traces.ApiTraceReader(filled.tracking_uri, filled.store.experiment_id, span_limit=1).frames()
    assert len(api.traces) == 5 and set(filled.turn_traces) <= set(api.calls["trace_id"])
    assert api.notes and "cover 4 of 5 traces" in api.notes[0] and "newest 1 of those" in api.notes[0]
    by_model = traces.breakdown(api, "model")  # the remainder is computed over the covered traces only
    covered = api.traces[api.traces["trace_id"].isin(api.covered)]
    assert by_model["input_tokens"].sum() == covered["input_tokens"].sum()


def test_foreign_traces_count_and_open(filled, frames, infos):
    plain, autologged = filled.foreign_traces
    rows = frames.traces.set_index("trace_id")
    assert rows.loc[plain, "scenario"] == rows.loc[autologged, "scenario"] == "other"
    assert rows.loc[plain, "total_tokens"] == 0
    assert rows.loc[autologged, "request"] == FOREIGN_QUESTION  # JSON inputs shown as their words
    assert rows.loc[autologged, "input_tokens"] == infos[autologged].token_usage["input_tokens"] > 0
    call = frames.calls[frames.calls["trace_id"] == autologged]
    assert list(call["model"]) == ["gpt-4o-mini"] and list(call["agent"]) == ["answer_question"]
    for trace_id in (plain, autologged):
        table = traces.span_table(traces.load_trace(filled.tracking_uri, trace_id))
        assert table["depth"].iloc[0] == 0 and len(table) == len(traces.load_trace(filled.tracking_uri, trace_id).data.spans)


@pytest.mark.parametrize("by", traces.BREAKDOWNS)
def test_breakdowns_add_up_to_the_totals(frames, by):
    table = traces.breakdown(frames, by)
    total = traces.totals(frames.traces)
    assert table["input_tokens"].sum() == total.input_tokens
    assert table["output_tokens"].sum() == total.output_tokens
    assert table["cost_usd"].sum() == pytest.approx(total.cost_usd)
    if by in ("scenario", "session"):
        assert table["traces"].sum() == total.traces
    else:  # our spans and autolog's carry every token: nothing left over, nothing counted twice
        assert traces.UNATTRIBUTED not in set(table[by])


def test_breakdown_by_model_agent_scenario_and_session(frames, filled):
    by_model = traces.breakdown(frames, "model").set_index("model")
    assert len(filled.picture_prompts) == 2  # 1 iteration: 2 pictures, each priced by its usage at the catalog's rates
    assert by_model.loc["gpt-image-1", "cost_usd"] == pytest.approx(pictures_usd(filled))
    assert by_model.loc["gpt-4o-mini", "traces"] == 2  # the Catify critic and the autologged call
    assert by_model.loc["demo-vision", "calls"] == 4
    by_agent = traces.breakdown(frames, "agent").set_index("agent")
    assert {"image_agent", "critic", "answer_question"} <= set(by_agent.index)
    assert by_agent.loc["image_agent", "calls"] == 3 + 3 + 2
    by_scenario = traces.breakdown(frames, "scenario").set_index("scenario")
    assert by_scenario.loc["catify", "traces"] == 3 and by_scenario.loc["other", "traces"] == 2
    assert by_scenario.loc["catify", "label"] == "Catify", "the label beside the key"
    by_session = traces.breakdown(frames, "session").set_index("session")  # MLflow's session: the conversation
    alice, bob = filled.conversations["alice"], filled.conversations["bob"]
    assert by_session.loc[alice, "traces"] == 2 and by_session.loc[bob, "traces"] == 1
    assert by_session.loc[bob, "cost_usd"] == pytest.approx(frames.traces.loc[frames.traces["owner"] == "session-bob", "cost_usd"].sum())


def test_filters_narrow_the_list(frames, filled):
    def count(**kw):
        return len(traces.apply_filter(frames, traces.TraceFilter(**kw)).traces)

    assert count() == 5
    assert count(scenarios=("catify",)) == 3
    assert count(scenarios=("other",)) == 2
    assert count(owners=("session-alice",)) == 2
    assert count(sessions=(filled.conversations["alice"],)) == 2
    assert count(models=("gpt-4o-mini",)) == 2
    assert count(models=("gpt-image-1",)) == 1
    assert count(statuses=("ERROR",)) == 0
    assert count(text="BEACH") == 1
    assert count(text="<b>mlflow</b>") == 1  # literal text, not a pattern
    assert count(text="[(") == 0  # not a regex either: no error
    assert count(text=filled.turn_traces[0][:12]) == 1
    narrowed = traces.apply_filter(frames, traces.TraceFilter(scenarios=("catify",), owners=("session-bob",)))
    assert len(narrowed.traces) == 1 and set(narrowed.calls["trace_id"]) == set(narrowed.traces["trace_id"])


def test_mlflow_search_filters_run_in_the_store_and_bad_ones_say_why(frames, filled):
    exp = filled.store.experiment_id
    second_turns, cut = traces.search_ids(filled.tracking_uri, exp, "tags.`app.turn` = '2'")
    assert second_turns == {filled.turn_traces[1]} and not cut
    narrowed = traces.apply_filter(frames, traces.TraceFilter(trace_ids=second_turns))
    assert list(narrowed.traces["trace_id"]) == [filled.turn_traces[1]]
    some, cut = traces.search_ids(filled.tracking_uri, exp, "trace.status = 'OK'", limit=2)
    assert len(some) == 2 and cut
    with pytest.raises(traces.TraceReadError) as caught:
        traces.search_ids(filled.tracking_uri, exp, "tags.app.turn === nonsense (")
    assert "not valid" in str(caught.value)


def test_paging_and_sorting_list_rows_without_spans(frames):
    rows, pages = traces.page(frames.traces, "cost", 1, 2)
    assert pages == 3 and len(rows) == 2
    assert list(rows["cost_usd"]) == sorted(frames.traces["cost_usd"], reverse=True)[:2]
    last, _ = traces.page(frames.traces, "newest", 99, 2)  # past the end: the last page
    assert len(last) == 1
    assert list(rows.columns) == traces.LIST_COLUMNS


def test_one_trace_as_a_tree_with_tokens_cost_and_images(filled, infos):
    trace_id = filled.turn_traces[2]  # the OpenAI turn
    trace = traces.load_trace(filled.tracking_uri, trace_id)
    table = traces.span_table(trace)
    assert table.loc[0, "name"] == "catify turn" and table.loc[0, "depth"] == 0
    assert list(table["name"][1:]) == [
        "image_agent",
        "generate image gpt-image-1",
        "critic",
        "chat gpt-4o-mini",
        "image_agent",
        "generate image gpt-image-1",
    ]
    assert list(table["depth"]) == [0, 1, 2, 1, 2, 1, 2]
    assert table["start_ms"].is_monotonic_increasing
    assert table["cost_usd"].sum() == pytest.approx(infos[trace_id].cost["total_cost"])
    assert table["input_tokens"].sum() == infos[trace_id].token_usage["input_tokens"]
    assert (table["image_id"] != "").sum() == 2
    io_ = traces.span_io(trace, table.loc[4, "span_id"])
    assert io_["inputs"]["model"] == "gpt-4o-mini" and "mlflow.chat.tokenUsage" in io_["attributes"]


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("", "is not a trace id"),
        ("../../etc", "is not a trace id"),
        ("tr-" + "0" * 32, "There is no trace"),
        ("x" * 200, "is not a trace id"),
    ],
)
def test_unknown_or_malformed_trace_ids_get_a_message(filled, bad, reason):
    with pytest.raises(traces.TraceReadError) as caught:
        traces.load_trace(filled.tracking_uri, bad)
    assert reason in str(caught.value)


def test_a_trace_still_in_progress_lists_and_says_so(tracking_uri):
    """Spans of a running turn reach the store before its root: the trace shows as IN_PROGRESS."""

    store = ConversationStore.connect(tracking_uri, f"running-{uuid.uuid4().hex[:6]}")
    otel_trace, trace_id = uuid.uuid4().bytes, None
    trace_id = "tr-" + otel_trace.hex()

    child = Span.from_dict(
        {
            "trace_id": base64.b64encode(otel_trace).decode(),
            "span_id": base64.b64encode(b"\x01" * 8).decode(),
            "parent_span_id": base64.b64encode(b"\x02" * 8).decode(),
            "name": "critic",
            "start_time_unix_nano": 1_700_000_000_000_000_000,
            "end_time_unix_nano": 1_700_000_000_500_000_000,
            "events": [],
            "status": {"code": "STATUS_CODE_OK", "message": ""},
            "attributes": {"mlflow.traceRequestId": json.dumps(trace_id), "mlflow.spanType": json.dumps("AGENT")},
        }
    )
    TracingClient(tracking_uri).store.log_spans(store.experiment_id, [child])
    got = traces.SqlTraceReader(tracking_uri, store.experiment_id).frames()
    assert list(got.traces["status"]) == ["IN_PROGRESS"]
    assert traces.totals(got.traces).in_progress == 1
    table = traces.span_table(traces.load_trace(tracking_uri, trace_id))
    assert list(table["name"]) == ["critic"]  # what has landed so far, as a tree without its missing root
    assert mlflow.get_tracking_uri() is not None


def test_exports_parse(filled, frames):
    listed = pd.read_csv(io.BytesIO(exports.csv_bytes(frames.traces[traces.LIST_COLUMNS])))
    assert sorted(listed["trace_id"]) == sorted(frames.traces["trace_id"])
    assert listed["cost_usd"].sum() == pytest.approx(frames.traces["cost_usd"].sum())
    table = pd.read_csv(io.BytesIO(exports.csv_bytes(traces.breakdown(frames, "model"))))
    assert "gpt-image-1" in set(table["model"])

    trace = traces.load_trace(filled.tracking_uri, filled.turn_traces[0])
    parsed = json.loads(traces.trace_json(trace))
    assert parsed["info"]["trace_id"] == filled.turn_traces[0]
    assert len(Trace.from_json(traces.trace_json(trace)).data.spans) == len(trace.data.spans)


def pictures_usd(filled) -> float:
    return sum(picture_usd_from_catalog(p, IMAGE_OUTPUT_TOKENS["low", "1024x1024"]) for p in filled.picture_prompts)


def test_what_if_prices_the_same_usage_from_mlflows_catalog(frames, filled):
    assert "gpt-4o" in costs.catalog_chat_models("openai")
    table = costs.what_if(frames.calls, "gpt-4o").set_index("model used")
    chat = frames.calls[frames.calls["kind"] == "chat"]
    for model, group in chat.groupby("model"):
        expected = sum(cost_per_token("gpt-4o", int(group["input_tokens"].sum()), int(group["output_tokens"].sum())))
        assert table.loc[model, "on gpt-4o"] == pytest.approx(expected)
    assert table.loc["pictures (unchanged)", "on gpt-4o"] == pytest.approx(pictures_usd(filled))
    assert costs.token_cost("no-such-model", 10, 10) is None


def test_lineage_of_a_two_iteration_catify(filled):
    conversation = filled.store.load(filled.conversations["alice"])
    graph = lineage.build(conversation.image_lookup)
    first_turn = [n for n in graph.nodes if n.turn == 1]
    assert len(first_turn) == 3
    edges = [e for e in graph.edges if e.child in {n.image_id for n in first_turn}]
    assert len(edges) == 2
    assert [e.parent for e in edges] == [first_turn[0].image_id, first_turn[1].image_id]
    assert all(e.critique and e.added for e in edges), "each critique changed the prompt"
    assert first_turn[0].prompt == "The matrix with a cat" and first_turn[0].parent is None
    assert len(graph.nodes) == 6 and len(graph.edges) == 4  # two turns, each its own chain
    dot = lineage.to_dot(graph)
    assert len(re.findall(r"^  n\d+ \[label=", dot, re.M)) == 6 and dot.count("critique:") == 4
    assert not lineage.branches(graph), "two chains: the storyboard shows them, no graph needed"


def test_lineage_graph_keeps_model_text_as_text():
    graph = lineage.build(
        {
            "a": {"index": 0, "turn": 1, "prompt": 'a "cat" \\ <b>on</b>\nmat'},
            'b"]; evil': {"index": 1, "turn": 1, "prompt": "a cat on a red mat", "parent": "a", "critique": 'too dark"] x [label="'},
        }
    )
    dot = lineage.to_dot(graph)
    assert 'price unknown\\na \\"cat\\" \\\\ <b>on</b> mat"' in dot  # wrapped to lines of words
    assert "evil" not in dot, "ids from a file never become DOT syntax"
    assert 'label="critique: too dark\\"] x\\n[label=\\""' in dot


def test_prompt_change_lists_added_and_removed_words():
    assert lineage.prompt_change("a cat on a mat", "three cats on a red mat") == (("three", "cats", "red"), ("a", "cat"))


def test_filler_writes_exactly_n_realistic_traces(tracking_uri, tmp_path):
    name = f"filled-{uuid.uuid4().hex[:6]}"
    report = synthetic.fill(tracking_uri, name, 80, seed=3)
    assert report.traces == 80
    got = traces.reader_for(tracking_uri, report.experiment_id).frames()
    assert len(got.traces) == 80
    assert set(got.traces["scenario"]) == {"catify", "other"}
    assert got.traces["session"].nunique() >= 3 and got.traces["cost_usd"].sum() > 0
    assert {"gpt-4o-mini", "dall-e-3"} <= set(got.calls["model"])
    api = traces.ApiTraceReader(tracking_uri, report.experiment_id).frames()
    assert traces.totals(api.traces) == traces.totals(got.traces)
    # copies carry the summary the write side puts on a turn, and it agrees with their (copied) spans
    walked = traces.reader_for(_without_summaries(tracking_uri, tmp_path), report.experiment_id).frames()
    pd.testing.assert_frame_equal(_grouped(got.calls), _grouped(walked.calls))
    assert traces.UNATTRIBUTED not in set(traces.breakdown(got, "model")["model"])


RANDOM_IN_TEMPLATES = re.compile(r"mlflow-attachment://[^\"]+|\b[0-9a-f]{16}\b")  # differ from run to run


def _stored(db: str) -> tuple[list, list, list]:
    """The filler's copies (not its templates) as MLflow's tables keep them, without ids and times, in order."""
    with sqlite3.connect(db) as c:
        infos = c.execute(
            "SELECT request_id, status, request_preview, response_preview, trace_name, "
            "session_id, input_tokens, output_tokens, total_tokens, input_cost, output_cost, total_cost "
            "FROM trace_info WHERE session_id LIKE 'session-%' OR request_id IN "
            f"(SELECT request_id FROM trace_tags WHERE key = '{contract.TraceTag.OWNER}' AND value LIKE 'session-%') ORDER BY timestamp_ms"
        ).fetchall()
        order = {row[0]: k for k, row in enumerate(infos)}
        folder = db.rsplit("/", 1)[0]
        tags = sorted(
            (order[t], k, v.replace(t, "<id>").replace(folder, "<store>"))
            for t, k, v in c.execute("SELECT request_id, key, value FROM trace_tags")
            if t in order
        )
        spans = []
        for t, name, kind, status, i, o, total, model, provider, content in c.execute(
            "SELECT trace_id, name, type, status, input_cost, output_cost, total_cost, model_name, model_provider, "
            "content FROM spans ORDER BY start_time_unix_nano"
        ):
            if t in order:
                body = json.loads(content)
                attrs = {
                    k: RANDOM_IN_TEMPLATES.sub("<random>", v) for k, v in body["attributes"].items() if k != contract.SpanAttr.REQUEST_ID
                }
                spans.append((order[t], name, kind, status, i, o, total, model, provider, attrs, body["status"]))

    def rounded(row):  # sums in another order differ in the last bit
        return tuple(round(v, 12) if isinstance(v, float) else v for v in row)

    return [rounded(row[1:]) for row in infos], tags, sorted((rounded(s) for s in spans), key=lambda s: (s[0], s[1]))


def test_the_fast_filler_writes_the_rows_mlflows_span_ingestion_writes(tmp_path):
    """The filler's rows path and MLflow's own log_spans, same seed: the same trace, tag and span rows (but for
    ids and times), and MLflow's public API reads a row-written trace whole."""
    stores = {}
    for how in ("rows", "log_spans"):
        (tmp_path / how).mkdir()
        uri = f"sqlite:///{tmp_path / how / 'mlflow.db'}"
        report = synthetic.fill(uri, "same", 40, seed=11, rows=how == "rows", batch=16)
        assert report.traces == 40
        stores[how] = (uri, report.experiment_id)
    fast, slow = (_stored(stores[how][0].removeprefix("sqlite:///")) for how in ("rows", "log_spans"))
    assert len(fast[0]) == 36 and fast[0] == slow[0]
    assert fast[1] == slow[1]
    assert len(fast[2]) > 36 * 2 and fast[2] == slow[2]
    uri, experiment_id = stores["rows"]
    found = TracingClient(uri).search_traces(locations=[experiment_id], max_results=50, include_spans=False)
    ours = next(
        t
        for t in found
        if (t.info.tags or {}).get(contract.RunTag.SCENARIO) == "catify"
        and contract.trace_owner(t.info.tags, t.info.trace_metadata).startswith("session-")
    )
    whole = TracingClient(uri).get_trace(ours.info.trace_id)
    assert len(whole.data.spans) >= 7 and whole.info.token_usage["total_tokens"] > 0
    assert {s.trace_id for s in whole.data.spans} == {ours.info.trace_id}


def test_time_windows_round_to_the_minute_so_reads_cache():
    assert traces.time_window("All time") == (None, None)
    start, end = traces.time_window("Last hour", now_ms=10 * 3_600_000 + 12_345)
    assert (start, end) == (9 * 3_600_000, None)
    with pytest.raises(ValueError):
        traces.time_window("yesterday-ish")


def test_an_unreachable_tracking_server_is_reported_at_once():
    started = time.monotonic()
    for read in (
        lambda: traces.reader_for("http://127.0.0.1:9", "0").frames(),
        lambda: traces.load_trace("http://127.0.0.1:9", "tr-" + "1" * 32),
    ):
        with pytest.raises(traces.TraceReadError) as caught:
            read()
        assert "cannot be reached" in str(caught.value)
    assert time.monotonic() - started < 10, "MLflow's own client would retry for minutes"


def test_a_broken_database_store_is_reported(tmp_path):
    broken = tmp_path / "not-a-database.db"
    broken.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(traces.TraceReadError):
        traces.reader_for(f"sqlite:///{broken}", "0").frames()


def test_a_model_span_inside_another_counts_once_as_mlflow_counts_it(tracking_uri):
    """A framework's model span around the SDK call autolog traced: MLflow's totals take the outer one."""

    store = ConversationStore.connect(tracking_uri, f"nested-{uuid.uuid4().hex[:6]}")
    mlflow.set_experiment(experiment_id=store.experiment_id)
    usage = {"input_tokens": 100, "output_tokens": 10, "total_tokens": 110}
    with mlflow.start_span("chain", span_type=SpanType.CHAIN):
        with mlflow.start_span("ChatOpenAI", span_type=SpanType.CHAT_MODEL, attributes={"mlflow.llm.model": "gpt-4o"}) as outer:
            outer.set_attribute("mlflow.chat.tokenUsage", usage)
            with mlflow.start_span("Completions", span_type=SpanType.CHAT_MODEL, attributes={"mlflow.llm.model": "gpt-4o"}) as inner:
                inner.set_attribute("mlflow.chat.tokenUsage", usage)
    export.flush()
    for reader in (traces.SqlTraceReader(tracking_uri, store.experiment_id), traces.ApiTraceReader(tracking_uri, store.experiment_id)):
        got = reader.frames()
        assert traces.totals(got.traces).input_tokens == 100  # MLflow's own total
        by_model = traces.breakdown(got, "model")
        assert list(by_model["model"]) == ["gpt-4o"] and by_model["input_tokens"].sum() == 100


def test_attributes_of_the_wrong_shape_count_as_missing():
    class FakeSpan:
        def __init__(self, span_id, parent_id, span_type, attributes):
            self.span_id, self.parent_id, self.span_type, self._a, self.name = span_id, parent_id, span_type, attributes, span_id

        def get_attribute(self, key):
            return self._a.get(key)

    class FakeTrace:
        class info:
            trace_id = "tr-x"

        class data:
            spans = [
                FakeSpan("root", None, "CHAIN", {}),
                FakeSpan(
                    "llm", "root", "CHAT_MODEL", {"mlflow.llm.model": 5, "mlflow.llm.cost": 0.3, "mlflow.chat.tokenUsage": "12 tokens"}
                ),
            ]

    rows = summary.call_rows("tr-x", FakeTrace.data.spans)
    assert rows[0]["input_tokens"] == 0 and rows[0]["cost_usd"] is None and rows[0]["model"] is None
    graph = lineage.build({"a": {"index": "two", "cost_usd": "free", "prompt": None}, "b": "not an entry"})
    assert len(graph.nodes) == 1 and graph.nodes[0].cost_usd is None and graph.total_cost_usd == 0
    assert 'label="#1 · turn 0 · price unknown"' in lineage.to_dot(graph)


def test_the_store_version_changes_when_a_finished_trace_gets_its_tags(tmp_path):
    """The span batch can finish a trace before its tags and session land; the page's cache key must move
    again then, or a hosted visitor's page would keep the trace without its session until the cache expires."""

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment_id = client.create_experiment("version")
    everyone_elses = mlflow.get_tracking_uri()  # the process-wide store the other tests trace into
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_span(
            name="turn", trace_destination=mlflow.entities.trace_location.MlflowExperimentLocation(experiment_id=experiment_id)
        ) as span:
            trace_id = span.trace_id
        mlflow.flush_trace_async_logging()
    finally:
        mlflow.set_tracking_uri(everyone_elses)
    reader = traces.SqlTraceReader(uri, experiment_id)
    before = reader.version()
    assert before == reader.version(), "stable while nothing changes"
    client.set_trace_tag(trace_id, "app.turn", "1")
    assert reader.version() != before


def test_ratings_are_mlflows_current_human_feedback(frames, filled, infos):
    """Each trace's thumbs equal what MLflow's client holds: valid HUMAN feedback of the app's name, counted here
    without core.feedback; a judge's feedback and an overridden thumb do not count."""
    for row in frames.traces.itertuples():
        current = [
            a.feedback.value
            for a in infos[row.trace_id].assessments
            if a.name == contract.Assessment.FEEDBACK and a.valid and a.source.source_type == "HUMAN"
        ]
        assert (row.feedback_up, row.feedback_down) == (current.count(True), current.count(False))
        assert (row.feedback_up, row.feedback_down) == filled.feedback.get(row.trace_id, (0, 0))
    total = traces.totals(frames.traces)
    assert (total.feedback_up, total.feedback_down) == (1, 3)
    assert sum(len(i.assessments) for i in infos.values()) == 6, "and the judge's and the overridden one, not counted"

    def rated(*choices):
        return set(traces.apply_filter(frames, traces.TraceFilter(feedback=choices)).traces["trace_id"])

    first, second, paid = filled.turn_traces
    assert rated("up") == {first}
    assert rated("down") == {first, second, paid}
    assert rated("none") == set(filled.foreign_traces)
    assert rated("up", "none") == {first, *filled.foreign_traces}
    assert dict(zip(frames.traces["trace_id"], frames.traces["feedback"]))[first] == "1 up · 1 down"
    with pytest.raises(ValueError):
        rated("sideways")


def test_the_store_version_changes_when_someone_rates_a_turn(filled):
    reader = traces.SqlTraceReader(filled.tracking_uri, filled.store.experiment_id)
    before = reader.version()
    feedback.rate(filled.tracking_uri, filled.turn_traces[1], "zed", True)
    rated = reader.version()
    assert rated != before
    feedback.rate(filled.tracking_uri, filled.turn_traces[1], "zed", False)
    changed = reader.version()
    assert changed != rated, "a changed thumb too"
    feedback.rate(filled.tracking_uri, filled.turn_traces[1], "zed", None)
    assert reader.version() not in (rated, changed)


def test_the_fillers_writer_thread_writes_every_batch_in_order_and_raises_a_failed_write():
    """The filler prepares batches while a thread of its own writes them (synthetic._Pipeline): every batch lands, in
    the order made; a write that fails is raised in the filler, not lost in the thread."""
    written: list[int] = []
    pipeline = synthetic._Pipeline(lambda batch: written.append(batch.infos[0]["n"]), depth=2)
    for n in range(20):
        pipeline.put(synthetic.Batch([{"n": n}], [], []))
    pipeline.close()
    assert written == list(range(20))

    def fail_on_third(batch: synthetic.Batch) -> None:
        if batch.infos[0]["n"] == 2:
            raise RuntimeError("COPY failed: disk full")
        written.append(batch.infos[0]["n"])

    written.clear()
    pipeline = synthetic._Pipeline(fail_on_third, depth=1)
    with pytest.raises(RuntimeError, match="disk full"):
        for n in range(50):
            pipeline.put(synthetic.Batch([{"n": n}], [], []))
        pipeline.close()
    assert written == [0, 1]  # nothing written after the failure
