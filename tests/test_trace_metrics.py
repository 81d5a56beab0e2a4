"""The Traces page's aggregates at scale (core.reading.aggregates) against reading every trace (core.traces), on a
local sqlite store and through a real `mlflow server` on the same file: MLflow's own metrics over REST, its span
cost metric, the per-scenario filtered queries, its search pages."""

from __future__ import annotations

import time

import mlflow
import pandas as pd
import pytest

from benchmarks.support import synthetic
from core import contract, traces
from core.reading import aggregates
from tests.mlflow_server import MlflowServer

TRACES = 150


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    folder = tmp_path_factory.mktemp("at-scale")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    report = synthetic.fill(uri, "scale", TRACES, seed=5)
    with MlflowServer(folder, backend=uri).start() as server:
        yield {"sqlite": uri, "server": server.uri}, report.experiment_id


@pytest.fixture(scope="module")
def whole(stores):
    uris, experiment_id = stores
    return traces.reader_for(uris["sqlite"], experiment_id).frames()


@pytest.mark.parametrize("where", ["sqlite", "server"])
def test_totals_per_day_and_by_status_equal_reading_every_trace(stores, whole, where):
    uris, experiment_id = stores
    reader = aggregates.MetricsReader(uris[where], experiment_id)
    assert reader.count() == TRACES
    got = reader.overview(None, None, int(time.time() * 1000))
    expected = traces.totals(whole.traces)
    assert (got.totals.traces, got.totals.input_tokens, got.totals.output_tokens, got.totals.errors) == (
        expected.traces,
        expected.input_tokens,
        expected.output_tokens,
        expected.errors,
    )
    assert got.totals.errors > 0 and got.totals.cost_usd > 0
    assert got.totals.cost_usd == pytest.approx(expected.cost_usd, rel=1e-9)
    assert got.totals.latency_ms == pytest.approx(expected.latency_ms)
    daily = traces.over_time(whole.traces, "D")
    merged = daily.merge(got.daily, on="period", suffixes=("", "_store"))
    assert len(merged) == len(daily) == got.daily["traces"].gt(0).sum()
    for column in ("traces", "tokens", "errors"):
        assert (merged[column] == merged[f"{column}_store"]).all(), column
    assert merged["cost_usd"].to_numpy() == pytest.approx(merged["cost_usd_store"].to_numpy(), abs=1e-9)
    assert dict(zip(got.by_status["status"], got.by_status["traces"])) == whole.traces["status"].value_counts().to_dict()


@pytest.mark.parametrize("where", ["sqlite", "server"])
def test_breakdowns_by_scenario_and_model_equal_reading_every_trace(stores, whole, where):
    uris, experiment_id = stores
    reader = aggregates.MetricsReader(uris[where], experiment_id)
    totals = reader.overview(None, None, int(time.time() * 1000)).totals
    table = reader.by_scenario(None, None, aggregates.Scope(), ("catify", "weather"), totals).set_index("scenario")
    expected = traces.breakdown(whole, "scenario").set_index("scenario")
    assert set(table.index) == set(expected.index) == {"catify", traces.OTHER}
    for column in ("traces", "input_tokens", "output_tokens"):
        assert table[column].to_dict() == expected[column].to_dict(), column
    assert table["cost_usd"].to_dict() == pytest.approx(expected["cost_usd"].to_dict())
    models = reader.by_model(None, None)
    priced = whole.calls.dropna(subset=["cost_usd"]).groupby("model")["cost_usd"].sum()
    assert set(models["model"]) >= {"dall-e-3", "gpt-4o-mini"}
    store_costs = models.set_index("model")["cost_usd"]
    assert store_costs[store_costs.index.isin(priced.index)].to_dict() == pytest.approx(priced.to_dict())
    assert (store_costs[~store_costs.index.isin(priced.index)] == 0).all(), "a model no call priced costs nothing"
    counted = whole.calls.groupby("model")["calls"].sum()
    assert models.set_index("model")["calls"].to_dict() == counted[counted.index != "(unknown model)"].to_dict()


