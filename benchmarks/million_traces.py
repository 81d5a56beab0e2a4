"""Issue 35's million-trace run, end to end, on one machine: the stores filled, MLflow's rollups built, two servers,
the Traces page measured side by side.

    PYTHONPATH=. python benchmarks/million_traces.py [--workdir /tmp/million] [--sizes 10000,100000,1000000] [--rounds 3] [--fill-only]

1. A PostgreSQL server of its own (tests/postgres.py: Debian's binaries, loopback, fsync off as in the suite), with
   PostgreSQL's bulk-load advice (BULK_LOAD).
2. The filler's scale (target: 1,000,000 traces in <= 10x its 100,000 time): the project's filler
   (`benchmarks/support/synthetic.py`, COPY) writes 100,000 traces into a fresh database, timed, then the largest
   size into another fresh database, timed, then 100,000 into a fresh one again: the ratio is against the two
   100,000 runs' mean, since this machine's pace drifts by several percent over the half hour between them (measured:
   105 s per 50,000 traces in one run, 98 s in another, each steady within a run). The second database then gets
   the other sizes too (one experiment per size, `bench<size>`, 30 days each).
3. A copy of that database before any rollup (`CREATE DATABASE ... TEMPLATE`), for a server without rollups.
4. MLflow's first rollup build on the original: one pass of the job its scheduler runs (`run_sql_trace_rollup_scheduler`).
5. Two `mlflow server`s (`--workers 1`, job execution off, as tests/mlflow_server.py), one with
   `MLFLOW_SQL_TRACE_ROLLUPS_ENABLED=true` on the built database, one without on the copy.
6. `benchmarks/traces_at_scale.py`: every size with rollups, the two largest without, the largest with rollups but no
   database address; ratios against the 100,000-trace store with rollups (issue 35's targets).
The whole run at the default sizes takes about 45 minutes and 45 GB of disk on a 2-core machine."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

from tests.mlflow_server import MlflowServer
from tests.postgres import Postgres

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")  # prices from the catalog MLflow ships: no network

DAYS = 30
# PostgreSQL's own advice for populating a database (docs: "Populating a Database", 14.4.6): a larger max_wal_size,
# so a bulk load does not checkpoint every few seconds (its default, 1 GB, made one every ~20 s here, each logged as
# "occurring too frequently"), and shared buffers at the usual start of 25% of RAM (docs: "Resource Consumption"):
# 6 GB of this machine's 24 holds the trace tables' indexes at a million traces (~6 GB), which every trace's rows
# update at random places (its trace id is random), where 2 GB held a third of them
BULK_LOAD = {"max_wal_size": "8GB", "shared_buffers": "6GB", "checkpoint_timeout": "30min"}


def database(pg: Postgres, name: str, template: str = "") -> str:
    """A database owned by the `mlflow` role (a copy of `template` when given), and its URI."""
    # a copy of the million-trace database (20 GB) takes minutes: psql's default two are not enough
    pg.psql(f"CREATE DATABASE {name} OWNER {pg.USER}" + (f" TEMPLATE {template}" if template else ""), timeout_s=3600)
    return pg.uri().rsplit("/", 1)[0] + "/" + name


def timed_fill(uri: str, experiment: str, n: int) -> float:
    """The filler's own report of its time (templates, cloning and COPY), in a fresh process as a user runs it."""
    code = (
        "import sys; from benchmarks.support.synthetic import fill; "
        f"print(fill(sys.argv[1], sys.argv[2], int(sys.argv[3]), days={DAYS}).seconds)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, uri, experiment, str(n)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
        text=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def fill_alone(pg: Postgres, n: int) -> float:
    """The filler's time for n traces into a fresh database of their own (dropped after)."""
    seconds = timed_fill(database(pg, "fill_base"), "bench", n)
    pg.psql("DROP DATABASE fill_base")
    return seconds


def build_rollups(uri: str) -> float:
    """One pass of MLflow's rollup job on the database, as its scheduler runs it (the variable is read per call)."""
    from mlflow.tracing.client import TracingClient  # noqa: PLC0415 - once the store exists
    from mlflow.tracing.trace_rollup_service import run_sql_trace_rollup_scheduler  # noqa: PLC0415 - once the store exists

    started = time.perf_counter()
    with mock.patch.dict(os.environ, {"MLFLOW_SQL_TRACE_ROLLUPS_ENABLED": "true"}):
        run_sql_trace_rollup_scheduler(TracingClient(uri).store)
    return time.perf_counter() - started


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k" if n >= 1000 else str(n)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", default="/tmp/million")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fill-base", type=int, default=100_000, help="the filler's reference size")
    parser.add_argument("--fill-only", action="store_true", help="the filler's scale only")
    parser.add_argument("--keep", action="store_true", help="leave the database and servers up, and write rerun.sh to measure again")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    largest = sizes[-1]
    pg = Postgres(Path(args.workdir), BULK_LOAD)
    try:
        pg.start()
        before = fill_alone(pg, args.fill_base)
        on = database(pg, "traces")
        big = timed_fill(on, f"bench{label(largest)}", largest)
        after = fill_alone(pg, args.fill_base)
        small = (before + after) / 2
        print(
            f"filler: {args.fill_base:,} traces {before:.1f} s before and {after:.1f} s after, {largest:,} traces {big:.1f} s: "
            f"{big / small:.2f}x their mean (target <= 10x, 100k to 1M)"
        )
        sys.stdout.flush()
        if args.fill_only:
            return
        for n in sizes[:-1]:
            print(f"filled {n:,} traces in {timed_fill(on, f'bench{label(n)}', n):.1f} s", flush=True)
        off = database(pg, "traces_off", template="traces")
        print(f"MLflow's first rollup build, every size: {build_rollups(on):.1f} s", flush=True)
        workdir = Path(args.workdir)
        server_on = MlflowServer(workdir / "server-on", backend=on, env={"MLFLOW_SQL_TRACE_ROLLUPS_ENABLED": "true"}).start()
        server_off = MlflowServer(workdir / "server-off", backend=off).start()
        try:
            stores = [(server_on.uri, n, on, f"rollups on, {label(n)}, database given") for n in sizes]
            stores += [(server_off.uri, n, off, f"rollups off, {label(n)}, database given") for n in sizes[-2:]]
            stores.append((server_on.uri, largest, "-", f"rollups on, {label(largest)}, no database address"))
            command = [sys.executable, str(ROOT / "benchmarks" / "traces_at_scale.py"), "--rounds", str(args.rounds)]
            command += ["--reference", str(sizes.index(100_000) if 100_000 in sizes else 0)]
            for uri, n, db, name in stores:
                command += ["--store", uri, "--experiment", f"bench{label(n)}", "--database", db, "--label", name]
            if args.keep:
                (workdir / "rerun.sh").write_text(f"cd {ROOT} && PYTHONPATH={ROOT} " + " ".join(f"'{c}'" for c in command) + "\n")
            subprocess.run(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
        finally:
            if not args.keep:
                server_on.stop()
                server_off.stop()
    finally:
        if not args.keep:
            pg.stop()


if __name__ == "__main__":
    main()
