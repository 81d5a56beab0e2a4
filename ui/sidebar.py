"""The shared sidebar: provider, key and models (a key typed here lives in this browser session's widget state only),
a conversation's own models adopted, where traces go."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import streamlit as st

from core import hosted as hosted_policy
from core.config import IMAGE_QUALITIES, IMAGE_SIZES, PROVIDERS, HostedLimits, Settings
from core.errors import TurnRefused
from core.store import display_uri
from ui.secrets import base_settings
from ui.stores import spend_ledger
from ui.text import labelled
from ui.visitor import privileged, session_id, visitor

HOSTED_MODELS = ("gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o")
IMAGE_MODELS = ("gpt-image-1", "gpt-image-1-mini", "dall-e-3")  # the sidebar's picture models on OpenAI
PROVIDER_LABELS = {"demo": "Demo (offline, free)", "openai": "OpenAI", "openai-compatible": "OpenAI-compatible (Ollama, vLLM…)"}


def sidebar_settings() -> Settings:
    """Provider, key and models. A key typed here lives in this browser session's widget state only."""
    base = base_settings()
    person = visitor()
    providers = hosted_policy.providers_for(base.hosted, person, PROVIDERS)
    for key, value in st.session_state.pop(PENDING_MODELS, {}).items():  # a conversation's own models (adopt_models)
        st.session_state[key] = value
    with st.sidebar:
        st.subheader("Model provider")
        provider = st.selectbox(
            "Provider",
            providers,
            index=providers.index(base.provider) if base.provider in providers else 0,
            format_func=labelled(PROVIDER_LABELS),
            key="provider",
        )
        # the owner's models (APP_CHAT_MODEL, …) for the provider APP_PROVIDER names; any other starts from its own
        defaults = base if provider == base.provider else Settings.for_provider(provider)
        st.session_state.uses_owner_key = False
        if provider == "demo":
            st.caption("Offline models drawn with Pillow: no key, no network, no cost.")
            demo = Settings.for_provider("demo")  # offline models only: no other name would answer
            return base.with_(
                provider="demo",
                chat_model=demo.chat_model,
                vision_model=demo.vision_model,
                image_model=demo.image_model,
                image_size=demo.image_size,
                image_quality=demo.image_quality,
                api_key="",
            )
        owner_key = base.api_key if hosted_policy.may_use_owner_key(base.hosted, person, provider) else ""
        typed_key = st.text_input(
            "API key",
            type="password",
            key="api_key",
            help="Kept in this browser session only: never saved, traced or logged.",
            placeholder="uses the server's key" if owner_key else "sk-…",
        )
        key = typed_key or owner_key
        st.session_state.uses_owner_key = bool(base.hosted is not None and not typed_key and owner_key)
        if provider == "openai" and not key:
            st.warning("Type an OpenAI API key, or set OPENAI_API_KEY on the server.")
        if st.session_state.uses_owner_key and base.hosted is not None:  # the owner's key pays only in a hosted demo
            owner_key_note(base, base.hosted)
        base_url = ""
        if provider == "openai-compatible":
            base_url = st.text_input("Base URL", value=(base.base_url if base.hosted is None else "") or defaults.base_url, key="base_url")
        if typed_key:
            base_url = hosted_policy.typed_key_endpoint(base.hosted, provider, base_url)
        chat_model, vision_model = _chat_models(provider, defaults)
        image_model = _image_model(provider, defaults)
        sizes = IMAGE_SIZES.get(image_model, ("1024x1024",))
        qualities = IMAGE_QUALITIES.get(image_model, ("standard",))
        size = st.selectbox("Image size", sizes, key=f"size_{image_model}")
        quality = st.selectbox("Image quality", qualities, key=f"quality_{image_model}")
        return base.with_(
            provider=provider,
            api_key=key,
            base_url=base_url,
            chat_model=chat_model.strip(),
            billed_to_owner=st.session_state.uses_owner_key,
            vision_model=vision_model.strip(),
            image_model=image_model.strip(),
            image_size=size,
            image_quality=quality,
        )


