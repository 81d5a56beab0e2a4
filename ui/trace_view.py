"""Draws one span's story (core.reading.story) in Streamlit: a chat per model call, with the pictures inline and the
tool calls as calls; anything else as data. Every word comes from a trace anyone could have written: prompts
and tool results are plain text, answers safe markdown (ui.text)."""

from __future__ import annotations

from typing import Callable

import streamlit as st

from core.reading.story import ChatLine, SpanStory, arguments_text
from ui.text import code, plain, safe_markdown

AVATARS = {"system": ":material/settings:", "user": "user", "assistant": "assistant", "tool": ":material/build:"}


def _words(line: ChatLine) -> None:
    if not line.text:
        return
    if line.role == "assistant":
        st.markdown(safe_markdown(line.text))
    else:  # instructions and prompts keep their line breaks, and show literally
        st.markdown(plain(line.text).replace("\n", "  \n"))


def show_story(story: SpanStory, picture: Callable[[str], bytes | None]) -> None:
    if story.failure is not None:
        st.error(plain(f"Failed here: {story.failure.message}"), icon=":material/error:")
    for line in story.chat:
        with st.chat_message(line.role, avatar=AVATARS.get(line.role)):
            st.caption(plain(" · ".join(x for x in (line.role, line.name) if x)))
            _words(line)
            for address in line.pictures:
                png = picture(address)
                if png:
                    st.image(png, width=256)
                else:
                    st.caption("A picture this trace names could not be read (deleted, or not a picture).")
            for size in line.missing_pictures:
                st.caption(plain(f"A picture ({size}) was here; this trace kept only its place."))
            for call in line.tool_calls:
                st.markdown(f"**Calls** {code(call.name)}")
                st.code(arguments_text(call.arguments), language="json", wrap_lines=True)
    if story.data:
        if story.chat:
            with st.expander("Other details"):
                st.json(story.data, expanded=1)
        else:
            st.json(story.data, expanded=1)  # data, never markup
