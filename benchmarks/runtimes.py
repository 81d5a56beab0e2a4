"""AutoGen (agentchat) and Microsoft Agent Framework side by side on the demo provider (issue 34): the time of one turn
on each runtime, and the tracing overhead on Agent Framework, measured in one run, rounds in rotating order.

    python benchmarks/runtimes.py [--rounds 20]

Each round, on a real sqlite store, each in a fresh conversation (state, pictures and transcript saved every time):
  Catify, 2 iterations ("The matrix with a cat"): AutoGen traced, Agent Framework traced, Agent Framework untraced;
  Weather, two turns (a question without a city, which pauses for the user, then "Lehi", which resumes from the saved
  state), each turn timed on its own once the previous turn's trace is written (a person reads the question before
  answering it): AutoGen traced, Agent Framework traced, Agent Framework untraced; then the same two turns back to back,
  where the first turn's trace is written while the second runs (a burst no chat makes: shown, not the target).
A turn is timed until its answer is complete, as the chat page shows it (the trace is exported in the background).
Printed: each median, Agent Framework / AutoGen per scenario (the per-turn overhead of one runtime against the
other on the same offline models), and Agent Framework's tracing on / off ratio (target <= 1.15, as for AutoGen).

Also the CPU seconds of each case (this process's, all threads: the turn, then its trace written to the store, waited
for after the clock stopped, so no case pays for another's export): on this shared 2-core machine the wall ratio moves
by ±0.2 between runs with the other work on it, the CPU ratio far less; and the CPU the turn's own thread spent,
which shows how much of the traced cost is the app's spans and how much MLflow writing them (profiled 2026-12-06:
MLflow's SQL store writes the spans in batches on a background thread while the turn runs, and each trace at its
end; docs/ARCHITECTURE.md, "Agent Framework")."""

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


Times = tuple[float, float, float]  # wall seconds, process CPU seconds (its export included), the turn thread's CPU


def timed(turns: Callable[[], None]) -> Times:
    """The wall time of the turns, then the CPU they cost: in all threads once their traces are written, and in this
    thread alone."""
    export.flush()  # the previous case's traces are written first: not on this one's CPU
    wall, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
    turns()
    wall, own = time.perf_counter() - wall, time.thread_time() - own
    export.flush()
    return wall, time.process_time() - cpu, own


def catify(store: ConversationStore, settings: Settings, runtime: str, traced: bool) -> Times:
    conversation = Conversation(scenario="catify", session_id="bench", provider="demo", runtime=runtime, options={"iterations": 2})

    def turn() -> None:
        request = TurnRequest(conversation, "The matrix with a cat", settings, store, trace=traced, wait_for_trace=False)
        outcome = asyncio.run(run_turn(request))
        assert outcome.status == "ok", outcome.error

    return timed(turn)


def weather(store: ConversationStore, settings: Settings, runtime: str, traced: bool) -> Times:
    """Both turns: the pause, then the resume from the state saved in the store, each timed on its own after the
    previous turn's trace is written, as in a chat, where the person reads the planner's question before answering."""
    conversation = Conversation(scenario="weather", session_id="bench", provider="demo", runtime=runtime)
    first = timed_turn(
        TurnRequest(conversation, "What's the weather like?", settings, store, trace=traced, wait_for_trace=False), "waiting"
    )
    second = timed_turn(TurnRequest(first[1], "Lehi", settings, store, trace=traced, wait_for_trace=False), "ok")
    return tuple(a + b for a, b in zip(first[0], second[0]))  # type: ignore[return-value]


def weather_back_to_back(store: ConversationStore, settings: Settings, runtime: str, traced: bool) -> Times:
    """Both turns with no pause between them: the first turn's trace is written while the second runs."""
    conversation = Conversation(scenario="weather", session_id="bench", provider="demo", runtime=runtime)

    def turns() -> None:
        first = asyncio.run(
            run_turn(TurnRequest(conversation, "What's the weather like?", settings, store, trace=traced, wait_for_trace=False))
        )
        assert first.status == "waiting", first.error
        second = asyncio.run(run_turn(TurnRequest(first.conversation, "Lehi", settings, store, trace=traced, wait_for_trace=False)))
        assert second.status == "ok", second.error

    return timed(turns)


def timed_turn(request: TurnRequest, status: str) -> tuple[Times, Conversation]:
    """One turn, timed as `timed` does, and the conversation it leaves."""
    outcomes = []

    def turn() -> None:
        outcome = asyncio.run(run_turn(request))
        assert outcome.status == status, outcome.error
        outcomes.append(outcome)

    return timed(turn), outcomes[0].conversation


def measure(
    run: Callable[[ConversationStore, Settings, str, bool], Times], store: ConversationStore, settings: Settings, rounds: int
) -> dict[str, Times]:
    for _, runtime, traced in CASES:  # warm-up: imports, engine, caches
        run(store, settings, runtime, traced)
    times: dict[str, list[Times]] = {name: [] for name, _, _ in CASES}
    for i in range(rounds):
        for name, runtime, traced in CASES[i % 3 :] + CASES[: i % 3]:
            times[name].append(run(store, settings, runtime, traced))
    return {name: tuple(statistics.median(t[k] for t in values) for k in range(3)) for name, values in times.items()}  # type: ignore[misc]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        store = ConversationStore.connect(uri, "benchmark")
        settings = Settings(tracking_uri=uri)
        scenarios = (
            ("Catify, 2 iterations", catify),
            ("Weather, pause + resume (2 turns)", weather),
            ("Weather, the 2 turns back to back", weather_back_to_back),
        )
        for label, run in scenarios:
            med = measure(run, store, settings, args.rounds)
            ag, af, off = med["autogen"], med["agentframework"], med["agentframework untraced"]
            print(f"{label}, demo provider, {args.rounds} rounds (medians: wall s, CPU s with its export, the turn thread's CPU s)")
            for name, (wall, cpu, own) in (("AutoGen traced", ag), ("Agent Framework traced", af), ("Agent Framework untraced", off)):
                print(f"  {name:30} {wall:.3f}  {cpu:.3f}  {own:.3f}")
            print(f"  Agent Framework / AutoGen      {af[0] / ag[0]:.3f} wall, {af[1] / ag[1]:.3f} CPU")
            on_off = f"{af[0] / off[0]:.3f} wall, {af[1] / off[1]:.3f} CPU, {af[2] / off[2]:.3f} turn thread"
            print(f"  Agent Framework tracing on/off {on_off}  target <= 1.150")


if __name__ == "__main__":
    main()
