"""Python team files for Agent Framework (issue 34, item 3; core.runtimes.agentframework.team_factories): a
create_workflow(models) file in the teams folder is offered as a scenario on the Agent Framework runtime, builds its
agents on the sidebar's provider for every turn (the demo, and the real openai SDK over HTTP to the suite's server), and
is traced by the same contract as the built-in teams; a file that cannot be used is said in a sentence naming the file
and line, and the other scenarios stay."""

from __future__ import annotations

import asyncio
import base64
import textwrap
import time

import pytest
from mlflow.entities import SpanType

from core import contract, scenarios
from core.config import Settings
from core.conversations import Conversation
from core.observe import export
from core.runtimes import team_code
from core.runtimes.agentframework import team_factories
from core.turn import Said, StopSwitch, TurnHandle, TurnRequest, run_turn
from tests.openai_server import OpenAIStub
from tests.test_agentframework import assert_counted_once, parents, turn_in_a_new_process
from tests.test_openai_path import CANARY, openai_settings

GOOD = '''
"""Adds two numbers with a tool, then a checker says it is right (try “2.5 plus 4”)."""
from agent_framework import Agent, tool
from agent_framework.orchestrations import SequentialBuilder

LABEL = "Adder desk"


@tool(approval_mode="never_require")
def add(a: float, b: float) -> str:
    """Adds two numbers."""
    return str(a + b)


def create_workflow(models):
    adder = Agent(client=models.client("adder", model="gpt-4.1-mini"), name="adder", tools=[add],
                  instructions="You are an adder. Use the tool.")
    checker = Agent(client=models.client("checker"), name="checker", instructions="You check the adder's sum.")
    return SequentialBuilder(participants=[adder, checker])
'''


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("APP_TEAMS_DIR", str(tmp_path))
    yield tmp_path
    monkeypatch.delenv("APP_TEAMS_DIR")
    scenarios.rescan()


def trace_of(store, trace_id: str):
    export.flush()
    return store.client.get_trace(trace_id)


def test_a_workflow_factory_is_offered_on_agent_framework_and_runs_traced_on_the_demo(folder, store, tracking_uri):
    (folder / "adder.py").write_text(GOOD)
    scenarios.rescan()
    offered = scenarios.get("team:adder")
    assert (offered.label, offered.team_file, offered.runtime) == ("Adder desk", "adder.py", "agentframework")
    assert offered.example == "2.5 plus 4"
    assert [a.name for a in offered.agents] == ["adder", "checker"] and offered.models_asked == ("gpt-4.1-mini",)
    conversation = Conversation(scenario="team:adder", session_id="s", provider="demo")
    outcome = asyncio.run(run_turn(TurnRequest(conversation, "2.5 plus 4", Settings(tracking_uri=tracking_uri), store)))
    assert outcome.status == "ok", outcome.error
    assert [e["text"] for e in outcome.entries if e["role"] == "tool"] == ["add(a=2.5, b=4.0) → 6.5"]
    assert [e["name"] for e in outcome.entries if e["role"] == "assistant"] == ["adder", "checker"]

    trace = trace_of(store, outcome.trace_id)
    assert trace.info.tags[contract.RunTag.RUNTIME] == "agentframework"
    assert trace.info.tags[contract.TraceTag.TURN] == "1"
    tree = parents(trace)
    assert tree["TOOL add"] == "adder", "the factory's tool is traced inside its agent's step"
    assert tree["AGENT adder"] == tree["AGENT checker"] != "", "each agent's run an AGENT span under the turn"
    by_id = {s.span_id: s for s in trace.data.spans}
    calls = [by_id[s.parent_id].name for s in trace.data.spans if s.span_type == SpanType.CHAT_MODEL]
    assert sorted(calls) == ["adder", "adder", "checker"], "the tool call and the answer, then the check"
    assert_counted_once(trace)

    again = asyncio.run(run_turn(TurnRequest(outcome.conversation, "and 1 plus 1", Settings(tracking_uri=tracking_uri), store)))
    assert again.status == "ok", again.error
    assert trace_of(store, again.trace_id).info.tags[contract.TraceTag.TURN] == "2", "the second turn restored its checkpoint"


