"""Time to the first visible word with token streaming on, against the first (whole) answer with it off, at a
2-second model answer (the demo provider's DEMO_LATENCY_MS=2000), side by side.

    python benchmarks/token_streaming.py [--rounds 5]

Each round runs one Analyst & Summarizer turn each way on a real sqlite store, through TurnHandle (what the
chat page follows): "first words" is the first chunk event, "first answer" the first finished message.
Target (issue 15): first words with streaming / first answer without <= 0.25."""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.turn import Chunk, Said, TurnHandle, TurnRequest

REPORT = "Sales grew 12% to $4.5 million in Q3. Costs rose 3% because of freight. Risks include supply delays."


def one_turn(store: ConversationStore, settings: Settings) -> tuple[float, float, float]:
    """(first chunk, first finished message, whole turn) in seconds; first chunk is inf when none came."""
    conversation = Conversation(scenario="analyst", session_id="bench", provider="demo", options={"report": REPORT})
    started = time.perf_counter()
    handle = TurnHandle(TurnRequest(conversation, "What are the risks?", settings, store, wait_for_trace=False)).start()
    first_chunk = first_message = float("inf")
    seen = 0
    while not (handle.done and seen >= len(handle.events)):
        for event in handle.events_since(seen, timeout=0.01):
            seen += 1
            now = time.perf_counter() - started
            if isinstance(event, Chunk):
                first_chunk = min(first_chunk, now)
            elif isinstance(event, Said):
                first_message = min(first_message, now)
    outcome = handle.outcome
    assert outcome is not None and outcome.status == "ok", outcome and outcome.error
    return first_chunk, first_message, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ["DEMO_LATENCY_MS"] = "2000"
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        store = ConversationStore.connect(uri, "benchmark")
        on, off = Settings(tracking_uri=uri), Settings(tracking_uri=uri, stream_tokens=False)
        one_turn(store, on)  # warm-up
        streamed, plain = [], []
        for i in range(args.rounds):
            for settings, into in ((on, streamed), (off, plain))[:: 1 if i % 2 == 0 else -1]:
                into.append(one_turn(store, settings))
    first_words = statistics.median(r[0] for r in streamed)
    first_answer = statistics.median(r[1] for r in plain)
    print(f"Analyst & Summarizer turn, demo provider at a 2 s model answer, {args.rounds} rounds each way")
    print(f"streaming on : first words {first_words:.3f} s, whole turn {statistics.median(r[2] for r in streamed):.3f} s")
    print(f"streaming off: first answer {first_answer:.3f} s, whole turn {statistics.median(r[2] for r in plain):.3f} s")
    print(f"first words / first answer ratio {first_words / first_answer:.3f}  target <= 0.250")


if __name__ == "__main__":
    main()
