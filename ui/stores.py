"""The conversation store a page uses, cached per process, and its health (checked every 30 s), the hosted demo's
spend ledger."""

from __future__ import annotations

import streamlit as st

from core import hosted as hosted_policy
from core.config import Settings
from core.conversations import ConversationStore
from core.hosted import SpendGate
from core.store import check_store, scrub
from ui.secrets import base_settings


@st.cache_resource(show_spinner=False)
def conversation_store(tracking_uri: str, experiment_name: str) -> ConversationStore:
    return ConversationStore.connect(tracking_uri, experiment_name)  # traces of turns go to this store


@st.cache_data(ttl=30, show_spinner=False)
def store_problem(tracking_uri: str) -> str | None:
    return check_store(tracking_uri)


def store_or_none(settings: Settings) -> tuple[ConversationStore | None, str | None]:
    """The store, or None and the reason, so chatting still works while MLflow is down."""
    problem = store_problem(settings.tracking_uri)
    if problem:
        return None, problem
    try:
        store = conversation_store(settings.tracking_uri, settings.experiment_name)
        store.experiment_id  # noqa: B018 - fail here, not mid-turn
        if why := store.artifacts_problem():  # conversations would open empty and turns could not be saved
            return None, why
        return store, None
    except Exception as exc:  # noqa: BLE001 - any failure to open the store: said, and chatting goes on without it
        store_problem.clear()
        return None, f"The MLflow store cannot be used ({type(exc).__name__}: {scrub(str(exc), settings.tracking_uri)[:200]})."


class PageStore:
    """The store for one run of a page: it starts as `startup.page` found it and is dropped for the rest of the
    run when a read fails (no more seconds spent on a store that went away); the next run checks afresh."""

    def __init__(self, store: ConversationStore | None):
        self.store = store

    def drop(self) -> None:
        store_problem.clear()
        self.store = None


@st.cache_resource(show_spinner=False)
def spend_ledger(tracking_uri: str, experiment_name: str) -> SpendGate:
    """One per server process; the spend itself is in the ledger's table, which every instance shares
    (core.hosted.open_ledger: the tracking database, or APP_LEDGER_URI)."""
    return hosted_policy.open_ledger(base_settings().with_(tracking_uri=tracking_uri))
