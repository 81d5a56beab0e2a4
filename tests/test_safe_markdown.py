"""ui.text.safe_markdown: what a model writes renders as markdown, and nothing in it makes the browser fetch or
run anything (the browser test tests/browser/test_markdown.py checks the same in Chromium)."""

from __future__ import annotations

import re

import pytest

from ui.text import safe_markdown

ZWSP = "\u200b"


@pytest.mark.parametrize(
    "text",
    [
        "### Main risks\n- **Wholesale softness** and *margins*\n1. one\n2. two",
        "| region | change |\n|---|---|\n| North | -12% |",
        "```python\nprint('![not a picture](http://x/y.png)', 1 < 2, '$5')\n```",
        "Use `![x](http://y/z.png)` and `<b>` literally",
        "[MLflow](https://mlflow.org) and [mail](mailto:a@b.c) and [wiki](https://en.wikipedia.org/wiki/Cat_(x))",
    ],
)
def test_what_is_safe_stays_as_written(text):
    # an image opener in code gets a zero-width space between its two characters: it shows the same
    assert safe_markdown(text).replace(ZWSP, "") == text


@pytest.mark.parametrize(
    "text, becomes",
    [
        ("![chart](http://evil.example/x.png)", "\\![chart](http://evil.example/x.png)"),
        ("![y][ref]\n[ref]: http://evil.example/x.png", "\\![y][ref]\n\\[ref\\]: http://evil.example/x.png"),
        ("\\\\![x](http://e/x.png)", "\\\\\\![x](http://e/x.png)"),  # an escaped backslash does not escape the !
        ("<img src=http://e/x.png onerror=alert(1)>", "&lt;img src=http://e/x.png onerror=alert(1)>"),
        ("<script>alert(1)</script>", "&lt;script>alert(1)&lt;/script>"),
        ("[run](javascript:alert(1))", "\\[run\\]\\(javascript\\:alert\\(1\\)\\)"),
        ("[run](JAVASCRIPT:alert(1))", "\\[run\\]\\(JAVASCRIPT\\:alert\\(1\\)\\)"),
        ("[file](file:///etc/passwd)", "\\[file\\]\\(file\\:///etc/passwd\\)"),
        ("from $4.5 million to $3 million", "from \\$4.5 million to \\$3 million"),
        ("already \\$5", "already \\$5"),
    ],
)
def test_what_could_fetch_run_or_garble_is_defused(text, becomes):
    assert safe_markdown(text) == becomes


def test_code_fences_protect_only_until_they_close():
    text = "```\n![a](http://x/a.png)\n```\n![b](http://x/b.png)\n~~~~\n<b>\n~~~~"
    # in code a zero-width space splits `![` and `<b`: it shows the same there
    assert safe_markdown(text) == f"```\n!{ZWSP}[a](http://x/a.png)\n```\n\\![b](http://x/b.png)\n~~~~\n<{ZWSP}b>\n~~~~"


@pytest.mark.parametrize(
    "text",
    [
        "\\`![x](https://evil.example/p.png)`",  # an escaped backtick opens no code span
        "```a`b\n![x](https://evil.example/p.png)\n```",  # a backtick fence's info string may not hold a backtick
        "`` ![x](https://evil.example/p.png) `",  # unbalanced backticks are no code span
    ],
)
def test_what_only_looks_like_code_still_makes_no_picture(text):
    """Found by an attacker's review: text our line rules took for code, which CommonMark does not, kept its `![`;
    now none is left unescaped anywhere."""
    out = safe_markdown(text)
    assert re.search(r"(?<!\\)((?:\\\\)*)!\[", out) is None, out


UNSAFE_LINK = re.compile(r"(?<!\\)((?:\\\\)*)\]\(\s*<?\s*(?!https?://|mailto:)", re.IGNORECASE)  # a link to anything else
DEFINITION = re.compile(r"(?<!\\)((?:\\\\)*)\]:")  # a reference definition's `]:`, at any depth
TAG = re.compile(r"<[A-Za-z/!?]")  # a tag or an autolink


@pytest.mark.parametrize(
    "text",
    [
        "\\`[x](javascript:alert(1))\\`",  # an escaped backtick opens no code span: the link is live (issue 29)
        "\\`[x](javascript:alert(1))`",
        "> [x]: javascript:alert(1)\n\n[x]",  # a reference definition in a blockquote (issue 29)
        "- [x]: javascript:alert(1)\n\n[x]",  # in a list item
        "1. > [x]: javascript:alert(1)\n\n[x]",
        "[x](\njavascript:alert(1))",  # a destination on the next line
        "[x\n](javascript:alert(1))",  # link text over two lines
        "\\`<javascript:alert(1)>\\`",  # an autolink in what only looks like code
    ],
)
def test_no_link_to_another_scheme_survives_anywhere(text):
    """The scheme filter holds on its own, without Streamlit's frontend (which drops javascript: links today):
    no `](` before an address other than http(s) or mailto, no reference definition, no autolink or tag is left
    whole in the text a markdown parser gets."""
    out = safe_markdown(text)
    assert UNSAFE_LINK.search(out) is None and DEFINITION.search(out) is None and TAG.search(out) is None, out
    assert out.replace(ZWSP, "").replace("\\", "").replace("&lt;", "<") == text.replace("\\", ""), "it reads the same"
