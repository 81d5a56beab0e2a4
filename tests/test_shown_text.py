"""What the app shows reads on any machine (issue 32, finding 9): no emoji in pages/, ui/ or core/, since an emoji
shows as a box where no emoji font is installed (a server's Chromium, many Linux desktops). Markers are Material
icons (":material/thumb_up:") or words."""

from __future__ import annotations

import re

from conftest import ROOT

EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f]")


def test_no_emoji_in_what_the_pages_show():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for folder in ("pages", "ui", "core")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if EMOJI.search(line)
    ]
    assert not found, "\n".join(found)
