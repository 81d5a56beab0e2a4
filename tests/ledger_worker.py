"""An app instance in a process of its own, for tests/test_ledger_burst.py: it reads the app's settings from the
environment as the app does (hosted mode, caps, the owner's key, the store; `core.hosted.open_ledger`), then takes
turn jobs on stdin, one JSON object a line ({"job", "identity", "base_url", "message"}), and for each does what
the chat page does: `core.hosted.admit`, then the real turn through `TurnHandle` (OpenAI over HTTP, the store),
which settles the reservation when it ends. Each job runs on its own thread, so turns overlap. It prints JSON
lines: ready, then admitted / refused / done per job. At the end of stdin it waits for its turns and exits.

    python -m tests.ledger_worker
"""

from __future__ import annotations

import json
import os
import sys
import threading

from core import hosted
from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.errors import TurnRefused
from core.turn import Admission, TurnHandle, TurnRequest

_print_lock = threading.Lock()


def say(**event) -> None:
    with _print_lock:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


def main() -> int:
    settings = Settings.from_env()
    spend = hosted.open_ledger(settings)
    store = ConversationStore.connect(settings.tracking_uri, settings.experiment_name)

    def turn(job: dict) -> None:
        identity = job["identity"]
        paid = settings.with_(base_url=job["base_url"], billed_to_owner=True)
        conversation = Conversation(scenario="catify", session_id=identity, provider="openai", options={"iterations": 1})
        try:
            reservation = hosted.admit(hosted.Visit(spend, identity, uses_owner_key=True), paid, conversation, job["message"])
        except TurnRefused as refused:
            say(event="refused", job=job["job"], identity=identity, reason=str(refused))
            return
        assert reservation is not None
        say(event="admitted", job=job["job"], identity=identity, bound=reservation.amount)
        outcome = (
            TurnHandle(Admission(TurnRequest(conversation, job["message"], paid, store, wait_for_trace=False), reservation=reservation))
            .start()
            .wait(300)
        )
        say(
            event="done",
            job=job["job"],
            identity=identity,
            status=outcome.status if outcome else "timeout",
            error=outcome.error if outcome else None,
            billed=outcome.billed_usd if outcome else None,
        )

    say(event="ready", pid=os.getpid())
    threads = []
    for line in sys.stdin:
        if line.strip():
            threads.append(threading.Thread(target=turn, args=(json.loads(line),)))
            threads[-1].start()
    for thread in threads:
        thread.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
