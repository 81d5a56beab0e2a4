"""The chat page through Streamlit's AppTest, on a real sqlite MLflow store and the demo provider."""

from __future__ import annotations

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from core.config import Settings
from core.conversations import Conversation
from core.turn import TurnHandle, TurnRequest

APP = str(ROOT / "streamlit_app.py")


@pytest.fixture()
def app_env(monkeypatch, tracking_uri, experiment_name):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("APP_PROVIDER", raising=False)
    return tracking_uri, experiment_name


def new_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def speakers(at: AppTest) -> list[str]:
    return [m.name for m in at.chat_message]


def test_catify_prompt_shows_pictures_and_critiques(app_env, mlflow_client):
    at = new_app()
    at.sidebar.slider(key="iterations").set_value(2)
    at.chat_input[0].set_value("The matrix with a cat").run()
    assert not at.exception, [e.value for e in at.exception]
    assert speakers(at) == ["user", "image_agent", "critic", "image_agent", "critic", "image_agent"]
    assert len(at.get("image")) == 3
    critic_texts = [m.children for m in at.chat_message if m.name == "critic"]
    assert len(critic_texts) == 2
    run_id = at.query_params["conversation"]
    assert len(run_id) == 32
    run = mlflow_client.get_run(run_id)
    assert run.data.tags["app.scenario"] == "catify"
    assert run.data.tags["app.turns"] == "1"


def test_iterations_setting_changes_the_number_of_pictures(app_env):
    at = new_app()
    at.sidebar.slider(key="iterations").set_value(1)
    at.chat_input[0].set_value("a neon alley with two cats").run()
    assert speakers(at) == ["user", "image_agent", "critic", "image_agent"]
    assert len(at.get("image")) == 2


def test_conversation_reopens_by_url_and_continues(app_env):
    first = new_app()
    first.chat_input[0].set_value("a room with a cat").run()
    run_id = first.query_params["conversation"]

    reopened = AppTest.from_file(APP, default_timeout=90)
    reopened.query_params["conversation"] = run_id
    reopened.run()
    assert not reopened.exception
    assert speakers(reopened) == speakers(first)
    assert len(reopened.get("image")) == 3, "pictures come back from the run's artifacts"
    reopened.chat_input[0].set_value("now a beach").run()
    assert not reopened.exception
    assert speakers(reopened).count("user") == 2
    assert reopened.query_params["conversation"] == run_id
    assert any("2 turns" in c.value for c in reopened.caption)


@pytest.mark.parametrize("bad_id", ["not-a-run", "0" * 32, "../../etc/passwd"])
def test_unknown_or_malformed_conversation_id_gets_a_message_and_a_fresh_chat(app_env, bad_id):
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["conversation"] = bad_id
    at.run()
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "Starting a new conversation" in warnings
    assert speakers(at) == []
    at.chat_input[0].set_value("a cat").run()
    assert not at.exception
    assert len(at.get("image")) == 3


def test_model_error_keeps_history_and_retry_reruns_the_turn(app_env):
    at = new_app()
    at.chat_input[0].set_value("a forest with a cat").run()
    before = speakers(at)
    # switch to an OpenAI-compatible server that is not running: the turn fails
    at.sidebar.selectbox(key="provider").set_value("openai-compatible").run()
    at.sidebar.text_input(key="base_url").set_value("http://127.0.0.1:9/v1").run()
    at.sidebar.text_input(key="image_model_c").set_value("gpt-image-1").run()
    at.chat_input[0].set_value("now a matrix").run()
    assert not at.exception, [e.value for e in at.exception]
    errors = " ".join(e.value for e in at.error)
    assert "Cannot reach the model provider" in errors
    assert speakers(at)[: len(before)] == before, "earlier history stays"
    assert at.chat_message[len(before)].name == "user"
    assert any("now a matrix" in (t.value or "") for t in at.text), "the failed message stays visible"
    # back to the demo provider; Retry runs the same message from the last good state
    at.sidebar.selectbox(key="provider").set_value("demo").run()
    at.button(key="retry").click().run()
    assert not at.exception
    assert not at.error
    assert speakers(at).count("user") == 2
    assert len(at.get("image")) == 6
    assert any("2 turns" in c.value for c in at.caption)


def test_openai_without_key_explains_what_to_do(app_env):
    at = new_app()
    at.sidebar.selectbox(key="provider").set_value("openai").run()
    at.chat_input[0].set_value("a cat").run()
    assert not at.exception
    assert any("API key" in e.value for e in at.error)
    assert at.button(key="retry") is not None


def test_unreachable_store_still_chats_and_says_traces_are_not_saved(monkeypatch, experiment_name):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    at = new_app()
    assert any("not being saved" in w.value for w in at.warning)
    at.chat_input[0].set_value("a cat in space").run()
    assert not at.exception
    assert len(at.get("image")) == 3
    assert "conversation" not in at.query_params


