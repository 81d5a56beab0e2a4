"""Image lineage of a Catify conversation: prompt → image → critique → new prompt → image, built from the
run's image_lookup.json (written as each picture is made), with what changed between prompts; as the Traces
page shows it (a storyboard, a graph when it branches), which conversations have one (`lineage_choices`, from the
frames) and how its conversation picker names them.

Why a storyboard and not only a graph: a Catify turn is a chain (each picture redraws the one before it), and
a chain reads best as a column of cards, picture → critique with the words it changed → picture, where the
thumbnails sit next to their prompts at the page's own font size. A Graphviz graph drawn at page width shrinks
its text (the old one, a prompt box and a picture side by side per row plus long critique labels, was readable
only fullscreen), and Graphviz in a browser cannot show our PNGs, so pictures would sit apart from their
prompts. The graph is kept for lineages that branch (a picture redrawn twice, hand-edited or foreign lookups),
where its shape says something a column cannot: narrow (top to bottom, labels wrapped) and capped in width."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import Any, Iterable, Mapping

import pandas as pd

from .frames import Frames, _member


@dataclass(frozen=True)
class ImageNode:
    image_id: str
    index: int
    turn: int
    prompt: str
    model: str
    cost_usd: float | None
    trace_id: str
    parent: str | None
    critique: str


@dataclass(frozen=True)
class CritiqueEdge:
    parent: str
    child: str
    critique: str
    added: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True)
class Lineage:
    nodes: tuple[ImageNode, ...]
    edges: tuple[CritiqueEdge, ...]

    @property
    def total_cost_usd(self) -> float:
        return sum(n.cost_usd or 0.0 for n in self.nodes)


def prompt_diff(old: str, new: str) -> tuple[tuple[str, str], ...]:
    """The new prompt as runs of words marked "same", "added" or "removed" (removed words of the old prompt stand
    where they were), word by word: how the storyboard shows what a critique changed."""
    a, b = re.findall(r"\S+", old or ""), re.findall(r"\S+", new or "")
    runs: list[tuple[str, str]] = []

    def put(kind: str, words: list[str]) -> None:
        if not words:
            return
        if runs and runs[-1][0] == kind:
            runs[-1] = (kind, f"{runs[-1][1]} {' '.join(words)}")
        else:
            runs.append((kind, " ".join(words)))

    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            put("same", b[j1:j2])
            continue
        put("removed", a[i1:i2])  # replace or delete
        put("added", b[j1:j2])  # replace or insert
    return tuple(runs)


def prompt_change(old: str, new: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(words added, words removed) from one prompt to the next."""
    runs = prompt_diff(old, new)
    return (
        tuple(w for kind, text in runs if kind == "added" for w in text.split()),
        tuple(w for kind, text in runs if kind == "removed" for w in text.split()),
    )


def _number(value: Any, kind: type, default: Any) -> Any:
    try:
        return kind(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def build(image_lookup: Mapping[str, Mapping[str, Any]]) -> Lineage:
    nodes: list[ImageNode] = []
    for image_id, entry in image_lookup.items():
        if not isinstance(entry, Mapping):
            continue  # a hand-edited or foreign file: skip what is not an image entry
        nodes.append(
            ImageNode(
                image_id=str(image_id),
                index=_number(entry.get("index"), int, len(nodes)),
                turn=_number(entry.get("turn"), int, 0),
                prompt=str(entry.get("prompt") or ""),
                model=str(entry.get("model") or ""),
                cost_usd=_number(entry.get("cost_usd"), float, None),
                trace_id=str(entry.get("trace_id") or ""),
                parent=str(entry["parent"]) if entry.get("parent") else None,
                critique=str(entry.get("critique") or ""),
            )
        )
    nodes.sort(key=lambda n: n.index)
    by_id = {n.image_id: n for n in nodes}
    edges = []
    for node in nodes:
        if node.parent and node.parent in by_id:
            added, removed = prompt_change(by_id[node.parent].prompt, node.prompt)
            edges.append(CritiqueEdge(node.parent, node.image_id, node.critique, added, removed))
    return Lineage(tuple(nodes), tuple(edges))


def _quote(text: str, limit: int) -> str:
    """A DOT string literal: model text is data, so quotes, backslashes and angle brackets stay text."""
    lines = [re.sub(r"\s+", " ", line).strip() for line in (text or "").split("\n")]
    text = "\n".join(line for line in lines if line)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _wrap(text: str, width: int = 32, lines: int = 4) -> str:
    """Words in lines of at most `width` characters (a longer word is cut), at most `lines` of them."""
    words, out, line = re.findall(r"\S+", text or ""), [], ""
    for word in words:
        word = word if len(word) <= width else word[: width - 1] + "…"
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    out.append(line)
    if len(out) > lines:
        out = out[:lines]
        out[-1] += " …"
    return "\n".join(out)


def money(cost_usd: float | None) -> str:
    return "price unknown" if cost_usd is None else f"${cost_usd:,.3f}"


# --- the storyboard -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One picture of the storyboard and what led to it."""

    node: ImageNode
    number: int  # as shown (#1, #2, …): its place in the conversation's order
    came_from: int | None  # the number of the picture whose critique led to this one; None: the user's prompt
    critique: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    prompt: tuple[tuple[str, str], ...]  # prompt_diff against the picture it came from ("same" only if none)


@dataclass(frozen=True)
class Chain:
    """The pictures of one turn, in order."""

    turn: int
    frames: tuple[Frame, ...]

    @property
    def cost_usd(self) -> float | None:
        """What its pictures cost; None when one has no known price."""
        costs = [f.node.cost_usd for f in self.frames]
        return None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)


