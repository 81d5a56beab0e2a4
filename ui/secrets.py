"""The app's secrets (`.streamlit/secrets.toml`) and the settings they and the environment make, read once per
script run of a browser session (Streamlit looks for a secrets file on every read of `st.secrets`)."""

from __future__ import annotations

import functools
import os
import weakref
from collections.abc import Callable
from typing import TypeVar

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.config import Settings

T = TypeVar("T")
# id of a session's script run context -> (a weak reference to it, the run's cursors, the values of that run)
_run_memo: dict[int, tuple[weakref.ref, object, dict]] = {}


def _forget_run(key: int, _gone: object) -> None:
    _run_memo.pop(key, None)


def once_a_run(name: str, compute: Callable[[], T]) -> T:
    """`compute()` once per script run of this browser session, for what every part of a page asks again (the
    secrets, behind the settings and the visitor: ~30 times a run). Without a secrets file Streamlit looks for
    one on every read of `st.secrets`, under one lock for the whole process: with 20 visitors, ~40 ms a read.
    A run is told by its context's cursors, which Streamlit makes anew for every run; no context (a plain
    script): not kept."""
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:
        return compute()
    key, cursors = id(ctx), ctx.cursors
    entry = _run_memo.get(key)
    if entry is None or entry[0]() is not ctx or entry[1] is not cursors:
        # the entry goes with its session (a context is a dataclass: compared by value, so kept by id)
        entry = (weakref.ref(ctx, functools.partial(_forget_run, key)), cursors, {})
        _run_memo[key] = entry
    values = entry[2]
    if name not in values:
        values[name] = compute()
    return values[name]


def sign_in_configured() -> bool:
    """An `[auth]` section in the app's secrets: Streamlit's OpenID Connect sign-in (docs/DEPLOY.md)."""
    return "auth" in secrets()


def secrets() -> dict:
    return dict(once_a_run("secrets", _read_secrets))


def _read_secrets() -> dict:
    try:
        return {k: st.secrets[k] for k in st.secrets}
    except Exception:  # noqa: BLE001 - no secrets file: that is the default, not an error
        return {}


def base_settings() -> Settings:
    return Settings.from_env(os.environ, secrets())
