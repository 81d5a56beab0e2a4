"""What MLflow's daily SQL trace rollups (MLflow 3.17) give the Traces page, day by day, and what the page says of
them (docs/DEPLOY.md, "A month of traces: MLflow's daily rollups").

MLflow builds a rollup per experiment and whole UTC day in the server's job runner (its scheduler,
`MLFLOW_TRACE_ROLLUPS_SCHEDULE`, 02:00 UTC by default) when the server runs with `MLFLOW_SQL_TRACE_ROLLUPS_ENABLED=true`,
and serves `query_trace_metrics` from it for unfiltered, bounded requests (aggregates.MetricsReader asks so); a day
is built once it is over 24 hours old, so today and yesterday are always read from every trace. Its REST API says
nothing of them: only with the database's address beside the server's can the app tell which days come from rollups
(`sql.rollup_days`). A server with rollups off refuses to start on a database that holds rollup rows, so rows there
mean the server serves them. A day is:

- `rollups`: built, and it counts what the day holds: MLflow serves it from a few rows;
- `queued`: someone wrote into it through MLflow since its build: MLflow reads it raw until its next build;
- `raw`: not rolled up yet (today, yesterday, a day with a running trace, no build yet);
- `stale`: built, but the day holds other traces than it counts: a writer outside MLflow's store (a bulk load, an
  app pointed at the database without the variable) changed it, and MLflow serves the rollup and never rebuilds it
  by itself. Never shown as fresh: the page names it and the fix (queue its rebuild, what MLflow's writers do)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pandas as pd

from .. import redact
from . import sql
from .errors import TraceReadError

ENABLE = "MLFLOW_SQL_TRACE_ROLLUPS_ENABLED=true mlflow server --backend-store-uri <database-url> …"
DATABASE_SETTING = "APP_TRACKING_DATABASE_URI"
STATES = ("rollups", "queued", "raw", "stale")
WHAT_THEY_GIVE = (
    "MLflow can keep daily rollups of these figures (MLflow 3.17, PostgreSQL or MySQL): whole UTC days summed once, "
    "so the overview's totals, days, statuses and costs by model read a few rows a day instead of every trace, and a "
    "month of a million traces opens about as fast as 100,000. Start the tracking server with `{enable}` (its job "
    "runner builds them nightly at 02:00 UTC; docs/DEPLOY.md has the first build)."
)


def queue_rebuild_sql(experiment_id: str, days: list[str]) -> str:
    """The fix for stale days: queue their rebuild, as MLflow's own writers do (one row per day and family). MLflow
    reads a queued day from every trace at once and rebuilds it on its next run."""
    values = ",\n  ".join(
        f"({int(experiment_id)}, DATE '{day}', '{family}')" for day in days for family in ("trace_metric", "span_cost", "assessment")
    )
    return (
        f"INSERT INTO sql_trace_rollup_rebuild_queue (experiment_id, rollup_day, rollup_family) VALUES\n  {values}\nON CONFLICT DO NOTHING;"
    )


@dataclass(frozen=True)
class Rollups:
    """What the page can say of one experiment's rollups. `known`: the database was read (else `problem` or nothing
    to say: no address); `built`: the database holds rollup rows; `served`: the page's figures come from them where
    a day is `rollups` or `stale` (a server on this database serves them; an app on the database itself only with
    the variable set in its own process); `days`: day (UTC date), traces, state."""

    experiment_id: str
    known: bool = False
    built: bool = False
    served: bool = False
    days: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["day", "traces", "state"]))
    problem: str | None = None

    def days_in(self, state: str) -> list[str]:
        return [str(d) for d in self.days.loc[self.days["state"] == state, "day"]]

    def note(self) -> str:
        """One paragraph for the page: which days came from rollups, which were read raw and why, a stale one named."""
        if not self.known:
            return (
                f"Whether this server keeps MLflow's daily rollups its REST API does not say. With `{DATABASE_SETTING}` "
                "set to the server's database address, the page says which days come from them and whether one is stale."
                + (f" ({self.problem})" if self.problem else "")
            )
        if not self.built:
            return "This store has no MLflow daily rollups: every figure is read from every trace. " + WHAT_THEY_GIVE.format(enable=ENABLE)
        if not self.served:
            return (
                "The database holds MLflow's daily rollups, but this app reads it directly without "
                "`MLFLOW_SQL_TRACE_ROLLUPS_ENABLED=true` in its own environment: every figure is read from every trace."
            )
        served, queued, raw = self.days_in("rollups"), self.days_in("queued"), self.days_in("raw")
        parts = [f"{len(served)} of {len(self.days)} days from MLflow's daily rollups" + (f" ({_span(served)})" if served else "")]
        if raw:
            parts.append(
                f"{len(raw)} read from every trace, not rolled up yet ({_span(raw)}: a UTC day is rolled up once it is 24 hours over)"
            )
        if queued:
            parts.append(f"{len(queued)} read from every trace until MLflow's next build (written into since: {_span(queued)})")
        return "; ".join(parts) + "."

    def stale_note(self) -> str | None:
        """Stale days, said as such (never as fresh), with what to run; None when there are none."""
        stale = self.days_in("stale")
        if not self.served or not stale:
            return None
        return (
            f"Stale rollups: {', '.join(stale)}. These days hold other traces than MLflow rolled up (something wrote "
            "into them outside MLflow's store after the build), and MLflow serves the old sums and will not rebuild "
            "them by itself: their figures here are not current. Queue their rebuild on the database (MLflow then reads "
            "them from every trace at once and rebuilds them on its next run):"
        )


def _span(days: list[str]) -> str:
    return days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}" if len(days) > 3 else ", ".join(days)


def states(counts: pd.DataFrame) -> pd.Series:
    """Each day's state from `sql.rollup_days`' counts (the module's docstring)."""
    rolled = counts["rolled_traces"] > 0
    differs = (counts["rolled_traces"] != counts["traces"]) | (counts["rolled_cost_spans"] != counts["cost_spans"])
    state = pd.Series("raw", index=counts.index)
    state[rolled & differs] = "stale"
    state[rolled & ~differs] = "rollups"
    state[rolled & (counts["queued"] > 0)] = "queued"  # a day never built may be queued too (by a writer): still raw
    return state


def database_of(tracking_uri: str, database_uri: str) -> str | None:
    """The database whose rollups serve this store: the store itself when it is a server database, else the one
    named beside a tracking server (`APP_TRACKING_DATABASE_URI`); None for sqlite (the page reads its rows) or when
    unknown."""
    if tracking_uri.startswith(("postgresql", "mysql", "mssql")):
        return tracking_uri
    if tracking_uri.startswith(("http://", "https://")) and database_uri:
        return database_uri
    return None


def read(tracking_uri: str, database_uri: str, experiment_id: str) -> Rollups:
    """The rollups of one experiment as the page says them; never raises (a database that cannot be read is said)."""
    database = database_of(tracking_uri, database_uri)
    if database is None:
        return Rollups(experiment_id)
    try:
        built, counts = sql.rollup_days(database, experiment_id)
    except TraceReadError as exc:
        return Rollups(experiment_id, problem=redact.scrub(str(exc)))
    served = built and (database != tracking_uri or os.environ.get("MLFLOW_SQL_TRACE_ROLLUPS_ENABLED", "").lower() == "true")
    days = pd.DataFrame(
        {
            "day": pd.to_datetime(counts["day"] * sql.DAY_S, unit="s", utc=True).dt.date,
            "traces": counts["traces"],
            "state": states(counts),
        }
    )
    return Rollups(experiment_id, known=True, built=built, served=served, days=days)
