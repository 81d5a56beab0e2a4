"""Analyst & Summarizer: both agents at once against one after the other, measured side by side.

    python benchmarks/analyst_concurrency.py [--rounds 8] [--latency-ms 300]

Each round runs a first turn (report + question) in a fresh conversation, in rotating order, with the demo
provider at an artificial model latency, tracing on, on a real sqlite store:
  concurrent - the product's team: a GraphFlow with two start nodes, both agents answer at once;
  sequential - the same agents with an edge analyst -> summarizer, one after the other.
Target (issue 4): concurrent / sequential <= 0.6 (two calls that each take the latency: ideally 0.5)."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time

from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.scenarios.analyst import KEY as ANALYST_SUMMARIZER
from core.turn import TurnRequest, run_turn

REPORT = (
    "Quarterly report. Sales grew 12% to $4.5 million in Q3. Costs rose 3% because of freight. The team "
    "hired 12 people. Risks include supply delays in Asia and a weaker euro."
)


def one_turn(settings: Settings, store: ConversationStore, concurrent: bool) -> float:
    conversation = Conversation(
        scenario=ANALYST_SUMMARIZER, session_id="bench", provider="demo", options={"report": REPORT, "concurrent": concurrent}
    )
    started = time.perf_counter()
    outcome = asyncio.run(run_turn(TurnRequest(conversation, "What are the main risks?", settings, store, wait_for_trace=False)))
    elapsed = time.perf_counter() - started
    if outcome.status != "ok" or len([e for e in outcome.entries if e["role"] == "assistant"]) != 2:
        raise SystemExit(f"turn failed: {outcome.status} {outcome.error}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--latency-ms", type=int, default=300)
    args = parser.parse_args()
    os.environ["DEMO_LATENCY_MS"] = str(args.latency_ms)
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        settings = Settings(tracking_uri=uri)
        store = ConversationStore.connect(uri, "bench-analyst")
        one_turn(settings, store, True)  # warm-up: imports, schema, first trace
        times: dict[bool, list[float]] = {True: [], False: []}
        for round_ in range(args.rounds):
            for concurrent in (True, False) if round_ % 2 == 0 else (False, True):
                times[concurrent].append(one_turn(settings, store, concurrent))
    concurrent, sequential = statistics.median(times[True]), statistics.median(times[False])
    print(f"model latency {args.latency_ms} ms, {args.rounds} rounds, medians:")
    print(f"  concurrent  {concurrent:.3f} s")
    print(f"  sequential  {sequential:.3f} s")
    print(f"  concurrent / sequential = {concurrent / sequential:.2f}   (target <= 0.6)")


if __name__ == "__main__":
    main()
