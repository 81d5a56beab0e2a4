"""Microsoft Agent Framework as the second agent runtime (issue 34): the seed scenarios run on it through the same front
door as on AutoGen, on the offline demo (its models served in process over OpenAI's wire format) and through the real
openai SDK over HTTP to the suite's OpenAI-compatible server; each turn is one trace with the runtime as a tag, agent
and model-call spans typed and nested, and tokens counted once (the trace's totals are the sum of its CHAT_MODEL spans
and what the server reported)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.entities import SpanType

from core import contract
from core.config import Settings
from core.conversations import Conversation
from core.errors import InputError
from core.observe import export
from core.scenarios.analyst import ANALYST, SUMMARIZER
from core.turn import Chunk, Progress, TurnRequest, run_turn
from tests.openai_server import OpenAIStub
from tests.test_openai_path import CANARY, openai_settings

REPORT = "Revenue grew 12% to $3.4M in 2025. Costs rose 5% because of freight. Online sales doubled."


@pytest.fixture()
def server():
    with OpenAIStub() as stub:
        yield stub


def on_agent_framework(scenario: str, provider: str = "demo", **options) -> Conversation:
    return Conversation(scenario=scenario, session_id="s", provider=provider, runtime="agentframework", options=dict(options))


def traces_of(mlflow_client, store, conversation_id: str) -> list:
    export.flush()
    found = mlflow_client.search_traces(
        locations=[store.experiment_id], filter_string=f"tags.`{contract.TraceTag.CONVERSATION}` = '{conversation_id}'"
    )
    return sorted((mlflow_client.get_trace(t.info.trace_id) for t in found), key=lambda t: int(t.info.tags[contract.TraceTag.TURN]))


def model_span_usage(trace) -> dict[str, int]:
    calls = [s for s in trace.data.spans if s.span_type == SpanType.CHAT_MODEL]
    return {
        key: sum(int(s.get_attribute(contract.SpanAttr.USAGE)[key]) for s in calls)
        for key in (contract.Usage.INPUT_TOKENS, contract.Usage.OUTPUT_TOKENS)
    }


def assert_counted_once(trace) -> None:
    """The trace's totals (MLflow's own) are its model-call spans' usage; no other span carries usage."""
    usage = trace.info.token_usage
    assert model_span_usage(trace) == {
        contract.Usage.INPUT_TOKENS: usage[contract.Usage.INPUT_TOKENS],
        contract.Usage.OUTPUT_TOKENS: usage[contract.Usage.OUTPUT_TOKENS],
    }
    others = [s.name for s in trace.data.spans if s.span_type != SpanType.CHAT_MODEL and s.get_attribute(contract.SpanAttr.USAGE)]
    assert not others, others


def parents(trace) -> dict[str, str]:
    by_id = {s.span_id: s for s in trace.data.spans}
    return {f"{s.span_type} {s.name}": by_id[s.parent_id].name if s.parent_id in by_id else "" for s in trace.data.spans}


