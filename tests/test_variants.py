"""A turn run again with other settings (core.variants): a fork starts from the state its turn started from,
a run is one group run with a child per setting, Stop stops all, a turn saved before states were kept says
so, a hosted demo admits a grid as one bound before any call, and labels say what changed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlparse

import pytest

from core import contract, hosted, scenarios
from core.config import HostedLimits, Settings
from core.conversations import Conversation, ConversationStore
from core.errors import InputError, TurnRefused
from core.turn import Said, StopSwitch, TurnRequest, run_turn
from core.variants import Origin, Setting, label, open_group, open_runs, origin_of, plan, run_cells


@pytest.fixture(scope="module")
def two_turns(tmp_path_factory):
    """A Catify conversation of two turns (1 iteration each) on its own sqlite store."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('variants')}/mlflow.db"
    store = ConversationStore.connect(uri, "variants")
    settings = Settings(tracking_uri=uri)
    conversation = Conversation(scenario="catify", session_id="alice", provider="demo", options={"iterations": 1})
    for message in ("a cat on a sofa", "now at night"):
        outcome = asyncio.run(run_turn(TurnRequest(conversation, message, settings, store)))
        assert outcome.status == "ok", outcome.error
        conversation = outcome.conversation
    return store, settings, store.load(str(conversation.id))


def with_options(setting: Setting, **options) -> Setting:
    return Setting(**{**setting.__dict__, "options": {**setting.options, **options}})


def test_a_fork_of_turn_2_starts_from_the_state_after_turn_1_as_a_child_of_its_group(two_turns):
    store, settings, original = two_turns
    origin = origin_of(original, 2, settings)
    assert origin.message == "now at night" and origin.trace_id
    cells = plan(origin, [with_options(origin.setting, instruction="Make it noir.")], store, "alice", settings)
    start = cells[0].conversation
    assert start.state == store.state_after(str(original.id), 1) != original.state  # before turn 2, not after it
    assert start.turns == 1 and {e["turn"] for e in start.transcript} == {1}
    assert set(start.images) == {i for i, r in original.image_lookup.items() if r["turn"] == 1}
    group = open_group(store, origin, "alice", 1)
    open_runs(store, cells, origin, group)
    outcome = asyncio.run(run_cells(cells, origin.message, settings, store))[0]
    assert outcome.status == "ok", outcome.error

    fork = store.load(str(outcome.conversation.id))
    tags = store.client.get_run(str(fork.id)).data.tags
    assert tags[contract.RunTag.PARENT] == group and tags[contract.VariantTag.OF] == original.id
    assert (tags[contract.VariantTag.TURN], tags[contract.VariantTag.LABEL]) == ("2", "critic instruction: Make it noir.")
    assert fork.turns == 2 and fork.options["instruction"] == "Make it noir."
    assert fork.options[contract.MODELS_OPTION]["chat_model"] == "demo-chat"
    assert fork.title.endswith("· critic instruction: Make it noir.")
    assert [e["text"] for e in fork.transcript if e["turn"] == 1] == [e["text"] for e in original.transcript if e["turn"] == 1]
    for image_id in start.images:  # the earlier pictures are the fork's own artifacts
        assert store.load_image(str(fork.id), image_id) == start.images[image_id]
    group_tags = store.client.get_run(group).data.tags
    assert group_tags[contract.RunTag.KIND] == contract.RunKind.VARIANTS and contract.RunTag.SCENARIO not in group_tags
    assert fork.id in {c.id for c in store.recent(session_id="alice")} and group not in {c.id for c in store.recent()}
    trace = store.client.get_trace(str(outcome.trace_id))
    assert trace.info.tags[contract.TraceTag.CONVERSATION] == fork.id and trace.info.tags[contract.TraceTag.TURN] == "2"
    again = plan(origin_of(fork, 2, settings), [origin.setting], store, "alice", settings)[0].conversation
    assert again.state == start.state, "the fork's own turn 2 runs again from where the fork started"


def test_a_turn_saved_before_states_were_kept_says_only_its_first_turn_runs_again(two_turns, tmp_path):
    store, settings, original = two_turns
    artifacts = Path(urlparse(store.client.get_run(str(original.id)).info.artifact_uri).path)
    kept = artifacts / contract.state_after_path(1)
    moved = tmp_path / "1.json"
    kept.rename(moved)
    try:
        with pytest.raises(InputError, match="memory after turn 1 was not kept.*only its first turn"):
            plan(origin_of(original, 2, settings), [origin_of(original, 2, settings).setting], store, "alice", settings)
        assert (
            plan(origin_of(original, 1, settings), [origin_of(original, 1, settings).setting], store, "alice", settings)[
                0
            ].conversation.state
            is None
        )
    finally:
        moved.rename(kept)
    with pytest.raises(InputError, match="has no turn 3"):
        origin_of(original, 3, settings)


