"""Text from traces, tags, ids and errors is data: escape it before Streamlit elements that render markdown
(st.caption, st.info, st.warning, st.error, labels), so a link, image or formula in it stays plain text."""

from __future__ import annotations

import re
from typing import Callable, Mapping

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|$~:])")


def plain(text: object) -> str:
    return _MARKDOWN.sub(r"\\\1", str(text))


def code(text: object) -> str:
    """Text as a markdown code span: shown literally (escapes would show as backslashes there), with any
    backtick that could close the span replaced."""
    return "`" + str(text).replace("`", "\u02cb") + "`"


def labelled(labels: Mapping[str, str]) -> Callable[[str], str]:
    """A widget's format_func from a mapping of its options to their labels (an option without one shows as itself)."""
    return lambda key: str(labels.get(key, key))


# --- model answers as markdown ----------------------------------------------------------------------------------------
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(?:.*?[^`])?\1(?!`)")
_LINK = re.compile(r"\[((?:[^\[\]]|\\[\[\]])*)\]\(\s*<?((?:[^()\s<>]|\([^()\s]*\))*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_REFERENCE = re.compile(r"^( {0,3})\[([^\]]+)\]:")
SAFE_SCHEMES = ("http://", "https://", "mailto:")


def safe_markdown(text: object) -> str:
    """Text from a model (or a stored transcript anyone could have written) as markdown Streamlit may render:
    headings, lists, tables, emphasis, code and web links stay; nothing makes the browser fetch anything or
    run anything. Streamlit renders no raw HTML by default, but it loads any image markdown names, renders
    `$…$` as LaTeX (money: "$4.5 million … $3 million") and keeps a link's scheme. So, outside code: `![` is
    escaped (an image becomes a link, fetched only if clicked), `<` becomes `&lt;` (HTML and autolinks show
    as text), `$` is escaped, a link whose address is not http(s) or mailto shows as text, and a reference
    definition (`[id]: address`, which images can point at) shows as text. Code blocks and spans render as
    written, but for a zero-width space inside `![`, `](`, `]:` and `<x` (`_defused_everywhere`): the filter holds
    on its own, not by Streamlit's frontend."""
    lines, fence = [], ""
    for line in str(text).split("\n"):
        opener = _FENCE.match(line)
        if fence:
            lines.append(line)
            if opener and opener.group(1)[0] == fence[0] and len(opener.group(1)) >= len(fence):
                fence = ""
        elif opener:
            fence = opener.group(1)
            lines.append(line)
        else:
            lines.append(_safe_line(line))
    return _defused_everywhere("\n".join(lines))


_IMAGE_OPENER = re.compile(r"(?<!\\)((?:\\\\)*)!\[")  # `![` that no backslash escapes
_LINK_DESTINATION = re.compile(r"(?<!\\)((?:\\\\)*)\]\((?!\s*<?\s*(?:https?://|mailto:))", re.IGNORECASE)  # `](` then not http(s)/mailto
_DEFINITION_COLON = re.compile(r"(?<!\\)((?:\\\\)*)\]:")  # `]:` that no backslash escapes: a reference definition's
_TAG_OPENER = re.compile(r"<(?=[A-Za-z/!?])")  # an HTML tag or an autolink (`<javascript:…>`)


def _defused_everywhere(text: str) -> str:
    """Whatever the lines took for code may not be code to a CommonMark parser (an escaped backtick before a code
    span, a fence whose info string holds one, unbalanced backticks), and a link or a definition may span lines
    or sit in a blockquote or list item (`> [x]: javascript:…`). So, over the whole text: no `![` (a picture), no
    `](` before an address that is not http(s) or mailto (`\\`[x](javascript:…)\\``, `[x](⏎javascript:…)`), no
    `]:` (a reference definition, at any depth) and no `<` before a tag or scheme stays whole. A zero-width space
    between the two characters shows the same in real code and breaks the syntax everywhere else; the prose rules
    above have already escaped what they saw, and an escaped character is left alone."""
    text = _IMAGE_OPENER.sub("\\1!\u200b[", text)
    text = _LINK_DESTINATION.sub("\\1]\u200b(", text)
    text = _DEFINITION_COLON.sub("\\1]\u200b:", text)
    return _TAG_OPENER.sub("<\u200b", text)


def _safe_line(line: str) -> str:
    line = _REFERENCE.sub(lambda m: f"{m.group(1)}\\[{m.group(2)}\\]:", line)
    pieces, last = [], 0
    for span in _CODE_SPAN.finditer(line):
        pieces.append(_safe_prose(line[last : span.start()]))
        pieces.append(span.group(0))
        last = span.end()
    pieces.append(_safe_prose(line[last:]))
    return "".join(pieces)


def _safe_prose(text: str) -> str:
    text = text.replace("<", "&lt;")
    # escaped unless a backslash escapes it already (an even run of backslashes escapes only itself)
    text = re.sub(r"(?<!\\)((?:\\\\)*)\$", r"\1\\$", text)
    text = re.sub(r"(?<!\\)((?:\\\\)*)!\[", r"\1\\![", text)
    return _LINK.sub(lambda m: m.group(0) if m.group(2).lower().startswith(SAFE_SCHEMES) else plain(m.group(0)), text)
