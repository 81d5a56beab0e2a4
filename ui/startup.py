"""Every page starts here (`page`): log records lose their secrets, a hosted demo hides error details, the shared
sidebar and the sign-in box, the store or why not, long-lived objects out of the collector's sight."""

from __future__ import annotations

import gc
import sys
import threading

import streamlit as st

from core import redact
from core.config import Settings
from core.conversations import ConversationStore
from ui.secrets import base_settings
from ui.sidebar import sidebar_settings, store_caption
from ui.stores import store_or_none
from ui.visitor import hosted, sign_in_box


def _error_details() -> None:
    """A hosted demo shows an unexpected error as a generic sentence: its type, message and traceback (paths,
    addresses) go to the server's log only. Process-wide, as hosted mode is."""
    if hosted() and st.get_option("client.showErrorDetails") != "none":
        st.set_option("client.showErrorDetails", "none")


_frozen_at = [0]  # how many modules were loaded at the last freeze
_freeze_lock = threading.Lock()
REFREEZE_MODULES = 100  # a page or a turn that loaded this many modules more: freeze again


def _freeze_long_lived() -> None:
    """Streamlit collects garbage in full after every script run (its `runner.postScriptGC`), holding the GIL:
    with the modules of MLflow, AutoGen, pandas and the app loaded, about 0.16 s on an idle core and ~0.36 s with
    20 visitors, during which every other visitor's page and turn wait. Modules, their classes and functions
    and what they keep live as long as the process: moved out of the collector's sight (`gc.freeze`, after
    one full collection so no garbage is kept) once the first page has opened its store, and again whenever
    many modules more were loaded since (the first turn loads ~570: AutoGen's teams, MLflow's tracing). The
    collection after each run then looks only at what was made since, and still frees it. What a session holds
    at such a moment stays for good: a few freezes in a process's life."""
    if len(sys.modules) < _frozen_at[0] + REFREEZE_MODULES:
        return
    with _freeze_lock:
        if len(sys.modules) >= _frozen_at[0] + REFREEZE_MODULES:
            gc.collect()
            gc.freeze()
            _frozen_at[0] = len(sys.modules)


def read_only_page() -> tuple[Settings, ConversationStore | None, str | None]:
    """A page that chooses no provider (a shared conversation): (settings, store or None, why not), no sidebar."""
    redact.install_log_scrubber()
    _error_details()
    settings = base_settings()
    store, problem = store_or_none(settings)
    _freeze_long_lived()
    return settings, store, problem


def page() -> tuple[Settings, ConversationStore | None, str | None]:
    """Every page starts here: the shared sidebar, then (settings, store or None, why not). First, log records
    lose their secrets (core.redact; again on every run, so a handler added since is covered too)."""
    redact.install_log_scrubber()
    _error_details()
    settings = sidebar_settings()
    sign_in_box(settings)
    store, problem = store_or_none(settings)
    _freeze_long_lived()
    store_caption(settings, problem)
    return settings, store, problem
