"""Streamlit glue shared by every page: the sidebar's settings, the cached conversation store and its
health, the browser session's id. Views only; decisions live in core."""

from __future__ import annotations

import hmac
import os
import re
import time
import uuid

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from core import hosted as hosted_policy
from core.config import IMAGE_QUALITIES, IMAGE_SIZES, PROVIDERS, Settings
from core.conversations import ConversationStore
from core.errors import TurnRefused
from core.hosted import SpendLedger
from core.store import check_store, display_uri, scrub

HOSTED_MODELS = ("gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o")
PROVIDER_LABELS = {"demo": "Demo (offline, free)", "openai": "OpenAI", "openai-compatible": "OpenAI-compatible (Ollama, vLLM…)"}


def session_id() -> str:
    """This visitor. In a hosted demo it is also kept in the address (`?visitor=`), so a reload (a new
    Streamlit session) still finds the visitor's own conversations, traces and spend."""
    if "session_id" not in st.session_state:
        wanted = st.query_params.get("visitor", "")
        adopt = hosted() and re.fullmatch(r"[0-9a-f]{32}", wanted or "")
        st.session_state.session_id = wanted if adopt else uuid.uuid4().hex
    if hosted() and st.query_params.get("visitor") != st.session_state.session_id:
        st.query_params["visitor"] = st.session_state.session_id
    return st.session_state.session_id


def _secrets() -> dict:
    try:
        return {k: st.secrets[k] for k in st.secrets}
    except Exception:  # noqa: BLE001 - no secrets file: that is the default, not an error
        return {}


def base_settings() -> Settings:
    return Settings.from_env(os.environ, _secrets())


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
    except Exception as exc:  # noqa: BLE001
        store_problem.clear()
        return None, f"The MLflow store cannot be used ({type(exc).__name__}: {scrub(str(exc), settings.tracking_uri)[:200]})."


class PageStore:
    """The store for one run of a page: it starts as `page_setup` found it and is dropped for the rest of the
    run when a read fails (no more seconds spent on a store that went away); the next run checks afresh."""

    def __init__(self, store: ConversationStore | None):
        self.store = store

    def drop(self) -> None:
        store_problem.clear()
        self.store = None


@st.cache_resource(show_spinner=False)
def spend_ledger(tracking_uri: str, experiment_name: str) -> SpendLedger:
    """One per server process; the spend itself is in the ledger's table, which every instance shares
    (core.hosted.open_ledger: the tracking database, or APP_LEDGER_URI)."""
    return hosted_policy.open_ledger(base_settings().with_(tracking_uri=tracking_uri))


def hosted() -> bool:
    return base_settings().hosted is not None


def is_admin() -> bool:
    return bool(st.session_state.get("admin"))


def visible_session() -> str | None:
    """Whose conversations and traces this visitor may see: their own in a hosted demo (None: everyone's)."""
    return hosted_policy.visible_session(base_settings().hosted, session_id(), is_admin())


def uses_owner_key() -> bool:
    return bool(st.session_state.get("uses_owner_key"))


def _admin_login(base: Settings) -> None:
    if base.hosted is None or not base.hosted.admin_password:
        return
    with st.sidebar.expander("Admin", icon=":material/admin_panel_settings:", expanded=is_admin()):
        if is_admin():
            st.caption("Admin: you see every visitor's conversations and traces.")
            if st.button("Leave admin mode", key="admin_logout"):
                st.session_state.admin = False
                st.rerun()
            return
        st.text_input("Admin password", type="password", key="admin_password", on_change=_check_admin_password)
        if refused := st.session_state.pop("admin_refused", None):
            st.error(refused)


ADMIN_TRIES = 5


def _check_admin_password() -> None:
    """A callback, so the typed password can be cleared before the field is drawn again."""
    typed = str(st.session_state.get("admin_password") or "")
    limits = base_settings().hosted
    st.session_state.admin_password = ""
    if not typed or limits is None or not limits.admin_password:
        return
    tries = st.session_state.get("admin_tries", 0)
    if tries >= ADMIN_TRIES:
        st.session_state.admin_refused = "Too many wrong passwords in this session."
        return
    if hmac.compare_digest(typed.encode("utf-8"), str(limits.admin_password).encode("utf-8")):
        st.session_state.admin = True
        return
    st.session_state.admin_tries = tries + 1
    time.sleep(1.0)  # guessing costs time
    st.session_state.admin_refused = "That is not the admin password."