def numbers(lineage: Lineage) -> dict[str, int]:
    """Each picture's number as the page shows it: its place in order, from 1 (ids and stored indexes may repeat
    or be missing in a hand-edited file)."""
    return {node.image_id: k + 1 for k, node in enumerate(lineage.nodes)}


def storyboard(lineage: Lineage) -> tuple[Chain, ...]:
    """The pictures turn by turn, each with the critique that led to it and the words it changed in the prompt."""
    number = numbers(lineage)
    edges = {e.child: e for e in lineage.edges}
    prompts = {n.image_id: n.prompt for n in lineage.nodes}
    chains: dict[int, list[Frame]] = {}
    for node in lineage.nodes:
        edge = edges.get(node.image_id)
        frame = Frame(
            node=node,
            number=number[node.image_id],
            came_from=number[edge.parent] if edge else None,
            critique=edge.critique if edge else "",
            added=edge.added if edge else (),
            removed=edge.removed if edge else (),
            prompt=prompt_diff(prompts[edge.parent], node.prompt)
            if edge
            else ((("same", " ".join(node.prompt.split())),) if node.prompt.strip() else ()),
        )
        chains.setdefault(node.turn, []).append(frame)
    return tuple(Chain(turn, tuple(frames)) for turn, frames in chains.items())


def branches(lineage: Lineage) -> bool:
    """Whether a column of cards would mislead: a picture redrawn more than once, or one that does not redraw the
    picture just before it in its turn."""
    children = [e.parent for e in lineage.edges]
    if len(children) != len(set(children)):
        return True
    return any(
        frame.came_from is not None and frame.came_from != previous.number
        for chain in storyboard(lineage)
        for previous, frame in zip(chain.frames, chain.frames[1:])
    )


# --- the graph, for lineages that branch ----------------------------------------------------------------------------

GRAPH_WIDTH_IN = 7.0  # Graphviz `size`: the widest it draws (7 in = 504 pt ≈ 670 CSS px, inside the page's column)


def to_dot(lineage: Lineage) -> str:
    """Graphviz, top to bottom: one box per picture (its number, turn and cost over its prompt, wrapped to 30
    characters) and a critique edge (wrapped) from a picture to the one it led to. Narrow by construction, and
    `size` caps its width, so a page-width drawing keeps its text at its own size instead of scaling it down.
    Numbers match the storyboard's cards, which carry the pictures."""
    out = [
        "digraph lineage {",
        f'  rankdir=TB; nodesep=0.3; ranksep=0.35; size="{GRAPH_WIDTH_IN:g},100";',
        '  node [shape=box, style="rounded,filled", fillcolor="#f3f0ff", fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=10, color="#7a5af8"];',
    ]
    number = numbers(lineage)
    key = {node.image_id: f"n{k}" for k, node in enumerate(lineage.nodes)}  # ids from a file never reach DOT
    for node in lineage.nodes:
        head = f"#{number[node.image_id]} · turn {node.turn} · {money(node.cost_usd)}"
        out.append(f"  {key[node.image_id]} [label={_quote(head + chr(10) + _wrap(node.prompt, 30, 5), 400)}];")
    for edge in lineage.edges:
        label = _wrap("critique: " + (edge.critique or "(none)"), 28, 3)
        out.append(f"  {key[edge.parent]} -> {key[edge.child]} [label={_quote(label, 200)}];")
    out.append("}")
    return "\n".join(out)


# --- the conversation picker ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversationFacts:
    """What the picker says about a conversation with pictures."""

    id: str
    title: str  # the run's title (contract.RunTag.TITLE), else its first request; may be empty
    updated_ms: int  # its newest turn
    pictures: int | None = None  # None: not known


