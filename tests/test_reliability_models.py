"""Reliability battery, model faults (issue 7): a Catify conversation with one good turn meets a fault from
the local OpenAI-compatible server on its second turn. For every fault: the user sees a sentence naming
what failed; their message and the history stay; the saved conversation is still the last good one; the
failed turn's trace says ERROR; Retry works once the fault clears. Each row lands in
test-artifacts/reliability.json, from which scripts/reliability_table.py writes docs/RELIABILITY.md."""

from __future__ import annotations

import asyncio
import re

import pytest

from core.config import Settings
from core.conversations import Conversation
from core.turn import TurnRequest, run_turn
from tests.net import free_port
from tests.openai_server import CutStreamFault, HangFault, MalformedJSONFault, OpenAIStub, ReplyFault, StatusFault

pytestmark = pytest.mark.filterwarnings("ignore:Resolved model mismatch:UserWarning")

# (row id, fault, settings changes, what the user must see, what the turn must end as)
FAULTS = [
    (
        "429 with Retry-After (1 retry allowed)",
        lambda: StatusFault(path="/chat/completions", status=429, headers={"Retry-After": "1"}),
        {"max_retries": 1},
        "",
        "ok",
    ),
    ("429 without Retry-After", lambda: StatusFault(path="/chat/completions", status=429), {}, "rate limiting us (429)", "error"),
    ("500 from the chat model", lambda: StatusFault(path="/chat/completions", status=500), {}, "model provider failed (500)", "error"),
    ("503 from the chat model", lambda: StatusFault(path="/chat/completions", status=503), {}, "model provider failed (503)", "error"),
    ("timeout", lambda: HangFault(path="/chat/completions", seconds=4), {"request_timeout_s": 1.0}, "did not answer in time", "error"),
    ("connection refused", None, {"base_url": "refused"}, "Cannot reach the model provider", "error"),
    ("malformed JSON body", lambda: MalformedJSONFault(path="/chat/completions"), {}, "sent a reply we could not read", "error"),
    ("answer cut off mid-way", lambda: CutStreamFault(path="/chat/completions"), {}, "broke off", "error"),
    (
        "image endpoint fails mid-loop",
        lambda: StatusFault(path="/images/generations", status=500, skip=1),
        {},
        "model provider failed (500)",
        "error",
    ),
    (
        "critic reply without PROMPT:",
        lambda: ReplyFault(path="/chat/completions", content="CRITICS: lovely as it is."),
        {},
        "gave no PROMPT",
        "ok",
    ),
]


@pytest.fixture()
def server():
    with OpenAIStub() as stub:
        yield stub


def settings_for(server: OpenAIStub, tracking_uri: str, **changes) -> Settings:
    if changes.get("base_url") == "refused":
        changes["base_url"] = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    base = Settings(
        provider="openai",
        api_key="sk-test-reliability",
        base_url=server.base_url,
        chat_model="gpt-4o-mini",
        vision_model="gpt-4o-mini",
        image_model="gpt-image-1",
        image_size="1024x1024",
        image_quality="low",
        tracking_uri=tracking_uri,
        max_retries=0,
    )
    return base.with_(**changes)


@pytest.mark.parametrize("row, fault, changes, sees, ends", FAULTS, ids=[f[0] for f in FAULTS])
def test_a_model_fault_loses_nothing_and_retry_works(
    row, fault, changes, sees, ends, server, tracking_uri, store, mlflow_client, reliability
):
    good = settings_for(server, tracking_uri)
    first = asyncio.run(
        run_turn(
            TurnRequest(Conversation(scenario="catify", session_id="s", provider="openai", options={"iterations": 1}), "a cat", good, store)
        )
    )
    assert first.status == "ok", first.error
    before = first.conversation
    if fault is not None:
        server.add_fault(fault())
    failed = asyncio.run(run_turn(TurnRequest(before, "now a dog", settings_for(server, tracking_uri, **changes), store)))

    shown = failed.error if failed.status != "ok" else " ".join(e.get("note", "") for e in failed.entries)
    assert failed.status == ends, (failed.status, failed.error)
    assert sees in shown, shown
    assert "sk-test-reliability" not in (shown or "") and "Traceback" not in (shown or "")
    assert failed.entries[0] == {"role": "user", "name": "user", "text": "now a dog", "turn": 2, "step": 0}
    saved = store.load(before.id)
    trace_state = mlflow_client.get_trace(failed.trace_id).info.state.value if failed.trace_id else "none"
    if ends == "error":
        assert failed.conversation is before and saved.turns == 1, "the saved state is the last good one"
        assert saved.transcript == before.transcript and saved.state == before.state
        assert trace_state == "ERROR"
        server.clear_faults()
        retried = asyncio.run(run_turn(TurnRequest(before, "now a dog", good, store, attempt=2)))
        assert retried.status == "ok", retried.error
        assert store.load(before.id).turns == 2
        kept = "your message and the history; the saved conversation stays at the last good turn; Retry works"
    elif changes.get("max_retries"):  # the openai SDK waited as told and asked again
        assert [r.status for r in server.requests_to("/chat/completions")][-2:] == [429, 200]
        assert saved.turns == 2 and trace_state == "OK"
        shown = "nothing: the answer comes after the provider's Retry-After (the openai SDK waits, then retries)"
        kept = "the turn completes and is saved"
    else:
        assert saved.turns == 2 and trace_state == "OK"
        kept = "the turn completes; the previous prompt is drawn again and the chat says so"
    reliability(
        area="model", fault=row, sees=re.sub(r"http://127\.0\.0\.1:\d+/v1", "<base URL>", shown.strip()), kept=kept, trace=trace_state
    )
