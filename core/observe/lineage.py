"""Image lineage of a Catify conversation: prompt → image → critique → new prompt → image, built from the
run's image_lookup.json (written as each picture is made), with what changed between prompts."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Mapping


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


def prompt_change(old: str, new: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(words added, words removed) from one prompt to the next."""
    a, b = re.findall(r"\S+", old or ""), re.findall(r"\S+", new or "")
    added, removed = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op in ("replace", "delete"):
            removed.extend(a[i1:i2])
        if op in ("replace", "insert"):
            added.extend(b[j1:j2])
    return tuple(added), tuple(removed)


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
        nodes.append(ImageNode(
            image_id=str(image_id), index=_number(entry.get("index"), int, len(nodes)),
            turn=_number(entry.get("turn"), int, 0), prompt=str(entry.get("prompt") or ""),
            model=str(entry.get("model") or ""), cost_usd=_number(entry.get("cost_usd"), float, None),
            trace_id=str(entry.get("trace_id") or ""), parent=str(entry["parent"]) if entry.get("parent") else None,
            critique=str(entry.get("critique") or "")))
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
    words, out, line = re.findall(r"\S+", text or ""), [], ""
    for word in words:
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


def to_dot(lineage: Lineage) -> str:
    """Graphviz, one row per picture: its prompt (box) → the picture (index, turn, cost); a critique edge runs
    from a picture down to the prompt it led to."""
    out = ["digraph lineage {", "  rankdir=TB; nodesep=0.6; ranksep=0.5;", '  node [fontname="Helvetica", fontsize=10];',
           '  edge [fontname="Helvetica", fontsize=9];']
    key = {node.image_id: f"n{k}" for k, node in enumerate(lineage.nodes)}  # ids from a file never reach DOT
    for node in lineage.nodes:
        cost = "" if node.cost_usd is None else f"\n${node.cost_usd:.3f}"
        k = key[node.image_id]
        out.append(f'  p{k} [shape=box, style="rounded,filled", fillcolor="#f3f0ff", label={_quote(_wrap(node.prompt), 400)}];')
        out.append(f'  i{k} [shape=ellipse, style=filled, fillcolor="#fff3d6", '
                   f'label={_quote(f"picture #{node.index + 1} (turn {node.turn}){cost}", 80)}];')
        out.append(f'  p{k} -> i{k} [label="draw"];')
        out.append(f'  {{ rank=same; p{k}; i{k}; }}')  # one row per picture: its prompt, then the picture
    for edge in lineage.edges:
        label = "critique: " + (edge.critique or "(none)")
        out.append(f'  i{key[edge.parent]} -> p{key[edge.child]} [label={_quote(label, 60)}, color="#7a5af8"];')
    out.append("}")
    return "\n".join(out)