def _when(ms: int, tz: tzinfo, now: datetime) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz)
    year = "" if moment.year == now.year else f" {moment.year}"
    return f"{moment:%b} {moment.day}{year}, {moment:%H:%M}"


def _short(title: str, limit: int = 60) -> str:
    title = " ".join((title or "").split())
    return (title if len(title) <= limit else title[: limit - 1].rstrip() + "…") or "(untitled)"


def picker_labels(conversations: Iterable[ConversationFacts], tz: tzinfo | None = None, now_ms: int | None = None) -> dict[str, str]:
    """Conversation id → label ("Nov 26, 14:05 · a cat on a roof · 3 pictures"), newest first, one per
    conversation (the newest facts about it win), every label different: the end of the id is added only to
    labels that would otherwise be the same. Dates in `tz` (the browser's; UTC if unknown), with the year when it
    is not this year's."""
    tz = tz or timezone.utc
    now = datetime.fromtimestamp(now_ms / 1000, tz) if now_ms is not None else datetime.now(tz)
    newest: dict[str, ConversationFacts] = {}
    for facts in conversations:
        kept = newest.get(facts.id)
        if kept is None or (facts.updated_ms, bool(facts.title)) > (kept.updated_ms, bool(kept.title)):
            newest[facts.id] = facts
    ordered = sorted(newest.values(), key=lambda f: (-f.updated_ms, f.id))
    base = {}
    for f in ordered:
        parts = [_when(f.updated_ms, tz, now), _short(f.title)]
        if f.pictures is not None:
            parts.append("no pictures yet" if f.pictures == 0 else f"{f.pictures} picture{'s' * (f.pictures != 1)}")
        base[f.id] = " · ".join(parts)
    same: dict[str, list[str]] = {}
    for cid, label in base.items():
        same.setdefault(label, []).append(cid)
    labels = {}
    for cid, label in base.items():
        twins = same[label]
        if len(twins) > 1:  # the id's end tells them apart: as much of it as it takes
            size = next(n for n in (6, 12, 64) if len({t[-n:] for t in twins}) == len(twins) or n == 64)
            label = f"{label} · …{cid[-size:]}"
        labels[cid] = label
    if len(set(labels.values())) < len(labels):  # a title that spells another's label with its id: whole ids
        labels = {cid: f"{label} · {cid}" for cid, label in labels.items()}
    return labels


# --- the conversations with a lineage, from the frames ----------------------------------------------------------


def picture_conversations(frames: Frames, picture_scenarios: tuple[str, ...] = ()) -> pd.DataFrame:
    """The trace rows of conversations with a picture lineage (the lineage view's choice), newest first: those
    of scenarios that draw pictures (even before their first picture), and any other that made one."""
    with_pictures = set(frames.calls.loc[frames.calls["kind"] == "image", "trace_id"])
    rows = frames.traces[frames.traces["conversation"] != ""]
    drawing = _member(rows["trace_id"], with_pictures) | rows["scenario"].isin(picture_scenarios)
    conversations = set(rows.loc[drawing, "conversation"])
    return rows[_member(rows["conversation"], conversations)]


def lineage_choices(
    frames: Frames, picture_scenarios: tuple[str, ...] = (), titles: Mapping[str, str] | None = None
) -> list[ConversationFacts]:
    """What the lineage view's picker says of each conversation with a lineage, newest turn first: its title
    (`titles`: the runs' own, by id; else the first thing asked in its traces), when its newest turn ran and how
    many pictures its traces made (None when a tracking server's reader stopped short of some of its traces)."""
    rows = picture_conversations(frames, picture_scenarios)
    if rows.empty:
        return []
    images = frames.calls[frames.calls["kind"] == "image"].groupby("trace_id")["calls"].sum()
    rows = rows.assign(
        pictures=rows["trace_id"].map(images).fillna(0),
        read=True if frames.covered is None else _member(rows["trace_id"], set(frames.covered)),
    )
    per = rows.groupby("conversation", sort=False).agg(
        updated_ms=("timestamp_ms", "max"), pictures=("pictures", "sum"), complete=("read", "all")
    )
    first = rows.sort_values("timestamp_ms", kind="stable").drop_duplicates("conversation").set_index("conversation")
    titles = titles or {}
    found = [
        ConversationFacts(
            id=str(cid),
            title=titles.get(str(cid)) or str(first.at[cid, "request"]),
            updated_ms=int(row.updated_ms),
            pictures=int(row.pictures) if row.complete else None,
        )
        for cid, row in zip(per.index, per.itertuples())
    ]
    return sorted(found, key=lambda f: (-f.updated_ms, f.id))
