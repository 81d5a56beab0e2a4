"""Analyst & Summarizer: two agents answer the same report and question at the same time.

A `GraphFlow` with two start nodes and no edges runs both agents on the same message concurrently
(benchmarks/analyst_concurrency.py: 0.52 of the sequential time at a 300 ms model latency), and its state
saves and loads like any team. The first turn sends `REPORT: … QUESTION: …`; follow-ups send only the
question, and the agents find the report in their saved model context."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Callable, Sequence

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import ExternalTermination
from autogen_agentchat.teams import DiGraphBuilder, GraphFlow
from autogen_core.models import LLMMessage, UserMessage

from .. import costs
from ..agents import TeamContext, TeamPlan, traced
from ..demo.replies import text_of
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


def build(context: TeamContext) -> TeamPlan:
    """Both agents answer the same message at the same time; `concurrent=False` chains them instead (the
    summarizer then reads the analysis: the benchmark's baseline)."""
    clients, options = context.clients, context.options
    agents = [
        AssistantAgent(
            ANALYST,
            model_client=clients.for_role(ANALYST, demo_analyst),
            system_message=str(options.get("analyst_system") or DEFAULT_ANALYST_SYSTEM),
            description="Analyses the report: figures, trends, risks.",
            model_client_stream=clients.stream,
        ),
        AssistantAgent(
            SUMMARIZER,
            model_client=clients.for_role(SUMMARIZER, demo_summarizer),
            system_message=str(options.get("summarizer_system") or DEFAULT_SUMMARIZER_SYSTEM),
            description="Summarises the report for a busy reader.",
            model_client_stream=clients.stream,
        ),
    ]
    builder = DiGraphBuilder()
    nodes = [traced(agent) for agent in agents]
    for node in nodes:
        builder.add_node(node)
    if not options.get("concurrent", True):
        builder.add_edge(nodes[0], nodes[1])
    stop = ExternalTermination()
    team = GraphFlow(participants=builder.get_participants(), graph=builder.build(), termination_condition=stop)
    return TeamPlan(team=team, stop=stop, total_steps=2, task=analyst_task(str(options.get("report") or ""), context.turn))


def cost_bound(question: CostQuestion) -> float | None:
    """Two calls, each seeing the report, the conversation so far and the message."""
    report = str(question.options.get("report") or "")
    return costs.chat_bound(question.settings, question.settings.chat_model, question.context_tokens + costs.tokens_for(report), 2)


# --- what the offline demo model says as each agent ------------------------------------------------------------------

STOP_WORDS = set(
    """a an and are as at be by for from has have in into is it its of on or that the this to was were
will with our we you your their they than then there these those not but also more less per""".split()
)


def _report_and_question(messages: Sequence[LLMMessage]) -> tuple[str, str]:
    users = [text_of(m) for m in messages if isinstance(m, UserMessage) and m.source == "user"]
    first = users[0] if users else ""
    report = first.split("REPORT:", 1)[1] if "REPORT:" in first else first
    report = report.split("QUESTION:", 1)[0].strip()
    last = users[-1] if users else ""
    question = last.split("QUESTION:", 1)[1].strip() if "QUESTION:" in last else last.strip()
    return report, question


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if len(s.strip()) > 2]


def _stems(text: str) -> set[str]:
    return {w[:4] for w in re.findall(r"[a-z]{3,}", text.lower()) if w not in STOP_WORDS}


def _relevant(sentences: list[str], question: str, n: int) -> list[str]:
    """The sentences sharing most word stems with the question ("growth" finds "grew": both start "gr…")."""
    words = _stems(question)
    scored = sorted(((len(words & _stems(s)), -i, s) for i, s in enumerate(sentences)), reverse=True)
    return [s for score, _, s in scored[:n] if score > 0]


def demo_analyst(messages: Sequence[LLMMessage], tools: Sequence[Any]) -> str:
    report, question = _report_and_question(messages)
    sentences = _sentences(report)
    words = re.findall(r"[A-Za-z][A-Za-z'-]+", report)
    terms = Counter(w.lower() for w in words if w.lower() not in STOP_WORDS and len(w) > 3).most_common(5)
    figures = [s for s in sentences if re.search(r"\d", s)]
    lines = [f"Analysis of {len(words):,} words in {len(sentences)} sentences."]
    if figures:
        lines.append("Key figures: " + " ".join(figures[:4]))
    if terms:
        lines.append("Recurring themes: " + ", ".join(t for t, _ in terms) + ".")
    hits = _relevant(sentences, question, 2)
    if question and hits:
        lines.append(f"On “{question[:120]}”: " + " ".join(hits))
    elif question:
        lines.append(f"The report does not speak to “{question[:120]}”.")
    return "\n".join(lines)


def demo_summarizer(messages: Sequence[LLMMessage], tools: Sequence[Any]) -> str:
    report, question = _report_and_question(messages)
    sentences = _sentences(report)
    if not sentences:
        return "There is no report to summarise yet: paste or upload one."
    hits = _relevant(sentences, question, 1)
    head = " ".join(sentences[:2])
    lines = [f"Summary: {head[:400]}"]
    if len(sentences) > 2:
        lines.append(f"It ends: {sentences[-1][:200]}")
    if question and hits:
        lines.append(f"In short, on your question: {hits[0][:300]}")
    return "\n".join(lines)


SCENARIO = Scenario(
    key=KEY,
    label="Analyst & Summarizer",
    description="Paste or upload a report and ask about it: an analyst and a summarizer answer at the same "
    "time, side by side, and keep the report for follow-up questions.",
    build=build,
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
