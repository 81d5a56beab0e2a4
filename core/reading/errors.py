"""Why a read failed, in a sentence for the user: every reader and aggregate raises `TraceReadError`."""

from __future__ import annotations

from ..store import check_store


class TraceReadError(RuntimeError):
    """Reading traces failed; the message is for the user."""


def unreadable(exc: Exception, what: str = "read") -> TraceReadError:
    return TraceReadError(f"The MLflow store could not be {what} ({type(exc).__name__}: {str(exc)[:200]}).")


def fail_fast_if_unreachable(tracking_uri: str) -> None:
    """MLflow's HTTP client retries an unreachable server for minutes; a page should say so in seconds."""
    if tracking_uri.startswith(("http://", "https://")) and (problem := check_store(tracking_uri)):
        raise TraceReadError(problem)
