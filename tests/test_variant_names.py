"""Re-runs ("run again with…") are named by what they changed in the sidebar's conversation list (issue 32, finding
8): four variants of one turn read "A cat sitting on a windowsill at…" four times before; Compare already named them
by their label (contract.VariantTag.LABEL), and the list now does too."""

from __future__ import annotations

import pytest

from core import contract
from core.conversations import Conversation
from tests.pages import open_app

ORIGIN = "A cat sitting on a windowsill at dusk, looking at the rain"
CHANGES = ["critic instruction: noir", "iterations: 3", "gpt-4.1-mini", "same settings"]


@pytest.fixture()
def variants(store, monkeypatch, tracking_uri, experiment_name):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    monkeypatch.delenv("APP_PROVIDER", raising=False)
    ids = []
    for change in CHANGES:  # as core.variants.plan titles them and open_runs tags them
        conversation = Conversation(
            scenario="catify", session_id="s", provider="demo", title=f"{ORIGIN} · {change}", run_tags={contract.VariantTag.LABEL: change}
        )
        run_id = store.create(conversation)
        store.client.set_tag(run_id, contract.RunTag.TURNS, "1")
        ids.append(run_id)
    renamed = store.create(
        Conversation(
            scenario="catify",
            session_id="s",
            provider="demo",
            title="My noir cats · kept",
            run_tags={contract.VariantTag.LABEL: "critic instruction: noir"},
        )
    )
    store.client.set_tag(renamed, contract.RunTag.TURNS, "1")
    return ids, renamed


def test_variants_are_listed_by_what_they_changed(store, variants):
    ids, renamed = variants
    titles = {item.id: item.list_title(34) for item in store.recent()}
    assert titles[ids[0]] == "A cat sitting… · critic instruction: noir", titles
    for run_id, change in zip(ids, CHANGES):  # what changed, whole; the origin's first words, cut at a word
        assert titles[run_id].startswith("A cat sitting") and titles[run_id].endswith(f"… · {change}"), titles[run_id]
        assert len(titles[run_id]) <= 42, titles[run_id]
    assert titles[renamed] == "My noir cats · kept", "a renamed variant keeps the name a person gave it"


def test_the_sidebar_names_each_variant_by_what_it_changed(variants):
    ids, _ = variants
    at = open_app()
    labels = [next(b.label for b in at.button if b.key == f"open_{i}") for i in ids]
    assert len(set(labels)) == len(ids), labels
    for label, change in zip(labels, CHANGES):
        assert change.replace(".", "\\.").replace(":", "\\:").replace("-", "\\-") in label, (label, change)
