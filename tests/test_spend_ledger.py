"""The spend ledger (core.ledger, core.hosted.SpendGate) without Streamlit: a reservation before anything is sent,
its settlement after, expiry of a reservation whose process died, a restart that forgets nothing, and processes
racing for the last cent on sqlite and on a real PostgreSQL (tests/postgres.py). Where the ledger lives: the
tracking database, or APP_LEDGER_URI; against a remote `mlflow server` without it, turns on the owner's key are
refused with what to set."""

from __future__ import annotations

import collections
import logging
import subprocess
import sys
import uuid

import pytest
import sqlalchemy as sa
from conftest import ROOT

from core import hosted, ledger
from core.config import HostedLimits, Settings
from core.conversations import Conversation, ConversationStore
from core.errors import TurnRefused
from tests.net import free_port

DAY = "2026-11-30"
NOON = 1_795_000_000.0  # a moment of some day; tests pass their own clock
LIMITS = HostedLimits(session_cap_usd=0.05, daily_cap_usd=0.10, turns_per_minute=100, owner_key=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """A fresh ledger database of each kind: a sqlite file, or a new database on the module's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    pg = request.getfixturevalue("postgres")
    name = f"ledger_{uuid.uuid4().hex[:12]}"
    pg.psql(f"CREATE DATABASE {name} OWNER {pg.USER}")
    return pg.uri().rsplit("/", 1)[0] + f"/{name}"


def test_a_reservation_counts_its_bound_until_settled_then_what_it_cost(database):
    book = ledger.SpendBook(database)
    first = book.reserve("alice", DAY, 0.03, identity_cap_usd=0.05, day_cap_usd=0.10, now=NOON)
    assert book.spent("alice", DAY) == (0.03, 0.03), "the bound counts while the turn runs"
    assert book.settle(first, 0.0123, now=NOON + 5)
    assert book.spent("alice", DAY) == (0.0123, 0.0123)
    assert not book.settle(first, 0.0, now=NOON + 6), "settled once"
    with pytest.raises(ledger.OverCap) as over:
        book.reserve("alice", DAY, 0.04, identity_cap_usd=0.05, day_cap_usd=0.10, now=NOON + 7)
    assert over.value.cap == "identity" and over.value.left_usd == pytest.approx(0.0377)
    book.reserve("bob", DAY, 0.05, identity_cap_usd=0.05, day_cap_usd=0.10, now=NOON + 8)  # his own cap: all of it
    with pytest.raises(ledger.OverCap) as over:
        book.reserve("carol", DAY, 0.04, identity_cap_usd=0.05, day_cap_usd=0.10, now=NOON + 9)
    assert over.value.cap == "day" and over.value.left_usd == pytest.approx(0.0377)
    unknown = book.reserve("dave", DAY, 0.02, identity_cap_usd=0.05, day_cap_usd=0.10, now=NOON + 10)
    assert book.settle(unknown, None, now=NOON + 11) and book.spent("dave", DAY)[0] == 0.02, "unknown: the bound"
    assert [r["state"] for r in book.rows(DAY)] == ["settled", "reserved", "settled"]
    book.reserve("carol", "2026-12-01", 0.04, identity_cap_usd=0.05, day_cap_usd=0.10, now=NOON + 86_400)  # a new day
    book.close()


def test_an_unsettled_reservation_expires_at_its_bound_and_a_late_settlement_changes_nothing(database):
    """Its process died mid-turn: the bound counts until the reservation expires, and for good after (the
    process may have spent up to it before it died)."""
    book = ledger.SpendBook(database, ttl_s=600)
    orphan = book.reserve("alice", DAY, 0.03, identity_cap_usd=0.05, day_cap_usd=0.10, now=NOON)
    book.reserve("bob", DAY, 0.01, identity_cap_usd=0.05, day_cap_usd=0.10, now=NOON + 599)
    assert [r["state"] for r in book.rows(DAY)] == ["reserved", "reserved"], "not yet expired"
    book.reserve("bob", DAY, 0.01, identity_cap_usd=0.05, day_cap_usd=0.10, now=NOON + 601)  # sweeps it
    rows = book.rows(DAY)
    assert rows[0]["id"] == orphan and rows[0]["state"] == "expired" and rows[0]["actual_nusd"] is None
    assert not book.settle(orphan, 0.0, now=NOON + 700)
    assert book.spent("alice", DAY) == (0.03, 0.05)
    with pytest.raises(ledger.OverCap):
        book.reserve("alice", DAY, 0.025, identity_cap_usd=0.05, day_cap_usd=0.10, now=NOON + 800)


def test_a_restart_and_a_second_instance_forget_nothing(database):
    limits = HostedLimits(session_cap_usd=0.05, daily_cap_usd=0.06, turns_per_minute=100, owner_key=True)
    first = hosted.SpendGate(database)
    first.admit("alice", limits, 0.04, uses_owner_key=True, now=NOON).settle(0.035, now=NOON + 1)
    running = first.admit("bob", limits, 0.02, uses_owner_key=True, now=NOON + 2)  # its process dies
    first.book.close()
    restarted, other = hosted.SpendGate(database), hosted.SpendGate(database)
    assert restarted.spent("alice", now=NOON + 3) == pytest.approx((0.035, 0.055))
    with pytest.raises(TurnRefused, match=r"spent its \$0.06 budget for today"):
        other.admit("carol", limits, 0.01, uses_owner_key=True, now=NOON + 4)
    with pytest.raises(TurnRefused, match=r"\$0.0150 left of your \$0.05 cap"):
        restarted.admit("alice", limits, 0.02, uses_owner_key=True, now=NOON + 5)
    assert running.id in {r["id"] for r in other.book.rows()}


RACE = """
import os, pathlib, sys, time
from core import ledger
book = ledger.SpendBook(sys.argv[1])  # its tables are created in the race, by whoever comes first
folder, racers = pathlib.Path(sys.argv[2]), int(sys.argv[3])
print("ready", flush=True)


def together(name):  # wait for every racer, so each reservation below is raced for at the same moment
    (folder / f"{name}-{os.getpid()}").touch()
    while len(list(folder.glob(f"{name}-*"))) < racers:
        time.sleep(0.0005)


won = []
for i in range(30):
    together(i)
    try:
        book.reserve(f"visitor-{i}", "2026-11-30", 0.01, identity_cap_usd=0.02, day_cap_usd=0.50, now=time.time())
        won.append(i)
    except ledger.OverCap:
        pass
print(" ".join(map(str, won)), flush=True)
"""


def test_processes_racing_for_the_last_cent_never_pass_the_cap(database, tmp_path):
    """Four processes go through 30 visitors in step (all four try $0.01 for a visitor at the same moment): a
    visitor's cap ($0.02) is raced for 30 times, and the day's ($0.50) at the end. Exactly two reservations per visitor are taken until
    the day's cap is reached, and exactly 50 in all, whoever wins each race."""
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, database, str(tmp_path), "4"], cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    for racer in racers:
        assert racer.stdout.readline().strip() == "ready", racer.stderr.read()
    won: list[int] = []
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err
        won += [int(n) for n in out.split()]
    per_visitor = collections.Counter(won)
    assert max(per_visitor.values()) <= 2 and len(won) == 50, sorted(per_visitor.items())
    book = ledger.SpendBook(database)
    assert len(book.rows(DAY)) == 50 and book.spent("visitor-0", DAY) == (0.02, 0.50)


