"""The Traces page on large stores, local and behind a tracking server, measured side by side in one run.

    python benchmarks/traces_at_scale.py --store sqlite:////tmp/s100k/mlflow.db --store http://127.0.0.1:5000 \
        [--experiment bench] [--rounds 3]
    # issue 35: 10k and 100k (and 1M) through servers on PostgreSQL with MLflow's rollups on and off, the servers'
    # database beside them (APP_TRACKING_DATABASE_URI; "-" for none), one --experiment, --database and --label per store
    python benchmarks/traces_at_scale.py --reference 1 \
        --store http://127.0.0.1:5001 --experiment bench10k --database postgresql://…/on --label "10k rollups on" \
        --store http://127.0.0.1:5001 --experiment bench100k --database postgresql://…/on --label "100k rollups on" …

For each store (a database URI or a tracking server's address), the real page script through Streamlit's AppTest:
  first load - a cold cache (st.cache_data.clear()) after one warm-up run of the script (imports, engine);
  all in     - from the first load's start until everything it reads in the background is on the page: the latency
               percentiles (the one overview figure MLflow's rollups cannot serve across days) and the breakdown by
               scenario (the window's groups, with the database known);
  rerun      - the same page run again, nothing changed (what every click costs);
  filter     - the scenario filter set to catify (the at-scale filter, or the whole-read one under its limit), at
               once and after PAUSE_S on the page;
  open       - the page opened on one trace (`?trace=`, the list's link), cold;
and, side by side, the old way for every store size: `core.traces` reading every trace (`reader_for().frames()`),
the page's only read before issue 17. Peak memory (VmHWM) of a cold first load is measured once in a fresh process.
Targets (issue 17), through `mlflow server` on PostgreSQL and on local sqlite: 10,000 traces first load <= 2 s,
rerun <= 0.3 s; 100,000 traces first load <= 3 s and <= 1 GB; a filter change <= 0.5 s. Issue 35, as ratios printed
at the end against the `--reference` store (the 100k one): first load <= 1.5x its first load, rerun <= 0.2x the
first load, a filter at once <= its first load, peak RSS <= 1 GB, opening a trace as at the smallest store."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")  # prices from the catalog MLflow ships: no network
ROOT = Path(__file__).resolve().parents[1]
PAUSE_S = 5.0  # a person's pace: how long the page is read before a filter is chosen
PAGE = str(ROOT / "pages" / "traces.py")


def peak_mb() -> float:
    """VmHWM: this process's own peak RSS (ru_maxrss would carry the parent's across exec)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def _page(uri: str, experiment: str, database: str = ""):
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache  # noqa: PLC0415 - timed in fresh processes
    from streamlit.testing.v1 import AppTest, app_test, local_script_runner  # noqa: PLC0415 - timed in fresh processes

    # compiled once, as a real server does: AppTest makes a new ScriptCache for every run (streamlit/testing/v1/
    # app_test.py `_run`, local_script_runner.py `LocalScriptRunner`), so each of its runs compiles the page through
    # Streamlit's magic again (~70 ms for its 960 lines on this machine), where a server's Runtime keeps one for every
    # session and rerun (streamlit/runtime/runtime.py, `self._script_cache`): no user waits for it after the first page
    shared = ScriptCache()
    app_test.ScriptCache = local_script_runner.ScriptCache = lambda: shared  # type: ignore[attr-defined,misc]

    os.environ["MLFLOW_TRACKING_URI"], os.environ["MLFLOW_EXPERIMENT_NAME"] = uri, experiment
    os.environ["APP_TRACKING_DATABASE_URI"] = database
    return AppTest.from_file(PAGE, default_timeout=600)


def _run(at) -> float:
    started = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - started
    assert not at.exception, [e.value for e in at.exception]
    return seconds


