"""The Compare page through AppTest (real Streamlit, real store): a Catify turn forked from the chat with another
critic instruction and compared, the preferred side written as MLflow feedback, its settings carried on in the
chat; a Weather prompt run on three settings at once; a hosted visitor cannot fork or compare someone else's."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from streamlit.testing.v1 import AppTest

from core import contract
from core.conversations import Conversation, ConversationStore
from core.observe import export
from tests.pages import open_app as visit
from tests.pages import person, send, turn_links


@pytest.fixture(autouse=True)
def app_env(monkeypatch, tracking_uri, experiment_name):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    for name in ("OPENAI_API_KEY", "APP_PROVIDER", "APP_HOSTED"):
        monkeypatch.delenv(name, raising=False)


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def compare_page(at: AppTest, **query: str) -> AppTest:
    at.switch_page("pages/compare.py")
    for key in list(at.query_params):
        del at.query_params[key]
    at.query_params.update(query)
    return ok(at.run())


def widget(elements, suffix: str):
    return next(e for e in elements if e.key and e.key.endswith(suffix))


def test_a_catify_turn_forked_with_another_critic_is_compared_preferred_and_carried_on(tracking_uri):
    at = visit()
    at.sidebar.slider(key="iterations").set_value(1)
    send(at, "The matrix with a cat")
    conversation = at.session_state.conversation
    assert ("run again with…", "compare", f"conversation={conversation.id}&turn=1") in turn_links(at)

    compare_page(at, conversation=conversation.id, turn="1")
    assert widget(at.text_area, "_1_instruction").value.startswith("Add fluffy cats")  # prefilled: the turn's own
    widget(at.text_area, "_1_instruction").set_value("Make it a noir film, black and white.")
    ok(at.button(key="cmp_run").click().run())
    assert any("critic instruction" in m.value and "done" in m.value for m in at.markdown), "the cell's line"
    assert at.session_state.cmp_pick[0] == conversation.transcript[-1]["usage"]["trace_id"]
    fork_trace = at.session_state.cmp_pick[1]
    assert any(o.endswith("· critic instruction: Make it a noir…") for o in at.multiselect(key="cmp_pick").options)
    steps = at.dataframe[0].value
    assert list(steps["step"]) == ["image_agent", "critic", "image_agent #2", "total"]
    assert steps.iloc[-1]["1 tokens"] and steps.iloc[-1]["2 tokens"]
    assert len(at.get("image")) == 4, "each side's two pictures"
    assert [e.label for e in at.expander if e.label == "What changed from 1"]

    ok(at.button(key=f"cmp_prefer_1_{fork_trace}").click().run())
    assert "critic instruction\\: Make it a noir…" in at.toast[0].value, "a label is text, never markdown"
    export.flush()
    marks = [a for a in MlflowClient(tracking_uri).get_trace(fork_trace).info.assessments if a.name == contract.Assessment.PREFERRED]
    assert len(marks) == 1 and marks[0].feedback.value is True and "preferred over tr-" in marks[0].rationale

    at.button(key=f"cmp_use_1_{fork_trace}").click().run()
    ok(at)
    assert at.session_state.conversation.id == conversation.id
    assert at.sidebar.text_area(key="instruction").value == "Make it a noir film, black and white."
    assert any("runs with the settings of" in s.value for s in at.success)


def test_a_weather_prompt_runs_on_three_settings_at_once():
    at = compare_page(visit())
    at.selectbox(key="cmp_scenario").set_value("weather")
    ok(at.text_area(key="cmp_message").set_value("What's the weather in Paris?").run())
    at.number_input(key="cmp_count").set_value(3)
    ok(at.run())
    planners = [t for t in at.text_area if t.key.endswith("_planner_system")]
    assert len(planners) == 3
    planners[1].set_value("You plan tersely.")
    planners[2].set_value("You plan in great detail.")
    ok(at.button(key="cmp_run").click().run())
    assert len(at.session_state.cmp_pick) == 3
    done = [m.value for m in at.markdown if ":material/check_circle:" in m.value]
    assert len(done) == 3 and any("planner's system message" in line for line in done)
    assert len(at.dataframe[0].value.columns) == 1 + 4 * 3


def test_a_hosted_visitor_cannot_fork_or_compare_someone_elses_turn(monkeypatch):
    monkeypatch.setenv("APP_HOSTED", "1")
    alice = send(send(visit(user=person("alice-sub")), "What's the weather in Paris?"), "And in Rome?")
    conversation = alice.session_state.conversation
    turns = [e["usage"]["trace_id"] for e in conversation.transcript if e.get("usage")]
    assert len(turns) == 2
    bob = compare_page(visit(user=person("bob-sub")), conversation=str(conversation.id), turn="1")
    assert any("belongs to another visitor" in w.value for w in bob.warning)
    assert not [t for t in bob.text_area if t.key and t.key.endswith("_planner_system")], "nothing of hers to edit"
    at = visit(user=person("bob-sub"))
    at.switch_page("pages/compare.py")
    at.query_params["traces"] = ",".join(turns)
    at.run()
    assert not at.exception and any("belongs to another visitor" in e.value for e in at.error)
    assert not at.dataframe and not [m for m in at.markdown if "Rome" in m.value]


def test_a_conversation_opens_with_its_own_models_and_odd_addresses_say_so(monkeypatch, tracking_uri, experiment_name):
    """A conversation (a variant) kept on other models than the sidebar's opens with them in the sidebar; a
    repeated trace id, a turn in other digits, a removed team: a sentence or nothing, never a crash."""
    monkeypatch.setenv("APP_PROVIDER", "openai-compatible")
    store = ConversationStore.connect(tracking_uri, experiment_name)
    kept = Conversation(
        scenario="weather",
        session_id="s",
        provider="openai-compatible",
        title="on gpt-4o",
        turns=1,
        transcript=[{"role": "user", "name": "user", "text": "hi", "turn": 1}],
        options={
            contract.MODELS_OPTION: {"provider": "openai-compatible", "chat_model": "gpt-4o", "vision_model": "gpt-4o", "image_model": ""}
        },
    )
    store.create(kept)
    store.save(kept)
    at = ok(visit(conversation=str(kept.id)))
    assert at.session_state.conversation.id == kept.id
    assert at.sidebar.text_input(key="chat_model_openai-compatible").value == "gpt-4o"

    odd = compare_page(visit(), conversation=str(kept.id), turn="²")
    assert [t.key for t in odd.text_area] == ["cmp_message"], "no turn ² to run again: the new-prompt form"
    gone = Conversation(
        scenario="team:removed",
        session_id="s",
        provider="demo",
        title="gone",
        turns=1,
        transcript=[{"role": "user", "name": "user", "text": "hi", "turn": 1}],
    )
    store.create(gone)
    store.save(gone)
    removed = compare_page(visit(), conversation=str(gone.id), turn="1")
    assert any("no longer offered" in w.value for w in removed.warning)
    trace = store.client.search_traces(locations=[store.experiment_id], max_results=1)
    twice = compare_page(visit(), traces=",".join([trace[0].info.trace_id] * 2) if trace else "tr-x,tr-x")
    assert twice.session_state.cmp_pick == [trace[0].info.trace_id] if trace else ["tr-x"]
