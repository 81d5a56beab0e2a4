"""Render transcript entries as chat messages: who spoke (and why they were chosen), what they said, their
pictures and tool calls. Agents that answer the same message at once are shown side by side."""

from __future__ import annotations

from typing import Callable, Sequence

import streamlit as st

from ui.text import plain

AVATARS = {"user": ":material/person:", "image_agent": ":material/palette:", "critic": ":material/rate_review:",
           "analyst": ":material/query_stats:", "summarizer": ":material/summarize:",
           "planner": ":material/route:", "weather_assistant": ":material/partly_cloudy_day:"}
NAMES = {"user": "You", "image_agent": "Image agent", "critic": "Critic", "analyst": "Analyst",
         "summarizer": "Summarizer", "planner": "Planner", "weather_assistant": "Weather assistant"}
SIDE_BY_SIDE = ("analyst", "summarizer")  # they answer the same message at the same time

ImageLookup = Callable[[str], "bytes | None"]


def _body(entry: dict, image_bytes: ImageLookup) -> None:
    image_id = entry.get("image_id")
    if image_id:
        png = image_bytes(image_id)
        if png:
            st.image(png, caption=plain(entry.get("text", "")[:300]), width=420)  # captions render markdown
        else:
            st.warning(f"Picture {image_id} is not in the store any more.")
            st.text(entry.get("text", ""))
        if entry.get("note"):
            st.caption(entry["note"])
    else:
        # Model output is data: st.text never interprets markup; user text keeps its line breaks too.
        st.text(entry.get("text", ""))


def render_entry(entry: dict, image_bytes: ImageLookup) -> None:
    name = entry.get("name", "assistant")
    role = entry.get("role")
    if role == "notice":
        st.info(entry.get("text", ""))
        return
    if role == "tool":
        with st.chat_message("tool", avatar=":material/build:"):
            label = f"Tool call by {NAMES.get(name, name)}" + (" — failed" if entry.get("is_error") else "")
            st.caption(label)
            st.code(entry.get("text", ""), language=None, wrap_lines=True)
        return
    with st.chat_message("user" if name == "user" else name, avatar=AVATARS.get(name, ":material/smart_toy:")):
        if name != "user":
            st.markdown(f"**{NAMES.get(name, name)}**")
            if entry.get("why"):
                st.caption(f"Speaks now — {entry['why']}")
        _body(entry, image_bytes)
        if entry.get("asks_user"):
            st.caption(":material/front_hand: Waiting for your answer.")


def render_transcript(entries: Sequence[dict], image_bytes: ImageLookup) -> None:
    """Entries in order; answers of agents that work at once (same turn) go into columns."""
    i = 0
    while i < len(entries):
        entry = entries[i]
        group = []
        while (i < len(entries) and entries[i].get("name") in SIDE_BY_SIDE and entries[i].get("role") == "assistant"
               and entries[i].get("turn") == entry.get("turn")):
            group.append(entries[i])
            i += 1
        if len(group) > 1:
            columns = st.columns(len(group))
            for column, member in zip(columns, sorted(group, key=lambda e: SIDE_BY_SIDE.index(e["name"]))):
                with column:
                    render_entry(member, image_bytes)
            continue
        if group:  # a single one: nothing to put beside it
            render_entry(group[0], image_bytes)
            continue
        render_entry(entry, image_bytes)
        i += 1