def test_an_empty_page_offers_an_example_and_a_pasted_report_becomes_the_report(app_env):
    at = new_app()
    at.button(key="try_example").click().run()
    assert [m.name for m in at.chat_message][:1] == ["user"]
    assert at.chat_message[0].text[0].value == "The matrix with a cat", "the example was sent"

    fresh = new_app()
    next(s for s in fresh.selectbox if s.label == "Scenario").set_value("analyst").run()
    assert fresh.button(key="try_example").label == "Try: “What are the main risks?”"
    report = (
        "Sales grew 12% to $4.5 million in Q3. Costs rose 3% because of freight. Risks include supply "
        "delays at the northern plant. Wholesale demand softened in August. Margins held at 31%. "
    ) * 2
    fresh.chat_input[0].set_value(report).run()
    assert any("your message looks like one, so it became the report" in i.value.replace("\\", "") for i in fresh.info), [
        i.value for i in fresh.info
    ]
    assert fresh.chat_message[0].text[0].value == "What are the main points?"
    said = [md.value for m in fresh.chat_message if m.name == "analyst" for md in m.markdown[1:]]
    assert said and "Sales grew 12%" in said[0], "the analyst read the message as the report"


def test_conversations_can_be_searched_renamed_and_deleted(app_env, mlflow_client):
    at = new_app()
    at.chat_input[0].set_value("a red car with a cat on its roof in the rain at night").run()
    first = at.query_params["conversation"]
    at = new_app()
    at.chat_input[0].set_value("a dog").run()
    labels = [b.label.replace("\\", "") for b in at.sidebar.button if b.key and b.key.startswith("open_")]
    assert any(label.startswith("a red car with a cat on its roof… · 1 turn · just now") for label in labels), labels
    at.sidebar.text_input(key="conv_search").set_value("red car").run()
    assert [b.key for b in at.sidebar.button if b.key and b.key.startswith("open_")] == [f"open_{first}"]

    reopened = new_app()
    reopened.query_params["conversation"] = first
    reopened.run()
    reopened.sidebar.text_input(key=f"rename_{first}").set_value("  Rainy   night car ").run()
    reopened.sidebar.button(key="rename_conversation").click().run()
    assert mlflow_client.get_run(first).data.tags["app.title"] == "Rainy night car"
    searching = new_app()  # the words are no longer in the title, only in what the turn said: MLflow's trace text search
    searching.sidebar.text_input(key="conv_search").set_value("its roof").run()
    assert [b.key for b in searching.sidebar.button if b.key and b.key.startswith("open_")] == [f"open_{first}"]
    searching.sidebar.text_input(key="conv_search").set_value("no such words anywhere").run()
    assert not [b for b in searching.sidebar.button if b.key and b.key.startswith("open_")]
    traces = mlflow_client.search_traces(
        locations=[mlflow_client.get_run(first).info.experiment_id], filter_string=f"tags.`app.conversation` = '{first}'"
    )
    assert len(traces) == 1
    reopened.sidebar.button(key="delete_conversation").click().run()
    assert mlflow_client.get_run(first).info.lifecycle_stage == "deleted"
    assert not mlflow_client.search_traces(
        locations=[mlflow_client.get_run(first).info.experiment_id], filter_string=f"tags.`app.conversation` = '{first}'"
    )
    assert any("Deleted the conversation and its 1 trace" in i.value.replace("\\", "") for i in reopened.info)
    assert "conversation" not in reopened.query_params


@pytest.mark.parametrize("click", ["new", "open"])
def test_a_conversation_switch_clicked_as_a_turn_starts_waits_for_it(app_env, store, monkeypatch, click):
    """The click lands in the instant before the page greys its controls (the run that started the turn drew them):
    it is kept, and done when the turn ends, never overridden by the finished turn."""
    at = new_app()
    at.chat_input[0].set_value("an older conversation").run()
    older = at.query_params["conversation"]
    at = new_app()
    monkeypatch.setenv("DEMO_LATENCY_MS", "150")
    running = Conversation(scenario="catify", session_id=at.session_state.session_id, provider="demo", options={"iterations": 1})
    handle = TurnHandle(TurnRequest(running, "a cat in a hat", Settings.from_env(), store)).start()
    at.session_state["turn"], at.session_state["conversation"] = handle, running
    if click == "new":
        next(b for b in at.button if b.label == "New conversation").click().run()
    else:
        at.sidebar.button(key=f"open_{older}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert handle.done and handle.outcome.saved and handle.outcome.conversation.turns == 1
    assert store.stored_turns(handle.outcome.conversation.id) == 1, "the running turn was saved in its conversation"
    if click == "new":
        assert "conversation" not in at.query_params and not at.chat_message, "a new, empty conversation"
    else:
        assert at.query_params["conversation"] == older
        assert at.chat_message[0].text[0].value == "an older conversation"
