"""Streamlit glue shared by every page: the sidebar's settings, the cached conversation store and its
health, the browser session's id. Views only; decisions live in core."""

from __future__ import annotations

import functools
import gc
import os
import sys
import threading
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core import hosted as hosted_policy
from core import identity, redact
from core.config import IMAGE_QUALITIES, IMAGE_SIZES, PROVIDERS, HostedLimits, Settings
from core.conversations import ConversationStore
from core.errors import TurnRefused
from core.hosted import SpendGate
from core.store import check_store, display_uri, scrub
from ui.text import labelled, plain

HOSTED_MODELS = ("gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o")
IMAGE_MODELS = ("gpt-image-1", "gpt-image-1-mini", "dall-e-3")  # the sidebar's picture models on OpenAI
PROVIDER_LABELS = {"demo": "Demo (offline, free)", "openai": "OpenAI", "openai-compatible": "OpenAI-compatible (Ollama, vLLM…)"}


XSRF_COOKIE = "_streamlit_xsrf"  # Streamlit's own; its token names an anonymous visitor's browser (core.identity)


def visitor() -> identity.Visitor:
    """Who is using this page (core.identity): in a hosted demo, the person signed in through Streamlit's
    OpenID Connect (`st.login`), or an anonymous visitor owning this browser session only. Nothing in the
    address is read: an old `?visitor=` link names nobody."""
    if "session_id" not in st.session_state:
        st.session_state.session_id = uuid.uuid4().hex
    limits = base_settings().hosted
    if limits is not None and sign_in_configured() and st.user.get("is_logged_in") is True:
        try:
            return identity.signed_in(st.user.to_dict(), limits.admins)
        except ValueError:  # a provider that names no subject: treated as not signed in
            pass
    address, cookie = st.context.ip_address, st.context.cookies.get(XSRF_COOKIE)
    return identity.anonymous(
        st.session_state.session_id, address if isinstance(address, str) else None, cookie if isinstance(cookie, str) else None
    )


def session_id() -> str:
    """What owns this visitor's conversations, traces and spend (`Visitor.owner`)."""
    return visitor().owner


T = TypeVar("T")
# id of a session's script run context -> (a weak reference to it, the run's cursors, the values of that run)
_run_memo: dict[int, tuple[weakref.ref, object, dict]] = {}


def _forget_run(key: int, _gone: object) -> None:
    _run_memo.pop(key, None)


def _once_a_run(name: str, compute: Callable[[], T]) -> T:
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
    return "auth" in _secrets()


def _secrets() -> dict:
    return dict(_once_a_run("secrets", _read_secrets))


def _read_secrets() -> dict:
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
    except Exception as exc:  # noqa: BLE001 - any failure to open the store: said, and chatting goes on without it
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
def spend_ledger(tracking_uri: str, experiment_name: str) -> SpendGate:
    """One per server process; the spend itself is in the ledger's table, which every instance shares
    (core.hosted.open_ledger: the tracking database, or APP_LEDGER_URI)."""
    return hosted_policy.open_ledger(base_settings().with_(tracking_uri=tracking_uri))


def hosted() -> bool:
    return base_settings().hosted is not None


def is_admin() -> bool:
    return hosted() and visitor().admin


def visible_session() -> str | None:
    """Whose conversations and traces this visitor may see: their own in a hosted demo (None: everyone's)."""
    return hosted_policy.visible_session(base_settings().hosted, session_id(), is_admin())


def uses_owner_key() -> bool:
    return bool(st.session_state.get("uses_owner_key"))


def _sign_in_box(base: Settings) -> None:
    """A hosted demo's sign-in: who is signed in and a way out, or a way in when the owner configured one."""
    if base.hosted is None:
        return
    person = visitor()
    with st.sidebar:
        if person.signed_in:
            st.caption(
                plain(f"Signed in as {person.label}")
                + (" · admin: you see every visitor's conversations and traces" if person.admin else "")
            )
            st.button("Sign out", key="sign_out", on_click=st.logout, icon=":material/logout:")
        elif sign_in_configured():
            st.button(
                "Sign in",
                key="sign_in",
                on_click=_login,
                icon=":material/login:",
                help="Signed in, you keep your conversations across visits and may use this demo's OpenAI key within its limits.",
            )
        else:
            st.caption("Visitors use the free demo provider; this browser tab keeps your conversations.")


def _login() -> None:
    """`st.login()` with the `[auth]` section's provider: its default one, or its first named one."""
    section = st.secrets.get("auth", {})
    named = [k for k, v in section.items() if isinstance(v, Mapping)]
    if "client_id" in section or not named:
        st.login()
    else:
        st.login(named[0])


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
            _owner_key_note(base, base.hosted)
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


def _owner_key_note(base: Settings, limits: HostedLimits) -> None:
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


def privileged() -> bool:
    """Sees the server's own details (store address, MLflow UI link): anyone on their own machine, a hosted
    demo's admin."""
    return not hosted() or is_admin()


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


def page_setup_read_only() -> tuple[Settings, ConversationStore | None, str | None]:
    """A page that chooses no provider (a shared conversation): (settings, store or None, why not), no sidebar."""
    redact.install_log_scrubber()
    _error_details()
    settings = base_settings()
    store, problem = store_or_none(settings)
    _freeze_long_lived()
    return settings, store, problem


def page_setup() -> tuple[Settings, ConversationStore | None, str | None]:
    """Every page starts here: the shared sidebar, then (settings, store or None, why not). First, log records
    lose their secrets (core.redact; again on every run, so a handler added since is covered too)."""
    redact.install_log_scrubber()
    _error_details()
    settings = sidebar_settings()
    _sign_in_box(settings)
    store, problem = store_or_none(settings)
    _freeze_long_lived()
    store_caption(settings, problem)
    return settings, store, problem
