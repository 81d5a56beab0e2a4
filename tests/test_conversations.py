"""Opening conversations that cannot be opened, checking the store, and refusing unsafe image ids."""

from __future__ import annotations

import time
import uuid

import pytest

from core import contract
from core.conversations import (
    Conversation,
    ConversationError,
    ConversationStore,
    is_valid_image_id,
    is_valid_run_id,
)
from core.store import check_store


@pytest.mark.parametrize(
    "bad", ["../etc", "abc", "", "   ", "../../" + "a" * 32, "A" * 32, "g" * 32, "a" * 33, "a" * 31, "a" * 16 + "/" + "a" * 15, None]
)
def test_load_of_a_malformed_id_is_a_conversation_error(store, bad):
    with pytest.raises(ConversationError) as caught:
        store.load(bad)  # type: ignore[arg-type]
    assert type(caught.value) is ConversationError
    assert "not a conversation id" in str(caught.value)
    assert "32 hexadecimal" in str(caught.value)


def test_load_strips_whitespace_around_a_good_id(store):
    conv = Conversation(scenario="catify", session_id="s", provider="demo", title="hello")
    store.create(conv)
    assert store.load(f"  {conv.id}\n").id == conv.id


def test_load_of_an_unknown_id(store):
    unknown = uuid.uuid4().hex
    with pytest.raises(ConversationError) as caught:
        store.load(unknown)
    assert type(caught.value) is ConversationError  # not StoreUnavailable: the store answered
    assert f"There is no conversation {unknown}" in str(caught.value)


def test_load_of_a_run_that_is_not_a_conversation(store, mlflow_client):
    run = mlflow_client.create_run(store.experiment_id, tags={"something": "else"})
    with pytest.raises(ConversationError) as caught:
        store.load(run.info.run_id)
    assert "not a conversation of this app" in str(caught.value)
    assert run.info.run_id in str(caught.value)


def test_load_of_a_conversation_of_another_experiment(store, tracking_uri, mlflow_client):
    other = ConversationStore.connect(tracking_uri, f"other-{uuid.uuid4().hex[:10]}")
    conv = Conversation(scenario="catify", session_id="s", provider="demo")
    other.create(conv)
    assert other.load(conv.id).scenario == "catify"
    with pytest.raises(ConversationError, match="not a conversation of this app"):
        store.load(conv.id)


def test_a_new_conversation_loads_empty(store, mlflow_client):
    conv = Conversation(scenario="catify", session_id="sess-9", provider="demo", title="A cat   in\nthe matrix")
    run_id = store.create(conv)
    assert is_valid_run_id(run_id)
    tags = mlflow_client.get_run(run_id).data.tags
    assert tags[contract.RunTag.SCENARIO] == "catify"
    assert tags[contract.RunTag.PROVIDER] == "demo"
    assert tags[contract.RunTag.SESSION] == "sess-9"
    assert mlflow_client.get_run(run_id).info.run_name == "catify: A cat in the matrix"
    loaded = store.load(run_id)
    assert (loaded.id, loaded.scenario, loaded.session_id, loaded.provider) == (run_id, "catify", "sess-9", "demo")
    assert loaded.turns == 0 and loaded.state is None and loaded.transcript == [] and loaded.image_lookup == {}


def test_save_and_load_round_trip(store):
    conv = Conversation(scenario="catify", session_id="s", provider="demo", title="round trip")
    store.create(conv)
    conv.state = {"type": "TeamState", "agent_states": {"x": {"n": 1}}}
    conv.transcript = [{"role": "user", "name": "user", "text": "hi “there”", "turn": 1, "step": 0}]
    conv.image_lookup = {"0123456789abcdef": {"prompt": "a cat", "index": 0}}
    conv.options = {"iterations": 3}
    conv.turns = 1
    store.save(conv)
    loaded = store.load(conv.id)
    assert loaded.state == conv.state
    assert loaded.transcript == conv.transcript
    assert loaded.image_lookup == conv.image_lookup
    assert loaded.options == {"iterations": 3}
    assert loaded.turns == 1 and loaded.title == "round trip"


def test_check_store_sqlite(tracking_uri):
    assert check_store(tracking_uri) is None


def test_check_store_unreachable_http_is_quick():
    started = time.perf_counter()
    message = check_store("http://127.0.0.1:9")
    elapsed = time.perf_counter() - started
    assert isinstance(message, str) and message
    assert "http://127.0.0.1:9" in message and "cannot be reached" in message
    assert elapsed < 5


def test_check_store_hides_a_password():
    message = check_store("http://alice:s3cret-pw@127.0.0.1:9")
    assert message and "s3cret-pw" not in message
    assert "alice:***@127.0.0.1:9" in message


@pytest.mark.parametrize(
    "bad", ["../evil", "a/b", "..", "", "0123456789abcdef/../../x", "/etc/passwd", "0123456789ABCDEF", "0123456789abcdef.png", "abc"]
)
def test_save_image_refuses_path_like_ids(store, bad):
    conv = Conversation(scenario="catify", session_id="s", provider="demo")
    store.create(conv)
    with pytest.raises(ValueError, match="not plain hex"):
        store.save_image(conv.id, bad, b"\x89PNG\r\n\x1a\n")
    assert store.client.list_artifacts(conv.id, "images") == []
    assert store.load_image(conv.id, bad) is None


def test_save_image_with_a_good_id(store):
    conv = Conversation(scenario="catify", session_id="s", provider="demo")
    store.create(conv)
    png = b"\x89PNG\r\n\x1a\nnot really"
    assert store.save_image(conv.id, "0123456789abcdef", png) == "images/0123456789abcdef.png"
    assert store.load_image(conv.id, "0123456789abcdef") == png
    assert store.load_image(conv.id, "fedcba9876543210") is None  # missing, not a crash
    assert store.load_image("../" + conv.id, "0123456789abcdef") is None


def test_id_validators():
    assert is_valid_run_id(uuid.uuid4().hex)
    assert not is_valid_run_id(uuid.uuid4().hex + "\n")
    assert is_valid_image_id(uuid.uuid4().hex[:16])
    assert not is_valid_image_id("deadbeef\n")
    assert is_valid_image_id("deadbeef")
    assert not is_valid_image_id("dead")


def test_save_image_refuses_a_trailing_newline(store):
    conv = Conversation(scenario="catify", session_id="s", provider="demo")
    store.create(conv)
    with pytest.raises(ValueError):
        store.save_image(conv.id, "0123456789abcdef\n", b"png")
