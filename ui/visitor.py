"""Who is using this page (core.identity) and what they may see: signed in through Streamlit's OpenID Connect or an
anonymous browser session; a hosted demo's admin; the sign-in box."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import streamlit as st

from core import hosted as hosted_policy
from core import identity
from core.config import Settings
from ui.secrets import base_settings, sign_in_configured
from ui.text import plain

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


def hosted() -> bool:
    return base_settings().hosted is not None


def is_admin() -> bool:
    return hosted() and visitor().admin


def visible_session() -> str | None:
    """Whose conversations and traces this visitor may see: their own in a hosted demo (None: everyone's)."""
    return hosted_policy.visible_session(base_settings().hosted, session_id(), is_admin())


def uses_owner_key() -> bool:
    return bool(st.session_state.get("uses_owner_key"))


def sign_in_box(base: Settings) -> None:
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


def privileged() -> bool:
    """Sees the server's own details (store address, MLflow UI link): anyone on their own machine, a hosted
    demo's admin."""
    return not hosted() or is_admin()
