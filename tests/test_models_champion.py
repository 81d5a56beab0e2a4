"""The Models page's champion (issue 32, finding 10): with champion on v1 and v2 logged, the evaluation picker starts
with the champion first; Promote is not offered for the version the alias already names; Set alias asks before it
moves an alias that points at another version (the form follows a new version with "champion" in it)."""

from __future__ import annotations

import pytest

from core import evaluation, prompt_sets
from core.config import Settings
from core.conversations import ConversationStore
from core.mlflow_model import registry
from tests.pages import open_models_page

EXPERIMENT = "champion"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """v1 (its critic asks for 100 cats) @champion, v2 (dogs) logged after it; one evaluation, which v1 wins."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('champion') / 'mlflow.db'}"
    settings = Settings(tracking_uri=uri)
    cats = registry.log_catify(uri, EXPERIMENT, settings, 1, instruction="Add fluffy cats. At least 100 cats.")
    dogs = registry.log_catify(uri, EXPERIMENT, settings, 1, instruction="Add dogs. A few dogs.")
    registry.set_alias(uri, "champion", cats)
    experiment_id = ConversationStore.connect(uri, EXPERIMENT).experiment_id
    saved = prompt_sets.save(uri, experiment_id, "one", prompt_sets.from_lines("a cat on a roof | min_cats: 5"), "catify")
    done = evaluation.evaluate(uri, EXPERIMENT, "catify", ["champion", str(dogs)], saved, settings)
    assert done.winner.version == cats
    return uri, cats, dogs


@pytest.fixture()
def models_page(store, monkeypatch):
    uri, _, _ = store
    return open_models_page(monkeypatch, uri, EXPERIMENT)


def champion(uri: str) -> int:
    return registry.resolve(uri, "catify", "champion").version


def test_the_evaluation_picker_starts_with_the_champion_and_promote_is_not_offered_for_it(store, models_page):
    uri, cats, dogs = store
    at = models_page
    assert at.multiselect(key="eval_refs_catify").value == ["champion", str(dogs)], "the champion first, then the other"
    assert not [b for b in at.button if b.key == "promote"], "the winner is the champion already: nothing to promote"
    assert any(f"champion (v{cats}) is champion already" in i.value.replace("\\", "") for i in at.info), [i.value for i in at.info]
    at.text_input(key="promote_alias").set_value("production").run()
    assert at.button(key="promote").label == f"Promote champion (v{cats})", "another alias can still be pointed at it"


def test_setting_an_alias_that_points_elsewhere_asks_first(store, models_page):
    uri, cats, dogs = store
    at = models_page
    assert (at.selectbox(key="alias_version").value, at.text_input(key="alias_name").value) == (dogs, "champion")
    at.button(key="set_alias").click().run()
    assert champion(uri) == cats, "one click did not move the champion"
    assert any(f"points at version {cats}. Move it to version {dogs}?" in w.value.replace("\\", "") for w in at.warning), [
        w.value for w in at.warning
    ]
    at.button(key="alias_move_no").click().run()
    assert champion(uri) == cats and not at.warning
    at.button(key="set_alias").click().run()
    at.button(key="alias_move_yes").click().run()
    try:
        assert champion(uri) == dogs
        assert any(f"champion → version {dogs}" in s.value for s in at.success)
        assert [b for b in at.button if b.key == "promote"], "the winner is not the champion now: Promote is offered"
    finally:
        registry.set_alias(uri, "champion", cats)
    at.text_input(key="alias_name").set_value("staging")
    at.button(key="set_alias").click().run()
    assert registry.resolve(uri, "catify", "staging").version == dogs, "a new alias is set at once"


def test_the_prompt_set_upload_box_says_the_sets_own_limit(models_page):
    """Streamlit's box states its limit in whole MB (1 MB); a prompt-set file may have 200 KB: the box says so."""
    at = models_page
    at.radio(key="eval_source").set_value("upload").run()
    (box,) = [u for u in at.get("file_uploader") if u.proto.id.endswith("eval_upload") or "prompt column" in u.proto.label]
    assert box.proto.max_upload_size_mb == 1
    assert f"{prompt_sets.MAX_UPLOAD_BYTES // 1000:,} KB" in box.proto.help, box.proto.help
