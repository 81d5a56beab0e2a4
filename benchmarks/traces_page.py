"""The Traces page's first load (cold cache) against the naive way, measured side by side in one run.

    python benchmarks/traces_page.py [--store sqlite:////tmp/bench/s10k/mlflow.db --experiment bench]
                                     [--traces 10000] [--rounds 3] [--skip-naive] [--naive-max 20000]

Without --store, a temporary sqlite store is filled with --traces synthetic traces (benchmarks/support/synthetic.py).
After one warm-up of each (imports, engine), each round runs both, in alternating order:
  ours  - what the page computes on a cold cache, without Streamlit: core.traces reads the store
          (All time), then totals, per day, the four breakdowns, the first list page and the what-if table;
  naive - mlflow.search_traces() with spans (a DataFrame with every span), the same numbers in pandas by
          walking the spans. Its totals must equal ours.
Peak memory (VmHWM, peak RSS) of each is measured once in a child process of its own, so one cannot
pollute the other. The page script itself runs once through Streamlit's AppTest, after st.cache_data.clear().
Targets (issue): 10,000 traces: first load <= 2 s and >= 5x faster than naive;
100,000 traces: first load <= 5 s and <= 1 GB of memory."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from core import contract, costs, traces

os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")  # prices from the catalog MLflow ships: no network (read when pricing)
ROOT = Path(__file__).resolve().parents[1]


def ours(uri: str, experiment_id: str) -> traces.Totals:
    frames = traces.reader_for(uri, experiment_id).frames(None, None)
    shown = traces.apply_filter(frames, traces.TraceFilter())
    t = traces.totals(shown.traces)
    traces.over_time(shown.traces, "D")
    for by in traces.BREAKDOWNS:
        traces.breakdown(shown, by)
    traces.page(shown.traces, "newest", 1, 50)
    costs.what_if(shown.calls, "gpt-4o")
    return t


def _attr(span: dict, key: str):
    raw = span["attributes"].get(key)  # span dicts keep attribute values JSON-encoded
    return json.loads(raw) if isinstance(raw, str) else raw


def naive(uri: str, experiment_id: str) -> traces.Totals:
    import mlflow  # noqa: PLC0415 - runs are timed and measured in fresh processes

    mlflow.set_tracking_uri(uri)
    df = mlflow.search_traces(locations=[experiment_id])  # every trace, every span
    meta = df["trace_metadata"]
    usage = meta.map(lambda m: json.loads(m.get(contract.TraceMetadata.TOKEN_USAGE) or "{}"))
    cost = meta.map(lambda m: json.loads(m.get(contract.TraceMetadata.COST) or "{}"))
    t = pd.DataFrame(
        {
            "trace_id": df["trace_id"],
            "time": pd.to_datetime(df["request_time"], unit="ms", utc=True),
            "status": df["state"].map(lambda s: str(getattr(s, "value", s))),
            "input_tokens": usage.map(lambda u: u.get("input_tokens", 0)),
            "output_tokens": usage.map(lambda u: u.get("output_tokens", 0)),
            "cost_usd": cost.map(lambda c: c.get("total_cost", 0.0)),
            "scenario": df["tags"].map(lambda tags: tags.get(contract.RunTag.SCENARIO) or "other"),
            "session": meta.map(lambda m: m.get(contract.TraceMetadata.SESSION) or "(none)"),
        }
    )
    rows = []
    for trace_id, spans in zip(df["trace_id"], df["spans"]):
        names = {s["span_id"]: s["name"] for s in spans}
        for s in spans:
            model, span_cost = _attr(s, contract.SpanAttr.MODEL), _attr(s, contract.SpanAttr.COST) or {}
            if not (model or span_cost or _attr(s, contract.SpanAttr.TYPE) in traces.CALL_SPAN_TYPES):
                continue
            u = _attr(s, contract.SpanAttr.USAGE) or {}
            rows.append(
                {
                    "trace_id": trace_id,
                    "model": model or "(unknown model)",
                    "agent": names.get(s["parent_span_id"], "(no parent span)"),
                    "input_tokens": u.get("input_tokens", 0),
                    "output_tokens": u.get("output_tokens", 0),
                    "cost_usd": span_cost.get("total_cost", 0.0),
                }
            )
    calls = pd.DataFrame(rows, columns=["trace_id", "model", "agent", "input_tokens", "output_tokens", "cost_usd"])
    sums = {"input_tokens": "sum", "output_tokens": "sum", "cost_usd": "sum"}
    t.groupby(t["time"].dt.floor("D")).agg(traces=("trace_id", "size"), cost_usd=("cost_usd", "sum"))
    for by in ("model", "agent"):
        calls.groupby(by).agg({"trace_id": "nunique", **sums})
    for by in ("scenario", "session"):
        t.groupby(by).agg({"trace_id": "size", **sums})
    return traces.Totals(
        traces=len(t),
        input_tokens=int(t["input_tokens"].sum()),
        output_tokens=int(t["output_tokens"].sum()),
        cost_usd=float(t["cost_usd"].sum()),
        errors=int((t["status"] == "ERROR").sum()),
        in_progress=int((t["status"] == "IN_PROGRESS").sum()),
    )


def timed(fn, uri: str, experiment_id: str) -> float:
    started = time.perf_counter()
    fn(uri, experiment_id)
    return time.perf_counter() - started


def peak_mb() -> float:
    """This process's peak RSS. Not ru_maxrss: Linux carries the parent's peak into it across fork and exec
    (a child of a 1.2 GB parent reports >= 1.2 GB), while VmHWM starts afresh with the new program."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def child(which: str, uri: str, experiment_id: str) -> None:
    """One cold run in this fresh process; prints its peak memory and time as JSON."""
    import mlflow  # noqa: F401, PLC0415 - imports count in the baseline, not in the run

    base = peak_mb()
    seconds = timed({"ours": ours, "naive": naive}[which], uri, experiment_id)
    print(json.dumps({"peak_mb": peak_mb(), "base_mb": base, "seconds": seconds}))