def test_stop_stops_every_cell_and_one_not_started_does_not_start(two_turns):
    store, settings, original = two_turns
    origin = origin_of(original, 1, settings)
    cells = plan(origin, [with_options(origin.setting, iterations=3)] * 3, store, "alice", settings)
    stop = StopSwitch()

    def first_step(index, event):
        if isinstance(event, Said) and event.entry["role"] != "user":
            stop.set()

    outcomes = asyncio.run(run_cells(cells, origin.message, settings, store, emit=first_step, stop=stop, limit=1))
    assert outcomes[0].status == "stopped" and outcomes[0].saved  # stopped after its agent, and kept
    assert [o.status for o in outcomes[1:]] == ["stopped", "stopped"]
    assert all(o.error == "Stopped before it started." and o.trace_id is None for o in outcomes[1:])
    assert [c.started > 0 for c in cells] == [True, False, False]


def test_a_hosted_grid_is_admitted_as_one_bound_before_any_call():
    paid = Settings(
        provider="openai",
        api_key="sk-owner-test",
        chat_model="gpt-4o-mini",
        vision_model="gpt-4o-mini",
        image_model="gpt-image-1",
        image_size="1024x1024",
        image_quality="low",
        max_output_tokens=400,
    )
    one = hosted.max_turn_cost("catify", {"iterations": 2}, paid, "a cat")
    assert one > 0
    limits = HostedLimits(session_cap_usd=2.5 * one, daily_cap_usd=1.0, turns_per_minute=6, owner_key=True)
    paid = paid.with_(hosted=limits)  # two cells fit under the cap, four do not, though each alone would
    conversations = [Conversation(scenario="catify", session_id="v", provider="openai", options={"iterations": 2})] * 4
    ledger = hosted.SpendGate()
    with pytest.raises(TurnRefused, match="could cost up to"):
        hosted.admit_variants(ledger, paid, "catify", conversations, [paid] * 4, "a cat", "visitor", uses_owner_key=True)
    assert ledger.spent("visitor") == (0.0, 0.0), "refused: nothing reserved"
    reservation = hosted.admit_variants(ledger, paid, "catify", conversations[:2], [paid] * 2, "a cat", "visitor", uses_owner_key=True)
    assert reservation is not None and reservation.amount == pytest.approx(2 * one)
    assert ledger.spent("visitor")[0] == pytest.approx(2 * one)
    with pytest.raises(TurnRefused, match="these 5 settings are 5 turns, and 4 are left"):
        hosted.admit_variants(
            ledger, paid, "catify", [conversations[0]] * 5, [paid.with_(provider="demo")] * 5, "a cat", "visitor", uses_owner_key=False
        )
    assert reservation.parts == pytest.approx((one, one)), "each cell's bound: one whose cost stays unknown keeps it"
    with pytest.raises(InputError, match="characters"):
        hosted.admit_variants(ledger, paid, "catify", conversations[:1], [paid], "x" * 5000, "visitor", uses_owner_key=False)
    huge = Conversation(scenario="analyst", session_id="v", provider="demo", options={"report": "word " * 30_000})
    with pytest.raises(InputError, match="The report has 149,999 characters; the limit is 100,000"):
        hosted.admit_variants(ledger, paid, "analyst", [huge], [paid.with_(provider="demo")], "q", "visitor", uses_owner_key=False)
    assert (
        hosted.admit_variants(ledger, Settings(), "catify", conversations, [paid] * 4, "a cat", "visitor", uses_owner_key=True) is None
    )  # not a hosted demo


def test_labels_say_what_changed():
    catify = scenarios.get("catify")
    base = Setting("openai", "gpt-4o-mini", "gpt-4o-mini", "gpt-image-1", {"iterations": 2, "instruction": "Add fluffy cats."})
    assert label(base, base, catify) == "same settings"
    assert label(base, with_options(base, instruction="Add fluffy cats in a noir film."), catify) == "critic instruction: in a noir film."
    assert label(base, Setting("openai", "gpt-4.1-mini", "gpt-4o-mini", "gpt-image-1", base.options), catify) == "gpt-4.1-mini"
    assert (
        label(base, Setting("demo", "demo-chat", "demo-vision", "demo-image", {**base.options, "iterations": 3}), catify)
        == "demo · critique iterations: 3"
    )


def test_settings_that_cannot_run_are_refused_by_number():
    settings = Settings(provider="openai", api_key="sk-x")
    origin = Origin(scenario="catify", message="a cat", setting=Setting.of(settings, {}))
    with pytest.raises(InputError, match="Setting 2: A setting on the openai-compatible provider needs"):
        plan(origin, [origin.setting, Setting("openai-compatible", "m", "m", "", {})], None, "s", settings)
    with pytest.raises(InputError, match="Setting 1: Critique iterations must be between 1 and"):
        plan(origin, [with_options(origin.setting, iterations=99)], None, "s", settings)
    with pytest.raises(InputError, match="between 1 and 6 settings"):
        plan(origin, [origin.setting] * 7, None, "s", settings)
    assert Setting("demo", "a", "b", "c", {}).applied(settings).api_key == ""  # the demo needs no key
    sidebar = settings.with_(image_model="gpt-image-1", image_size="1024x1536", image_quality="medium")
    dalle = Setting("openai", "gpt-4o-mini", "gpt-4o-mini", "dall-e-3", {}).applied(sidebar)
    assert (dalle.image_size, dalle.image_quality) == ("1024x1024", "standard"), "sizes and qualities of its model"
