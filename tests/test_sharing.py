"""Read-only share links (core.sharing, ui/sharing.py, pages/shared.py): a signed, revocable grant of one
conversation; the page it opens shows that conversation and its traces, nothing else, and cannot continue it."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from core import sharing
from core.conversations import Conversation, ConversationStore, StoreUnavailable
from tests.pages import AUTH, person, send
from tests.pages import open_app as visit

SECRET = "s" * 32


@pytest.fixture
def conversations(tracking_uri):
    store = ConversationStore(tracking_uri, "sharing")
    ids = [store.create(Conversation(scenario="catify", session_id=f"owner-{n}", provider="demo")) for n in range(2)]
    return store, ids


def test_a_token_opens_its_one_conversation_until_revoked(conversations):
    store, (mine, other) = conversations
    links = sharing.ShareLinks(store.client, SECRET)
    grant = links.create(mine)
    assert links.opened(grant.token) == mine
    assert [g.grant_id for g in links.grants(mine)] == [grant.grant_id] and links.grants(other) == []
    _, grant_id, signature = grant.token.split(".")
    forged = [
        f"{other}.{grant_id}.{signature}",  # the same grant moved to another conversation
        grant.token[:-1] + ("A" if grant.token[-1] != "A" else "B"),  # a signature one letter off
        sharing.ShareLinks(store.client, "t" * 32)._token(mine, grant_id),  # signed with another secret
        "",
        "x.y.z",
        f"{mine}.{grant_id}",
        grant.token + ".x",
    ]
    for token in forged:
        with pytest.raises(sharing.ShareRefused, match="does not open anything"):
            links.opened(token)
    links.revoke(mine, grant.grant_id)
    with pytest.raises(sharing.ShareRefused):
        links.opened(grant.token)
    assert links.grants(mine) == []


def test_a_deleted_conversation_opens_nothing_and_a_short_secret_is_refused(conversations):
    store, (mine, _) = conversations
    links = sharing.ShareLinks(store.client, SECRET)
    token = links.create(mine).token
    store.client.delete_run(mine)
    with pytest.raises(sharing.ShareRefused):
        links.opened(token)
    with pytest.raises(ValueError, match="16 bytes"):
        sharing.ShareLinks(store.client, "short")


def test_a_store_that_does_not_answer_is_not_called_a_revoked_link(conversations, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    store, (mine, _) = conversations
    token = sharing.ShareLinks(store.client, SECRET).create(mine).token
    down = sharing.ShareLinks(MlflowClient("http://127.0.0.1:9"), SECRET)
    with pytest.raises(StoreUnavailable, match="could not be read"):
        down.opened(token)


def test_a_shared_link_shows_one_conversation_read_only_to_a_stranger(monkeypatch, tracking_uri, experiment_name):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    monkeypatch.setenv("APP_HOSTED", "1")
    alice = send(visit(user=person("alice")), "What's the weather in Paris?")
    send(visit(user=person("alice")), "a second conversation of hers, about Rome")
    alice.button(key="share_make").click().run()
    [link] = [c.value for c in alice.code if "/shared?share=" in c.value]
    token = link.split("?share=", 1)[1]

    stranger = visit(secrets=AUTH)
    stranger.switch_page("pages/shared.py")
    stranger.query_params["share"] = token
    stranger.run()
    assert not stranger.exception, [e.value for e in stranger.exception]
    shown = " ".join(str(e.value) for e in [*stranger.markdown, *stranger.text, *stranger.caption])
    assert "Paris" in shown and "Rome" not in shown, "that conversation, nothing else of hers"
    assert any("Turn 1" in e.label for e in stranger.expander), "its trace"
    assert not stranger.chat_input, "it cannot be continued"
    assert "](traces?" not in shown, "no links into the owner's traces"

    alice.button(key=f"share_revoke_{token.split('.')[1]}").click().run()
    assert not [c for c in alice.code if "/shared?share=" in c.value]
    stranger.run()
    assert any("does not open anything" in e.value for e in stranger.error)
    assert not [e for e in [*stranger.markdown, *stranger.text] if "Paris" in str(e.value)]
