"""Which reader reads a store: the SQL reader for database stores, MLflow's client for everything else."""

from __future__ import annotations

from typing import Protocol

from .api import ApiTraceReader
from .frames import Frames
from .sql import SqlTraceReader


class TraceReader(Protocol):
    def frames(self, start_ms: int | None = None, end_ms: int | None = None) -> Frames: ...

    def version(self) -> str | None: ...


DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql")


def reader_for(tracking_uri: str, experiment_id: str) -> TraceReader:
    """The SQL reader for database stores, MLflow's client for everything else (servers, Databricks)."""
    if tracking_uri.split(":", 1)[0].split("+", 1)[0] in DATABASE_SCHEMES:
        return SqlTraceReader(tracking_uri, experiment_id)
    return ApiTraceReader(tracking_uri, experiment_id)