def memory(which: str, uri: str, experiment_id: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", which, "--store", uri, "--experiment-id", experiment_id],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def page_cold(uri: str, experiment: str) -> float:
    import streamlit as st  # noqa: PLC0415 - runs are timed and measured in fresh processes
    from streamlit.testing.v1 import AppTest  # noqa: PLC0415 - runs are timed and measured in fresh processes

    os.environ["MLFLOW_TRACKING_URI"], os.environ["MLFLOW_EXPERIMENT_NAME"] = uri, experiment
    path = str(ROOT / "pages" / "traces.py")
    warm = AppTest.from_file(path, default_timeout=300).run()
    assert not warm.exception, warm.exception
    st.cache_data.clear()
    at = AppTest.from_file(path, default_timeout=300)
    started = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - started
    assert not at.exception, at.exception
    return seconds


def bench(args: argparse.Namespace, uri: str, experiment: str, experiment_id: str) -> None:
    spans = None
    if uri.startswith("sqlite:///"):
        import sqlite3  # noqa: PLC0415 - runs are timed and measured in fresh processes

        with sqlite3.connect(uri[len("sqlite:///") :]) as db:
            spans = db.execute("SELECT count(*) FROM spans WHERE experiment_id = ?", (int(experiment_id),)).fetchone()[0]
    mine = ours(uri, experiment_id)  # warm-up
    n = mine.traces
    run_naive = not args.skip_naive and n <= args.naive_max
    fns = {"ours": ours}
    if run_naive:
        theirs = naive(uri, experiment_id)  # warm-up, and the check
        assert (theirs.traces, theirs.input_tokens, theirs.output_tokens, theirs.errors) == (
            n,
            mine.input_tokens,
            mine.output_tokens,
            mine.errors,
        ), f"totals differ: ours {mine}, naive {theirs}"
        assert abs(theirs.cost_usd - mine.cost_usd) <= 1e-6 * max(abs(mine.cost_usd), 1e-12), (
            f"cost differs: ours {mine.cost_usd}, naive {theirs.cost_usd}"
        )
        fns["naive"] = naive
    times: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(args.rounds):
        for name in list(fns) if i % 2 == 0 else list(fns)[::-1]:
            times[name].append(timed(fns[name], uri, experiment_id))
    med = {name: statistics.median(values) for name, values in times.items()}
    mem = {name: memory(name, uri, experiment_id) for name in fns}
    page_s = page_cold(uri, experiment)

    print(
        f"store {uri}, experiment {experiment}: {n:,} traces, "
        + (f"{spans:,} spans" if spans is not None else "spans not counted (not sqlite)")
    )
    if run_naive:
        print(
            f"totals agree: {n:,} traces, {mine.input_tokens:,} input / {mine.output_tokens:,} output tokens, "
            f"${mine.cost_usd:,.4f}, {mine.errors:,} errors"
        )
    else:
        why = "--skip-naive" if args.skip_naive else f"{n:,} traces > --naive-max {args.naive_max:,}"
        print(
            f"naive skipped ({why}); totals: {mine.input_tokens:,} input / {mine.output_tokens:,} output tokens, "
            f"${mine.cost_usd:,.4f}, {mine.errors:,} errors"
        )
    print(f"ours  median {med['ours']:.3f} s over {args.rounds} rounds  target <= 2 s at 10,000 traces, <= 5 s at 100,000")
    if run_naive:
        print(f"naive median {med['naive']:.3f} s over {args.rounds} rounds")
        print(f"naive / ours ratio {med['naive'] / med['ours']:.1f}x  target >= 5x at 10,000 traces")
    for name, m in mem.items():
        target = "  target <= 1024 MB at 100,000 traces" if name == "ours" else ""
        print(
            f"{name:5} in a fresh process: peak RSS {m['peak_mb']:,.0f} MB ({m['base_mb']:,.0f} MB after imports), "
            f"run {m['seconds']:.3f} s{target}"
        )
    print(f"page script run, cold cache {page_s:.3f} s  (AppTest after st.cache_data.clear(), no exception)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", help="tracking URI of an existing store; default: fill a temporary one")
    parser.add_argument("--experiment", default="bench")
    parser.add_argument("--traces", type=int, default=10_000, help="traces to fill when there is no --store")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--naive-max", type=int, default=20_000, help="skip the naive way above this many traces")
    parser.add_argument("--child", choices=("ours", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--experiment-id", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.store, args.experiment_id)
    if args.store:
        from mlflow import MlflowClient  # noqa: PLC0415 - runs are timed and measured in fresh processes

        experiment = MlflowClient(args.store).get_experiment_by_name(args.experiment)
        if experiment is None:
            sys.exit(f"No experiment {args.experiment!r} in {args.store}.")
        return bench(args, args.store, args.experiment, experiment.experiment_id)
    from support import synthetic  # noqa: PLC0415 - benchmarks/support, beside this script; timed runs are fresh processes

    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        report = synthetic.fill(uri, args.experiment, args.traces)
        print(f"filled a temporary store with {report.traces:,} traces in {report.seconds:.0f} s")
        bench(args, uri, args.experiment, report.experiment_id)


if __name__ == "__main__":
    main()