def test_a_workflow_factory_through_the_openai_sdk_over_http(folder, store, tracking_uri):
    (folder / "adder.py").write_text(GOOD)
    scenarios.rescan()
    with OpenAIStub() as server:
        settings = openai_settings(server, tracking_uri)
        conversation = Conversation(scenario="team:adder", session_id="s", provider="openai")
        outcome = asyncio.run(run_turn(TurnRequest(conversation, "What do you make of 2 and 3?", settings, store)))
        requests = server.requests_to("/chat/completions")
    assert outcome.status == "ok", outcome.error
    assert [r.body["model"] for r in requests] == ["gpt-4.1-mini", "gpt-4o-mini"], "the model it asked for, where OpenAI has it"
    assert all(r.headers["authorization"] == f"Bearer {CANARY}" for r in requests)
    trace = trace_of(store, outcome.trace_id)
    assert trace.info.tags[contract.RunTag.RUNTIME] == "agentframework"
    assert trace.info.token_usage[contract.Usage.INPUT_TOKENS] == sum(r.usage["prompt_tokens"] for r in requests)
    assert_counted_once(trace)
    assert CANARY not in str(trace.to_dict())


@pytest.mark.parametrize(
    "source, says",
    [
        ("def create_workflow(models):\n    return 42\n", "create_workflow() in “bad.py” returned int, not an Agent Framework workflow"),
        (
            "def create_workflow(models):\n    raise ValueError('no key in the file')\n",
            "create_workflow() in “bad.py” raised ValueError (line 2): no key in the file",
        ),
        (
            """
            from agent_framework import Agent
            from agent_framework.openai import OpenAIChatCompletionClient
            def create_workflow(models):
                return Agent(client=OpenAIChatCompletionClient(model="gpt-4o", api_key="sk-own"), name="rogue")
            """,
            "The agent rogue in “bad.py” has a chat client the app did not give it: take it from models.client('rogue')",
        ),
        (
            "raise RuntimeError('boom')\ndef create_workflow(models):\n    pass\n",
            "“bad.py” failed when it was read (line 1): RuntimeError: boom",
        ),
        (
            "import time\ndef create_workflow(models):\n    time.sleep(30)\n",
            "create_workflow() in “bad.py” did not finish within 0.5 s; the app left it running and does not offer the team.",
        ),
    ],
)
def test_a_workflow_factory_that_cannot_be_used_is_said_and_the_rest_stay(folder, source, says, monkeypatch):
    monkeypatch.setattr(team_factories, "READ_TIMEOUT_S", 0.5)
    (folder / "bad.py").write_text(textwrap.dedent(source))
    (folder / "adder.py").write_text(GOOD)
    scenarios.rescan()
    assert scenarios.find("team:bad") is None and scenarios.find("team:adder") is not None
    problems = "\n".join(scenarios.load_problems())
    assert f"Team file not offered: {says}" in problems
    assert problems.count("bad.py") == 1, "one runtime reads the file, never both"