def owner_key_note(base: Settings, limits: HostedLimits) -> None:
    """What the demo's key pays for this visitor, and what they have spent today."""
    try:
        spent_usd = spend_ledger(base.tracking_uri, base.experiment_name).spent(session_id())[0]
        spent = f" You have spent \\${spent_usd:.4f} today."
    except TurnRefused as refused:  # no ledger, or it does not answer: said now, and again on a turn
        spent = f" {refused}"
    st.info(
        f"This demo's key pays, up to \\${limits.session_cap_usd:.2f} per person and \\${limits.daily_cap_usd:.2f} a day.{spent}",
        icon=":material/savings:",
    )


def _chat_models(provider: str, defaults: Settings) -> tuple[str, str]:
    """The chat and vision models: on the owner's key, only models the demo's cost bound knows (token prices only)."""
    if st.session_state.uses_owner_key:
        chat = st.selectbox("Chat model", HOSTED_MODELS, index=_index(HOSTED_MODELS, defaults.chat_model), key="chat_model_hosted")
        vision = st.selectbox("Vision model", HOSTED_MODELS, index=_index(HOSTED_MODELS, defaults.vision_model), key="vision_model_hosted")
        return chat, vision
    chat = st.text_input("Chat model", value=defaults.chat_model, key=f"chat_model_{provider}")
    vision = st.text_input("Vision model", value=defaults.vision_model, key=f"vision_model_{provider}")
    return chat, vision


def _image_model(provider: str, defaults: Settings) -> str:
    if provider == "openai-compatible":
        return st.text_input("Image model (empty: none)", value=defaults.image_model, key="image_model_c")
    image_models = list(IMAGE_MODELS)
    if defaults.image_model and defaults.image_model not in image_models and not st.session_state.uses_owner_key:
        image_models.append(defaults.image_model)  # the owner named one the list lacks: theirs wins
    return st.selectbox("Image model", image_models, index=_index(image_models, defaults.image_model), key="image_model")


def _index(options: Sequence[str], value: str) -> int:
    """Where `value` is among a select box's options (the first when it is not there)."""
    return list(options).index(value) if value in options else 0


def model_widgets(provider: str) -> dict[str, str]:
    """The sidebar's model widget keys for `provider` (model field -> widget key), as `sidebar_settings` draws them."""
    if provider == "demo":
        return {}
    if st.session_state.get("uses_owner_key"):
        return {"chat_model": "chat_model_hosted", "vision_model": "vision_model_hosted"}
    return {
        "chat_model": f"chat_model_{provider}",
        "vision_model": f"vision_model_{provider}",
        "image_model": "image_model_c" if provider == "openai-compatible" else "image_model",
    }


PENDING_MODELS = "_pending_models"  # widget key -> value, put in by `sidebar_settings` before it draws them


def adopt_models(models: Mapping[str, object], current: Settings) -> bool:
    """Make a conversation's own models (contract.MODELS_OPTION: a variant's, or what it last ran on) the sidebar's,
    when they are on the sidebar's provider and may be chosen there; True when something changes. A drawn widget's
    value cannot be set, so they wait in the session until the sidebar is drawn again (the caller reruns)."""
    if models.get("provider") != current.provider:
        return False
    pending = {}
    for field, key in model_widgets(current.provider).items():
        value = str(models.get(field) or "")
        allowed = HOSTED_MODELS if key.endswith("_hosted") else IMAGE_MODELS if key == "image_model" else None
        if value and value != getattr(current, field) and (allowed is None or value in allowed):
            pending[key] = value
    if pending:
        st.session_state[PENDING_MODELS] = pending
    return bool(pending)


def store_caption(settings: Settings, problem: str | None) -> None:
    """Where traces go; a hosted demo's visitors are not told the server's store address or path, nor why it
    failed in the store's words (the admin is)."""
    with st.sidebar:
        st.subheader("MLflow store")
        if privileged():
            st.caption(f"`{display_uri(settings.tracking_uri)}` · experiment `{settings.experiment_name}`")
            if problem:
                st.error("Traces are not being saved. " + problem)
        elif problem:
            st.error("Traces are not being saved right now: the demo's store cannot be reached.")
        else:
            st.caption("Every turn is traced in this demo's MLflow store.")
