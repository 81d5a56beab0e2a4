"""AutoGen (agentchat) and Microsoft Agent Framework side by side on the demo provider (issue 34): the time of one turn
on each runtime, and the tracing overhead on Agent Framework, measured in one run, rounds in rotating order.

    python benchmarks/runtimes.py [--rounds 20]

Each round, on a real sqlite store, each in a fresh conversation (state, pictures and transcript saved every time):
  Catify, 2 iterations ("The matrix with a cat"): AutoGen traced, Agent Framework traced, Agent Framework untraced;
  Weather, two turns (a question without a city, which pauses for the user, then "Lehi", which resumes from the saved
  state): AutoGen traced, Agent Framework traced, Agent Framework untraced.
A turn is timed until its answer is complete, as the chat page shows it (the trace is exported in the background).
Printed: each median, Agent Framework / AutoGen per scenario (the per-turn overhead of one runtime against the
other on the same offline models), and Agent Framework's tracing on / off ratio (target <= 1.15, as for AutoGen)."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from typing import Callable

from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.observe import export
from core.turn import TurnRequest, run_turn

CASES = (("autogen", "", True), ("agentframework", "agentframework", True), ("agentframework untraced", "agentframework", False))


def catify(store: ConversationStore, settings: Settings, runtime: str, traced: bool) -> float:
    conversation = Conversation(scenario="catify", session_id="bench", provider="demo", runtime=runtime, options={"iterations": 2})
    started = time.perf_counter()
    outcome = asyncio.run(run_turn(TurnRequest(conversation, "The matrix with a cat", settings, store, trace=traced, wait_for_trace=False)))
    elapsed = time.perf_counter() - started
    assert outcome.status == "ok", outcome.error
    return elapsed


def weather(store: ConversationStore, settings: Settings, runtime: str, traced: bool) -> float:
    """Both turns: the pause and the resume from the state saved in the store."""
    conversation = Conversation(scenario="weather", session_id="bench", provider="demo", runtime=runtime)
    started = time.perf_counter()
    first = asyncio.run(
        run_turn(TurnRequest(conversation, "What's the weather like?", settings, store, trace=traced, wait_for_trace=False))
    )
    assert first.status == "waiting", first.error
    second = asyncio.run(run_turn(TurnRequest(first.conversation, "Lehi", settings, store, trace=traced, wait_for_trace=False)))
    elapsed = time.perf_counter() - started
    assert second.status == "ok", second.error
    return elapsed


def measure(
    run: Callable[[ConversationStore, Settings, str, bool], float], store: ConversationStore, settings: Settings, rounds: int
) -> dict[str, float]:
    for _, runtime, traced in CASES:  # warm-up: imports, engine, caches
        run(store, settings, runtime, traced)
    times: dict[str, list[float]] = {name: [] for name, _, _ in CASES}
    for i in range(rounds):
        for name, runtime, traced in CASES[i % 3 :] + CASES[: i % 3]:
            times[name].append(run(store, settings, runtime, traced))
    export.flush()
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        store = ConversationStore.connect(uri, "benchmark")
        settings = Settings(tracking_uri=uri)
        for label, run in (("Catify, 2 iterations", catify), ("Weather, pause + resume (2 turns)", weather)):
            med = measure(run, store, settings, args.rounds)
            print(f"{label}, demo provider, {args.rounds} rounds (medians)")
            print(f"  AutoGen traced                 {med['autogen']:.3f} s")
            print(f"  Agent Framework traced         {med['agentframework']:.3f} s")
            print(f"  Agent Framework untraced       {med['agentframework untraced']:.3f} s")
            print(f"  Agent Framework / AutoGen      {med['agentframework'] / med['autogen']:.3f}")
            print(f"  Agent Framework tracing on/off {med['agentframework'] / med['agentframework untraced']:.3f}  target <= 1.150")


if __name__ == "__main__":
    main()
