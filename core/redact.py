"""Secrets out of text, in one place: `scrub` takes every key, token and password it can recognise out of a text
before the text is shown, traced, stored or logged (docs/ARCHITECTURE.md, "Secrets in texts").

What it recognises: the exact value of every key this process was given (`remember`: each `core.config.Secret`
remembers itself, so the owner's key and a key a visitor typed are found even without a known prefix), API keys
by their well-known prefixes (`sk-…`, `sk-proj-…`, `ghp_…`, `hf_…`, `AIza…`, `AKIA…`, `xox?-…`), bearer tokens,
the value of an `Authorization:` header, `key=` / `"password": "…"` style assignments, and the password in a
URL (`scheme://user:password@host`).

`LogScrubber` is the same for log records (message and traceback); `install_log_scrubber` puts it on the app's
loggers, autogen's, the HTTP clients' and every handler of the root logger. It is called where the app starts
(`ui.startup.page`); core never installs it behind anyone's back."""

from __future__ import annotations

import logging
import re
import threading
from typing import Any, Iterable

MASK = "***"
MIN_REMEMBERED = 8  # a shorter "secret" would be masked in unrelated words; it is still masked where it is named
_MAX_REMEMBERED = 100  # the keys given most recently (each page run gives the owner's key again, so it stays)

# (pattern, replacement): the one list of what a secret looks like in a text
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # the password in an address: postgresql://user:secret@host, https://user:token@gateway
    (re.compile(r"(?P<keep>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"<>]*:)[^\s/@'\"<>]+(?=@)"), r"\g<keep>" + MASK),
    # an Authorization header's value, whatever its scheme ("Authorization: Bearer …", "authorization': 'Basic …")
    (
        re.compile(
            r"(?P<keep>\bauthorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token|digest)\s+)?)"
            r"[^\s\"',;}]+",
            re.IGNORECASE,
        ),
        r"\g<keep>" + MASK,
    ),
    # a bearer token anywhere
    (re.compile(r"(?P<keep>\bbearer\s+)[A-Za-z0-9._~+/\-]{12,}=*", re.IGNORECASE), r"\g<keep>" + MASK),
    # key=value and "key": "value" for names that hold secrets (query strings, JSON bodies, error texts)
    (
        re.compile(
            r"(?P<keep>\b(?:api[_-]?key|x-api-key|access[_-]?token|refresh[_-]?token|client[_-]?secret|secret|"
            r"password|passwd)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;}]{4,}",
            re.IGNORECASE,
        ),
        r"\g<keep>" + MASK,
    ),
    # a JSON Web Token (three base64url parts, the first an encoded '{"')
    (re.compile(r"(?<![A-Za-z0-9+/_\-])eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"), MASK),
    # API keys by their prefixes: OpenAI and Anthropic (sk-…, sk-proj-…), GitHub, Hugging Face, Slack (their '-' or '_'
    # is never in standard base64; inside url-safe base64 the look-behind refuses them)
    (
        re.compile(
            r"(?<![A-Za-z0-9_\-])(?:sk-[A-Za-z0-9_\-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|"
            r"hf_[A-Za-z0-9]{20,}|xox[abposr]-[A-Za-z0-9\-]{10,})"
        ),
        MASK,
    ),
    # Google and AWS keys, never inside a longer run of base64 (a picture in the agents' saved state stays whole)
    (re.compile(r"(?<![A-Za-z0-9+/_\-])(?:AIza[A-Za-z0-9_\-]{35}|AKIA[A-Z0-9]{16})(?![A-Za-z0-9+/_\-])"), MASK),
)

_remembered: dict[str, None] = {}  # insertion-ordered: the oldest goes first when full
_longest_first: tuple[str, ...] = ()  # the same, longest first (a key that contains another is masked whole)
_lock = threading.Lock()


def remember(secret: str) -> None:
    """From now on `scrub` masks this value wherever it appears (values shorter than MIN_REMEMBERED are not
    remembered: masking them would garble ordinary words)."""
    value = str.__str__(secret) if isinstance(secret, str) else ""
    if len(value) < MIN_REMEMBERED:
        return
    global _longest_first
    with _lock:
        known = value in _remembered
        _remembered.pop(value, None)
        _remembered[value] = None
        while len(_remembered) > _MAX_REMEMBERED:
            del _remembered[next(iter(_remembered))]
            known = False
        if not known:
            _longest_first = tuple(sorted(_remembered, key=len, reverse=True))


def _known(extra: Iterable[str]) -> tuple[str, ...]:
    given = [str.__str__(s) for s in extra if s]
    if not given:
        return _longest_first
    return tuple(sorted(set(given).union(_longest_first), key=len, reverse=True))


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret it holds replaced by ***: the values in `secrets` and every remembered one,
    then whatever looks like a key, a token or a password (the module's patterns)."""
    if not text:
        return text
    text = str(text)
    for value in _known(secrets):
        if value in text:
            text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub_value(value: Any, secrets: Iterable[str] = ()) -> Any:
    """Every string in a JSON-like value scrubbed (dicts, lists and tuples walked); the same object back when
    nothing in it changed."""
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        cleaned = {k: scrub_value(v, secrets) for k, v in value.items()}
        return value if all(cleaned[k] is value[k] for k in value) else cleaned
    if isinstance(value, (list, tuple)):
        items = [scrub_value(v, secrets) for v in value]
        return value if all(a is b for a, b in zip(items, value)) else type(value)(items)
    return value


class LogScrubber(logging.Filter):
    """Takes secrets out of a log record before any handler writes it: its message (arguments merged in), its
    traceback (formatted here, once, as logging's own Formatter does) and its stack. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a record whose arguments do not fit its message: logging reports that
            return True
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


# the app's own loggers, autogen's, the HTTP clients', MLflow's and Streamlit's ("" is the root logger)
LOGGERS = (
    "",
    "core",
    "ui",
    "pages",
    "__main__",
    "autogen_core",
    "autogen_core.events",
    "autogen_core.trace",
    "autogen_agentchat",
    "autogen_agentchat.events",
    "autogen_ext",
    "openai",
    "httpx",
    "httpcore",
    "mlflow",
    "streamlit",
)
_scrubber = LogScrubber()


def install_log_scrubber() -> None:
    """`LogScrubber` on each of LOGGERS (for the records they log themselves) and on every handler they and
    the root logger have, and on logging's last-resort handler (used when none is configured), so a child
    logger's record (`core.turn.runner`, `autogen_core.events`) is scrubbed too. Adding it again is a no-op;
    calling this again reaches handlers added since (a test's log capture)."""
    loggers = [logging.getLogger(name) for name in LOGGERS]
    handlers = [h for logger in loggers for h in logger.handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for target in (*loggers, *handlers):
        if _scrubber not in target.filters:
            target.addFilter(_scrubber)
