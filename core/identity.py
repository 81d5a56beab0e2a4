"""Who is using the app, decided from what the visitor cannot choose: a person signed in through OpenID Connect
(Streamlit's `st.login`, whose claims the identity provider signed) or an anonymous browser session. Nothing in
the address names a visitor: a link never carries an identity (docs/DEPLOY.md, "Hosted demo").

In a hosted demo:
- a signed-in person owns their conversations, traces and spend under a key derived from the provider's issuer
  and subject (stable across reloads, devices and app instances); they may use the owner's key within the caps;
- an anonymous visitor gets the free demo provider only; their conversations belong to their browser: the
  token of Streamlit's XSRF cookie (random, set by the server, sent with every connection, gone when the browser
  closes; never in an address), or this browser tab's session when there is no such cookie; their turns a
  minute count per browser, and all anonymous turns from one client address (as Streamlit reports it: a reload
  or a new cookie does not change it) against a wider allowance, so a script without cookies is held too;
- an admin is a signed-in person whose verified email is on the owner's allow-list (APP_ADMINS).
Outside a hosted demo everything is the machine owner's, as before."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

ADDRESS_KEY = "address:"  # + the client address; "local" when Streamlit reports none (loopback)


@dataclass(frozen=True)
class Visitor:
    owner: str  # what owns conversations, traces and spend (contract.RunTag.SESSION, MLflow's trace session): 32 hex
    signed_in: bool = False
    label: str = ""  # the person's email or name, shown to themselves only; "" when anonymous
    rate_key: str = ""  # what turns a minute count against: the person, or an anonymous visitor's browser
    address_key: str = ""  # an anonymous visitor's client address: a wider allowance all its visitors share
    admin: bool = False


def signed_in(claims: Mapping[str, Any], admins: Collection[str] = ()) -> Visitor:
    """A person from the ID token's claims (`st.user`). The owner key is a hash of issuer and subject: the subject
    is the provider's stable id for the person (an email can change hands); two providers never share one."""
    subject = str(claims.get("sub") or "")
    if not subject:
        raise ValueError("The identity provider's token names no subject (`sub`).")
    owner = hashlib.sha256(f"{claims.get('iss') or ''}\n{subject}".encode()).hexdigest()[:32]
    email = str(claims.get("email") or "").strip()
    label = email or str(claims.get("name") or claims.get("preferred_username") or "signed in")
    return Visitor(owner=owner, signed_in=True, label=label, rate_key=f"person:{owner}", admin=is_admin(claims, admins))


def is_admin(claims: Mapping[str, Any], admins: Collection[str]) -> bool:
    """On the allow-list by email, when the provider says that email is verified (`email_verified` true): a provider
    that sends no such claim may let people set any email (Entra multi-tenant apps, "nOAuth")."""
    email = str(claims.get("email") or "").strip().lower()
    verified = claims.get("email_verified") in (True, "true", "True")
    return bool(email) and verified and email in {a.strip().lower() for a in admins if a.strip()}


def anonymous(browser_session: str, client_address: str | None, xsrf_cookie: str | None = None) -> Visitor:
    """A visitor who has not signed in: their browser (its XSRF token) or else this browser session owns their
    conversations and is their rate key; the client address (None on loopback) their address key."""
    token = xsrf_token(xsrf_cookie or "")
    owner = hashlib.sha256(b"browser\n" + token).hexdigest()[:32] if token else browser_session
    return Visitor(owner=owner, rate_key=f"browser:{owner}", address_key=ADDRESS_KEY + (client_address or "local"))


def xsrf_token(cookie: str) -> bytes:
    """The random token in Streamlit's `_streamlit_xsrf` cookie (Tornado's format, which Streamlit keeps: "2|mask|
    masked token|time" in hex, masked anew when the cookie is set again, so the cookie's text changes and the token
    does not). Streamlit has no public id for a browser; b"" when the cookie is absent or not of that form."""
    parts = cookie.strip("\"'").split("|")
    if len(parts) != 4 or parts[0] != "2":
        return b""
    try:
        mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
    except ValueError:
        return b""
    if len(mask) != 4 or len(masked) < 16:
        return b""
    return bytes(m ^ mask[i % 4] for i, m in enumerate(masked))
