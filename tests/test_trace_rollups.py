"""The Traces page on MLflow's daily SQL trace rollups (issue 35), on a real PostgreSQL (tests/postgres.py) behind a
real `mlflow server` with `MLFLOW_SQL_TRACE_ROLLUPS_ENABLED=true`: a few thousand traces over a week, rolled up by
MLflow's own job (`run_sql_trace_rollup_scheduler`, what the server's scheduler runs: its job runner is off in the
suite, tests/mlflow_server.py). The page's figures are the same with and without rollups (the app on the database in
a process without the variable reads every trace), to the token and to the cent; a trace written into a past day
after its build is said as read raw (through MLflow: queued) or stale (behind its back), never as rolled up; a store
without rollups says what turning them on gives, and one the app has no database address for says what it cannot
know. A scenario or status filter with the database known is a selection of the window's groups (core.reading.groups):
the same figures as MLflow's filtered metrics, without its span-cost join."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from unittest import mock

import pandas as pd
import pytest
import streamlit as st
from conftest import ROOT
from mlflow.tracing.client import TracingClient
from mlflow.tracing.trace_rollup_service import run_sql_trace_rollup_scheduler
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from benchmarks.support import synthetic
from core.reading import aggregates, rollups, sql, window
from tests.mlflow_server import MlflowServer
from tests.test_deploy_recipe import recipe
from ui import trace_data

DAYS = 6
PENDING = "Which days come from MLflow's daily rollups is being checked"
LATENCY_PENDING = "Latency percentiles (p50, p90, p99) are being read"
BREAKDOWN_PENDING = "The breakdown by scenario is being read"


def build(uri: str) -> None:
    """One pass of MLflow's rollup job, as its scheduler runs it (the variable is read per call)."""
    with mock.patch.dict(os.environ, {"MLFLOW_SQL_TRACE_ROLLUPS_ENABLED": "true"}):
        stats = run_sql_trace_rollup_scheduler(TracingClient(uri).store)
    assert stats is not None and stats.trace_metric.failed == 0


@pytest.fixture(scope="module")
def store(postgres, tmp_path_factory):
    """(database, server with rollups on, experiment ids by name): three experiments filled over DAYS days, built."""
    os.environ.pop("MLFLOW_SQL_TRACE_ROLLUPS_ENABLED", None)  # this process reads every trace: "without rollups"
    uri = postgres.uri()
    ids = {
        name: synthetic.fill(uri, name, n, days=DAYS, seed=n).experiment_id for name, n in (("same", 1500), ("queued", 300), ("stale", 300))
    }
    build(uri)
    env = {"MLFLOW_SQL_TRACE_ROLLUPS_ENABLED": "true"}
    with MlflowServer(tmp_path_factory.mktemp("rollups-server"), backend=uri, env=env).start() as server:
        yield uri, server.uri, ids


def raw(uri: str, experiment_id: str) -> aggregates.Overview:
    assert os.environ.get("MLFLOW_SQL_TRACE_ROLLUPS_ENABLED") is None
    return aggregates.MetricsReader(uri, experiment_id).overview(None, None, int(time.time() * 1000))


def served(server_uri: str, experiment_id: str) -> aggregates.Overview:
    return aggregates.MetricsReader(server_uri, experiment_id).overview(None, None, int(time.time() * 1000))


def open_page(monkeypatch, tracking_uri: str, experiment: str, database_uri: str = "") -> AppTest:
    """The Traces page past its read-all limit (the store's aggregates), on `tracking_uri`, the server's database
    address given or not."""
    monkeypatch.setattr(trace_data, "READ_ALL_MAX_SERVER", 2)
    monkeypatch.setattr(trace_data, "READ_ALL_MAX_DATABASE", 2)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment)
    monkeypatch.setenv("APP_TRACKING_DATABASE_URI", database_uri)
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "pages" / "traces.py"), default_timeout=120)
    at.run()
    deadline = time.monotonic() + 60
    while (
        any(PENDING in c.value or LATENCY_PENDING in c.value or BREAKDOWN_PENDING in c.value for c in at.caption)
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def first_load_at_scale(monkeypatch, server_uri: str, database_uri: str) -> AppTest:
    """The page's cold first load behind the server, past its read-all limit, the database known (experiment "same"),
    nothing asked ahead: what it shows before its background reads are in."""
    monkeypatch.setattr(trace_data, "READ_ALL_MAX_SERVER", 2)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "same")
    monkeypatch.setenv("APP_TRACKING_DATABASE_URI", database_uri)
    trace_data.forget_prefetched()
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "pages" / "traces.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in (at.caption, at.info, at.warning, at.code, at.markdown) for e in kind)