def page_times(uri: str, experiment: str, pause_s: float = 0.0, database: str = "") -> dict[str, float | bool]:
    """One round: a cold first load, a rerun, a filter change. Which view it was (whole or at scale) too."""
    import streamlit as st  # noqa: PLC0415 - timed in fresh processes

    from ui import trace_data  # noqa: PLC0415 - timed in fresh processes

    trace_data.forget_prefetched()  # cold, and alone: the last round's reads asked ahead ended and forgotten
    st.cache_data.clear()
    at = _page(uri, experiment, database)
    started = time.perf_counter()
    first = _run(at)
    latency = _latency_shown(at, started)
    rerun = _run(at)
    at_scale = any("aggregated by the MLflow store itself" in i.value for i in at.info)
    time.sleep(pause_s)  # a person reading the page before choosing a filter (0: at once)
    if at_scale:
        at.selectbox(key="a_scenario").set_value("catify")
    else:
        at.multiselect(key="f_scenario").set_value(["catify"])
    filtered = _run(at)
    return {"first": first, "latency": latency, "rerun": rerun, "filter": filtered, "at_scale": at_scale}


PENDING = ("Latency percentiles (p50, p90, p99) are being read", "The breakdown by scenario is being read")


def _latency_shown(at, started: float) -> float:
    """Seconds from the first load's start until what it reads in the background is on the page (the percentiles,
    window.Ahead.latency; the breakdown by scenario, window.Ahead.groups_pending): the page looks for them every half
    second, so a poll at that pace."""
    while any(c.value.startswith(PENDING) for c in at.caption):
        time.sleep(0.05)
        _run(at)
    return time.perf_counter() - started


def open_time(uri: str, experiment: str, trace_id: str, database: str = "") -> float:
    """The page opened on one trace (the list's link, `?trace=`), cold."""
    import streamlit as st  # noqa: PLC0415 - timed in fresh processes

    st.cache_data.clear()
    at = _page(uri, experiment, database)
    at.query_params["trace"] = trace_id
    return _run(at)


def old_way(uri: str, experiment_id: str) -> float:
    from core import traces  # noqa: PLC0415 - timed in fresh processes

    started = time.perf_counter()
    frames = traces.reader_for(uri, experiment_id).frames()
    traces.totals(frames.traces)
    return time.perf_counter() - started


def child(uri: str, experiment: str, database: str) -> None:
    """A cold first load in this fresh process: its seconds and peak memory, as JSON."""
    import mlflow  # noqa: F401, PLC0415 - imports count in the baseline, not in the run
    import streamlit  # noqa: F401, PLC0415 - imports count in the baseline, not in the run

    base = peak_mb()
    seconds = _run(_page(uri, experiment, database))
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb(), "base_mb": base}))


