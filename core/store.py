"""The tracking store as the app meets it: is it there (quickly, on page load), its address without a
password, error texts without a password, sqlite's journal mode, and `prepare` (called once, explicitly, by
whoever opens a store for turns: the pages, scripts, tests) which points MLflow's tracing at it."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import urllib.parse
import urllib.request
from pathlib import Path

from mlflow.tracking import MlflowClient

from . import redact
from .observe import export

# MLflow's process-wide settings (tracking URI, active experiment and run) that logging a model, its GenAI datasets
# and `mlflow.genai.evaluate` read: set and used under this lock (reentrant: an evaluation loads models under it)
fluent_lock = threading.RLock()


def prepare(tracking_uri: str) -> None:
    """Before turns are traced into this store: MLflow's tracing export pointed at it and tuned
    (`core.observe.export.configure`), and a sqlite file switched to write-ahead logging."""
    export.configure(tracking_uri)
    use_wal(tracking_uri)


def is_not_found(exc: BaseException) -> bool:
    """An MLflow "no such run / trace" answer, as opposed to a store that failed."""
    return "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or "not found" in str(exc).lower()


# what databases (through SQLAlchemy, or an MLflow server relaying them) and MLflow say when they refuse a *value*:
# the store is up, this one thing cannot be kept
_REFUSALS = (
    "DataError",
    "IntegrityError",
    "INVALID_PARAMETER_VALUE",
    "cannot contain NUL",
    "value too long",
    "exceeds the maximum length",
    "invalid byte sequence",
)


def refusal(exc: BaseException, tracking_uri: str = "") -> str | None:
    """Why the store refused what it was given, in its own words (password removed), when it answered and said
    no; None when it did not answer (unreachable, timed out), which is a different sentence for the user."""
    text = f"{type(exc).__name__}: {exc} {getattr(exc, 'error_code', '')}"
    cause = exc.__cause__ or exc.__context__
    if cause is not None:
        text += f" {type(cause).__name__}: {cause}"
    if not any(marker in text for marker in _REFUSALS):
        return None
    lines = [line.strip() for source in (cause, exc) if source is not None for line in str(source).splitlines()]
    # SQLAlchemy wraps the database's words in its own notes (the statement, the autoflush, a docs link)
    words = next(
        (
            line
            for line in lines
            if line and not line.startswith(("(raised as a result", "[SQL", "[parameters", "(Background on this error"))
        ),
        type(exc).__name__,
    )
    return scrub(words, tracking_uri)[:200]


def check_store(tracking_uri: str, timeout_s: float = 2.0) -> str | None:
    """None when the store answers; otherwise why not, in a sentence. Quick by design: it runs on page load."""
    try:
        if tracking_uri.startswith(("http://", "https://")):
            with urllib.request.urlopen(tracking_uri.rstrip("/") + "/health", timeout=timeout_s) as response:
                if response.status != 200:
                    return f"The MLflow server at {display_uri(tracking_uri)} answered HTTP {response.status}."
            return None
        MlflowClient(tracking_uri).search_experiments(max_results=1)
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable", said plainly
        return (
            f"The MLflow store {display_uri(tracking_uri)} cannot be reached ({type(exc).__name__}: {scrub(str(exc), tracking_uri)[:200]})."
        )


def scrub(text: str, tracking_uri: str) -> str:
    """An error text without the store's password (MLflow's errors quote the address whole), nor any other
    secret `core.redact.scrub` knows."""
    password = urllib.parse.urlsplit(tracking_uri).password
    return redact.scrub(text, (password,) if password else ())


def use_wal(tracking_uri: str) -> None:
    """Switch a sqlite store to write-ahead logging (a setting the file keeps): readers (the Traces page,
    other sessions) do not block the trace writer, and each commit syncs once instead of three times."""
    if not tracking_uri.startswith("sqlite:///"):
        return
    path = tracking_uri[len("sqlite:///") :]
    if not Path(path).parent.exists():
        return
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        db.execute("PRAGMA journal_mode=WAL")


def display_uri(uri: str) -> str:
    """A URI without any password in it."""
    parsed = urllib.parse.urlsplit(uri)
    if parsed.password:
        netloc = f"{parsed.username}:***@{parsed.hostname}" + (f":{parsed.port}" if parsed.port else "")
        return urllib.parse.urlunsplit(parsed._replace(netloc=netloc))
    return uri