def counts(uri: str, experiment_id: str) -> dict[object, int]:
    _, days = sql.rollup_days(uri, experiment_id)
    return dict(zip(days["day"], days["traces"]))


def test_the_page_figures_are_the_same_with_and_without_rollups(store):
    uri, server_uri, ids = store
    said = rollups.read(server_uri, uri, ids["same"])
    assert said.known and said.built and said.served
    assert len(said.days_in("rollups")) >= DAYS - 2 and not said.days_in("stale") and not said.days_in("queued")
    assert said.days_in("raw"), "today (and yesterday) are never rolled up"
    assert f"{len(said.days_in('rollups'))} of {len(said.days)} days from MLflow's daily rollups" in said.note()
    on, off = served(server_uri, ids["same"]), raw(uri, ids["same"])
    t_on, t_off = on.totals, off.totals
    assert (t_on.traces, t_on.input_tokens, t_on.output_tokens, t_on.errors) == (
        t_off.traces,
        t_off.input_tokens,
        t_off.output_tokens,
        t_off.errors,
    )
    assert t_on.traces == 1500 and t_on.errors > 0 and t_on.cost_usd > 1
    assert abs(t_on.cost_usd - t_off.cost_usd) < 1e-6  # float sums in another order: the same to the cent, not ==
    assert t_on.latency_ms == t_off.latency_ms
    assert on.by_status.equals(off.by_status)
    assert on.daily[["period", "traces", "tokens", "errors"]].equals(off.daily[["period", "traces", "tokens", "errors"]])
    assert (on.daily["cost_usd"] - off.daily["cost_usd"]).abs().max() < 1e-6
    by_model_on = aggregates.MetricsReader(server_uri, ids["same"]).by_model(None, None, aggregates.Scope())
    by_model_off = aggregates.MetricsReader(uri, ids["same"]).by_model(None, None, aggregates.Scope())
    assert by_model_on[["model", "calls"]].equals(by_model_off[["model", "calls"]])
    assert (by_model_on["cost_usd"] - by_model_off["cost_usd"]).abs().max() < 1e-6


