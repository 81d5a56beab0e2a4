"""Critic replies as real models write them → (critique, new prompt or None)."""

from __future__ import annotations

import pytest

from core.critique import MAX_PROMPT_CHARS, parse
from core.demo.drawing import PictureStats
from core.runtimes.agentchat.demo_models import critic_reply

CASES = [
    # (id, reply, critique, prompt)
    ("plain", "CRITICS: Too dark.\nPROMPT: a bright cat", "Too dark.", "a bright cat"),
    ("crlf", "CRITICS: Too dark.\r\nPROMPT: a bright cat\r\n", "Too dark.", "a bright cat"),
    ("markdown bold labels", "**CRITICS:** Too dark.\n**PROMPT:** a bright cat", "Too dark.", "a bright cat"),
    ("markdown bold, colon outside", "**CRITICS**: Too dark.\n**PROMPT**: a bright cat", "Too dark.", "a bright cat"),
    ("markdown italic labels", "_CRITICS:_ Too dark.\n_PROMPT:_ a bright cat", "Too dark.", "a bright cat"),
    ("markdown headings", "### Critics:\nToo dark.\n\n### Prompt:\na bright cat", "Too dark.", "a bright cat"),
    ("bold inside the prompt", "CRITICS: Too dark.\nPROMPT: a **bright** cat", "Too dark.", "a bright cat"),
    ("straight double quotes", 'CRITICS: Too dark.\nPROMPT: "a bright cat"', "Too dark.", "a bright cat"),
    ("straight single quotes", "CRITICS: Too dark.\nPROMPT: 'a bright cat'", "Too dark.", "a bright cat"),
    ("curly double quotes", "CRITICS: Too dark.\nPROMPT: “a bright cat”", "Too dark.", "a bright cat"),
    ("curly single quotes", "CRITICS: Too dark.\nPROMPT: ‘a bright cat’", "Too dark.", "a bright cat"),
    ("backticks", "CRITICS: Too dark.\nPROMPT: `a bright cat`", "Too dark.", "a bright cat"),
    ("quote opened, never closed", 'CRITICS: Too dark.\nPROMPT: "a bright cat', "Too dark.", "a bright cat"),
    (
        "quoted phrase at the end stays whole",
        'CRITICS: Too dark.\nPROMPT: a neon sign that says "MEOW"',
        "Too dark.",
        'a neon sign that says "MEOW"',
    ),
    ("single-quoted phrase at the end", "CRITICS: ok\nPROMPT: a sign reading 'cats only'", "ok", "a sign reading 'cats only'"),
    ("nested quotes", "CRITICS: ok\nPROMPT: “a banner saying ‘hi’”", "ok", "a banner saying ‘hi’"),
    ("apostrophe kept", "CRITICS: ok\nPROMPT: the cat's toy", "ok", "the cat's toy"),
    ("title case labels", "Critics: Too dark.\nPrompt: a bright cat", "Too dark.", "a bright cat"),
    ("lower case labels", "critics: Too dark.\nprompt: a bright cat", "Too dark.", "a bright cat"),
    ("other label words", "Critique: Too dark.\nNew prompt: a bright cat", "Too dark.", "a bright cat"),
    ("improved prompt label", "CRITIQUE: Too dark.\nImproved Prompt: a bright cat", "Too dark.", "a bright cat"),
    (
        "prompt over several lines",
        "CRITICS: Too dark.\nPROMPT: a bright cat\nsitting on a red sofa\n  in the sun",
        "Too dark.",
        "a bright cat sitting on a red sofa in the sun",
    ),
    ("prompt starts on the next line", "CRITICS: Too dark.\n\nPROMPT:\n\n   a bright cat   \n\n", "Too dark.", "a bright cat"),
    ("critique over several lines", "CRITICS: Too dark.\nToo few cats.\nPROMPT: a bright cat", "Too dark. Too few cats.", "a bright cat"),
    ("both labels on one line", "CRITICS: Too dark. PROMPT: a bright cat", "Too dark.", "a bright cat"),
    ("both bold labels on one line", "**CRITICS:** Too dark. **PROMPT:** a bright cat", "Too dark.", "a bright cat"),
    ("no PROMPT at all", "CRITICS: Too dark, and that is all.", "Too dark, and that is all.", None),
    ("no labels at all", "I think this picture is too dark.", "I think this picture is too dark.", None),
    ("empty PROMPT", "CRITICS: Too dark.\nPROMPT:", "Too dark.", None),
    ("blank PROMPT", "CRITICS: Too dark.\nPROMPT:    \n\n", "Too dark.", None),
    ("empty quoted PROMPT", 'CRITICS: Too dark.\nPROMPT: ""', "Too dark.", None),
    ("empty curly quoted PROMPT", "CRITICS: Too dark.\nPROMPT: “”", "Too dark.", None),
    ("code fence around the prompt", "CRITICS: Too dark.\nPROMPT:\n```\na bright cat\n```", "Too dark.", "a bright cat"),
    ("code fence around everything", "```text\nCRITICS: Too dark.\nPROMPT: a bright cat\n```", "Too dark.", "a bright cat"),
    ("leading chatter", "Sure! Here is my review of the picture.\n\nCRITICS: Too dark.\nPROMPT: a bright cat", "Too dark.", "a bright cat"),
    ("dash bullets", "- CRITICS: Too dark.\n- PROMPT: a bright cat", "Too dark.", "a bright cat"),
    ("star bullets with bold", "* **CRITICS:** Too dark.\n* **PROMPT:** a bright cat", "Too dark.", "a bright cat"),
    (
        "bullets inside the critique",
        "CRITICS:\n- Too dark.\n- Too few cats.\nPROMPT: a bright cat",
        "Too dark. Too few cats.",
        "a bright cat",
    ),
    ("block quote", "> CRITICS: Too dark.\n> PROMPT: a bright cat", "Too dark.", "a bright cat"),
    ("prompt before critique", "PROMPT: a bright cat\nCRITICS: Too dark.", "Too dark.", "a bright cat"),
    ("first PROMPT wins", "CRITICS: Too dark.\nPROMPT: a bright cat\nPROMPT: a dog", "Too dark.", "a bright cat"),
    (
        "the word prompt inside the critique",
        "CRITICS: The prompt is weak; make it bright.\nPROMPT: a bright cat",
        "The prompt is weak; make it bright.",
        "a bright cat",
    ),
    ("colon inside the prompt", "CRITICS: ok\nPROMPT: a cat: bright and happy", "ok", "a cat: bright and happy"),
    ("only a prompt", "PROMPT: a bright cat", "(no critique given)", "a bright cat"),
    ("empty reply", "", "(no critique given)", None),
]


