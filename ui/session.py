"""Streamlit glue shared by every page: the sidebar's settings, the cached conversation store and its
health, the browser session's id. Views only; decisions live in core."""

from __future__ import annotations

import os
import uuid

import streamlit as st

from core.config import IMAGE_QUALITIES, IMAGE_SIZES, PROVIDERS, Settings
from core.conversations import ConversationStore, check_store, display_uri

PROVIDER_LABELS = {"demo": "Demo (offline, free)", "openai": "OpenAI", "openai-compatible": "OpenAI-compatible (Ollama, vLLM…)"}


def session_id() -> str:
    if "session_id" not in st.session_state:
        st.session_state.session_id = uuid.uuid4().hex
    return st.session_state.session_id


def _secrets() -> dict:
    try:
        return {k: st.secrets[k] for k in st.secrets}
    except Exception:  # no secrets file: that is the default, not an error
        return {}


def base_settings() -> Settings:
    return Settings.from_env(os.environ, _secrets())


@st.cache_resource(show_spinner=False)
def conversation_store(tracking_uri: str, experiment_name: str) -> ConversationStore:
    return ConversationStore(tracking_uri, experiment_name)


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
        return store, None
    except Exception as exc:  # noqa: BLE001
        store_problem.clear()
        return None, f"The MLflow store cannot be used ({type(exc).__name__}: {str(exc)[:200]})."


def sidebar_settings() -> Settings:
    """Provider, key and models. A key typed here lives in this browser session's widget state only."""
    base = base_settings()
    with st.sidebar:
        st.subheader("Model provider")
        provider = st.selectbox("Provider", PROVIDERS, index=PROVIDERS.index(base.provider) if base.provider in PROVIDERS else 0,
                                format_func=PROVIDER_LABELS.get, key="provider")
        defaults = Settings.for_provider(provider)
        if provider == "demo":
            st.caption("Offline models drawn with Pillow: no key, no network, no cost.")
            return base.with_(provider="demo", chat_model=defaults.chat_model, vision_model=defaults.vision_model,
                              image_model=defaults.image_model, image_size=defaults.image_size,
                              image_quality=defaults.image_quality, api_key="")
        typed_key = st.text_input("API key", type="password", key="api_key",
                                  help="Kept in this browser session only: never saved, traced or logged.",
                                  placeholder="uses the server's key" if base.api_key else "sk-…")
        key = typed_key or base.api_key
        if provider == "openai" and not key:
            st.warning("Type an OpenAI API key, or set OPENAI_API_KEY on the server.")
        base_url = ""
        if provider == "openai-compatible":
            base_url = st.text_input("Base URL", value=base.base_url or defaults.base_url, key="base_url")
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
                          vision_model=vision_model.strip(), image_model=image_model.strip(), image_size=size,
                          image_quality=quality)


def store_caption(settings: Settings, problem: str | None) -> None:
    with st.sidebar:
        st.subheader("MLflow store")
        st.caption(f"`{display_uri(settings.tracking_uri)}` · experiment `{settings.experiment_name}`")
        if problem:
            st.error("Traces are not being saved. " + problem)


def page_setup():
    """Every page starts here: the shared sidebar, then (settings, store or None, why not)."""
    session_id()
    settings = sidebar_settings()
    store, problem = store_or_none(settings)
    store_caption(settings, problem)
    return settings, store, problem