def test_analyst_and_summarizer_on_the_demo_answer_concurrently_and_remember_the_report(tracking_uri, store, mlflow_client):
    settings = Settings(tracking_uri=tracking_uri)
    conversation = on_agent_framework("analyst", report=REPORT)
    events: list = []
    first = asyncio.run(run_turn(TurnRequest(conversation, "How did revenue change?", settings, store), emit=events.append))
    assert first.status == "ok", first.error
    said = {e["name"]: e["text"] for e in first.entries if e["role"] == "assistant"}
    streamed = {name: "".join(e.text for e in events if isinstance(e, Chunk) and e.source == name) for name in (ANALYST, SUMMARIZER)}
    assert streamed == said, "each answer streamed token by token before it was said whole"
    working = [e.text for e in events if isinstance(e, Progress) and e.step == 1]
    assert working == ["Analyst is analysing", "Summarizer is summarising"], "both at once, as people name them"
    assert said[ANALYST].startswith("On “How did revenue change?”, the report says “Revenue grew 12% to $3.4M in 2025.”")
    assert said[SUMMARIZER].startswith("Summary: Revenue grew 12%")

    reopened = store.load(first.conversation.id)
    assert reopened.runtime == "agentframework", "the conversation keeps its runtime"
    assert "agentframework_checkpoint" in (reopened.state or {})
    second = asyncio.run(run_turn(TurnRequest(reopened, "What happened to online sales?", settings, store)))
    assert second.status == "ok", second.error
    analyst = next(e["text"] for e in second.entries if e.get("name") == ANALYST)
    assert "Online sales doubled." in analyst, "the report came back from the checkpoint: only the question was sent"

    traces = traces_of(mlflow_client, store, first.conversation.id)
    assert [t.info.tags[contract.TraceTag.TURN] for t in traces] == ["1", "2"]
    for trace in traces:
        assert trace.info.tags[contract.RunTag.RUNTIME] == "agentframework"
        assert trace.info.tags[contract.RunTag.SCENARIO] == "analyst"
        shape = parents(trace)
        assert shape[f"{SpanType.AGENT} {ANALYST}"] == contract.turn_name("analyst")
        assert shape[f"{SpanType.CHAT_MODEL} chat demo-chat"] in (ANALYST, SUMMARIZER)
        assert sum(1 for s in trace.data.spans if s.span_type == SpanType.CHAT_MODEL) == 2
        assert_counted_once(trace)
    usage = second.usage or {}
    assert (usage["input_tokens"], usage["output_tokens"]) == (
        traces[1].info.token_usage[contract.Usage.INPUT_TOKENS],
        traces[1].info.token_usage[contract.Usage.OUTPUT_TOKENS],
    )


def test_analyst_through_the_openai_sdk_over_http(server, tracking_uri, store, mlflow_client):
    settings = openai_settings(server, tracking_uri)
    conversation = on_agent_framework("analyst", provider="openai", report=REPORT)
    outcome = asyncio.run(run_turn(TurnRequest(conversation, "How did revenue change?", settings, store)))
    assert outcome.status == "ok", outcome.error
    assert {e["name"] for e in outcome.entries if e["role"] == "assistant"} == {ANALYST, SUMMARIZER}
    assert all(e["text"].startswith("stub reply: ") for e in outcome.entries if e["role"] == "assistant")
    requests = server.requests_to("/chat/completions")
    assert len(requests) == 2
    assert {r.body["model"] for r in requests} == {"gpt-4o-mini"}
    assert all(r.headers["authorization"] == f"Bearer {CANARY}" for r in requests)
    assert all(r.body.get("stream") and r.body["stream_options"] == {"include_usage": True} for r in requests)

    (trace,) = traces_of(mlflow_client, store, outcome.conversation.id)
    assert_counted_once(trace)
    reported = [r.usage for r in requests]
    assert trace.info.token_usage[contract.Usage.INPUT_TOKENS] == sum(u["prompt_tokens"] for u in reported)
    assert trace.info.token_usage[contract.Usage.OUTPUT_TOKENS] == sum(u["completion_tokens"] for u in reported)
    assert trace.info.cost and trace.info.cost["total_cost"] > 0, "MLflow priced gpt-4o-mini from its catalog"
    assert CANARY not in str(trace.to_dict())


def lineage(conversation: Conversation) -> list[tuple[str, str | None]]:
    entries = sorted(conversation.image_lookup.items(), key=lambda item: item[1]["index"])
    return [(image_id, entry["parent"]) for image_id, entry in entries]