@pytest.mark.parametrize("reply, critique, prompt", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_parse(reply, critique, prompt):
    result = parse(reply)
    assert (result.critique, result.prompt) == (critique, prompt)
    assert result.has_prompt is (prompt is not None)


def test_parse_none_reply():
    result = parse(None)  # type: ignore[arg-type]
    assert result.prompt is None and not result.has_prompt
    assert result.critique


def test_prompt_is_capped():
    result = parse("CRITICS: long\nPROMPT: " + "cat " * 5000)
    assert result.prompt is not None
    assert len(result.prompt) == MAX_PROMPT_CHARS
    assert result.prompt.startswith("cat cat")


def test_demo_critic_format_round_trips():
    reply = critic_reply("a cat", PictureStats(0.1, 0.05, 0.3, 512, 512), "Add fluffy cats. At least 100.")
    result = parse(reply)
    assert result.prompt is not None and result.prompt.startswith("a cat — with ")
    assert "dark" in result.critique and "PROMPT" not in result.critique


def test_title_case_labels_on_one_line_split_after_a_sentence():
    assert parse("Critics: too dark. Prompt: a bright room") == parse("Critics: too dark.\nPrompt: a bright room")
    assert parse("Critics: too dark. Prompt: a bright room").prompt == "a bright room"
