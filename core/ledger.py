"""The owner's spend, kept where every app instance reads and writes it: one SQL table of reservations
(SQLAlchemy, which MLflow installs), in the tracking database itself when the store is a database
(`sqlite:///…`, `postgresql://…`), or in the database `APP_LEDGER_URI` names (needed when the store is a remote
`mlflow server`, whose database the app does not reach). Nothing lives in process memory, so a restart or a
second instance forgets nothing.

- `reserve`: before a turn sends anything, its worst case (the scenario's bound) is written as a reservation,
  in one transaction that first locks the day's row (`SELECT … FOR UPDATE`; on sqlite `BEGIN IMMEDIATE` takes
  the database's write lock), then sums what the day and the identity have spent and reserved, and inserts
  only if both caps still hold. Two instances cannot both take the last cent: the second waits for the first
  and sees its row.
- `settle`: when the turn ends, its reservation becomes what it really cost (every paid item: model calls,
  pictures, picture prompts).
- A reservation that is never settled (its process died mid-turn) counts at its bound. After `ttl_s`
  (`APP_LEDGER_TTL_S`, one hour by default, longer than any turn runs) it is marked expired and keeps counting
  at its bound for its day, for good: its process may have spent up to that before it died, and a settlement
  arriving after that changes nothing.

Amounts are whole nano-dollars (sums are exact; a bound rounds up, a cap down). The identity is an opaque
string (the visitor today, a signed-in identity later). MLflow's own tables are never created or touched: ours
are `app_spend_reservations` and `app_spend_days` (one row per UTC day, the row a reservation locks)."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import socket
import threading
import urllib.parse
import uuid
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from .store import scrub

log = logging.getLogger(__name__)

NANO = 1_000_000_000  # nano-dollars in a dollar
DEFAULT_TTL_S = 3600.0
DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")  # the databases MLflow's own store runs on
MEMORY = "sqlite://"  # a ledger private to this process (tests, scripts): not shared, gone with the process

metadata = sa.MetaData()
reservations = sa.Table(
    "app_spend_reservations",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("day", sa.String(10), nullable=False),  # the UTC day it counts for, 2026-11-30
    sa.Column("identity", sa.String(255), nullable=False),
    sa.Column("reserved_nusd", sa.BigInteger, nullable=False),  # the bound
    sa.Column("actual_nusd", sa.BigInteger, nullable=True),  # what it cost, once settled
    sa.Column("state", sa.String(10), nullable=False),  # reserved, settled, expired
    sa.Column("created_at", sa.Float, nullable=False),  # seconds since the epoch
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("settled_at", sa.Float, nullable=True),
    sa.Column("instance", sa.String(128), nullable=False),  # host:pid of the app process that reserved it
    sa.Index("app_spend_reservations_day_identity", "day", "identity"),
)
days = sa.Table("app_spend_days", metadata, sa.Column("day", sa.String(10), primary_key=True))

# what a reservation counts for: its real cost once settled, its bound until then (and for good once expired)
_CHARGED = sa.case((reservations.c.state == "settled", reservations.c.actual_nusd), else_=reservations.c.reserved_nusd)


def database_for(tracking_uri: str, ledger_uri: str = "") -> str | None:
    """Where the ledger lives: `ledger_uri` when set, else the tracking store when it is a database; None when
    there is none (a remote `mlflow server`, a folder of files)."""
    if ledger_uri.strip():
        return ledger_uri.strip()
    return tracking_uri if is_database(tracking_uri) else None


def is_database(uri: str) -> bool:
    return urllib.parse.urlsplit(uri).scheme.split("+")[0] in DATABASE_SCHEMES


def nano_up(usd: float) -> int:
    return max(0, math.ceil(round(float(usd) * NANO, 3)))


def nano_down(usd: float) -> int:
    return max(0, math.floor(round(float(usd) * NANO, 3)))


def identity_key(identity: str) -> str:
    """The identity as stored: itself, or its SHA-256 when it is longer than the column."""
    return identity if len(identity) <= 255 else "sha256:" + hashlib.sha256(identity.encode("utf-8")).hexdigest()


class OverCap(Exception):
    """The reservation would pass a cap: which one, and what is left of it (USD)."""

    def __init__(self, cap: Literal["identity", "day"], left_usd: float):
        super().__init__(f"over the {cap} cap, {left_usd:.9f} USD left")
        self.cap, self.left_usd = cap, max(0.0, left_usd)


class LedgerUnavailable(Exception):
    """The ledger's database did not answer (or refused); the message has no password in it."""


