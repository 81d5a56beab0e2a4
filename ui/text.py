"""Text from traces, tags, ids and errors is data: escape it before Streamlit elements that render markdown
(st.caption, st.info, st.warning, st.error, labels), so a link, image or formula in it stays plain text."""

from __future__ import annotations

import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|$~:])")


def plain(text: object) -> str:
    return _MARKDOWN.sub(r"\\\1", str(text))


def code(text: object) -> str:
    """Text as a markdown code span: shown literally (escapes would show as backslashes there), with any
    backtick that could close the span replaced."""
    return "`" + str(text).replace("`", "\u02cb") + "`"
