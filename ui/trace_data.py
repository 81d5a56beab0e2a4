"""Cached reads for the Traces page: one read of the store per time range and Refresh, shared by reruns
and browser sessions for a minute; everything after that (filters, sorting, paging) is pandas in memory."""

from __future__ import annotations

import streamlit as st
from mlflow import MlflowClient

from core import traces
from core.conversations import ConversationStore, ConversationSummary

TTL_S = 60


@st.cache_data(ttl=TTL_S, show_spinner="Reading traces…", max_entries=16)
def frames(tracking_uri: str, experiment_id: str, start_ms: int | None, end_ms: int | None,
           nonce: int, version: str | None) -> traces.Frames:
    """Keyed by the store's version too (store_version): a turn that lands after the page was read shows
    on the next rerun."""
    return traces.reader_for(tracking_uri, experiment_id).frames(start_ms, end_ms)


@st.cache_data(ttl=300, show_spinner=False)
def experiments(tracking_uri: str) -> list[tuple[str, str]]:
    """(id, name) of every active experiment, for reading traces other code wrote elsewhere."""
    return [(e.experiment_id, e.name) for e in MlflowClient(tracking_uri).search_experiments(max_results=1000)]


def refresh() -> None:
    st.session_state.traces_nonce = st.session_state.get("traces_nonce", 0) + 1


def nonce() -> int:
    return st.session_state.get("traces_nonce", 0)


@st.cache_data(ttl=TTL_S, show_spinner="Searching…", max_entries=32)
def search_ids(tracking_uri: str, experiment_id: str, filter_string: str, start_ms: int | None, end_ms: int | None,
               nonce: int, version: str | None) -> tuple[frozenset[str], bool]:
    return traces.search_ids(tracking_uri, experiment_id, filter_string, start_ms=start_ms, end_ms=end_ms)


def store_version(tracking_uri: str, experiment_id: str) -> str | None:
    return traces.reader_for(tracking_uri, experiment_id).version()


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=32)
def conversation_summaries(_store: ConversationStore, tracking_uri: str, experiment_id: str, ids: tuple[str, ...],
                           nonce: int, version: str | None) -> dict[str, ConversationSummary]:
    """The runs of the lineage picker's conversations (titles, owners), a search per 100; keyed like `frames`
    (`_store` is the app's store for `tracking_uri`, not hashed). A rename shows within a minute or on Refresh."""
    return _store.summaries(ids)
