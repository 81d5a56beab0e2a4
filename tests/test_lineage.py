"""The lineage view's pure parts (core.reading.lineage, core.traces.lineage_choices): the storyboard and the words
each critique changed, the graph kept for branching lineages (narrow, capped in width), and the conversation
picker's labels (one per conversation, title and date, newest first, an id's end only where labels collide)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pandas as pd

from core import traces
from core.conversations import Conversation
from core.reading import lineage

NOW = int(datetime(2026, 11, 26, 18, 0, tzinfo=timezone.utc).timestamp() * 1000)
AT_1405 = int(datetime(2026, 11, 26, 14, 5, tzinfo=timezone.utc).timestamp() * 1000)
CHAIN = {  # one Catify turn of two iterations, then a second turn
    "p1": {"index": 0, "turn": 1, "prompt": "a cat on a mat", "cost_usd": 0.04, "model": "dall-e-3"},
    "p2": {
        "index": 1,
        "turn": 1,
        "prompt": "three cats on a red mat",
        "parent": "p1",
        "critique": "too plain",
        "cost_usd": 0.04,
        "model": "dall-e-3",
    },
    "p3": {
        "index": 2,
        "turn": 1,
        "prompt": "three cats on a red mat at dusk",
        "parent": "p2",
        "critique": "light is flat",
        "cost_usd": None,
        "model": "dall-e-3",
    },
    "p4": {"index": 3, "turn": 2, "prompt": "a dog", "cost_usd": 0.0},
}


def test_the_storyboard_goes_picture_critique_picture_with_the_words_changed():
    board = lineage.storyboard(lineage.build(CHAIN))
    assert [c.turn for c in board] == [1, 2]
    first, second = board
    assert [f.number for f in first.frames] == [1, 2, 3] and [f.number for f in second.frames] == [4]
    assert [f.came_from for f in first.frames] == [None, 1, 2] and second.frames[0].came_from is None
    assert [f.critique for f in first.frames] == ["", "too plain", "light is flat"]
    two = first.frames[1]
    assert two.added == ("three", "cats", "red") and two.removed == ("a", "cat")
    assert two.prompt == (("removed", "a cat"), ("added", "three cats"), ("same", "on a"), ("added", "red"), ("same", "mat"))
    assert first.frames[2].prompt == (("same", "three cats on a red mat"), ("added", "at dusk"))
    assert first.frames[0].prompt == (("same", "a cat on a mat"),), "the user's prompt: nothing to compare with"
    assert first.cost_usd is None, "one picture without a price: the turn's cost is not known"
    assert second.cost_usd == 0.0 and lineage.money(0.04) == "$0.0400" and lineage.money(None) == "price unknown"


def test_prompt_diff_keeps_every_word_of_both_prompts_in_place():
    old, new = "a  cat\non a mat", "three cats on a red mat"
    runs = lineage.prompt_diff(old, new)
    assert " ".join(text for kind, text in runs if kind != "removed") == new
    assert " ".join(text for kind, text in runs if kind != "added") == " ".join(old.split())
    assert lineage.prompt_diff("same words", "same words") == (("same", "same words"),)
    assert lineage.prompt_diff("", "") == ()


def test_numbers_follow_the_order_even_when_stored_indexes_repeat():
    graph = lineage.build({"a": {"index": 0, "turn": 1, "prompt": "x"}, "b": {"index": 0, "turn": 1, "prompt": "y", "parent": "a"}})
    assert [f.number for f in lineage.storyboard(graph)[0].frames] == [1, 2]


def test_a_chain_does_not_branch_a_picture_redrawn_twice_does():
    assert not lineage.branches(lineage.build(CHAIN))
    twice = {**CHAIN, "p3": {**CHAIN["p3"], "parent": "p1"}}  # #2 and #3 both redraw #1
    assert lineage.branches(lineage.build(twice))
    skipping = {k: v for k, v in CHAIN.items() if k != "p2"}
    skipping["p3"] = {**CHAIN["p3"], "parent": "p1"}
    assert not lineage.branches(lineage.build(skipping)), "#3 redraws the picture just before it in its turn"
    out_of_order = {**CHAIN, "p4": {"index": 3, "turn": 1, "prompt": "a dog", "parent": "p1"}}
    assert lineage.branches(lineage.build(out_of_order))


def test_the_graph_is_narrow_top_to_bottom_and_capped_in_width():
    long_prompt = " ".join(["a very detailed painting of a ginger cat sleeping on a sunny window sill"] * 4)
    graph = lineage.build(
        {
            "a": {"index": 0, "turn": 1, "prompt": long_prompt, "cost_usd": 0.04},
            "b": {
                "index": 1,
                "turn": 1,
                "prompt": long_prompt + " at night",
                "parent": "a",
                "critique": "The light is too flat and the cat is too small in the frame; " * 3,
            },
            "c": {"index": 2, "turn": 1, "prompt": "x" * 90, "parent": "a"},
        }
    )
    dot = lineage.to_dot(graph)
    assert "rankdir=TB" in dot and f'size="{lineage.GRAPH_WIDTH_IN:g},100"' in dot
    assert "rank=same" not in dot, "no rows of side-by-side nodes"
    labels = re.findall(r'label="((?:[^"\\]|\\.)*)"', dot)
    assert len(labels) == 3 + 2
    lines = [line for label in labels for line in label.split("\\n")]
    assert max(len(line) for line in lines) <= 32, "every label wrapped (the head line is short)"
    assert sum(label.count("\\n") for label in labels[:3]) <= 3 * 5, "at most 5 lines of prompt per picture"
    assert labels[0].startswith("#1 · turn 1 · $0.0400\\n") and labels[3].startswith("critique: The light")


def test_picker_labels_one_per_conversation_by_title_and_date_newest_first():
    a, b, c = "a" * 32, "b" * 32, "c" * 32
    facts = [
        lineage.ConversationFacts(a, "a cat on a roof", AT_1405, 3),
        lineage.ConversationFacts(b, "  a dog\n in a  hat ", AT_1405 + 60_000, 1),
        lineage.ConversationFacts(a, "a cat on a roof", AT_1405 - 3_600_000, 2),  # the same one, older facts
        lineage.ConversationFacts(c, "", NOW - 400 * 86_400_000, 0),
    ]
    labels = lineage.picker_labels(facts, now_ms=NOW)
    assert list(labels) == [b, a, c]
    assert labels == {
        b: "Nov 26, 14:06 · a dog in a hat · 1 picture",
        a: "Nov 26, 14:05 · a cat on a roof · 3 pictures",
        c: "Oct 22 2025, 18:00 · (untitled) · no pictures yet",
    }
    denver = lineage.picker_labels(facts[:1], tz=ZoneInfo("America/Denver"), now_ms=NOW)
    assert denver[a].startswith("Nov 26, 07:05 · "), "in the browser's time zone"
    assert (
        lineage.picker_labels([lineage.ConversationFacts(a, "t" * 100, AT_1405)], now_ms=NOW)[a] == "Nov 26, 14:05 · " + "t" * 59 + "…"
    ), "long titles cut; no picture count when it is not known"


def test_picker_labels_add_the_ids_end_only_where_two_would_read_the_same():
    one, two, three = "1" * 26 + "abcdef", "2" * 26 + "fedcba", "3" * 32
    near, twin = "9" * 20 + "111111abcdef", "8" * 20 + "222222abcdef"  # the same last six characters
    labels = lineage.picker_labels(
        [
            lineage.ConversationFacts(one, "a cat", AT_1405, 2),
            lineage.ConversationFacts(two, "a cat", AT_1405, 2),
            lineage.ConversationFacts(three, "a cat", AT_1405 + 60_000, 2),
            lineage.ConversationFacts(near, "a dog", AT_1405, 1),
            lineage.ConversationFacts(twin, "a dog", AT_1405, 1),
        ],
        now_ms=NOW,
    )
    assert len(set(labels.values())) == len(labels) == 5
    assert labels[three] == "Nov 26, 14:06 · a cat · 2 pictures", "a different minute tells it apart: no id"
    assert labels[one].endswith(" · …abcdef") and labels[two].endswith(" · …fedcba")
    assert labels[near].endswith(" · …111111abcdef") and labels[twin].endswith(" · …222222abcdef")
    spoof = lineage.picker_labels(
        [
            lineage.ConversationFacts(one, "a cat", AT_1405),
            lineage.ConversationFacts(two, "a cat", AT_1405),
            lineage.ConversationFacts(three, "a cat · …abcdef", AT_1405),
        ],
        now_ms=NOW,
    )
    assert len(set(spoof.values())) == 3, "a title spelling another's label still cannot make two the same"


def test_lineage_choices_one_per_conversation_newest_first_with_pictures_counted():
    rows = pd.DataFrame(
        [  # newest first, as the readers give them
            {"trace_id": "t4", "timestamp_ms": 4000, "scenario": "weather", "conversation": "w" * 32, "request": "rain?"},
            {"trace_id": "t3", "timestamp_ms": 3000, "scenario": "catify", "conversation": "b" * 32, "request": "a dog"},
            {"trace_id": "t2", "timestamp_ms": 2000, "scenario": "catify", "conversation": "a" * 32, "request": "now a hat"},
            {"trace_id": "t1", "timestamp_ms": 1000, "scenario": "catify", "conversation": "a" * 32, "request": "a cat"},
            {"trace_id": "t0", "timestamp_ms": 500, "scenario": "other", "conversation": "", "request": "foreign"},
        ]
    )
    calls = pd.DataFrame(
        [
            {"trace_id": "t1", "kind": "image", "calls": 3},
            {"trace_id": "t2", "kind": "image", "calls": 2},
            {"trace_id": "t2", "kind": "chat", "calls": 4},
            {"trace_id": "t3", "kind": "chat", "calls": 1},
        ]
    )
    frames = traces.Frames(rows, calls)
    choices = traces.lineage_choices(frames, ("catify",), titles={"b" * 32: "Rex, renamed"})
    assert [(f.id, f.title, f.updated_ms, f.pictures) for f in choices] == [
        ("b" * 32, "Rex, renamed", 3000, 0),
        ("a" * 32, "a cat", 2000, 5),
    ]
    cut = traces.Frames(rows, calls, covered=frozenset({"t1", "t3"}))  # a server's reader stopped short of t2
    assert [f.pictures for f in traces.lineage_choices(cut, ("catify",))] == [0, None]
    assert traces.lineage_choices(traces.Frames(rows.iloc[:0], calls.iloc[:0]), ("catify",)) == []


def test_the_store_names_the_pickers_conversations_by_their_runs(store):
    mine = Conversation(scenario="catify", session_id="visitor-a", provider="demo", title="a cat on a roof")
    theirs = Conversation(scenario="catify", session_id="visitor-b", provider="demo", title="a dog")
    store.create(mine), store.create(theirs)
    other = store.client.create_run(store.experiment_id).info.run_id  # a run that is not a conversation
    asked = [mine.id, theirs.id, other, "f" * 32, "x' or '1'='1", mine.id]
    found = store.summaries(asked, batch=2)  # in more than one search
    assert set(found) == {mine.id, theirs.id}
    assert (found[mine.id].title, found[mine.id].session) == ("a cat on a roof", "visitor-a")
    assert found[theirs.id].session == "visitor-b" and found[theirs.id].updated_ms > 0
    store.delete(theirs.id)
    assert set(store.summaries(asked)) == {mine.id}, "a deleted conversation is not offered"
