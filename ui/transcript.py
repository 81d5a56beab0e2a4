"""Render transcript entries as chat messages: who spoke (and why they were chosen), what they said, their
pictures and tool calls. Agents that answer the same message at once are shown side by side."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import streamlit as st

from core import redact, scenarios
from core.records import TranscriptEntry, TurnUsage
from ui.text import plain, safe_markdown

ImageLookup = Callable[[str], "bytes | None"]
AfterTurn = Callable[[str], None]  # draws what goes under a finished turn, given its trace id (ui.feedback)


def side_by_side(scenario: str) -> tuple[str, ...]:
    """The agents of a scenario that answer the same message at once (shown in columns), in their order."""
    chosen = scenarios.find(scenario)
    return tuple(a.name for a in chosen.agents) if chosen is not None and chosen.side_by_side else ()


def _label(name: str, scenario: str | None) -> str:
    return "You" if name == "user" else scenarios.agent_label(name, scenario)


def _avatar(name: str, scenario: str | None) -> str:
    return ":material/person:" if name == "user" else scenarios.agent_icon(name, scenario)


def _body(entry: TranscriptEntry, image_bytes: ImageLookup) -> None:
    image_id = entry.get("image_id")
    if image_id:
        png = image_bytes(image_id)
        if png:
            st.image(png, caption=plain(entry.get("text", "")[:300]), width=420)  # captions render markdown
        else:
            st.warning(plain(f"Picture {image_id} is not in the store any more."))
            st.text(entry.get("text", ""))
        if entry.get("note"):
            st.caption(plain(entry["note"]))
    elif entry.get("role") == "assistant":
        # models answer in markdown: rendered, with nothing fetched or run (ui.text.safe_markdown)
        st.markdown(safe_markdown(entry.get("text", "")))
    else:
        st.text(entry.get("text", ""))  # what the user typed stays as typed, line breaks included


def usage_line(usage: TurnUsage) -> str:
    """A turn's figures as one caption: tokens in and out, cost, models, time (its links: `turn_links`)."""
    cost = usage.get("cost_usd")
    parts = [tokens_part(usage), "cost unknown" if cost is None else f"\\${cost:.4f}"]
    models = ", ".join(usage.get("models") or [])
    if usage.get("pictures"):
        models += f" ({usage['pictures']} picture{'s' if usage['pictures'] != 1 else ''})"
    if models:
        parts.append(plain(models))
    if usage.get("picture_note"):  # what MLflow's catalog did not know about the pictures' price
        parts.append(plain(str(usage["picture_note"])))
    parts.append(f"{usage.get('seconds', 0):.1f} s")
    return " · ".join(parts)


@dataclass(frozen=True)
class TurnLink:
    label: str
    page: str  # the page's script, as streamlit_app.py registers it (ui.navigation.pages)
    query_params: dict[str, str]
    icon: str
    help: str


def turn_links(usage: TurnUsage, conversation: str | None = None, turn: int | None = None) -> list[TurnLink]:
    """The links under a turn: its trace (the Traces page's Trace list), its conversation's lineage when it made
    pictures (the Image lineage tab), and "run again with…" (the Compare page: fork, grid, compare). Only ids
    make links: nothing else from a transcript reaches an address. They carry no identity: the target page
    knows the visitor by their sign-in, or an anonymous one by their browser's cookie (core.identity)."""
    links = []
    trace_id = usage.get("trace_id") or ""
    if _TRACE_ID.fullmatch(trace_id):
        links.append(TurnLink("open the trace", "pages/traces.py", {"trace": trace_id}, ":material/account_tree:", "This turn's trace"))
    if usage.get("pictures") and conversation and _HEX_ID.fullmatch(conversation):
        links.append(
            TurnLink(
                "lineage", "pages/traces.py", {"conversation": conversation}, ":material/family_history:", "Where each picture came from"
            )
        )
    if turn and conversation and _HEX_ID.fullmatch(conversation):
        query = {"conversation": conversation, "turn": str(int(turn))}
        links.append(TurnLink("run again with…", "pages/compare.py", query, ":material/call_split:", "This turn again with other settings"))
    return links


def _links(links: list[TurnLink]) -> None:
    """In a row, switching page in this tab (this session: no new one to start); a middle click or the link's
    context menu still opens a new tab, the address carrying the same query parameters."""
    if not links:
        return
    with st.container(horizontal=True, gap="small"):
        for link in links:
            st.page_link(link.page, label=link.label, icon=link.icon, help=link.help, query_params=link.query_params)