def _engine(database: str) -> Engine:
    url = sa.make_url(database)
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    memory = url.database in (None, "", ":memory:")
    options: dict[str, Any] = {"connect_args": {"timeout": 30, "check_same_thread": False}}
    if memory:
        options["poolclass"] = StaticPool  # one connection, so every use sees the same in-memory database
    engine = sa.create_engine(url, **options)

    # SQLAlchemy's recipe for sqlite transactions that mean it: the driver starts none of its own, and each of
    # ours begins IMMEDIATE, holding the database's write lock from its first statement (two processes' sums
    # and inserts cannot interleave)
    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class SpendBook:
    """The ledger's table in one database. Thread-safe; any number of processes may share the database."""

    def __init__(self, database: str = MEMORY, ttl_s: float = DEFAULT_TTL_S):
        self.database = database
        self.ttl_s = float(ttl_s)
        self.instance = f"{socket.gethostname()}:{os.getpid()}"[:128]
        self._engine: Engine | None = None
        self._lock = threading.RLock()  # one transaction at a time from this process (the database orders processes)
        self._days: set[str] = set()

    def _ready(self) -> Engine:
        if self._engine is None:
            engine = _engine(self.database)
            try:
                metadata.create_all(engine, checkfirst=True)
            except sa.exc.SQLAlchemyError:  # another instance created them at the same moment: they are there now
                metadata.create_all(engine, checkfirst=True)
            self._engine = engine
        return self._engine

    def _failed(self, exc: Exception) -> LedgerUnavailable:
        return LedgerUnavailable(f"{type(exc).__name__}: {scrub(str(exc), self.database)[:300]}")

    def _day_row(self, engine: Engine, day: str) -> None:
        """The row a reservation of this day locks; inserted once by whoever comes first."""
        if day in self._days:
            return
        try:
            with engine.begin() as db:
                if db.scalar(sa.select(days.c.day).where(days.c.day == day)) is None:
                    db.execute(days.insert().values(day=day))
        except sa.exc.IntegrityError:
            pass  # another instance inserted it between our look and our insert
        self._days.add(day)

    def reserve(self, identity: str, day: str, amount_usd: float, *, identity_cap_usd: float, day_cap_usd: float, now: float) -> str:
        """Reserve `amount_usd` for `identity` on `day` if it fits under both caps (counting every other
        reservation of that day, settled, running or expired), and return its id; OverCap says which cap it
        would pass. LedgerUnavailable when the database does not answer."""
        amount, key = nano_up(amount_usd), identity_key(identity)
        with self._lock:
            try:
                engine = self._ready()
                self._day_row(engine, day)
                with engine.begin() as db:
                    db.execute(sa.select(days.c.day).where(days.c.day == day).with_for_update())  # waits for the others
                    db.execute(
                        reservations.update()
                        .where(reservations.c.state == "reserved", reservations.c.expires_at < now)
                        .values(state="expired")
                    )
                    spent = sa.select(sa.func.coalesce(sa.func.sum(_CHARGED), 0)).where(reservations.c.day == day)
                    day_total = int(db.scalar(spent) or 0)
                    identity_total = int(db.scalar(spent.where(reservations.c.identity == key)) or 0)
                    if identity_total + amount > nano_down(identity_cap_usd):
                        raise OverCap("identity", (nano_down(identity_cap_usd) - identity_total) / NANO)
                    if day_total + amount > nano_down(day_cap_usd):
                        raise OverCap("day", (nano_down(day_cap_usd) - day_total) / NANO)
                    reservation_id = uuid.uuid4().hex
                    db.execute(
                        reservations.insert().values(
                            id=reservation_id,
                            day=day,
                            identity=key,
                            reserved_nusd=amount,
                            actual_nusd=None,
                            state="reserved",
                            created_at=now,
                            expires_at=now + self.ttl_s,
                            settled_at=None,
                            instance=self.instance,
                        )
                    )
                    return reservation_id
            except sa.exc.SQLAlchemyError as exc:
                raise self._failed(exc) from None

    def settle(self, reservation_id: str, actual_usd: float | None, *, now: float) -> bool:
        """The reservation becomes what the turn cost (None: unknown, its bound stays). False when it was
        already settled or has expired (then its bound counts)."""
        with self._lock:
            try:
                with self._ready().begin() as db:
                    actual: Any = reservations.c.reserved_nusd if actual_usd is None else nano_up(actual_usd)
                    done = db.execute(
                        reservations.update()
                        .where(reservations.c.id == reservation_id, reservations.c.state == "reserved", reservations.c.expires_at >= now)
                        .values(state="settled", actual_nusd=actual, settled_at=now)
                    )
                    return bool(done.rowcount == 1)
            except sa.exc.SQLAlchemyError as exc:
                raise self._failed(exc) from None

    def spent(self, identity: str, day: str) -> tuple[float, float]:
        """(what `identity` has spent and reserved on `day`, what everyone has), in USD."""
        with self._lock:
            try:
                with self._ready().begin() as db:
                    spent = sa.select(sa.func.coalesce(sa.func.sum(_CHARGED), 0)).where(reservations.c.day == day)
                    mine = int(db.scalar(spent.where(reservations.c.identity == identity_key(identity))) or 0)
                    return mine / NANO, int(db.scalar(spent) or 0) / NANO
            except sa.exc.SQLAlchemyError as exc:
                raise self._failed(exc) from None

    def rows(self, day: str | None = None) -> list[dict[str, Any]]:
        """The reservations (of one day), oldest first: for an operator, and tests."""
        with self._lock:
            try:
                with self._ready().begin() as db:
                    query = sa.select(reservations).order_by(reservations.c.created_at)
                    if day is not None:
                        query = query.where(reservations.c.day == day)
                    return [dict(row._mapping) for row in db.execute(query)]
            except sa.exc.SQLAlchemyError as exc:
                raise self._failed(exc) from None

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