def test_a_file_is_read_by_the_runtime_whose_factory_it_defines(tmp_path):
    files = {"a.py": "def create_team(models): ...\n", "b.py": "def create_workflow(models): ...\n", "c.py": "x = (\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert [team_code.factory_defined(tmp_path / name) for name in files] == ["agentchat", "agentframework", ""]


# --- Stop, and the human in the loop (request_info) ------------------------------------------------------------------

CHAIN = '''
"""Three writers in a row."""
from agent_framework import Agent
from agent_framework.orchestrations import SequentialBuilder


def create_workflow(models):
    names = ["first", "second", "third"]
    return SequentialBuilder(
        participants=[Agent(client=models.client(n), name=n, instructions=f"You are the {n} writer.") for n in names]
    )
'''

# Agent Framework's own human-in-the-loop pattern (agent_framework/_workflows/_request_info_mixin.py: an executor's
# `ctx.request_info(data, response_type)`, answered by its `@response_handler`)
ASKER = '''
"""Asks the user for a city, then a writer tells about it."""
from agent_framework import Agent, Executor, Message, WorkflowBuilder, WorkflowContext, handler, response_handler


class Ask(Executor):
    @handler
    async def start(self, text: str, ctx: WorkflowContext) -> None:
        await ctx.request_info("Which city should I write about?", str)

    @response_handler
    async def answered(self, question: str, answer: str, ctx: WorkflowContext[list[Message]]) -> None:
        await ctx.send_message([Message(role="user", contents=[f"Tell me about {answer}"])])


def create_workflow(models):
    writer = Agent(client=models.client("writer"), name="writer", instructions="You are a writer.")
    ask = Ask(id="ask")
    return WorkflowBuilder(start_executor=ask).add_edge(ask, writer)
'''

# HandoffBuilder (agent_framework_orchestrations/_handoff.py): an agent that answers in words without handing off asks
# the user with a HandoffAgentUserRequest, answered by HandoffAgentUserRequest.create_response(text)
DESK = '''
"""A help desk: triage hands refunds over."""
from agent_framework import Agent
from agent_framework.orchestrations import HandoffBuilder


def create_workflow(models):
    triage = Agent(client=models.client("triage"), name="triage", instructions="You are triage.",
                   require_per_service_call_history_persistence=True)
    refunds = Agent(client=models.client("refunds"), name="refunds", instructions="You are refunds.",
                    require_per_service_call_history_persistence=True)
    return HandoffBuilder(participants=[triage, refunds]).with_start_agent(triage)
'''


def in_pickles(text: str, value) -> bool:
    """Whether `text` is in any base64 pickle of Agent Framework's checkpoint codec (its `_checkpoint_encoding`:
    values it cannot write as JSON are pickled and base64-encoded), where a JSON-level scrub cannot see it."""
    if isinstance(value, dict):
        return any(in_pickles(text, v) for v in value.values())
    if isinstance(value, list):
        return any(in_pickles(text, v) for v in value)
    if isinstance(value, str) and len(value) > 40:
        try:
            return text.encode() in base64.b64decode(value, validate=True)
        except ValueError:
            return False
    return False


def root_status(trace) -> str:
    (root,) = [s for s in trace.data.spans if s.parent_id is None]
    return root.attributes[contract.TurnAttr.STATUS]


def agent_steps(trace) -> list[str]:
    """The agents' steps (the turn's root is an AGENT span too)."""
    return sorted(s.name for s in trace.data.spans if s.span_type == SpanType.AGENT and s.parent_id is not None)


def stopped_after_first(conversation: Conversation, settings: Settings, store):
    """A turn of the chain stopped as the page's Stop does, from outside the run, once the first writer has spoken."""
    stop = StopSwitch()

    def told(event) -> None:
        if isinstance(event, Said) and event.entry.get("name") == "first":
            stop.set()

    return asyncio.run(run_turn(TurnRequest(conversation, "a poem", settings, store), emit=told, stop=stop))


def assert_stopped_after_first(outcome, store) -> None:
    assert outcome.status == "stopped", outcome.error
    assert [(e["role"], e["name"]) for e in outcome.entries] == [("user", "user"), ("assistant", "first"), ("notice", "app")]
    assert outcome.entries[-1]["text"] == "Stopped by you after step 1."
    trace = trace_of(store, outcome.trace_id)
    assert root_status(trace) == "stopped" and agent_steps(trace) == ["first"], "the trace keeps what was said, no more"
    (root,) = [s for s in trace.data.spans if s.parent_id is None]
    assert root.attributes[contract.TurnAttr.STOP_REASON] == "Agent Framework workflow stopped by the user after superstep 2"
    saved = store.load(outcome.conversation.id)
    assert saved.turns == 1 and saved.transcript[-1]["role"] == "notice" and "agentframework_checkpoint" in saved.state


def test_stop_ends_a_factory_workflow_after_the_step_running_and_the_chat_goes_on(folder, store, tracking_uri):
    (folder / "chain.py").write_text(CHAIN)
    scenarios.rescan()
    settings = Settings(tracking_uri=tracking_uri)
    first = stopped_after_first(Conversation(scenario="team:chain", session_id="s", provider="demo"), settings, store)
    assert_stopped_after_first(first, store)

    again = asyncio.run(run_turn(TurnRequest(store.load(first.conversation.id), "a song", settings, store)))
    assert again.status == "ok", again.error
    assert [e["name"] for e in again.entries if e["role"] == "assistant"] == ["first", "second", "third"]
    assert "a song" in again.entries[2]["text"], "the second writer read this turn's first answer"
    assert agent_steps(trace_of(store, again.trace_id)) == ["first", "second", "third"], "the abandoned steps never ran"


def test_the_pages_stop_reaches_a_factory_workflow_from_another_thread(folder, store, tracking_uri, monkeypatch):
    """As the chat page does: the turn on its worker thread (TurnHandle), Stop pressed once the first answer shows."""
    monkeypatch.setenv("DEMO_LATENCY_MS", "300")
    (folder / "chain.py").write_text(CHAIN)
    scenarios.rescan()
    conversation = Conversation(scenario="team:chain", session_id="s", provider="demo")
    handle = TurnHandle(TurnRequest(conversation, "a poem", Settings(tracking_uri=tracking_uri), store)).start()
    seen, deadline = 0, time.monotonic() + 60
    while time.monotonic() < deadline and not handle.done:
        events = handle.events_since(seen, timeout=0.5)
        seen += len(events)
        if any(isinstance(e, Said) and e.entry.get("name") == "first" for e in events):
            handle.stop()
            break
    outcome = handle.wait(60)
    assert outcome is not None and outcome.status == "stopped", outcome and outcome.error
    names = [e["name"] for e in outcome.entries if e["role"] == "assistant"]
    assert names in (["first"], ["first", "second"]), "it ended after the step running when Stop came"
    assert root_status(trace_of(store, outcome.trace_id)) == "stopped"


def test_stop_of_a_factory_workflow_through_the_openai_sdk_over_http(folder, store, tracking_uri):
    (folder / "chain.py").write_text(CHAIN)
    scenarios.rescan()
    with OpenAIStub() as server:
        settings = openai_settings(server, tracking_uri)
        first = stopped_after_first(Conversation(scenario="team:chain", session_id="s", provider="openai"), settings, store)
        assert_stopped_after_first(first, store)
        assert len(server.requests_to("/chat/completions")) == 1, "no model was called after Stop"
        server.reset()
        again = asyncio.run(run_turn(TurnRequest(store.load(first.conversation.id), "a song", settings, store)))
        requests = server.requests_to("/chat/completions")
    assert again.status == "ok", again.error
    assert len(requests) == 3, "this turn's three steps, not the stopped turn's two left over"
    seen = [m for m in requests[1].body["messages"] if m["role"] != "system"]
    assert seen[-1]["content"].startswith("stub reply: a song"), "the second writer got this turn's first answer"
    trace = trace_of(store, again.trace_id)
    assert trace.info.token_usage[contract.Usage.INPUT_TOKENS] == sum(r.usage["prompt_tokens"] for r in requests)


def test_a_str_request_pauses_for_the_user_and_resumes_in_another_process(folder, tracking_uri, experiment_name, store):
    (folder / "asker.py").write_text(ASKER)
    first = turn_in_a_new_process(tracking_uri, experiment_name, "", "hello", scenario="team:asker")
    assert first["status"] == "waiting", first["error"]
    asked = first["entries"][-1]
    assert (asked["name"], asked["text"], asked["asks_user"]) == ("ask", "Which city should I write about?", True)

    second = turn_in_a_new_process(tracking_uri, experiment_name, first["id"], "Lehi", scenario="team:asker")
    assert second["status"] == "ok", second["error"]
    (wrote,) = [e for e in second["entries"] if e["role"] == "assistant"]
    assert wrote["name"] == "writer" and "Tell me about Lehi" in wrote["text"], "the answer went to the workflow's question"
    traces = [trace_of(store, t.info.trace_id) for t in store.client.search_traces(locations=[store.experiment_id])]
    assert sorted(root_status(t) for t in traces) == ["ok", "waiting"]


def test_a_str_request_through_the_openai_sdk_over_http_resumes_on_fresh_runtime_objects(folder, store, tracking_uri):
    (folder / "asker.py").write_text(ASKER)
    scenarios.rescan()
    with OpenAIStub() as server:
        settings = openai_settings(server, tracking_uri)
        conversation = Conversation(scenario="team:asker", session_id="s", provider="openai")
        first = asyncio.run(run_turn(TurnRequest(conversation, "hello", settings, store)))
        assert first.status == "waiting", first.error
        assert not server.requests_to("/chat/completions"), "nobody was asked a model before the user answered"
        scenarios.rescan()  # the file read again, the conversation from the store: nothing of the first turn in memory
        second = asyncio.run(run_turn(TurnRequest(store.load(first.conversation.id), "Lehi", settings, store)))
        (request,) = server.requests_to("/chat/completions")
    assert second.status == "ok", second.error
    assert request.body["messages"][-1]["content"] == "Tell me about Lehi"
    assert second.entries[-1]["text"] == "stub reply: Tell me about Lehi"
    assert root_status(trace_of(store, first.trace_id)) == "waiting"


@pytest.mark.parametrize("provider", ["demo", "openai"])
def test_a_handoff_factory_asks_the_user_and_goes_on_with_the_answer(folder, store, tracking_uri, provider):
    (folder / "desk.py").write_text(DESK)
    scenarios.rescan()
    with OpenAIStub() as server:
        settings = openai_settings(server, tracking_uri) if provider == "openai" else Settings(tracking_uri=tracking_uri)
        conversation = Conversation(scenario="team:desk", session_id="s", provider=provider)
        key = "sk-proj-" + "k3y" * 8
        first = asyncio.run(run_turn(TurnRequest(conversation, f"hello, my key is {key}", settings, store)))
        assert first.status == "waiting", first.error
        asked = first.entries[-1]
        assert asked["name"] == "triage" and asked["asks_user"] and "hello" in asked["text"]
        saved = store.load(first.conversation.id)
        assert not in_pickles(key, saved.state), "the pending question's words are scrubbed in the saved checkpoint too"

        second = asyncio.run(run_turn(TurnRequest(saved, "Please pass me to refunds, order 12", settings, store)))
        requests = server.requests_to("/chat/completions")
    assert second.status == "waiting", second.error
    assert second.entries[-1]["asks_user"] and "order 12" in second.entries[-1]["text"]
    if provider == "openai":  # the stub answers in words: triage asks again, having read the question and the answer
        assert [m.get("content") for m in requests[-1].body["messages"] if m["role"] == "user"][-1].startswith("Please pass me")
        assert any(m["role"] == "assistant" and "hello" in str(m.get("content")) for m in requests[-1].body["messages"])
    else:  # the demo hands over to the agent the message names, which answers in words: it asks the user now
        assert [(e["role"], e["name"]) for e in second.entries[1:]] == [("tool", "triage"), ("assistant", "refunds")]
    assert root_status(trace_of(store, second.trace_id)) == "waiting"


def test_a_request_the_chat_cannot_answer_is_said_in_a_sentence(folder, store, tracking_uri):
    (folder / "form.py").write_text(
        ASKER.replace('await ctx.request_info("Which city should I write about?", str)', "await ctx.request_info(text, int)").replace(
            "answer: str", "answer: int"
        )
    )
    scenarios.rescan()
    outcome = asyncio.run(
        run_turn(
            TurnRequest(
                Conversation(scenario="team:form", session_id="s", provider="demo"), "hello", Settings(tracking_uri=tracking_uri), store
            )
        )
    )
    assert outcome.status == "error"
    assert outcome.error == (
        "The step “ask” of the workflow asked for an answer of type int, which the app cannot make from a chat message: it "
        "answers requests for a str (ctx.request_info(…, str)) and hand-offs to the user (HandoffBuilder). Change the team "
        "file to ask for a str."
    )


def test_the_chat_page_shows_the_workflows_question_and_sends_the_answer(folder, monkeypatch, tracking_uri, experiment_name):
    from conftest import ROOT  # noqa: PLC0415 - as tests/test_chat_page.py finds the app
    from streamlit.testing.v1 import AppTest  # noqa: PLC0415 - only this test needs the page

    (folder / "asker.py").write_text(ASKER)
    scenarios.rescan()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("APP_PROVIDER", raising=False)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    next(s for s in at.selectbox if s.label == "Scenario").set_value("team:asker").run()
    at.chat_input[0].set_value("hello").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m.name for m in at.chat_message] == ["user", "ask"]
    assert any("waiting for your answer" in i.value for i in at.info), [i.value for i in at.info]
    at.chat_input[0].set_value("Lehi").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m.name for m in at.chat_message] == ["user", "ask", "user", "writer"]
    assert any("Tell me about Lehi" in m.value for m in at.chat_message[-1].markdown)


