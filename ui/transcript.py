"""Render transcript entries as chat messages: who spoke, what they said, their pictures."""

from __future__ import annotations

from typing import Callable

import streamlit as st

AVATARS = {"user": ":material/person:", "image_agent": ":material/palette:", "critic": ":material/rate_review:"}
NAMES = {"user": "You", "image_agent": "Image agent", "critic": "Critic"}


def render_entry(entry: dict, image_bytes: Callable[[str], bytes | None]) -> None:
    name = entry.get("name", "assistant")
    if entry.get("role") == "notice":
        st.info(entry.get("text", ""))
        return
    with st.chat_message("user" if name == "user" else name, avatar=AVATARS.get(name, ":material/smart_toy:")):
        if name != "user":
            st.markdown(f"**{NAMES.get(name, name)}**")
        image_id = entry.get("image_id")
        if image_id:
            png = image_bytes(image_id)
            if png:
                st.image(png, caption=entry.get("text", "")[:300], width=420)
            else:
                st.warning(f"Picture {image_id} is not in the store any more.")
                st.text(entry.get("text", ""))
            if entry.get("note"):
                st.caption(entry["note"])
        else:
            # Model output is data: st.text never interprets markup; user text keeps its line breaks too.
            st.text(entry.get("text", ""))
