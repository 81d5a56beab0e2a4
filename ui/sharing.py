"""Share links on the chat page (make, list, revoke: the conversation's owner only) and the read-only page a link
opens (`pages/shared.py`). Policy and signing: core.sharing."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from core import sharing
from core.config import Settings
from core.conversations import Conversation, ConversationStore
from ui.text import plain

SHARED_PAGE = "shared"  # the url path of pages/shared.py (streamlit_app.py)


def links(store: ConversationStore, settings: Settings) -> sharing.ShareLinks | None:
    """None when the app has no share secret (docs/DEPLOY.md: APP_SHARE_SECRET or the sign-in's cookie_secret)."""
    if not sharing.usable_secret(settings.share_secret):
        return None
    return sharing.ShareLinks(store.client, settings.share_secret)


def address(token: str) -> str:
    """The link in full: this app's address (as the browser reached it), the shared page, the token."""
    here = str(st.context.url or "").split("?", 1)[0].rstrip("/")
    base = here.rsplit("/", 1)[0] if here.rsplit("/", 1)[-1] in ("chat", "traces", "models", SHARED_PAGE) else here
    return f"{base}/{SHARED_PAGE}?share={token}"


def share_box(store: ConversationStore, settings: Settings, conversation: Conversation) -> None:
    """For the conversation's owner: a read-only link to send, the live ones, and revoking each."""
    shares = links(store, settings)
    with st.expander("Share read-only", icon=":material/share:"):
        if shares is None:
            st.caption("Share links need a secret on the server: APP_SHARE_SECRET, or the sign-in's cookie_secret.")
            return
        st.caption(
            "Whoever has a link sees this conversation and its traces, and nothing else of yours; they "
            "cannot continue it. Revoke a link to close it."
        )
        if not conversation.id:  # not saved yet: nothing to share (the page offers this box for saved ones only)
            return
        try:
            grants = shares.grants(conversation.id)
        except Exception as exc:  # noqa: BLE001 - the store: said, the chat goes on
            st.caption(plain(f"The links could not be read ({type(exc).__name__})."))
            return
        st.button("Make a link", key="share_make", on_click=_make, args=(shares, conversation.id), icon=":material/add_link:")
        if problem := st.session_state.pop("share_error", None):
            st.error(plain(problem))
        for grant in reversed(grants):
            made = dt.datetime.fromtimestamp(grant.created_ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            st.code(address(grant.token), language=None, wrap_lines=True)
            st.button(
                f"Revoke the link made {made}",
                key=f"share_revoke_{grant.grant_id}",
                on_click=_revoke,
                args=(shares, conversation.id, grant.grant_id),
                icon=":material/link_off:",
            )


def _make(shares: sharing.ShareLinks, conversation_id: str) -> None:
    try:
        shares.create(conversation_id)
    except sharing.ShareRefused as exc:
        st.session_state.share_error = str(exc)
    except Exception as exc:  # noqa: BLE001 - any store failure: said, no link made
        st.session_state.share_error = f"No link was made: the store refused ({type(exc).__name__})."


def _revoke(shares: sharing.ShareLinks, conversation_id: str, grant_id: str) -> None:
    try:
        shares.revoke(conversation_id, grant_id)
    except Exception as exc:  # noqa: BLE001 - any store failure: said, the link stays
        st.session_state.share_error = f"The link was not revoked: the store refused ({type(exc).__name__})."
