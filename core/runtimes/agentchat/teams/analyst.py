"""Analyst & Summarizer's agentchat team (the scenario: core/scenarios/analyst.py): a `GraphFlow` with two start nodes
and no edges runs both agents on the same message concurrently (benchmarks/analyst_concurrency.py: 0.52 of the
sequential time at a 300 ms model latency), and its state saves and loads like any team; and what the offline demo
model says as each agent."""

from __future__ import annotations

import re
from typing import Any, Sequence

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import ExternalTermination
from autogen_agentchat.teams import DiGraphBuilder, GraphFlow
from autogen_core.models import LLMMessage, UserMessage

from ....agents import TeamContext
from ....scenarios.analyst import ANALYST, DEFAULT_ANALYST_SYSTEM, DEFAULT_SUMMARIZER_SYSTEM, SUMMARIZER, analyst_task
from ..agents import TeamPlan, traced
from ..demo_replies import text_of


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


_SAME = (  # words a question and a report use for one thing (a few, for the demo's word matching)
    "money revenue sales income earnings turnover made make",
    "risk risks threat danger worry wrong concern problem",
    "cost costs expense spend spending freight",
    "most best top highest more",
    "online web internet digital",
    "shop shops store stores branch branches",
    "margin margins profit profitability",
    "staff people employees hired hiring team",
    "grow grew growth rose rise increase up",
)
_SYNONYMS = {word: set(group.split()) for group in _SAME for word in group.split()}
_FIGURE = re.compile(r"\$?\d[\d,.]*%?(?: (?:million|billion|thousand))?")


def _sentences(text: str) -> list[str]:
    """The report's sentences; a heading (a short line with no closing stop) is no sentence, nor part of the next."""
    found = []
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if not line or (not re.search(r"[.!?]$", line) and len(line.split()) <= 12):
            continue
        found += [s.strip() for s in re.split(r"(?<=[.!?])\s+", line) if len(s.strip()) > 2]
    return found


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z][a-z0-9]+|[0-9]+[a-z][a-z0-9]*", text.lower()) if w not in STOP_WORDS}


def _relevant(sentences: list[str], question: str, n: int) -> list[str]:
    """The sentences holding most of the question's words, each word matched by its stem ("growth" finds "grew": both
    start "gr…") or a synonym's ("money" finds "revenue", by the few above), counted once."""
    asked = [{same[:4] for same in _SYNONYMS.get(w, set()) | {w}} for w in _words(question)]

    def score(sentence: str) -> int:
        stems = {w[:4] for w in _words(sentence)}
        return sum(1 for word in asked if word & stems)

    scored = sorted(((score(s), -i, s) for i, s in enumerate(sentences)), reverse=True)
    return [s for points, _, s in scored[:n] if points > 0]


def _quoted(sentence: str) -> str:
    figures = [f.rstrip(".,") for f in _FIGURE.findall(sentence)]
    return f"“{sentence}”" + (f" (figures: {', '.join(figures)})" if figures else "")


def demo_analyst(messages: Sequence[LLMMessage], tools: Sequence[Any]) -> str:
    """The answer to the question from the report: the sentences that hold its words, quoted with their figures."""
    report, question = _report_and_question(messages)
    sentences = _sentences(report)
    if not sentences:
        return "There is no report to analyse yet: paste or upload one."
    hits = _relevant(sentences, question, 2)
    if not hits:  # a general question ("What are the main points?"): the sentences with figures
        figures = [s for s in sentences if _FIGURE.search(s)][:2] or sentences[:2]
        return f"On “{question[:120]}”, no sentence names it; the report's key points: " + " ".join(f"{_quoted(s)}." for s in figures)
    lines = [f"On “{question[:120]}”, the report says {_quoted(hits[0])}."]
    if len(hits) > 1:
        lines.append(f"Also relevant: {_quoted(hits[1])}.")
    return "\n".join(lines)


def demo_summarizer(messages: Sequence[LLMMessage], tools: Sequence[Any]) -> str:
    """Three of the report's own sentences, then the one that answers the question."""
    report, question = _report_and_question(messages)
    sentences = _sentences(report)
    if not sentences:
        return "There is no report to summarise yet: paste or upload one."
    hits = _relevant(sentences, question, 1)
    lines = [f"Summary: {' '.join(sentences[:3])}"]
    if question and hits:
        lines.append(f"In short, on your question: {hits[0]}")
    return "\n".join(lines)