def test_a_question_asked_before_stop_is_not_answered_by_the_next_message(folder, store, tracking_uri):
    """Stop abandons what was in flight, the workflow's pending question with it: the next message starts afresh."""
    busy = ASKER.replace(
        '        await ctx.request_info("Which city should I write about?", str)\n',
        '        await ctx.request_info("Which city should I write about?", str)\n'
        '        await ctx.send_message([Message(role="user", contents=["Meanwhile, a word about waiting."])])\n',
    )
    (folder / "busy.py").write_text(busy)
    scenarios.rescan()
    settings = Settings(tracking_uri=tracking_uri)
    stop = StopSwitch()

    def told(event) -> None:
        if isinstance(event, Said) and event.entry.get("asks_user"):
            stop.set()

    conversation = Conversation(scenario="team:busy", session_id="s", provider="demo")
    first = asyncio.run(run_turn(TurnRequest(conversation, "hello", settings, store), emit=told, stop=stop))
    assert first.status == "stopped", first.error
    assert [e["name"] for e in first.entries] == ["user", "ask", "app"], "the writer's step was cut"
    again = asyncio.run(run_turn(TurnRequest(store.load(first.conversation.id), "Lehi", settings, store)))
    assert again.status == "waiting", again.error
    said = [(e["name"], e["text"]) for e in again.entries[1:]]
    assert said[0] == ("ask", "Which city should I write about?"), "asked afresh"
    assert [name for name, _ in said[1:]] == ["writer"] and "Tell me about" not in said[1][1], "no answer was sent"