def test_catify_on_the_demo_follows_the_critic_and_keeps_the_lineage(tracking_uri, store, mlflow_client):
    settings = Settings(tracking_uri=tracking_uri)
    conversation = on_agent_framework("catify", iterations=2, instruction="Exactly 5 cats, in film noir.")
    outcome = asyncio.run(run_turn(TurnRequest(conversation, "a cat on a sofa", settings, store)))
    assert outcome.status == "ok", outcome.error
    steps = [(e["name"], e["text"]) for e in outcome.entries if e["role"] == "assistant"]
    assert [name for name, _ in steps] == ["image_agent", "critic", "image_agent", "critic", "image_agent"]
    assert steps[0][1] == "a cat on a sofa"
    assert "the brief asks for 5 cats" in steps[1][1] and "film noir" in steps[1][1], "the edited instruction reached the critic"
    assert steps[2][1] == steps[1][1].split("PROMPT: ", 1)[1], "the image agent drew the critic's prompt"

    saved = store.load(outcome.conversation.id)
    chain = lineage(saved)
    assert len(chain) == 3 and chain[0][1] is None
    assert [parent for _, parent in chain[1:]] == [chain[0][0], chain[1][0]], "each picture's parent is the one before"
    assert {e.get("image_id") for e in outcome.entries if e["name"] == "image_agent"} == {i for i, _ in chain}
    state_text = str(saved.state)
    assert len(state_text) < 40_000 and "iVBOR" not in state_text, "no picture in the saved checkpoint"

    (trace,) = traces_of(mlflow_client, store, outcome.conversation.id)
    assert trace.info.tags[contract.RunTag.RUNTIME] == "agentframework"
    shape = parents(trace)
    picture_spans = [s for s in trace.data.spans if s.get_attribute(contract.SpanAttr.IMAGE_ID)]
    assert [s.get_attribute(contract.SpanAttr.IMAGE_ID) for s in picture_spans] == [i for i, _ in chain]
    assert all(shape[f"{s.span_type} {s.name}"] == "image_agent" for s in picture_spans), "a picture's span is in its agent's step"
    assert shape[f"{SpanType.CHAT_MODEL} chat demo-vision"] == "critic"
    critic_calls = [s for s in trace.data.spans if s.span_type == SpanType.CHAT_MODEL]
    assert len(critic_calls) == 2
    for call in critic_calls:
        users = [m for m in call.inputs["messages"] if m["role"] == "user"]
        assert len(users) == 1, "the critic is shown the newest picture only"
        parts = users[0]["content"]
        assert [p["type"] for p in parts] == ["text", "image_url"], "the prompt and its picture in one message"
        assert parts[1]["image_url"]["url"].startswith("mlflow-attachment://"), "the picture is an attachment, not base64"
    assert_counted_once(trace)

    second = asyncio.run(run_turn(TurnRequest(saved, "a dog in the rain", settings, store)))
    assert second.status == "ok", second.error
    again = lineage(store.load(second.conversation.id))
    assert len(again) == 6 and again[3][1] is None, "a new prompt starts a new chain"


def test_catify_through_the_openai_sdk_over_http(server, tracking_uri, store, mlflow_client):
    conversation = on_agent_framework("catify", provider="openai", iterations=1)
    outcome = asyncio.run(run_turn(TurnRequest(conversation, "a red house on a hill", openai_settings(server, tracking_uri), store)))
    assert outcome.status == "ok", outcome.error
    image_requests = server.requests_to("/images/generations")
    assert [r.body["prompt"] for r in image_requests] == ["a red house on a hill", "a red house on a hill with many more cats"]
    (chat,) = server.requests_to("/chat/completions")
    users = [m for m in chat.body["messages"] if m["role"] == "user"]
    assert len(users) == 1 and [p["type"] for p in users[0]["content"]] == ["text", "image_url"]
    assert chat.headers["authorization"] == f"Bearer {CANARY}"

    (trace,) = traces_of(mlflow_client, store, outcome.conversation.id)
    assert_counted_once(trace)
    assert trace.info.token_usage[contract.Usage.INPUT_TOKENS] == chat.usage["prompt_tokens"]
    pictures = [s for s in trace.data.spans if s.get_attribute(contract.SpanAttr.IMAGE_ID)]
    picture_cost = sum(s.get_attribute(contract.SpanAttr.IMAGE_COST) for s in pictures)
    chat_cost = sum(s.get_attribute(contract.SpanAttr.COST)["total_cost"] for s in trace.data.spans if s.span_type == SpanType.CHAT_MODEL)
    assert trace.info.cost["total_cost"] == pytest.approx(chat_cost + picture_cost, abs=1e-9)
    assert outcome.cost_usd == pytest.approx(trace.info.cost["total_cost"], abs=1e-9)


# --- Weather: custom speakers with reasons, a pause for the human, resumed in another process ----------------------

