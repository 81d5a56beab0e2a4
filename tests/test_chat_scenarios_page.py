"""The chat page's Weather group chat and Analyst & Summarizer through AppTest (real Streamlit, real sqlite
store, demo provider): the pause for the city and the resume after a reload, both analysts side by side,
the sidebar's conversation list, and two tabs writing one conversation."""

from __future__ import annotations

import asyncio

import pytest
from streamlit.testing.v1 import AppTest

from core.conversations import Conversation, ConversationStore
from core.scenarios import weather_source as weather
from tests.pages import open_app, send

REPORT = "Sales grew 12% to $4.5 million in Q3. Costs rose 3% because of freight. Risks include supply delays."


@pytest.fixture(autouse=True)
def app_env(monkeypatch, tracking_uri, experiment_name):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("APP_PROVIDER", raising=False)


def choose(at: AppTest, scenario: str) -> AppTest:
    next(s for s in at.selectbox if s.label == "Scenario").set_value(scenario).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts_of(at: AppTest, name: str) -> list[str]:
    """What `name` said: an agent's answer is its message's markdown after the name line."""
    return [md.value for m in at.chat_message if m.name == name for md in m.markdown[1:]]


def test_weather_pauses_for_the_city_and_resumes_after_a_reload():
    at = send(choose(open_app(), "weather"), "What's the weather?")
    assert texts_of(at, "planner") == ["Which city should I check the weather for?"]
    assert any("waiting for your answer" in i.value for i in at.info)
    assert at.chat_input[0].placeholder == "Your answer…"
    conversation = at.query_params["conversation"]

    reloaded = open_app(conversation=conversation)  # a browser reload: new session, state from MLflow
    assert texts_of(reloaded, "planner") == ["Which city should I check the weather for?"]
    assert any("waiting for your answer" in i.value for i in reloaded.info)
    send(reloaded, "Lehi")
    lehi = asyncio.run(weather.OfflineWeather().current("Lehi")).sentence()
    assert lehi in texts_of(reloaded, "planner")[-1]
    assert not any("waiting for your answer" in i.value for i in reloaded.info)
    reasons = [c.value for m in reloaded.chat_message if m.name == "weather_assistant" for c in m.caption]
    assert any("a weather question naming a known city" in r for r in reasons), "who speaks and why is shown"
    tool_calls = [c.value for m in reloaded.chat_message if m.name == "tool" for c in m.code]
    assert tool_calls and tool_calls[0].startswith('get_weather(city="Lehi")')


def test_analyst_and_summarizer_answer_side_by_side():
    at = choose(open_app(), "analyst")
    at.text_area(key="report_text").set_value(REPORT)
    send(at, "What are the risks?")
    names = [m.name for m in at.chat_message]
    assert names == ["user", "analyst", "summarizer"]
    assert "supply delays" in texts_of(at, "analyst")[0] and texts_of(at, "summarizer")[0].startswith("Summary:")
    assert len(at.columns) >= 2
    send(at, "What about costs?")
    assert [m.name for m in at.chat_message].count("analyst") == 2
    assert "Costs rose 3%" in texts_of(at, "summarizer")[-1]


def test_analyst_without_a_report_says_so_and_keeps_the_message():
    at = send(choose(open_app(), "analyst"), "What are the risks?")
    assert any("There is no report yet" in e.value for e in at.error)
    assert any(c.value == "What are the risks?" for c in at.code), "the message is there to copy"
    assert "conversation" not in at.query_params


def test_the_sidebar_lists_conversations_and_reopens_them():
    first = send(choose(open_app(), "weather"), "What's the weather in Oslo?")
    conversation = first.query_params["conversation"]
    fresh = open_app()
    button = fresh.sidebar.button(key=f"open_{conversation}")
    assert "What's the weather in Oslo?" in button.label and "1 turn" in button.label
    button.click().run()
    assert not fresh.exception
    assert fresh.query_params["conversation"] == conversation
    assert "Oslo" in texts_of(fresh, "planner")[-1]


def test_two_tabs_on_one_conversation_never_lose_a_turn_silently(reliability):
    first = send(choose(open_app(), "weather"), "What's the weather in Paris?")
    conversation = first.query_params["conversation"]
    other_tab = open_app(conversation=conversation)
    send(first, "And in Rome, what's the weather?")
    send(other_tab, "And in Oslo, what's the weather?")  # this tab still had one turn
    told = [e.value for e in other_tab.error]
    assert any("continued in another tab" in e for e in told)
    other_tab.button(key="reload_conversation").click().run()
    assert not other_tab.exception
    planner = texts_of(other_tab, "planner")
    assert any("Rome" in t for t in planner) and not any("Oslo" in t for t in planner)
    send(other_tab, "And in Oslo, what's the weather?")
    assert "Oslo" in texts_of(other_tab, "planner")[-1] and not other_tab.error
    reliability(
        area="concurrency",
        fault="one conversation open in two tabs, both sending, one after the other",
        sees=next(e for e in told if "continued in another tab" in e)[:140] + "… and a Reload button",
        kept="the first tab's turn (never overwritten); after Reload the second tab carries on from it",
    )


def test_titles_in_the_sidebar_are_text_not_markup():
    send(choose(open_app(), "weather"), "[click me](http://evil.example) ![x](http://evil.example/p.png) weather?")
    labels = [b.label for b in open_app().sidebar.button if b.key and b.key.startswith("open_")]
    assert labels and all(label.startswith("\\[click me\\]\\(http") and "](" not in label for label in labels)


def test_a_reopened_conversation_brings_its_own_settings():
    at = open_app()
    at.sidebar.slider(key="iterations").set_value(1)
    send(at, "a cat")
    catify = at.query_params["conversation"]
    fresh = open_app()
    fresh.sidebar.slider(key="iterations").set_value(4).run()  # a new conversation with other settings
    fresh.sidebar.button(key=f"open_{catify}").click().run()
    assert not fresh.exception
    assert fresh.sidebar.slider(key="iterations").value == 1


def test_a_failed_turn_is_not_retried_in_another_scenario(monkeypatch):
    monkeypatch.setenv("APP_PROVIDER", "openai")  # and no key: the turn fails with a clear message
    at = send(choose(open_app(), "weather"), "What's the weather in Paris?")
    assert any("needs an API key" in e.value for e in at.error)
    assert [b for b in at.button if b.key == "retry"]
    choose(at, "catify")
    assert not at.error and not [b for b in at.button if b.key == "retry"]


def test_a_conversation_of_an_unknown_scenario_is_refused_politely(tracking_uri, experiment_name):
    store = ConversationStore.connect(tracking_uri, experiment_name)
    conversation = Conversation(scenario="mystery", session_id="s", provider="demo", title="from the future")
    store.create(conversation)
    at = open_app(conversation=conversation.id)
    assert any("cannot continue" in w.value for w in at.warning)
    assert "conversation" not in at.query_params
