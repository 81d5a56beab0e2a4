"""A read window (core/reading/window.py) as the key of the Traces page's cached reads, and the aggregates asked ahead
(`Ahead`) handed over under the key the page asks them by. The refresh that reads only what is new is
tests/test_traces_refresh.py; the page's figures with and without these are benchmarks/traces_page.py and
benchmarks/traces_at_scale.py."""

from __future__ import annotations

import time
from dataclasses import replace

import streamlit as st

from core.reading import aggregates, window
from core.reading.aggregates import Scope
from core.reading.sums import Totals
from core.reading.window import ReadWindow


def test_streamlit_keys_a_cached_read_by_the_windows_value():
    calls: list[ReadWindow] = []

    @st.cache_data(ttl=60)
    def read(w: ReadWindow) -> int:
        calls.append(w)
        return len(calls)

    w = ReadWindow("sqlite:///a.db", "1", 1_000, None, None, 0, "3/9/0/3/0/None")
    assert read(w) == read(ReadWindow("sqlite:///a.db", "1", 1_000, None, None, 0, "3/9/0/3/0/None")) == 1
    for changed in (replace(w, nonce=1), replace(w, version="4/9/0/4/0/None"), replace(w, owner="alice"), replace(w, start_ms=None)):
        assert read(changed) == len(calls), f"{changed} is read, not taken from the cache"
    assert len(calls) == 5


class _Store:
    """MetricsReader's questions, answered and counted."""

    asked: list[str] = []

    def __init__(self, tracking_uri: str, experiment_id: str):
        pass

    def scenarios_present(self, start_ms, end_ms, owner, known):
        return list(known)

    def overview(self, start_ms, end_ms, now_ms, scope):
        self.asked.append(f"overview {scope.scenario}")
        return f"overview of {scope.scenario}"

    def scenario_rows(self, start_ms, end_ms, scope, keys):
        self.asked.append("scenario rows")
        return "named rows"

    def by_scenario(self, start_ms, end_ms, scope, keys, totals):
        self.asked.append("by scenario")
        return "asked now"


def test_what_is_asked_ahead_is_what_the_page_takes_for_the_same_window(monkeypatch):
    monkeypatch.setattr(window, "MetricsReader", _Store)
    monkeypatch.setattr(window, "with_rest", lambda named, totals: (named, totals.traces))
    _Store.asked = []
    ahead = window.Ahead(aggregates.Prefetch(), 60)
    w = ReadWindow("http://127.0.0.1:5000", "1", None, None, None, 0, None)
    ahead.scenarios(w, Scope(), ("catify", "weather"))
    ahead.scenario_rows(w, Scope(), ("catify", "weather"))
    deadline = time.monotonic() + 10
    while len(_Store.asked) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(_Store.asked) == ["overview catify", "overview weather", "scenario rows"]
    assert ahead.overview(w, Scope(scenario="weather"), None) == "overview of weather"
    assert ahead.breakdown(w, Scope(), "scenario", ("catify", "weather"), Totals(7, 0, 0, 0.0, 0, 0), None) == ("named rows", 7)
    assert len(_Store.asked) == 3, "both taken from what was asked ahead"
    assert ahead.overview(replace(w, nonce=1), Scope(scenario="weather"), None) == "overview of weather"
    assert len(_Store.asked) == 4, "after Refresh, asked again"
