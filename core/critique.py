"""Read a vision critic's reply in the seed's `CRITICS: ... / PROMPT: ...` format, as real models write it:
markdown, quotes, other letter case, a prompt over several lines, or no prompt at all."""

from __future__ import annotations

import re
from dataclasses import dataclass

_LABEL = r"[\s>*_#`-]*(?P<label>critics?|critique|prompt|new prompt|improved prompt)[\s*_`]*:[\s*_`]*"
_LABEL_RE = re.compile(rf"^{_LABEL}", re.IGNORECASE | re.MULTILINE)
_QUOTES = "\"'“”‘’`"
_CLOSER = {"“": "”", "‘": "’"}
_OPENER = {"”": "“", "’": "‘"}
MAX_PROMPT_CHARS = 4000


@dataclass(frozen=True)
class Critique:
    critique: str
    prompt: str | None  # None: the reply had no usable prompt; the caller keeps the previous one

    @property
    def has_prompt(self) -> bool:
        return bool(self.prompt)


def parse(reply: str) -> Critique:
    """Split a critic reply into its critique and its new prompt (None when there is no usable prompt)."""
    text = (reply or "").replace("\r\n", "\n").strip()
    # "CRITICS: ... PROMPT: ..." on one line: give each label (upper or title case) a line of its own
    text = re.sub(r"[ \t]+(?=(?:\*\*)?(?:CRITICS|PROMPT)(?:\*\*)?:)", "\n", text)
    text = re.sub(r"(?<=[.!?])[ \t]+(?=(?:\*\*)?(?:Critics|Prompt)(?:\*\*)?:)", "\n", text)  # after a sentence
    sections: dict[str, str] = {}
    matches = list(_LABEL_RE.finditer(text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        kind = "prompt" if "prompt" in match.group("label").lower() else "critique"
        sections.setdefault(kind, text[match.end() : end])
    if "critique" not in sections:
        first = matches[0].start() if matches else len(text)
        sections["critique"] = text[:first]
    prompt = _clean(sections.get("prompt", ""))
    return Critique(critique=_clean(sections["critique"]) or "(no critique given)", prompt=prompt or None)


def _clean(section: str) -> str:
    lines = [line.strip() for line in section.strip().splitlines()]
    lines = [re.sub(r"^(?:[-*>]\s+|#+\s*)", "", line) for line in lines if line and not line.startswith("```")]
    joined = " ".join(lines).strip()
    joined = re.sub(r"\*\*|__", "", joined).strip()
    while len(joined) >= 2 and joined[0] in _QUOTES and joined[-1] in _QUOTES:
        joined = joined[1:-1].strip()
    # a quote opened and never closed (or closed and never opened); a quoted phrase at the end stays whole
    if joined and joined[0] in _QUOTES and _CLOSER.get(joined[0], joined[0]) not in joined[1:]:
        joined = joined[1:].strip()
    if joined and joined[-1] in _QUOTES and _OPENER.get(joined[-1], joined[-1]) not in joined[:-1]:
        joined = joined[:-1].strip()
    return joined[:MAX_PROMPT_CHARS]