def bench(uri: str, experiment: str, rounds: int, old_max: int, database: str = "") -> dict[str, float]:
    from mlflow import MlflowClient  # noqa: PLC0415 - the parent process only fills and times; children import their own

    from core.reading import aggregates  # noqa: PLC0415 - the parent process only fills and times; children import their own

    found = MlflowClient(uri).get_experiment_by_name(experiment)
    if found is None:
        sys.exit(f"No experiment {experiment!r} in {uri}.")
    n = aggregates.MetricsReader(uri, found.experiment_id).count()
    _run(_page(uri, experiment, database))  # warm-up: imports, engines, the catalog
    page = [page_times(uri, experiment, 0.0, database) for _ in range(rounds)]
    paced = [page_times(uri, experiment, PAUSE_S, database)["filter"] for _ in range(rounds)]
    newest = MlflowClient(uri).search_traces(locations=[found.experiment_id], max_results=1, include_spans=False)[0].info.trace_id
    opened = [open_time(uri, experiment, newest, database) for _ in range(rounds)]
    old = [old_way(uri, found.experiment_id) for _ in range(rounds)] if n <= old_max else []
    fresh = json.loads(
        subprocess.run(
            [sys.executable, __file__, "--child", "--store", uri, "--experiment", experiment, "--database", database or "-"],
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    med = {k: statistics.median(float(p[k]) for p in page) for k in ("first", "latency", "rerun", "filter")}
    view = "at scale (store aggregates)" if page[0]["at_scale"] else "whole (every trace read)"
    print(f"{uri} [{experiment}]: {n:,} traces, page view {view}")
    each = ", ".join(f"{float(p['first']):.3f}" for p in page)
    print(f"  first load  median {med['first']:.3f} s over {rounds} rounds ({each})")
    print(f"  all in      median {med['latency']:.3f} s from the first load's start (percentiles, breakdown: in the background)")
    print(f"  rerun       median {med['rerun']:.3f} s")
    print(
        f"  filter      median {med['filter']:.3f} s at once; {statistics.median(paced):.3f} s after {PAUSE_S:.0f} s "
        "on the page (behind a server, each scenario's overview is asked ahead meanwhile: aggregates.Prefetch)"
    )
    print(
        f"  fresh process: first load {fresh['seconds']:.3f} s, peak RSS {fresh['peak_mb']:,.0f} MB "
        f"({fresh['base_mb']:,.0f} MB after imports)"
    )
    print(f"  open trace  median {statistics.median(opened):.3f} s")
    if old:
        old_med = statistics.median(old)
        print(f"  old way (every trace read, core.traces) median {old_med:.3f} s: {old_med / med['first']:.1f}x the page's first load")
    else:
        print(f"  old way skipped: {n:,} traces > --old-max {old_max:,}")
    return {**med, "after": statistics.median(paced), "open": statistics.median(opened), "rss": fresh["peak_mb"], "traces": n}


def targets(runs: dict[str, dict[str, float]], reference: str) -> None:
    """Issue 35's targets as ratios of this one run: first load against the reference's (the 100k store), rerun
    against the first load, a filter at once against the reference's first load, peak RSS, opening a trace against
    the smallest store's."""
    ref = runs[reference]
    smallest = min(runs.values(), key=lambda r: r["traces"])
    print(f"\ntargets against {reference!r} (first load {ref['first']:.3f} s):")
    print(
        "| run | traces | first load | all in | rerun | filter at once | after 5 s | open a trace | peak RSS "
        "| first / ref (<= 1.5) | rerun / first (<= 0.2) | filter / ref first (<= 1) | open / smallest's |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, r in runs.items():
        print(
            f"| {label} | {r['traces']:,.0f} | {r['first']:.2f} s | {r['latency']:.2f} s | {r['rerun']:.2f} s "
            f"| {r['filter']:.2f} s | {r['after']:.2f} s "
            f"| {r['open']:.2f} s | {r['rss']:,.0f} MB | {r['first'] / ref['first']:.2f} | {r['rerun'] / r['first']:.2f} "
            f"| {r['filter'] / ref['first']:.2f} | {r['open'] / smallest['open']:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", action="append", required=True, help="a tracking URI; repeat for side by side")
    parser.add_argument("--experiment", action="append", help="one, or one per --store (default bench)")
    parser.add_argument(
        "--database", action="append", help="the server's database (APP_TRACKING_DATABASE_URI), one per --store; - for none"
    )
    parser.add_argument("--label", action="append", help="one per --store")
    parser.add_argument("--reference", type=int, default=0, help="the store the targets' ratios are against (its index)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--old-max", type=int, default=20_000, help="skip the old way above this many traces")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    def each(values: list[str] | None, default: str) -> list[str]:
        values = values or [default]
        return values * len(args.store) if len(values) == 1 else values

    experiments, databases = each(args.experiment, "bench"), [d if d != "-" else "" for d in each(args.database, "-")]
    labels = args.label or [f"{s} [{e}]" for s, e in zip(args.store, experiments)]
    if args.child:
        return child(args.store[0], experiments[0], databases[0])
    runs = {label: bench(uri, e, args.rounds, args.old_max, d) for label, uri, e, d in zip(labels, args.store, experiments, databases)}
    if len(runs) > 1:
        targets(runs, labels[args.reference])


if __name__ == "__main__":
    main()
