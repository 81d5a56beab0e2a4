"""The owner's settings win (issue 30): `APP_CHAT_MODEL`, `APP_VISION_MODEL` and `APP_IMAGE_MODEL` (environment or
secrets) are the sidebar's starting models for the provider `APP_PROVIDER` names, so the chat and the Models page
(which logs the sidebar's settings) use them; another provider starts from its own defaults. Before, the sidebar
always started from `Settings.for_provider`: an owner's `APP_CHAT_MODEL=gpt-4o-mini` on a gateway became llama3.2."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.config import Settings
from tests.conftest import ROOT

# (variable, the provider it is set for, the sidebar widget it starts, the value)
OWNER = [
    ("APP_CHAT_MODEL", "openai-compatible", "chat_model_openai-compatible", "gpt-4o-mini"),
    ("APP_VISION_MODEL", "openai-compatible", "vision_model_openai-compatible", "qwen2.5-vl"),
    ("APP_IMAGE_MODEL", "openai", "image_model", "dall-e-3"),
]


def widget(at: AppTest, key: str):
    return next(w for w in [*at.sidebar.text_input, *at.sidebar.selectbox] if w.key == key)


@pytest.fixture()
def owner_env(monkeypatch, tracking_uri, experiment_name):
    for name in ("APP_CHAT_MODEL", "APP_VISION_MODEL", "APP_IMAGE_MODEL", "APP_HOSTED", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-owner")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    return monkeypatch


@pytest.mark.parametrize("variable, provider, key, value", OWNER, ids=[o[0] for o in OWNER])
def test_the_owners_model_is_the_sidebars_start_and_what_the_models_page_logs(variable, provider, key, value, owner_env):
    owner_env.setenv("APP_PROVIDER", provider)
    owner_env.setenv(variable, value)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=90)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert widget(at, key).value == value, "the chat page's sidebar starts from the owner's model"
    at.switch_page("pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    logged = " ".join(c.value for c in at.caption if "Provider and models from the sidebar" in c.value)
    assert f"`{value}`" in logged, logged
    other = "openai" if provider == "openai-compatible" else "openai-compatible"
    at.sidebar.selectbox(key="provider").set_value(other).run()
    assert not at.exception, [e.value for e in at.exception]
    defaults = Settings.for_provider(other)
    field = variable.removeprefix("APP_").lower()
    other_key = {"chat_model": f"chat_model_{other}", "vision_model": f"vision_model_{other}"}.get(
        field, "image_model_c" if other == "openai-compatible" else "image_model"
    )
    assert widget(at, other_key).value == getattr(defaults, field), "another provider starts from its own defaults"


@pytest.mark.parametrize("variable, provider, key, value", OWNER, ids=[o[0] for o in OWNER])
def test_the_owners_model_in_secrets_counts_as_in_the_environment(variable, provider, key, value):
    settings = Settings.from_env({"APP_PROVIDER": provider}, {variable: value})
    assert getattr(settings, variable.removeprefix("APP_").lower()) == value