@pytest.mark.parametrize("where", ["sqlite", "server"])
def test_a_scope_narrows_every_number_and_the_list_pages_in_the_stores_order(stores, whole, where):
    uris, experiment_id = stores
    reader = aggregates.MetricsReader(uris[where], experiment_id)
    shown = whole.traces
    for scope, kept in (
        (aggregates.Scope(scenario="catify"), shown[shown["scenario"] == "catify"]),
        (aggregates.Scope(status="ERROR"), shown[shown["status"] == "ERROR"]),
        (aggregates.Scope(owner="session-00001"), shown[shown["owner"] == "session-00001"]),
    ):
        assert 0 < reader.count(scope=scope) == len(kept) < TRACES, scope
        if scope.owner and where == "server":  # an owner's traces are two sets: the page reads them whole (Scope)
            with pytest.raises(ValueError, match="read them whole"):
                reader.overview(None, None, int(time.time() * 1000), scope)
            continue
        got = reader.overview(None, None, int(time.time() * 1000), scope).totals
        assert 0 < got.traces == len(kept) < TRACES, scope
        assert got.input_tokens == kept["input_tokens"].sum(), scope
        assert got.cost_usd == pytest.approx(kept["cost_usd"].sum(), abs=1e-9), scope
    first, more = reader.list_page(None, None, size=50)
    assert more and list(first["trace_id"]) == list(shown["trace_id"][:50])
    third, _ = reader.list_page(None, None, number=3, size=50)
    assert list(third["trace_id"]) == list(shown["trace_id"][100:150])
    past, more = reader.list_page(None, None, number=4, size=50)
    assert past.empty and not more
    oldest, _ = reader.list_page(None, None, aggregates.Scope(scenario="catify"), sort="oldest", size=20)
    catify = shown[shown["scenario"] == "catify"].sort_values("timestamp_ms", kind="stable")
    assert list(oldest["trace_id"]) == list(catify["trace_id"][:20])
    assert isinstance(oldest, pd.DataFrame) and list(oldest.columns) == traces.LIST_COLUMNS


def test_a_filter_value_with_a_quote_is_refused_in_words(stores):
    uris, experiment_id = stores
    with pytest.raises(traces.TraceReadError, match="cannot be used as a filter value"):
        aggregates.MetricsReader(uris["server"], experiment_id).count(scope=aggregates.Scope(scenario="x' OR '1"))


def test_a_scenario_is_filtered_by_its_trace_name_unless_a_trace_has_an_older_per_turn_name(tmp_path):
    """One trace name per scenario lets MLflow filter a column instead of the scenario tag; a store that also holds
    traces named the older way ("catify turn 9") is filtered by the tag, and counts them."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    report = synthetic.fill(uri, "names", 30, seed=3)
    reader = aggregates.MetricsReader(uri, report.experiment_id)
    catify = aggregates.Scope(scenario="catify")
    assert reader._where(catify, None, None) == [f"trace.tag.{contract.TraceTag.NAME} = 'catify turn'"]
    before = reader.count(scope=catify)
    assert 0 < before < 30

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id=report.experiment_id)
    with mlflow.start_span(name="catify turn 9") as span:
        mlflow.update_current_trace(tags={contract.RunTag.SCENARIO: "catify", contract.TraceTag.TURN: "9"})
        span.set_outputs("an older turn")
    mlflow.flush_trace_async_logging()
    assert reader._where(catify, None, None) == [f"trace.tag.{contract.RunTag.SCENARIO} = 'catify'"]
    assert reader.count(scope=catify) == before + 1


def test_turn_names_old_and_new_name_their_scenario():
    known = ("catify", "team:my team.json")
    assert contract.scenario_of_turn_name(contract.turn_name("catify"), known) == "catify"
    assert contract.scenario_of_turn_name("catify turn 12", known) == "catify"
    assert contract.scenario_of_turn_name("team:my team.json turn", known) == "team:my team.json"
    assert contract.scenario_of_turn_name("catify turn x", known) is None
    assert contract.scenario_of_turn_name("weather turn", known) is None
    assert contract.is_older_turn_name("catify turn 3", "catify") and not contract.is_older_turn_name("catify turn", "catify")


def test_a_scopes_overview_asked_ahead_is_kept_for_its_age(stores):
    """What the page asks ahead (Prefetch) is handed over while young enough; never asked, or too old: asked now."""
    uris, experiment_id = stores
    reader = aggregates.MetricsReader(uris["server"], experiment_id)
    now, catify = int(time.time() * 1000), aggregates.Scope(scenario="catify")
    assert reader.scenarios_present(None, None, None, ("catify", "weather")) == ["catify"]
    prefetch = aggregates.Prefetch()
    prefetch.start(("catify",), lambda: reader.overview(None, None, now, catify), max_age_s=60)
    ahead = prefetch.take(("catify",), max_age_s=60)
    assert ahead is not None and ahead.totals == reader.overview(None, None, now, catify).totals
    assert prefetch.take(("weather",), max_age_s=60) is None, "never asked: asked now"
    assert prefetch.take(("catify",), max_age_s=0) is None, "too old: asked again"


def test_a_failed_prefetch_is_asked_again_in_the_foreground():
    prefetch = aggregates.Prefetch()

    def broken() -> aggregates.Overview:
        raise RuntimeError("the store went away")

    prefetch.start(("x",), broken, max_age_s=60)
    assert prefetch.take(("x",), max_age_s=60) is None