def tokens_part(usage: TurnUsage) -> str:
    """ "1,200 tokens in (1,000 cached) · 80 out": what the provider bills, cached input named (it costs less);
    calls whose server reported no usage are said, never counted as 0."""
    unknown = int(usage.get("unknown_calls") or 0)
    tokens_in, tokens_out = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
    if unknown and not (tokens_in or tokens_out):
        return "tokens unknown (the server reported none)"
    cached = int(usage.get("cached_tokens") or 0)
    reasoning = int(usage.get("reasoning_tokens") or 0)
    text = f"{tokens_in:,} tokens in{f' ({cached:,} cached)' if cached else ''} · {tokens_out:,} out"
    text += f" ({reasoning:,} reasoning)" if reasoning else ""
    if unknown:
        text += f" + {unknown} call{'s' if unknown != 1 else ''} with tokens unknown"
    return text


_TRACE_ID = re.compile(r"tr-[0-9a-f]{32}")
_HEX_ID = re.compile(r"[0-9a-f]{32}")  # a conversation (run) id


def render_entry(
    entry: TranscriptEntry,
    image_bytes: ImageLookup,
    scenario: str | None = None,
    conversation: str | None = None,
    links: bool = True,
    after_turn: AfterTurn | None = None,
) -> None:
    """One line of the chat; `scenario` (the conversation's) says how its agents are named. A turn's last
    line carries the turn's figures, shown under it, with links to its trace and lineage (`turn_links`), and
    then `after_turn` (the rating) when its trace is known."""
    _render_line(entry, image_bytes, scenario)
    if entry.get("usage"):
        st.caption(usage_line(entry["usage"]))
        if links:
            _links(turn_links(entry["usage"], conversation, entry.get("turn")))
        trace_id = entry["usage"].get("trace_id") or ""
        if after_turn is not None and _TRACE_ID.fullmatch(trace_id):
            after_turn(trace_id)


def _render_line(entry: TranscriptEntry, image_bytes: ImageLookup, scenario: str | None) -> None:
    name = entry.get("name", "assistant")
    role = entry.get("role")
    if role == "notice":  # stored text, written by this app or by other code: never rendered (ui.text.plain)
        st.info(plain(entry.get("text", "")))
        return
    if role == "tool":
        with st.chat_message("tool", avatar=":material/build:"):
            label = f"Tool call by {_label(name, scenario)}" + (" — failed" if entry.get("is_error") else "")
            st.caption(plain(label))
            st.code(entry.get("text", ""), language=None, wrap_lines=True)
        return
    with st.chat_message("user" if name == "user" else name, avatar=_avatar(name, scenario)):
        if name != "user":
            st.markdown(f"**{plain(_label(name, scenario))}**")
            if entry.get("why"):
                st.caption(plain(f"Speaks now — {entry['why']}"))
        _body(entry, image_bytes)
        if entry.get("asks_user"):
            st.caption(":material/front_hand: Waiting for your answer.")


def render_live(name: str, text: str, scenario: str | None) -> None:
    """An answer still being written (token streaming): the agent's name and the text so far, with a cursor. The
    whole text so far is scrubbed each time (core.redact), so a key the model writes over several pieces is
    found too."""
    with st.chat_message(name, avatar=_avatar(name, scenario)):
        st.markdown(f"**{plain(_label(name, scenario))}**")
        st.markdown(safe_markdown(redact.scrub(text)) + " ▌")


def render_transcript(
    entries: Sequence[TranscriptEntry],
    image_bytes: ImageLookup,
    scenario: str,
    conversation: str | None = None,
    links: bool = True,
    after_turn: AfterTurn | None = None,
) -> None:
    """Entries in order; answers of agents that work at once (same turn) go into columns. `conversation` (its
    run id) goes into the links under each turn (none when `links` is False); `after_turn` under each finished
    turn."""
    together = side_by_side(scenario)
    i = 0
    while i < len(entries):
        entry = entries[i]
        group = []
        while (
            i < len(entries)
            and entries[i].get("name") in together
            and entries[i].get("role") == "assistant"
            and entries[i].get("turn") == entry.get("turn")
        ):
            group.append(entries[i])
            i += 1
        if len(group) > 1:
            columns = st.columns(len(group))
            for column, member in zip(columns, sorted(group, key=lambda e: together.index(e["name"]))):
                with column:
                    render_entry(member, image_bytes, scenario, conversation, links, after_turn)
            continue
        if group:  # a single one: nothing to put beside it
            render_entry(group[0], image_bytes, scenario, conversation, links, after_turn)
            continue
        render_entry(entry, image_bytes, scenario, conversation, links, after_turn)
        i += 1