def sidebar_settings() -> Settings:
    """Provider, key and models. A key typed here lives in this browser session's widget state only."""
    base = base_settings()
    providers = PROVIDERS
    if base.hosted is not None:
        # a visitor may not point the server at an address of their choosing (it would fetch from inside)
        providers = tuple(p for p in PROVIDERS if p != "openai-compatible")
    with st.sidebar:
        st.subheader("Model provider")
        provider = st.selectbox("Provider", providers, index=providers.index(base.provider) if base.provider in providers else 0,
                                format_func=PROVIDER_LABELS.get, key="provider")
        defaults = Settings.for_provider(provider)
        st.session_state.uses_owner_key = False
        if provider == "demo":
            st.caption("Offline models drawn with Pillow: no key, no network, no cost.")
            return base.with_(provider="demo", chat_model=defaults.chat_model, vision_model=defaults.vision_model,
                              image_model=defaults.image_model, image_size=defaults.image_size,
                              image_quality=defaults.image_quality, api_key="")
        typed_key = st.text_input("API key", type="password", key="api_key",
                                  help="Kept in this browser session only: never saved, traced or logged.",
                                  placeholder="uses the server's key" if base.api_key else "sk-…")
        key = typed_key or base.api_key
        st.session_state.uses_owner_key = bool(base.hosted is not None and not typed_key and base.api_key)
        if provider == "openai" and not key:
            st.warning("Type an OpenAI API key, or set OPENAI_API_KEY on the server.")
        if st.session_state.uses_owner_key:
            limits = base.hosted
            try:
                spent_usd = spend_ledger(base.tracking_uri, base.experiment_name).spent(session_id())[0]
                spent = f" Your session has spent \\${spent_usd:.4f}."
            except TurnRefused as refused:  # no ledger, or it does not answer: said now, and again on a turn
                spent = f" {refused}"
            st.info(f"This demo's key pays, up to \\${limits.session_cap_usd:.2f} per visitor session and "
                    f"\\${limits.daily_cap_usd:.2f} a day.{spent}", icon=":material/savings:")
        base_url = ""
        if provider == "openai-compatible":
            base_url = st.text_input("Base URL", value=base.base_url or defaults.base_url, key="base_url")
        if st.session_state.uses_owner_key:  # models the demo's cost bound knows: token prices only, no extras
            chat_model = st.selectbox("Chat model", HOSTED_MODELS, key="chat_model_hosted")
            vision_model = st.selectbox("Vision model", HOSTED_MODELS, key="vision_model_hosted")
        else:
            chat_model = st.text_input("Chat model", value=defaults.chat_model, key=f"chat_model_{provider}")
            vision_model = st.text_input("Vision model", value=defaults.vision_model, key=f"vision_model_{provider}")
        image_models = ["gpt-image-1", "gpt-image-1-mini", "dall-e-3"]
        if provider == "openai-compatible":
            image_model = st.text_input("Image model (empty: none)", value=defaults.image_model, key="image_model_c")
        else:
            image_model = st.selectbox("Image model", image_models, key="image_model")
        sizes = IMAGE_SIZES.get(image_model, ("1024x1024",))
        qualities = IMAGE_QUALITIES.get(image_model, ("standard",))
        size = st.selectbox("Image size", sizes, key=f"size_{image_model}")
        quality = st.selectbox("Image quality", qualities, key=f"quality_{image_model}")
        return base.with_(provider=provider, api_key=key, base_url=base_url, chat_model=chat_model.strip(),
                          billed_to_owner=st.session_state.uses_owner_key,
                          vision_model=vision_model.strip(), image_model=image_model.strip(), image_size=size,
                          image_quality=quality)


def store_caption(settings: Settings, problem: str | None) -> None:
    with st.sidebar:
        st.subheader("MLflow store")
        st.caption(f"`{display_uri(settings.tracking_uri)}` · experiment `{settings.experiment_name}`")
        if problem:
            st.error("Traces are not being saved. " + problem)


NAVIGATED = "_navigated"  # set by streamlit_app.py: this session has run the app's own navigation


def _leave_folder_mode() -> None:
    """A cold server's first request straight to a page (a bookmark to /traces) runs that page in Streamlit's
    old folder mode, because a `pages/` folder sits next to the entry script and nobody has run the entry
    script's `st.navigation` yet; it stays so for every visitor until someone opens `/`. Streamlit has no
    public switch for this (its PagesManager decides once per process from the folder), so the page turns
    folder mode off and reruns: the rerun goes through streamlit_app.py, its navigation and page config. A
    session that already came through the entry script is not rerun (that would drop the widget value that
    started this run; Streamlit's AppTest runs every script this way)."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if not st.session_state.get(NAVIGATED):
            st.rerun()


def page_setup():
    """Every page starts here: the shared sidebar, then (settings, store or None, why not)."""
    _leave_folder_mode()
    session_id()
    settings = sidebar_settings()
    _admin_login(settings)
    store, problem = store_or_none(settings)
    store_caption(settings, problem)
    return settings, store, problem