ONE_TURN = """
import asyncio, json, sys
from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.observe import export
from core.turn import TurnRequest, run_turn

uri, experiment, conversation_id, message, scenario = sys.argv[1:6]
store = ConversationStore.connect(uri, experiment)
if conversation_id:
    conversation = store.load(conversation_id)
else:
    conversation = Conversation(scenario=scenario, session_id="s", provider="demo", runtime="agentframework")
outcome = asyncio.run(run_turn(TurnRequest(conversation, message, Settings(tracking_uri=uri), store)))
export.flush()
print(json.dumps({"status": outcome.status, "error": outcome.error, "id": outcome.conversation.id, "entries": outcome.entries}))
"""


def turn_in_a_new_process(tracking_uri: str, experiment: str, conversation_id: str, message: str, scenario: str = "weather") -> dict:
    """One turn in a fresh Python process, as another app instance would run it: nothing shared but the store (and
    the environment, the teams folder's among it)."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "MLFLOW_MODEL_CATALOG_URI": ""}
    done = subprocess.run(
        [sys.executable, "-c", ONE_TURN, tracking_uri, experiment, conversation_id, message, scenario],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_weather_pauses_for_the_human_and_resumes_in_another_process(tracking_uri, experiment_name, store, mlflow_client):
    first = turn_in_a_new_process(tracking_uri, experiment_name, "", "What's the weather like today?")
    assert first["status"] == "waiting", first["error"]
    (asked,) = [e for e in first["entries"] if e["role"] == "assistant"]
    assert asked["name"] == "planner" and asked["asks_user"] and asked["text"] == "Which city should I check the weather for?"
    assert asked["why"] == "rule: your new message goes to the planner"
    saved = store.load(first["id"])
    assert saved.runtime == "agentframework" and "agentframework_checkpoint" in (saved.state or {})

    second = turn_in_a_new_process(tracking_uri, experiment_name, first["id"], "Lehi")
    assert second["status"] == "ok", second["error"]
    said = [(e["role"], e["name"], e["text"]) for e in second["entries"][1:]]
    assert said[0] == ("assistant", "planner", "weather_assistant: please get the current weather for Lehi.")
    assert said[1][0] == "tool" and said[1][2].startswith('get_weather(city="Lehi") → Lehi: ')
    assert said[2][:2] == ("assistant", "weather_assistant")
    assert said[3][:2] == ("assistant", "planner") and said[3][2].startswith("Here is what I found. Lehi: ")
    whys = [e.get("why") for e in second["entries"] if e["role"] == "assistant"]
    assert whys == [
        "rule: your new message goes to the planner",
        "rule: a weather question naming a known city goes to the weather assistant",
        "rule: the weather assistant reports back to the planner",
    ]

    traces = traces_of(mlflow_client, store, first["id"])
    assert [t.info.tags[contract.TraceTag.TURN] for t in traces] == ["1", "2"]
    shape = parents(traces[1])
    assert shape[f"{SpanType.TOOL} get_weather"] == "weather_assistant", "the tool's span is in its agent's step"
    assert parents(traces[0])[f"{SpanType.TOOL} transfer_to_user"] == "planner"
    for trace in traces:
        assert trace.info.tags[contract.RunTag.RUNTIME] == "agentframework"
        assert_counted_once(trace)


def test_weather_through_the_openai_sdk_over_http_pauses_and_resumes(server, tracking_uri, store, mlflow_client):
    settings = openai_settings(server, tracking_uri)
    conversation = on_agent_framework("weather", provider="openai", weather_source="offline")
    first = asyncio.run(run_turn(TurnRequest(conversation, "What's the weather like?", settings, store)))
    assert first.status == "waiting", first.error
    assert first.entries[-1]["asks_user"] and first.entries[-1]["text"] == "Which city?"
    (ask,) = server.requests_to("/chat/completions")
    assert "transfer_to_user" in {t["function"]["name"] for t in ask.body["tools"]}

    second = asyncio.run(run_turn(TurnRequest(store.load(first.conversation.id), "Lehi", settings, store)))
    assert second.status == "ok", second.error
    assert second.entries[-1]["name"] == "planner" and second.entries[-1]["text"].startswith("The weather: Lehi: ")
    requests = server.requests_to("/chat/completions")
    planner_after = requests[1].body["messages"]
    assert any(m["role"] == "tool" for m in planner_after), "the planner saw its question and the answer"
    (_, trace) = traces_of(mlflow_client, store, first.conversation.id)
    assert_counted_once(trace)
    assert trace.info.token_usage[contract.Usage.INPUT_TOKENS] == sum(r.usage["prompt_tokens"] for r in requests[1:])


# --- the runtime on the Traces page --------------------------------------------------------------------------------


def test_the_traces_page_filters_by_runtime(tracking_uri, monkeypatch):
    """One turn on each runtime in a store of its own: the Runtime filter lists both, by name, and narrows to one."""
    import streamlit as st  # noqa: PLC0415 - only the page tests of this file need Streamlit
    from conftest import ROOT  # noqa: PLC0415 - as tests/test_traces_page.py finds the page
    from streamlit.testing.v1 import AppTest  # noqa: PLC0415 - as above

    from core.conversations import ConversationStore  # noqa: PLC0415 - a store of this test's own

    experiment = f"runtimes-{os.getpid()}-{id(monkeypatch)}"
    store = ConversationStore.connect(tracking_uri, experiment)
    settings = Settings(tracking_uri=tracking_uri)
    for runtime in ("", "agentframework"):
        conversation = Conversation(scenario="analyst", session_id="s", provider="demo", runtime=runtime, options={"report": REPORT})
        assert asyncio.run(run_turn(TurnRequest(conversation, "How did revenue change?", settings, store))).status == "ok"
    export.flush()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment)
    monkeypatch.delenv("APP_MLFLOW_UI_URL", raising=False)
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "pages" / "traces.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    runtime = at.multiselect(key="f_runtime")
    assert list(runtime.options) == ["AutoGen", "Agent Framework"]
    runtime.set_value(["agentframework"]).run()
    assert not at.exception
    shown = {m.label: m.value for m in at.metric}
    assert shown["Traces"] == "1"
    listed = next(d.value for d in at.dataframe if "trace_id" in d.value.columns and "request" in d.value.columns)
    assert list(listed["runtime"]) == ["agentframework"]


# --- the runtime choice on the chat page ---------------------------------------------------------------------------


def test_the_chat_page_runs_a_conversation_on_the_runtime_chosen_and_reopens_it_on_it(
    tracking_uri, experiment_name, monkeypatch, mlflow_client
):
    from conftest import ROOT  # noqa: PLC0415 - as tests/test_chat_page.py finds the app
    from streamlit.testing.v1 import AppTest  # noqa: PLC0415 - only the page tests of this file need it

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("APP_PROVIDER", raising=False)
    app = str(ROOT / "streamlit_app.py")
    at = AppTest.from_file(app, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    choice = at.sidebar.selectbox(key="agent_runtime")
    assert choice.value == "agentchat", "AutoGen is the default"
    assert list(choice.options) == ["AutoGen", "Agent Framework"]
    choice.set_value("agentframework").run()
    at.sidebar.slider(key="iterations").set_value(1).run()
    at.chat_input[0].set_value("a cat on a roof").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m.name for m in at.chat_message] == ["user", "image_agent", "critic", "image_agent"]
    assert len(at.get("image")) == 2, "the pictures are shown under their entries"
    run_id = at.query_params["conversation"]
    assert mlflow_client.get_run(run_id).data.tags[contract.RunTag.RUNTIME] == "agentframework"
    export.flush()
    (trace,) = mlflow_client.search_traces(
        locations=[mlflow_client.get_run(run_id).info.experiment_id], filter_string=f"tags.`{contract.TraceTag.CONVERSATION}` = '{run_id}'"
    )
    assert trace.info.tags[contract.RunTag.RUNTIME] == "agentframework"

    reopened = AppTest.from_file(app, default_timeout=120)
    reopened.query_params["conversation"] = run_id
    reopened.run()
    assert not reopened.exception, [e.value for e in reopened.exception]
    shown = [s for s in reopened.sidebar.selectbox if s.label == "Runtime"]
    assert len(shown) == 1 and shown[0].value == "agentframework" and shown[0].disabled, "reopened on its runtime, locked"
    reopened.chat_input[0].set_value("now on a boat").run()
    assert not reopened.exception
    assert mlflow_client.get_run(run_id).data.tags[contract.RunTag.TURNS] == "2"
    export.flush()
    found = mlflow_client.search_traces(
        locations=[mlflow_client.get_run(run_id).info.experiment_id], filter_string=f"tags.`{contract.TraceTag.CONVERSATION}` = '{run_id}'"
    )
    assert {t.info.tags[contract.RunTag.RUNTIME] for t in found} == {"agentframework"}


def test_a_conversation_from_before_the_choice_reopens_on_autogen(tracking_uri, experiment_name, store, monkeypatch, mlflow_client):
    from conftest import ROOT  # noqa: PLC0415 - as tests/test_chat_page.py finds the app
    from streamlit.testing.v1 import AppTest  # noqa: PLC0415 - only the page tests of this file need it

    old = Conversation(scenario="analyst", session_id="s", provider="demo", options={"report": REPORT})  # no runtime: as before
    outcome = asyncio.run(run_turn(TurnRequest(old, "How did revenue change?", Settings(tracking_uri=tracking_uri), store)))
    assert outcome.status == "ok" and contract.RunTag.RUNTIME not in mlflow_client.get_run(outcome.conversation.id).data.tags
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    monkeypatch.delenv("APP_PROVIDER", raising=False)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.query_params["conversation"] = outcome.conversation.id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (shown,) = [s for s in at.sidebar.selectbox if s.label == "Runtime"]
    assert shown.value == "agentchat" and shown.disabled


# --- AutoGen and Agent Framework side by side on the Compare page -----------------------------------------------------


def test_the_compare_page_runs_one_prompt_on_both_runtimes_with_steps_matched_by_agent(
    tracking_uri, experiment_name, monkeypatch, mlflow_client
):
    from tests.pages import open_app  # noqa: PLC0415 - the page helpers of tests/test_compare_page.py
    from tests.test_compare_page import compare_page, ok  # noqa: PLC0415 - as above

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    for name in ("OPENAI_API_KEY", "APP_PROVIDER", "APP_HOSTED"):
        monkeypatch.delenv(name, raising=False)
    at = compare_page(open_app())
    at.selectbox(key="cmp_scenario").set_value("catify")
    ok(at.text_area(key="cmp_message").set_value("a cat in a hat").run())
    runtimes = [s for s in at.selectbox if s.key and s.key.endswith("_runtime")]
    assert [s.value for s in runtimes] == ["agentchat", "agentchat"], "each setting starts on AutoGen"
    runtimes[1].set_value("agentframework")
    for slider in (s for s in at.slider if s.key and s.key.endswith("_iterations")):
        slider.set_value(1)
    ok(at.button(key="cmp_run").click().run())
    done = [m.value for m in at.markdown if ":material/check_circle:" in m.value]
    assert len(done) == 2 and any("Agent Framework" in line for line in done), done
    steps = at.dataframe[0].value
    assert list(steps["step"]) == ["image_agent", "critic", "image_agent #2", "total"], "the same agents' steps, one row each"
    assert steps.iloc[1]["1 tokens"] == steps.iloc[1]["2 tokens"], "the same demo critic, the same tokens on both"
    picked = at.session_state.cmp_pick
    assert {mlflow_client.get_trace(t).info.tags[contract.RunTag.RUNTIME] for t in picked} == {"agentchat", "agentframework"}


def test_a_later_turn_runs_again_only_on_its_own_runtime(tracking_uri, store):
    from core import variants  # noqa: PLC0415 - the variants of a turn (core.variants)

    settings = Settings(tracking_uri=tracking_uri)
    conversation = on_agent_framework("analyst", report=REPORT)
    first = asyncio.run(run_turn(TurnRequest(conversation, "How did revenue change?", settings, store)))
    second = asyncio.run(run_turn(TurnRequest(store.load(first.conversation.id), "And costs?", settings, store)))
    origin = variants.origin_of(store.load(second.conversation.id), 2, settings)
    assert origin.setting.runtime == "agentframework"
    on_autogen = dataclasses.replace(origin.setting, runtime="agentchat")
    with pytest.raises(InputError, match="turn 2 ran on Agent Framework, whose memory"):
        variants.plan(origin, [origin.setting, on_autogen], store, "s", settings)
    (cell,) = variants.plan(origin, [origin.setting], store, "s", settings)
    assert cell.conversation.runtime == "agentframework" and cell.conversation.state == store.state_after(first.conversation.id, 1)


# --- an Agent Framework team as an MLflow model ----------------------------------------------------------------------


def test_an_agent_framework_team_is_logged_as_a_model_loaded_and_predicted(tmp_path):
    import mlflow  # noqa: PLC0415 - the model version's tags, read with MLflow's own client

    from core.conversations import ConversationStore  # noqa: PLC0415 - the store the prediction is traced in
    from core.mlflow_model import registry  # noqa: PLC0415 - logging models is this test's alone

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    name, version = registry.log_team(uri, "teams", Settings(tracking_uri=uri), "analyst", {"report": REPORT}, runtime="agentframework")
    assert (name, version) == ("analyst-agentframework", 1), "apart from the AutoGen versions"
    assert mlflow.MlflowClient(uri).get_model_version(name, "1").tags[contract.RunTag.RUNTIME] == "agentframework"
    model = registry.load(uri, f"models:/{name}/1")
    experiment_id = ConversationStore.connect(uri, "teams").experiment_id  # its traces here, whatever ran in this process before
    [answer] = registry.predict(model, ["What happened to online sales?"], experiment_id=experiment_id)
    assert answer["status"] == "ok" and {m["name"] for m in answer["messages"]} == {ANALYST, SUMMARIZER}
    assert any("Online sales doubled." in m["text"] for m in answer["messages"]), "the logged report is the version's"
    export.flush()
    trace = mlflow.MlflowClient(uri).get_trace(answer["trace_id"])
    assert trace.info.tags[contract.RunTag.RUNTIME] == "agentframework", "the prediction ran on Agent Framework"
    assert_counted_once(trace)
    with pytest.raises(registry.RegistryError, match="has no team for"):
        registry.log_team(uri, "teams", Settings(tracking_uri=uri), "weather", runtime="no-such-runtime")


def test_the_models_page_logs_a_team_on_agent_framework(tmp_path, monkeypatch):
    from tests.pages import open_models_page  # noqa: PLC0415 - the page helper of the Models page's tests

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    at = open_models_page(monkeypatch, uri, "models")
    at.selectbox(key="model_team").set_value("analyst").run()
    assert not at.exception, [e.value for e in at.exception]
    runtime = at.selectbox(key="model_runtime_analyst")
    assert runtime.value == "agentchat" and list(runtime.options) == ["AutoGen", "Agent Framework"]
    runtime.set_value("agentframework").run()
    at.button(key="log_team_model").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Logged analyst\\-agentframework version 1" in s.value for s in at.success), [s.value for s in at.success]


def test_stop_ends_an_agent_framework_turn_after_the_agent_speaking_and_keeps_it(tracking_uri, store):
    from core.turn import Said, StopSwitch  # noqa: PLC0415 - only this test stops a turn

    stop = StopSwitch()

    def told(event) -> None:
        if isinstance(event, Said) and event.entry.get("name") == "critic":
            stop.set()  # as the page's Stop button: from outside the run, while the team works

    conversation = on_agent_framework("catify", iterations=3)
    outcome = asyncio.run(
        run_turn(TurnRequest(conversation, "a cat on a roof", Settings(tracking_uri=tracking_uri), store), emit=told, stop=stop)
    )
    assert outcome.status == "stopped", outcome.error
    names = [e["name"] for e in outcome.entries if e["role"] == "assistant"]
    assert names == ["image_agent", "critic"], names
    assert outcome.entries[-1]["role"] == "notice" and outcome.entries[-1]["text"].startswith("Stopped by you after step")
    assert "agentframework_checkpoint" in (store.load(outcome.conversation.id).state or {}), "a stopped turn is kept"
