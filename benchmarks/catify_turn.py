"""Catify (2 iterations, demo provider) end to end, with tracing on and off, measured side by side.

    python benchmarks/catify_turn.py [--rounds 15]

Each round runs one traced and one untraced turn in alternating order, on a real sqlite store, each in
a fresh conversation (state, pictures and transcript are saved in both cases: only tracing differs).
Prints the medians and their ratio. Targets (issue 2): traced turn <= 1.0 s; traced / untraced <= 1.15."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")

from core.config import Settings  # noqa: E402
from core.conversations import Conversation, ConversationStore  # noqa: E402
from core.runner import run_turn  # noqa: E402


def one_turn(store: ConversationStore, settings: Settings, trace: bool) -> float:
    conversation = Conversation(scenario="catify", session_id="bench", provider="demo", options={"iterations": 2})
    started = time.perf_counter()
    outcome = asyncio.run(run_turn(conversation, "The matrix with a cat", settings, store, trace=trace))
    elapsed = time.perf_counter() - started
    assert outcome.status == "ok", outcome.error
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        store = ConversationStore(uri, "benchmark")
        settings = Settings(tracking_uri=uri)
        one_turn(store, settings, True), one_turn(store, settings, False)  # warm-up: imports, engine, caches
        traced, untraced = [], []
        for i in range(args.rounds):
            order = (True, False) if i % 2 == 0 else (False, True)
            for trace in order:
                (traced if trace else untraced).append(one_turn(store, settings, trace))
    t_on, t_off = statistics.median(traced), statistics.median(untraced)
    print(f"catify 2 iterations, demo provider, {args.rounds} rounds")
    print(f"traced turn   median {t_on:.3f} s  (p90 {sorted(traced)[int(0.9 * len(traced)) - 1]:.3f} s)  target <= 1.000 s")
    print(f"untraced turn median {t_off:.3f} s")
    print(f"tracing on / off ratio {t_on / t_off:.3f}  target <= 1.150")


if __name__ == "__main__":
    main()
