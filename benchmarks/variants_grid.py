"""A 4-setting Catify grid (issue 19): its cells at once against the same four one after another, side by side.

    python benchmarks/variants_grid.py [--rounds 5] [--latency-ms 300]

Each round runs, in rotating order, on a real sqlite store with tracing on and every cell's trace waited for:
  grid       - `core.variants.run_cells` with its default concurrency (4 at once), as the Compare page runs a grid;
  one by one - the same four cells with `limit=1`, one after another.
Both start from a first turn of one conversation (its turn 1 run again, 1 critique iteration, with four critic
instructions), with the demo provider at an artificial model latency per call.
Target (issue 19): grid / one by one <= 0.4 (four cells of one call chain each: ideally 0.25)."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time

from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.turn import TurnRequest, run_turn
from core.variants import DEFAULT_CONCURRENCY, Setting, origin_of, plan, run_cells

INSTRUCTIONS = ("Make it noir.", "Make it sunny.", "Add more cats.", "Make it look like a watercolour.")


def one_run(origin, settings: Settings, store: ConversationStore, limit: int) -> float:
    chosen = [Setting(**{**origin.setting.__dict__, "options": {**origin.setting.options, "instruction": text}}) for text in INSTRUCTIONS]
    cells = plan(origin, chosen, store, "bench", settings)
    started = time.perf_counter()
    outcomes = asyncio.run(run_cells(cells, origin.message, settings, store, limit=limit))
    elapsed = time.perf_counter() - started
    bad = [o for o in outcomes if o.status != "ok"]
    if bad:
        raise SystemExit(f"a cell failed: {bad[0].status} {bad[0].error}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency-ms", type=int, default=300)
    args = parser.parse_args()
    os.environ["DEMO_LATENCY_MS"] = str(args.latency_ms)
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        settings = Settings(tracking_uri=uri)
        store = ConversationStore.connect(uri, "bench-variants")
        first = asyncio.run(
            run_turn(
                TurnRequest(
                    Conversation(scenario="catify", session_id="bench", provider="demo", options={"iterations": 1}),
                    "The matrix with a cat",
                    settings,
                    store,
                )
            )
        )
        origin = origin_of(store.load(str(first.conversation.id)), 1, settings)
        one_run(origin, settings, store, DEFAULT_CONCURRENCY)  # warm-up
        times: dict[int, list[float]] = {DEFAULT_CONCURRENCY: [], 1: []}
        for round_ in range(args.rounds):
            for limit in (DEFAULT_CONCURRENCY, 1) if round_ % 2 == 0 else (1, DEFAULT_CONCURRENCY):
                times[limit].append(one_run(origin, settings, store, limit))
    grid, serial = statistics.median(times[DEFAULT_CONCURRENCY]), statistics.median(times[1])
    print(f"4 Catify cells, model latency {args.latency_ms} ms, {args.rounds} rounds, medians:")
    print(f"  grid ({DEFAULT_CONCURRENCY} at once)  {grid:.3f} s")
    print(f"  one by one          {serial:.3f} s")
    print(f"  grid / one by one = {grid / serial:.2f}   (target <= 0.4)")


if __name__ == "__main__":
    main()
