"""Settings for one session: provider, models, store. Built from the environment and a secrets
mapping the page passes in, so core never reads Streamlit and a script can build the same thing."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from . import redact
from .errors import ConfigError

PROVIDERS = ("demo", "openai", "openai-compatible")
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "autogen-mlflow-dashboard"
MAX_MESSAGE_CHARS = 20_000

IMAGE_SIZES = {
    "gpt-image-1": ("1024x1024", "1024x1536", "1536x1024"),
    "gpt-image-1-mini": ("1024x1024", "1024x1536", "1536x1024"),
    "dall-e-3": ("1024x1024", "1024x1792", "1792x1024"),
    "demo-image": ("512x512",),
}
IMAGE_QUALITIES = {
    "gpt-image-1": ("low", "medium", "high"),
    "gpt-image-1-mini": ("low", "medium", "high"),
    "dall-e-3": ("standard", "hd"),
    "demo-image": ("standard",),
}


class Secret(str):
    """A string that never shows itself in repr, logs or tracebacks of dataclasses, and that `core.redact.scrub`
    masks wherever its value turns up in a text (a provider's error quoting the key, a log line)."""

    def __new__(cls, value: object = "") -> "Secret":
        secret = super().__new__(cls, value)
        redact.remember(secret)
        return secret

    def __repr__(self) -> str:
        return "Secret('***')" if self else "Secret('')"


@dataclass(frozen=True)
class HostedLimits:
    """Hosted-demo mode: what one visitor may spend of the owner's key, and how fast they may go."""

    session_cap_usd: float = 0.05
    daily_cap_usd: float = 1.00
    turns_per_minute: int = 6
    # every anonymous visitor from one client address together (a script without cookies is one of them)
    turns_per_minute_per_address: int = 60
    max_message_chars: int = 2_000
    max_output_tokens: int = 400
    owner_key: bool = False  # the owner configured a key in the server's secrets
    # signed-in people (by verified email) who see every visitor's conversations and traces: core.identity
    admins: tuple[str, ...] = ()
    # a signed-in visitor with their own key may also name an OpenAI-compatible server (the app then fetches an
    # address a visitor chose: off unless the owner says so); else a typed key goes to OpenAI's own endpoint only
    visitor_base_urls: bool = False
    # team files (by file name, in the teams folder) a hosted demo offers: the owner's allow-list; none by default
    team_files: tuple[str, ...] = ()
    # the spend ledger's database (core.ledger); empty: the tracking database, when the store is one
    ledger_uri: Secret = field(default=Secret(""), repr=False)
    ledger_ttl_s: float = 3600.0  # an unsettled reservation (its process died) expires after this, at its bound


def _truthy(value: object) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def hosted_limits(env: Mapping[str, str], secrets: Mapping[str, object]) -> HostedLimits | None:
    """Hosted-demo mode is on when APP_HOSTED (environment or secrets) says so."""

    def get(name: str, default: str) -> str:
        return str(secrets.get(name, env.get(name, default)))

    if not _truthy(get("APP_HOSTED", "")):
        return None
    try:
        return HostedLimits(
            session_cap_usd=float(get("APP_SESSION_CAP_USD", "0.05")),
            daily_cap_usd=float(get("APP_DAILY_CAP_USD", "1.00")),
            turns_per_minute=int(get("APP_TURNS_PER_MINUTE", "6")),
            turns_per_minute_per_address=int(get("APP_TURNS_PER_MINUTE_PER_ADDRESS", "60")),
            max_message_chars=int(get("APP_HOSTED_MAX_MESSAGE_CHARS", "2000")),
            max_output_tokens=int(get("APP_HOSTED_MAX_OUTPUT_TOKENS", "400")),
            owner_key=bool(get("OPENAI_API_KEY", "")),
            admins=tuple(a.strip() for a in get("APP_ADMINS", "").split(",") if a.strip()),
            visitor_base_urls=_truthy(get("APP_VISITOR_BASE_URLS", "")),
            team_files=tuple(n.strip() for n in get("APP_HOSTED_TEAMS", "").split(",") if n.strip()),
            ledger_uri=Secret(get("APP_LEDGER_URI", "").strip()),
            ledger_ttl_s=float(get("APP_LEDGER_TTL_S", "3600")),
        )
    except ValueError as exc:
        raise ConfigError(f"A hosted-demo limit is not a number: {exc}") from None


@dataclass(frozen=True)
class Settings:
    provider: str = "demo"
    api_key: Secret = field(default=Secret(""), repr=False)
    base_url: str = ""
    chat_model: str = "demo-chat"
    vision_model: str = "demo-vision"
    image_model: str = "demo-image"
    image_size: str = "512x512"
    image_quality: str = "standard"
    tracking_uri: str = DEFAULT_TRACKING_URI
    experiment_name: str = DEFAULT_EXPERIMENT
    mlflow_ui_url: str = ""
    request_timeout_s: float = 60.0
    max_retries: int = 2
    max_output_tokens: int | None = None  # a cap per model call; hosted mode sets one so a turn's cost has a bound
    hosted: "HostedLimits | None" = None  # hosted-demo mode (core/hosted.py enforces it)
    stream_tokens: bool = True  # agents' answers arrive token by token (agentchat's model_client_stream)
    billed_to_owner: bool = False  # hosted mode: this turn runs on the owner's key (its trace says so)
    # signs read-only share links (core.sharing): APP_SHARE_SECRET, else the sign-in's cookie_secret ([auth])
    share_secret: Secret = field(default=Secret(""), repr=False)
    # the tracking server's own database (APP_TRACKING_DATABASE_URI), read only for what MLflow's REST API does not
    # say: which days its daily rollups serve (core.reading.rollups); empty: the page says it cannot know
    tracking_database_uri: Secret = field(default=Secret(""), repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, Secret):  # Settings(api_key="sk-…") from a script or a test
            object.__setattr__(self, "api_key", Secret(self.api_key or ""))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, secrets: Mapping[str, object] | None = None) -> "Settings":
        """The environment, and secrets (e.g. st.secrets) for the key and the owner's models; everything has a
        default. `APP_CHAT_MODEL`, `APP_VISION_MODEL` and `APP_IMAGE_MODEL` are the models of the provider
        `APP_PROVIDER` names (the sidebar starts from them; another provider starts from its own defaults)."""
        env = os.environ if env is None else env
        secrets = secrets or {}

        def owner(name: str, default: str) -> str:  # the owner's setting: secrets, then the environment
            return str(secrets.get(name) or env.get(name) or default)

        provider = owner("APP_PROVIDER", "demo")
        key = str(secrets.get("OPENAI_API_KEY", "") or env.get("OPENAI_API_KEY", ""))
        base = cls.for_provider(provider)
        hosted = hosted_limits(env, secrets)
        if hosted is not None:
            base = replace(base, max_output_tokens=hosted.max_output_tokens)
        auth = secrets.get("auth")
        share_secret = str(
            secrets.get("APP_SHARE_SECRET", "")
            or env.get("APP_SHARE_SECRET", "")
            or (auth.get("cookie_secret", "") if isinstance(auth, Mapping) else "")
        )
        return replace(
            base,
            hosted=hosted,
            api_key=Secret(key),
            share_secret=Secret(share_secret),
            tracking_database_uri=Secret(
                str(secrets.get("APP_TRACKING_DATABASE_URI", "") or env.get("APP_TRACKING_DATABASE_URI", "")).strip()
            ),
            base_url=env.get("OPENAI_BASE_URL", base.base_url),
            chat_model=owner("APP_CHAT_MODEL", base.chat_model),
            vision_model=owner("APP_VISION_MODEL", base.vision_model),
            image_model=owner("APP_IMAGE_MODEL", base.image_model),
            tracking_uri=env.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI),
            experiment_name=env.get("MLFLOW_EXPERIMENT_NAME", DEFAULT_EXPERIMENT),
            mlflow_ui_url=env.get("APP_MLFLOW_UI_URL", ""),
            stream_tokens=env.get("APP_STREAM_TOKENS", "1").strip().lower() not in ("0", "false", "no", "off"),
        )

    @classmethod
    def for_provider(cls, provider: str) -> "Settings":
        """Sensible model defaults per provider, so switching the provider is one choice."""
        if provider == "demo":
            return cls()
        if provider == "openai":
            return cls(
                provider="openai",
                chat_model="gpt-4o-mini",
                vision_model="gpt-4o-mini",
                image_model="gpt-image-1",
                image_size="1024x1024",
                image_quality="low",
            )
        if provider == "openai-compatible":
            return cls(
                provider="openai-compatible",
                base_url="http://127.0.0.1:11434/v1",
                chat_model="llama3.2",
                vision_model="llava",
                image_model="",
                image_size="1024x1024",
                image_quality="standard",
            )
        raise ConfigError(f"Unknown provider {provider!r}: choose one of {', '.join(PROVIDERS)}.")

    def with_(self, **changes: Any) -> "Settings":
        if "api_key" in changes:
            changes["api_key"] = Secret(changes["api_key"] or "")
        return replace(self, **changes)

    def validate(self) -> None:
        """Fail before a turn starts, with words a user can act on."""
        if self.provider not in PROVIDERS:
            raise ConfigError(f"Unknown provider {self.provider!r}: choose one of {', '.join(PROVIDERS)}.")
        if self.provider == "openai" and not self.api_key:
            raise ConfigError(
                "The OpenAI provider needs an API key: set OPENAI_API_KEY, add it to "
                "secrets, or type it in the sidebar (kept in this browser session only)."
            )
        if self.provider == "openai-compatible" and not self.base_url.startswith(("http://", "https://")):
            raise ConfigError("The OpenAI-compatible provider needs a base URL such as http://127.0.0.1:11434/v1.")
        if not self.chat_model or not self.vision_model:
            raise ConfigError("Name a chat model and a vision model.")

    def public_dict(self) -> dict[str, str]:
        """What may be written to traces, artifacts and pages: everything but the key."""
        return {
            "provider": self.provider,
            "base_url": self.base_url,
            "chat_model": self.chat_model,
            "vision_model": self.vision_model,
            "image_model": self.image_model,
            "image_size": self.image_size,
            "image_quality": self.image_quality,
        }
