"""Analyst & Summarizer: two agents answer the same report and question at the same time.

A `GraphFlow` with two start nodes and no edges runs both agents on the same message concurrently
(benchmarks/analyst_concurrency.py: 0.52 of the sequential time at a 300 ms model latency), and its state
saves and loads like any team. The first turn sends `REPORT: … QUESTION: …`; follow-ups send only the
question, and the agents find the report in their saved model context. The scenario as the app shows and bounds
it; its agentchat team and what the offline demo model says as each agent: core/runtimes/agentchat/teams/analyst.py."""

from __future__ import annotations

from typing import Callable

from .. import costs
from . import AgentInfo, CostQuestion, DocumentOption, Scenario, TextOption

KEY = "analyst"  # stored in conversations and traces since the first version: it stays
ANALYST = "analyst"
SUMMARIZER = "summarizer"
DEFAULT_ANALYST_SYSTEM = (
    "You are a careful analyst. Read the report and the question. Pull out the key figures, "
    "trends and risks, and answer the question from the report only. Be concrete and brief."
)
DEFAULT_SUMMARIZER_SYSTEM = (
    "You are a summarizer. Summarise the report in three short sentences a busy reader "
    "understands, then answer the question in one sentence, from the report only."
)


def analyst_task(report: str, turn: int) -> Callable[[str], str]:
    """The first turn sends the report with the question; follow-ups send the question (the agents keep the
    report in their saved context)."""

    def task(text: str) -> str:
        if turn == 1 and report.strip():
            return f"REPORT:\n{report.strip()}\n\nQUESTION: {text}"
        return f"QUESTION: {text}"

    return task


def cost_bound(question: CostQuestion) -> float | None:
    """Two calls, each seeing the report, the conversation so far and the message."""
    report = str(question.options.get("report") or "")
    return costs.chat_bound(question.settings, question.settings.chat_model, question.context_tokens + costs.tokens_for(report), 2)


SCENARIO = Scenario(
    key=KEY,
    label="Analyst & Summarizer",
    description="Paste or upload a report and ask about it: an analyst and a summarizer answer at the same "
    "time, side by side, and keep the report for follow-up questions.",
    team=KEY,
    cost_bound=cost_bound,
    agents=(
        AgentInfo(ANALYST, "Analyst", ":material/query_stats:", "analysing"),
        AgentInfo(SUMMARIZER, "Summarizer", ":material/summarize:", "summarising"),
    ),
    options=(
        TextOption("analyst_system", "Analyst's system message", DEFAULT_ANALYST_SYSTEM, height=130),
        TextOption("summarizer_system", "Summarizer's system message", DEFAULT_SUMMARIZER_SYSTEM, height=130),
        DocumentOption("report", "Report", placeholder="Paste the report here…"),
    ),
    icon=":material/query_stats:",
    placeholder="Ask about the report, e.g. “What are the main risks?”",
    example="What are the main risks?",
    side_by_side=True,
    order=2,
)