def test_where_the_ledger_lives():
    assert ledger.database_for("sqlite:///mlflow.db") == "sqlite:///mlflow.db"
    assert ledger.database_for("postgresql://u:p@db/mlflow") == "postgresql://u:p@db/mlflow"
    assert ledger.database_for("postgresql+psycopg2://u:p@db/mlflow") == "postgresql+psycopg2://u:p@db/mlflow"
    assert ledger.database_for("http://mlflow.internal:5000") is None
    assert ledger.database_for("./mlruns") is None
    assert ledger.database_for("http://mlflow.internal:5000", " postgresql://u:p@db/spend ") == "postgresql://u:p@db/spend"
    env = {
        "APP_HOSTED": "1",
        "APP_LEDGER_URI": "postgresql://u:secret@db/spend",
        "APP_LEDGER_TTL_S": "900",
        "MLFLOW_TRACKING_URI": "http://mlflow.internal:5000",
    }
    limits = Settings.from_env(env).hosted
    assert limits is not None and limits.ledger_uri == "postgresql://u:secret@db/spend" and limits.ledger_ttl_s == 900
    assert "secret" not in repr(limits)
    assert hosted.open_ledger(Settings.from_env(env)).book.database == "postgresql://u:secret@db/spend"


def test_against_a_tracking_server_without_a_ledger_the_owners_key_is_refused_with_what_to_set():
    settings = Settings.from_env(
        {"APP_HOSTED": "1", "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000", "APP_PROVIDER": "openai", "OPENAI_API_KEY": "sk-owner"}
    )
    spend = hosted.open_ledger(settings)
    conversation = Conversation(scenario="catify", session_id="v", provider="openai", options={"iterations": 1})
    with pytest.raises(TurnRefused, match="has not set APP_LEDGER_URI.*Nothing was run"):
        hosted.admit(hosted.Visit(spend, "v", uses_owner_key=True), settings, conversation, "a cat")
    assert hosted.admit(hosted.Visit(spend, "v", uses_owner_key=False), settings, conversation, "a cat").id is None, "own key"
    demo = settings.with_(provider="demo", api_key="")
    assert (
        hosted.admit(
            hosted.Visit(spend, "v", uses_owner_key=False), demo, Conversation(scenario="catify", session_id="v", provider="demo"), "a cat"
        )
        is not None
    )
    with pytest.raises(TurnRefused, match="APP_LEDGER_URI"):
        spend.spent("v")


def test_a_ledger_that_does_not_answer_refuses_the_owners_key_and_names_no_password(caplog):
    spend = hosted.SpendGate(f"postgresql://mlflow:hunter2-secret@127.0.0.1:{free_port()}/mlflow")
    with caplog.at_level(logging.WARNING), pytest.raises(TurnRefused, match="cannot be reached right now") as refused:
        spend.admit("v", LIMITS, 0.01, uses_owner_key=True, now=NOON)
    assert "hunter2" not in str(refused.value) and "hunter2" not in caplog.text
    assert "cannot be reached" in caplog.text
    spend.admit("v", LIMITS, 0.01, uses_owner_key=False, now=NOON)  # a visitor's own key needs no ledger


def test_the_ledger_sits_beside_mlflows_tables_in_the_tracking_database(tmp_path):
    """Created first or second, MLflow's store and the ledger share the file; MLflow's tables stay its own."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    book = ledger.SpendBook(uri)
    book.reserve("v", DAY, 0.01, identity_cap_usd=1, day_cap_usd=1, now=NOON)
    store = ConversationStore.connect(uri, "ledger-beside")
    assert store.experiment_id
    tables = set(sa.inspect(sa.create_engine(uri)).get_table_names())
    assert {"app_spend_reservations", "app_spend_days", "experiments", "trace_info"} <= tables
    assert ledger.SpendBook(uri).spent("v", DAY) == (0.01, 0.01)