def test_with_the_database_known_the_count_stops_past_the_read_all_limit(store):
    """Whether the page reads every trace needs the count only up to its limit: with the database known it stops
    there (the same cost at a million traces), and below the limit it is MLflow's own count."""
    uri, server_uri, ids = store
    at = window.ReadWindow(server_uri, ids["same"])
    assert window.count(at, aggregates.Scope(), 100, uri) == window.TraceCount(100, more=True)
    mlflows = aggregates.MetricsReader(server_uri, ids["same"]).count()
    assert mlflows == 1500 and window.count(at, aggregates.Scope(), 5000, uri) == window.TraceCount(1500)
    assert window.count(at, aggregates.Scope(), 100) == window.TraceCount(1500), "no database: MLflow's whole count"
    day = 86_400_000
    newest = window.ReadWindow(server_uri, ids["same"], int(time.time() * 1000) // day * day - day)
    recent = aggregates.MetricsReader(server_uri, ids["same"]).count(newest.start_ms, None)
    assert 0 < recent < 1500 and window.count(newest, aggregates.Scope(), 5000, uri) == window.TraceCount(recent)


def test_the_page_says_which_days_came_from_rollups_with_the_same_figures(store, postgres, monkeypatch):
    uri, server_uri, _ = store
    on, off = open_page(monkeypatch, server_uri, "same", uri), open_page(monkeypatch, uri, "same")
    for page in (on, off):  # both know the database (the server's given; the store's own): the count stops past 2
        assert any(i.value.startswith("More than 2 traces:") for i in page.info)
        assert page.button(key="read_all").label == "Read all traces (the Overview tab counts them)"
    figures = ("Traces", "Input tokens", "Output tokens", "Cost (USD)", "Errors")
    assert [m.value for m in on.metric if m.label in figures] == [m.value for m in off.metric if m.label in figures]
    assert "days from MLflow's daily rollups" in shown(on) and "not rolled up yet" in shown(on)
    assert "days from MLflow's daily rollups" not in shown(off), "this process reads every trace: nothing to claim"
    assert postgres.PASSWORD + "@" not in shown(on)
    unknown = open_page(monkeypatch, server_uri, "same")
    assert "REST API does not say" in shown(unknown) and "days from MLflow's daily rollups" not in shown(unknown)


def test_a_trace_written_through_mlflow_into_a_rolled_up_day_is_read_raw_until_the_next_build(store):
    uri, server_uri, ids = store
    before = counts(uri, ids["queued"])
    built = set(rollups.read(server_uri, uri, ids["queued"]).days_in("rollups"))
    synthetic.fill(server_uri, "queued", 24, days=DAYS, seed=99)  # through the server's log_spans: MLflow queues the days
    after = counts(uri, ids["queued"])
    written = {str(pd.Timestamp(d * sql.DAY_S, unit="s").date()) for d in after if after[d] != before.get(d, 0)}
    said = rollups.read(server_uri, uri, ids["queued"])
    assert written & built, "the copies landed in rolled-up days"
    assert set(said.days_in("queued")) >= written & built and not set(said.days_in("rollups")) & written
    assert "until MLflow's next build" in said.note()
    assert served(server_uri, ids["queued"]).totals.traces == raw(uri, ids["queued"]).totals.traces == sum(after.values())
    build(uri)
    again = rollups.read(server_uri, uri, ids["queued"])
    assert set(again.days_in("rollups")) >= written & built and not again.days_in("stale")


def test_a_trace_written_behind_mlflows_back_is_never_shown_as_rolled_up(store, monkeypatch):
    uri, server_uri, ids = store
    before = counts(uri, ids["stale"])
    built = set(rollups.read(server_uri, uri, ids["stale"]).days_in("rollups"))
    synthetic.fill(uri, "stale", 24, days=DAYS, seed=98, enqueue=False)  # COPY, no rebuild queued: as a foreign bulk load
    after = counts(uri, ids["stale"])
    written = {str(pd.Timestamp(d * sql.DAY_S, unit="s").date()) for d in after if after[d] != before.get(d, 0)}
    said = rollups.read(server_uri, uri, ids["stale"])
    stale = set(said.days_in("stale"))
    assert written & built and stale == written & built and not set(said.days_in("rollups")) & written
    assert said.stale_note() is not None and all(day in said.stale_note() for day in stale)
    page = shown(open_page(monkeypatch, server_uri, "stale", uri))
    assert "Stale rollups" in page and all(day in page for day in stale) and "sql_trace_rollup_rebuild_queue" in page
    # why it must be said: MLflow serves the old sums for those days
    assert served(server_uri, ids["stale"]).totals.traces < raw(uri, ids["stale"]).totals.traces
    with TracingClient(uri).store.engine.begin() as connection:  # what the page shows to run, run
        connection.execute(text(rollups.queue_rebuild_sql(ids["stale"], sorted(stale))))
    fixed = rollups.read(server_uri, uri, ids["stale"])
    assert not fixed.days_in("stale") and set(fixed.days_in("queued")) >= stale
    assert served(server_uri, ids["stale"]).totals.traces == raw(uri, ids["stale"]).totals.traces
    synthetic.fill(uri, "stale", 12, days=DAYS, seed=97)  # the filler's own way: it queues what it writes
    build(uri)
    assert not rollups.read(server_uri, uri, ids["stale"]).days_in("stale")


def test_a_store_without_rollups_says_what_turning_them_on_gives_and_the_recipe_builds_them(postgres, tmp_path):
    postgres.psql(f"CREATE DATABASE bare OWNER {postgres.USER}")
    uri = postgres.uri().rsplit("/", 1)[0] + "/bare"
    experiment_id = synthetic.fill(uri, "bare", 40, days=3).experiment_id
    with MlflowServer(tmp_path / "bare-server", backend=uri).start() as server:
        said = rollups.read(server.uri, uri, experiment_id)
        assert said.known and not said.built and not said.days_in("rollups")
        assert "no MLflow daily rollups" in said.note() and rollups.ENABLE in said.note() and said.stale_note() is None
        unknown = rollups.read(server.uri, "", experiment_id)
        assert not unknown.known and "REST API does not say" in unknown.note() and rollups.DATABASE_SETTING in unknown.note()
        assert served(server.uri, experiment_id).totals == raw(uri, experiment_id).totals
    # docs/DEPLOY.md's rollup recipe, as written: its server is the server recipe plus the variables, its first build
    # builds, and the app instances get the database beside the server
    serve, first_build, app = recipe("rollups")
    assert serve.startswith("MLFLOW_SQL_TRACE_ROLLUPS_ENABLED=true ") and serve.endswith(recipe("server")[1])
    placeholder = "postgresql://mlflow:<password>@db.internal:5432/mlflow"
    assert placeholder in first_build and f"APP_TRACKING_DATABASE_URI={placeholder}" in app
    subprocess.run(["bash", "-c", first_build.replace(placeholder, uri)], check=True, capture_output=True, timeout=300)
    built = rollups.read("http://mlflow.internal:5000", uri, experiment_id)
    assert built.built and built.days_in("rollups"), "days over 24 hours old are rolled up by the first build"


FILTERS = (aggregates.Scope(scenario="catify"), aggregates.Scope(status="ERROR"), aggregates.Scope(scenario="catify", status="OK"))


def test_a_filter_with_the_database_known_is_the_windows_groups_and_equals_mlflows(store, monkeypatch):
    uri, server_uri, ids = store
    expected = {scope: aggregates.MetricsReader(uri, ids["same"]).overview(None, None, int(time.time() * 1000), scope) for scope in FILTERS}

    def no_span_cost(*_: object) -> None:
        raise AssertionError("a filter with the database known asks no span cost of MLflow")

    monkeypatch.setattr(aggregates.MetricsReader, "_cost_asks", staticmethod(no_span_cost))
    ahead = window.Ahead(aggregates.Prefetch(), 60)
    at = window.ReadWindow(server_uri, ids["same"])
    ahead.scenarios(at, aggregates.Scope(), ("catify",), uri)  # what the page asks once drawn: the groups, ahead
    for scope, want in expected.items():
        got = ahead.overview(at, scope, None, uri)
        g, w = got.totals, want.totals
        assert g.latency_ms is None, "the percentiles under the filter are read beside, not waited for"
        deadline = time.monotonic() + 60
        while not (latency := ahead.latency(at, scope))[0] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (g.traces, g.input_tokens, g.output_tokens, g.errors, latency) == (
            w.traces,
            w.input_tokens,
            w.output_tokens,
            w.errors,
            (True, w.latency_ms),
        ), scope
        assert g.traces > 0 and abs(g.cost_usd - w.cost_usd) < 1e-6, scope
        assert got.by_status.equals(want.by_status), scope
        assert got.daily[["period", "traces", "tokens", "errors"]].equals(want.daily[["period", "traces", "tokens", "errors"]]), scope
        assert abs(got.daily["cost_usd"].sum() - want.daily["cost_usd"].sum()) < 1e-6, scope


def test_the_page_filtered_with_the_database_known_shows_mlflows_figures(store, monkeypatch):
    uri, server_uri, _ = store
    figures = ("Traces", "Input tokens", "Output tokens", "Cost (USD)", "Errors")
    shown = []
    for database in (uri, ""):  # each page filtered while its environment holds (the settings are read per run)
        at = open_page(monkeypatch, server_uri, "same", database)
        at.selectbox(key="a_scenario").set_value("catify").run()
        at.selectbox(key="a_status").set_value("OK").run()
        deadline = time.monotonic() + 60
        while any(LATENCY_PENDING in c.value for c in at.caption) and time.monotonic() < deadline:
            time.sleep(0.2)
            at.run()
        assert not at.exception, [e.value for e in at.exception]
        latency = [c.value for c in at.caption if c.value.startswith("Latency per trace: p50")]
        shown.append([m.value for m in at.metric if m.label in figures] + latency)
    grouped, asked = shown
    assert grouped == asked and grouped[0] != "0" and grouped[-1].startswith("Latency per trace: p50")


def test_the_breakdown_by_scenario_with_the_database_known_is_the_windows_groups_and_equals_mlflows(store, monkeypatch):
    """At a million traces MLflow's breakdown by scenario (a span cost per scenario under a trace-name filter) was
    the first load's longest wait (3-4 s); with the database known it is the window's groups, read beside the
    overview: the same rows, to the token and the cent, and no span cost asked."""
    uri, server_uri, ids = store
    reader = aggregates.MetricsReader(uri, ids["same"])
    for scope in (aggregates.Scope(), aggregates.Scope(status="OK")):
        totals = reader.overview(None, None, int(time.time() * 1000), scope).totals
        want = reader.by_scenario(None, None, scope, ("catify", "weather"), totals)
        with monkeypatch.context() as patched:
            patched.setattr(aggregates.MetricsReader, "scenario_rows", lambda *_: pytest.fail("MLflow's breakdown asked"))
            ahead = window.Ahead(aggregates.Prefetch(), 60)
            at = window.ReadWindow(server_uri, ids["same"])
            ahead.scenario_rows(at, scope, ("catify", "weather"), uri)  # what the page asks beside the overview
            got = ahead.breakdown(at, scope, "scenario", ("catify", "weather"), totals, None, uri)
        assert list(got["scenario"]) == list(want["scenario"]) and len(got) >= 2, scope  # catify and "other"
        assert got[["traces", "input_tokens", "output_tokens"]].equals(want[["traces", "input_tokens", "output_tokens"]]), scope
        assert (got["cost_usd"] - want["cost_usd"]).abs().max() < 1e-6, scope


def test_the_percentiles_no_rollup_serves_follow_the_first_load_and_equal_mlflows(store, monkeypatch):
    """Latency percentiles are the one overview figure MLflow's rollups cannot serve across days (a scan of every
    trace: 0.66 s at a million): the first load does not wait for them, says they are being read, and shows
    MLflow's own figures once they are in."""
    uri, server_uri, ids = store
    want = raw(uri, ids["same"]).totals.latency_ms
    gate, real = threading.Event(), aggregates.MetricsReader.latency
    monkeypatch.setattr(aggregates.MetricsReader, "latency", lambda self, *args: gate.wait(60) and real(self, *args))
    at = first_load_at_scale(monkeypatch, server_uri, uri)
    assert [m.value for m in at.metric if m.label == "Traces"] == ["1,500"], "the other figures are there at once"
    assert any(LATENCY_PENDING in c.value for c in at.caption) and not [
        c for c in at.caption if c.value.startswith("Latency per trace: p50")
    ], [c.value for c in at.caption]
    gate.set()
    deadline = time.monotonic() + 60
    while not [c for c in at.caption if c.value.startswith("Latency per trace: p50")] and time.monotonic() < deadline:
        time.sleep(0.2)
        at.run()
    assert [c.value for c in at.caption if c.value.startswith("Latency per trace")] == [
        "Latency per trace: " + " · ".join(f"{name} {ms / 1000:,.2f} s" for name, ms in zip(("p50", "p90", "p99"), want))
    ]


def test_with_the_database_known_the_overview_is_rollups_then_the_raw_days_grouped_with_the_same_figures(store, monkeypatch):
    """The unfiltered overview with the database known: MLflow's (served from its rollups) up to the start of
    yesterday, yesterday and today from one GROUP BY of their trace_info rows; the figures equal MLflow's whole
    window read raw, to the token and the cent, per day and by status (fails if the raw days are left out or counted
    twice)."""
    uri, server_uri, ids = store
    want = raw(uri, ids["same"])
    asked: list[tuple] = []
    real = aggregates.MetricsReader.overview
    monkeypatch.setattr(aggregates.MetricsReader, "overview", lambda self, *a, **k: asked.append(a[:2]) or real(self, *a, **k))
    got = window.Ahead(aggregates.Prefetch(), 60).overview(window.ReadWindow(server_uri, ids["same"]), aggregates.Scope(), None, uri)
    split = (window._minute_ms() // (sql.DAY_S * 1000) - 1) * sql.DAY_S * 1000
    assert asked == [(None, split - 1)], "MLflow is asked only the days before yesterday (its rollups' days)"
    g, w = got.totals, want.totals
    assert (g.traces, g.input_tokens, g.output_tokens, g.errors, g.in_progress) == (
        w.traces,
        w.input_tokens,
        w.output_tokens,
        w.errors,
        w.in_progress,
    )
    assert round(g.cost_usd, 2) == round(w.cost_usd, 2)
    both = got.daily.merge(want.daily, on="period", suffixes=("_got", "_want"))
    assert len(both) == len(want.daily) == len(got.daily) and (both["traces_got"] == both["traces_want"]).all()
    assert (both["tokens_got"] == both["tokens_want"]).all() and (both["cost_usd_got"] - both["cost_usd_want"]).abs().max() < 0.005
    recent = both[both["period"] >= pd.Timestamp(split, unit="ms", tz="UTC")]
    assert recent["traces_got"].sum() > 0, "the store has traces in the raw days, so the test can fail"
    assert dict(zip(got.by_status["status"], got.by_status["traces"])) == dict(zip(want.by_status["status"], want.by_status["traces"]))


def test_the_breakdown_by_scenario_follows_the_first_load(store, monkeypatch):
    """The breakdown by scenario at scale with the database known is the window's groups (one pass over every trace
    in the window: 0.35 s at a million): the first load does not wait for it, says it is being read, and shows it
    when in, the same rows as MLflow's own breakdown."""
    uri, server_uri, ids = store
    gate, real = threading.Event(), sql.trace_groups
    # only the window-wide read (start None: "All time") waits; the overview's raw days (a start) do not
    monkeypatch.setattr(sql, "trace_groups", lambda db, exp, start, end: (start is not None or gate.wait(60)) and real(db, exp, start, end))
    at = first_load_at_scale(monkeypatch, server_uri, uri)
    assert [m.value for m in at.metric if m.label == "Traces"] == ["1,500"], "the overview's figures are there at once"
    assert any(BREAKDOWN_PENDING in c.value for c in at.caption)
    assert not [d for d in at.dataframe if "scenario" in d.value.columns], "no breakdown table yet"
    gate.set()
    deadline = time.monotonic() + 60
    while any(BREAKDOWN_PENDING in c.value for c in at.caption) and time.monotonic() < deadline:
        time.sleep(0.2)
        at.run()
    table = next(d.value for d in at.dataframe if "scenario" in d.value.columns and "traces" in d.value.columns)
    reader = aggregates.MetricsReader(uri, ids["same"])
    want = reader.by_scenario(None, None, aggregates.Scope(), ("catify", "weather"), raw(uri, ids["same"]).totals)
    assert list(table["traces"]) == list(want["traces"]) and list(table["scenario"]) == list(want["scenario"])


def test_which_days_come_from_rollups_follows_the_first_load(store, monkeypatch):
    """Which days MLflow's rollups serve is checked in the background (every day's traces and cost spans counted
    against its rollup: 1.6 s at a million): the first load says it is being checked and shows it when in, without
    another click."""
    uri, server_uri, _ = store
    gate, real = threading.Event(), rollups.read
    monkeypatch.setattr(rollups, "read", lambda *args: gate.wait(60) and real(*args))
    at = first_load_at_scale(monkeypatch, server_uri, uri)
    assert [m.value for m in at.metric if m.label == "Traces"] == ["1,500"], "the overview's figures are there at once"
    assert any(PENDING in c.value for c in at.caption) and "days from MLflow's daily rollups" not in shown(at)
    gate.set()
    deadline = time.monotonic() + 60
    while any(PENDING in c.value for c in at.caption) and time.monotonic() < deadline:
        time.sleep(0.2)
        at.run()
    assert "days from MLflow's daily rollups" in shown(at) and not any(PENDING in c.value for c in at.caption)
