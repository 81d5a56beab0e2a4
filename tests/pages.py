"""Driving the app's pages through Streamlit's AppTest: open it (with query parameters) and send a message,
failing on any exception the page raised."""

from __future__ import annotations

from conftest import ROOT
from streamlit.testing.v1 import AppTest

APP = str(ROOT / "streamlit_app.py")


AUTH = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "cookie-secret-" * 3,
        "client_id": "app",
        "client_secret": "client-secret",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
    }
}


def person(sub: str, email: str | None = None, **claims: object) -> dict:
    """The claims st.user holds after a real sign-in (AppTest.user)."""
    return {
        "is_logged_in": True,
        "iss": "http://127.0.0.1:9",
        "sub": sub,
        "email": email or f"{sub}@example.com",
        "email_verified": True,
        **claims,
    }


def open_app(user: dict | None = None, secrets: dict | None = None, **query: str) -> AppTest:
    """The app as a visitor opens it: `user`, the claims of a signed-in person (with the sign-in configured:
    `AUTH` in the secrets), or anonymous."""
    at = AppTest.from_file(APP, default_timeout=90)
    if user is not None or secrets is not None:
        at.secrets.update(AUTH if secrets is None else secrets)
    if user is not None:
        at.user = user
    for key, value in query.items():
        if value is not None:
            at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def send(at: AppTest, text: str) -> AppTest:
    at.chat_input[0].set_value(text).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_models_page(monkeypatch, tracking_uri: str, experiment: str) -> AppTest:
    """The Models page as the app opens it on this store, with the demo provider."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment)
    monkeypatch.delenv("APP_PROVIDER", raising=False)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def turn_links(at: AppTest) -> list[tuple[str, str, str]]:
    """The links under the turns (ui.transcript.turn_links), in order: (label, target page, query string); st.page_link
    switches page in the same tab (its proto has no new-tab flag to set: `external` is for other sites)."""
    return [(p.proto.label, p.proto.page, p.proto.query_string) for p in at.page_link if not p.proto.external]


def follow(at: AppTest, page: str, query: str = "") -> AppTest:
    """What a click on a page link does in the browser: the same session switches to `page` (its url path, as in
    `turn_links`; "" for the chat) with the link's query string as the address's parameters."""
    at.switch_page(f"pages/{page or 'chat'}.py")
    for key in list(at.query_params):
        del at.query_params[key]
    at.query_params.update(dict(part.split("=", 1) for part in query.split("&") if part))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
