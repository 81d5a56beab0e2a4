"""Analyst & Summarizer in core: both agents answer the same report at the same time (their spans overlap in
the turn's one trace), follow-ups continue with both from saved state, and reports are checked first."""

from __future__ import annotations

import asyncio

import pytest

from core import documents
from core.config import Settings
from core.conversations import Conversation
from core.errors import InputError
from core.scenarios import analyst
from core.turn import TurnRequest, run_turn

REPORT = (
    "Quarterly report. Sales grew 12% to $4.5 million in Q3. Costs rose 3% because of freight. "
    "The team hired 12 people. Risks include supply delays in Asia."
)


def ask(conversation, question, tracking_uri, store):
    outcome = asyncio.run(run_turn(TurnRequest(conversation, question, Settings(tracking_uri=tracking_uri), store)))
    assert outcome.status == "ok", outcome.error
    return outcome


def answers(outcome) -> dict[str, str]:
    return {e["name"]: e["text"] for e in outcome.entries if e["role"] == "assistant"}


def test_both_agents_answer_at_once_and_follow_ups_continue(tracking_uri, store, mlflow_client, monkeypatch):
    monkeypatch.setenv("DEMO_LATENCY_MS", "200")
    conversation = Conversation(scenario=analyst.KEY, session_id="s", provider="demo", options={"report": REPORT})
    first = ask(conversation, "What are the risks?", tracking_uri, store)
    got = answers(first)
    assert set(got) == {"analyst", "summarizer"}
    assert "supply delays" in got["analyst"] and got["summarizer"].startswith("Summary: Quarterly report.")
    trace = mlflow_client.get_trace(first.trace_id)
    spans = {s.name: s for s in trace.data.spans if s.span_type == "AGENT" and s.parent_id}
    assert set(spans) == {"analyst", "summarizer"}
    a, s = spans["analyst"], spans["summarizer"]
    assert a.start_time_ns < s.end_time_ns and s.start_time_ns < a.end_time_ns, "the two agents ran concurrently"

    # the follow-up sends only the question: the report comes from the agents' saved context
    second = ask(store.load(first.conversation.id), "What about costs?", tracking_uri, store)
    got = answers(second)
    assert "Costs rose 3%" in got["analyst"] and "Costs rose 3%" in got["summarizer"]
    requests = [s for s in mlflow_client.get_trace(second.trace_id).data.spans if s.span_type == "CHAT_MODEL"]
    assert len(requests) == 2
    sent = [m["content"] for m in requests[0].inputs["messages"] if m["role"] == "user"]
    assert sum("REPORT:" in text for text in sent) == 1 and sent[-1] == "QUESTION: What about costs?"


def test_edited_system_messages_reach_the_models(tracking_uri, store, mlflow_client):
    conversation = Conversation(
        scenario=analyst.KEY,
        session_id="s",
        provider="demo",
        options={"report": REPORT, "analyst_system": "Answer like a pirate.", "summarizer_system": "Use one sentence."},
    )
    outcome = ask(conversation, "Summary please", tracking_uri, store)
    systems = [
        s.inputs["messages"][0]["content"] for s in mlflow_client.get_trace(outcome.trace_id).data.spans if s.span_type == "CHAT_MODEL"
    ]
    assert sorted(systems) == ["Answer like a pirate.", "Use one sentence."]


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("report.pdf", b"%PDF-1.7", "is not a .txt or .md file"),
        ("report.txt", b"\x89PNG\r\n\x1a\n\x00\x00", "looks like a binary file"),
        ("report.txt", "Umsatz stieg um 12 %".encode("latin-1") + b"\xe4", "is not UTF-8 text"),
        ("report.md", b"   \n  ", "There is no report yet"),
        ("report.txt", b"x" * (documents.MAX_UPLOAD_BYTES + 1), "reports can be up to 1 MB"),
        ("report.txt", b"word " * 30_000, "the limit is 100,000"),
    ],
)
def test_unusable_reports_get_a_clear_message(name, data, message):
    with pytest.raises(InputError, match=message):
        documents.read_upload(name, data)


def test_good_reports_are_read_whatever_their_encoding_marks():
    assert documents.read_upload("r.md", "# Bericht\r\nUmsatz +12 %".encode("utf-8-sig")) == "# Bericht\nUmsatz +12 %"
    assert documents.read_upload("r.txt", "Rapport: ventes +12 %".encode("utf-16")) == "Rapport: ventes +12 %"
