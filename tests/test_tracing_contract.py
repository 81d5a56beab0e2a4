"""The tracing contract (docs/ARCHITECTURE.md, "Tracing contract"), read back from the real sqlite store:
one trace per turn in the conversation's run, a span per agent step, model call and picture, and the
run's artifacts consistent with the spans."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from pathlib import Path

import pytest
from PIL import Image

from core import agents, contract, scenarios
from core.config import HostedLimits, Settings
from core.conversations import Conversation, ConversationConflict, ConversationStore
from core.observe import export
from core.runtimes.agentchat import providers
from core.scenarios import catify
from core.turn import Said, TurnHandle, TurnRequest, runner

FULL_TURN_MESSAGES = 2 * catify.DEFAULT_ITERATIONS + 1  # pictures + critiques after the user's message
N_IMAGES = catify.DEFAULT_ITERATIONS + 1


def _traces(client, experiment_id: str):
    return client.search_traces(locations=[experiment_id], max_results=200)


def _spans(trace, **where):
    return [s for s in trace.data.spans if all(getattr(s, k) == v for k, v in where.items())]


def _pictures(trace):
    """Picture spans: LLM spans (MLflow's model icon) named "generate image <model>", with their picture's id."""
    found = [s for s in trace.data.spans if s.name.startswith("generate image ")]
    assert all(s.span_type == "LLM" and s.attributes.get(contract.SpanAttr.IMAGE_ID) for s in found)
    return found


def _by_id(trace):
    return {s.span_id: s for s in trace.data.spans}


def _artifact_json(client, run_id: str, path: str, tmp: Path):
    local = client.download_artifacts(run_id, path, str(tmp))
    return json.loads(Path(local).read_text(encoding="utf-8"))


def _assistant(entries):
    return [e for e in entries if e["role"] == "assistant"]


# --------------------------------------------------------------------------------------- one turn


@pytest.fixture(scope="module")
def first_turn(tracking_uri):
    """One Catify turn in a fresh experiment, shared by the read-back tests below."""
    store = ConversationStore.connect(tracking_uri, f"contract-{uuid.uuid4().hex[:10]}")
    settings = Settings(tracking_uri=tracking_uri)
    conv = Conversation(scenario="catify", session_id="sess-1", provider="demo")
    outcome = asyncio.run(runner.run_turn(TurnRequest(conv, "The matrix with a cat", settings, store)))
    assert outcome.status == "ok", outcome.error
    traces = _traces(store.client, store.experiment_id)
    return store, settings, outcome, traces


def test_one_turn_is_exactly_one_trace(first_turn):
    store, _, outcome, traces = first_turn
    assert len(traces) == 1
    assert traces[0].info.trace_id == outcome.trace_id
    assert traces[0].info.experiment_id == store.experiment_id


def test_trace_metadata_and_tags(first_turn):
    _, _, outcome, traces = first_turn
    info = traces[0].info
    run_id = outcome.conversation.id
    assert run_id
    # MLflow's session is the conversation, its user the owner (issue 31: sessions held every conversation of a browser)
    assert info.trace_metadata["mlflow.trace.session"] == run_id
    assert info.trace_metadata["mlflow.trace.user"] == "sess-1"
    assert info.tags[contract.TraceTag.OWNER] == "sess-1" and info.tags[contract.TraceTag.LABEL] == "Catify"
    assert info.trace_metadata["mlflow.sourceRun"] == run_id
    assert info.tags[contract.RunTag.SCENARIO] == "catify"
    assert info.tags[contract.TraceTag.CONVERSATION] == run_id
    assert info.tags[contract.TraceTag.TURN] == "1"
    assert info.tags[contract.RunTag.PROVIDER] == "demo"
    assert info.tags[contract.TraceTag.KIND] == contract.TraceKind.CHAT  # what the trace is (issue 29)
    assert str(info.state).endswith("OK")


def test_span_tree(first_turn):
    _, _, _, traces = first_turn
    trace = traces[0]
    spans = trace.data.spans
    by_id = _by_id(trace)
    roots = [s for s in spans if s.parent_id is None]
    assert len(roots) == 1
    root = roots[0]
    assert root.span_type == "AGENT"
    # a chat in MLflow's UI: the user's message in, the team's last word out; how it ended in attributes
    assert root.inputs == {"messages": [{"role": "user", "content": "The matrix with a cat"}]}
    assert isinstance(root.outputs, str) and root.outputs.startswith("The matrix with a cat")
    assert root.attributes[contract.TurnAttr.STATUS] == "ok" and root.attributes[contract.TurnAttr.STEPS] == FULL_TURN_MESSAGES
    assert trace.info.response_preview == root.outputs, "MLflow's trace list shows the answer, not a status"
    assert all(s.parent_id in by_id for s in spans if s is not root)  # no orphans

    image_agents = _spans(trace, name=agents.IMAGE_AGENT)
    critics = _spans(trace, name=agents.CRITIC)
    assert len(image_agents) == N_IMAGES and len(critics) == catify.DEFAULT_ITERATIONS
    for span in image_agents + critics:
        assert span.span_type == "AGENT"
        assert span.parent_id == root.span_id
    # agents take turns: image_agent, critic, image_agent, critic, image_agent
    steps = sorted(image_agents + critics, key=lambda s: s.start_time_ns)
    assert [s.name for s in steps] == [agents.IMAGE_AGENT, agents.CRITIC] * catify.DEFAULT_ITERATIONS + [agents.IMAGE_AGENT]


def test_model_call_spans(first_turn):
    _, settings, _, traces = first_turn
    trace = traces[0]
    by_id = _by_id(trace)
    chats = _spans(trace, span_type="CHAT_MODEL")
    assert len(chats) == catify.DEFAULT_ITERATIONS
    for span in chats:
        assert by_id[span.parent_id].name == agents.CRITIC
        assert span.attributes[contract.SpanAttr.AGENT] == agents.CRITIC  # MLflow's Attributes tab is not empty
        assert span.attributes["mlflow.llm.model"] == settings.vision_model
        usage = span.attributes["mlflow.chat.tokenUsage"]
        assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        # OpenAI's chat format, which MLflow's UI draws as a chat: the answer as the assistant's message
        answer = span.outputs["choices"][0]["message"]
        assert answer["role"] == "assistant" and "CRITICS:" in answer["content"]
        assert [m["role"] for m in span.inputs["messages"]][0] == "system"
        # the picture is an MLflow attachment beside the trace, not base64 in the span
        parts = span.inputs["messages"][-1]["content"]
        pictures = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
        assert pictures and all(u.startswith("mlflow-attachment://") and f"trace_id={trace.info.trace_id}" in u for u in pictures)
        assert len(json.dumps(span.inputs)) < 20_000
    assert len({s.parent_id for s in chats}) == len(chats)  # one model call per critic step


def test_trace_token_usage_is_the_sum_of_the_spans(first_turn):
    _, _, _, traces = first_turn
    trace = traces[0]
    usages = [s.attributes["mlflow.chat.tokenUsage"] for s in trace.data.spans if "mlflow.chat.tokenUsage" in (s.attributes or {})]
    assert len(usages) == catify.DEFAULT_ITERATIONS
    total = trace.info.token_usage
    for key in ("input_tokens", "output_tokens", "total_tokens"):
        assert total[key] == sum(u[key] for u in usages)


def test_image_spans(first_turn):
    _, settings, outcome, traces = first_turn
    trace = traces[0]
    by_id = _by_id(trace)
    images = sorted(_pictures(trace), key=lambda s: s.start_time_ns)
    assert len(images) == N_IMAGES
    drawn = [e["image_id"] for e in _assistant(outcome.entries) if e["name"] == agents.IMAGE_AGENT]
    assert [s.attributes[contract.SpanAttr.IMAGE_ID] for s in images] == drawn
    for span in images:
        attrs = span.attributes
        assert by_id[span.parent_id].name == agents.IMAGE_AGENT
        image_id = attrs[contract.SpanAttr.IMAGE_ID]
        assert attrs[contract.SpanAttr.IMAGE_PATH] == f"images/{image_id}.png"
        assert attrs[contract.SpanAttr.IMAGE_MODEL] == settings.image_model
        assert attrs[contract.SpanAttr.IMAGE_SIZE] == settings.image_size
        assert attrs[contract.SpanAttr.IMAGE_QUALITY] == settings.image_quality
        assert attrs[contract.SpanAttr.IMAGE_COST] == 0.0
        assert span.inputs["prompt"]
    assert len({s.parent_id for s in images}) == N_IMAGES  # one picture per image_agent step


def test_run_artifacts(first_turn, tmp_path):
    store, _, outcome, traces = first_turn
    client, run_id = store.client, outcome.conversation.id
    trace = traces[0]
    images = sorted(_pictures(trace), key=lambda s: s.start_time_ns)
    ids = [s.attributes[contract.SpanAttr.IMAGE_ID] for s in images]

    listed = {Path(f.path).name for f in client.list_artifacts(run_id, "images")}
    assert listed == {f"{i}.png" for i in ids}
    for image_id in ids:
        png = Path(client.download_artifacts(run_id, f"images/{image_id}.png", str(tmp_path))).read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        img = Image.open(io.BytesIO(png))
        img.verify()
        assert img.format == "PNG" and img.size == (512, 512)
        assert store.load_image(run_id, image_id) == png

    lookup = _artifact_json(client, run_id, "image_lookup.json", tmp_path)
    assert set(lookup) == set(ids)
    previous = None
    for index, span in enumerate(images):
        image_id = span.attributes[contract.SpanAttr.IMAGE_ID]
        entry = lookup[image_id]
        for key in ("prompt", "index", "parent", "critique", "trace_id", "model", "cost_usd"):
            assert key in entry, key
        assert entry["index"] == index
        assert entry["prompt"] == span.inputs["prompt"]
        assert entry["parent"] == previous
        assert (span.attributes.get(contract.SpanAttr.IMAGE_PARENT) or None) == previous
        assert entry["trace_id"] == trace.info.trace_id
        assert entry["model"] == span.attributes[contract.SpanAttr.IMAGE_MODEL]
        assert entry["cost_usd"] == span.attributes[contract.SpanAttr.IMAGE_COST]
        assert entry["artifact_path"] == span.attributes[contract.SpanAttr.IMAGE_PATH]
        if index == 0:
            assert entry["critique"] is None
            assert entry["prompt"] == "The matrix with a cat"
        else:
            assert entry["critique"]
        previous = image_id

    # the critique of a picture is what the critic said about its parent, and the prompt is the critic's PROMPT
    critic_texts = [e["text"] for e in _assistant(outcome.entries) if e["name"] == agents.CRITIC]
    for image_id, reply in zip(ids[1:], critic_texts):
        assert reply.startswith("CRITICS: " + lookup[image_id]["critique"])
        assert reply.rstrip().endswith("PROMPT: " + lookup[image_id]["prompt"])

    state = _artifact_json(client, run_id, "conversation/state.json", tmp_path)
    assert state["type"] == "TeamState"
    assert {agents.IMAGE_AGENT, agents.CRITIC} <= set(state["agent_states"])
    transcript = _artifact_json(client, run_id, "conversation/transcript.json", tmp_path)
    assert transcript["scenario"] == "catify"
    assert [m["name"] for m in transcript["messages"]] == ["user"] + [m["name"] for m in _assistant(outcome.entries)]
    run = client.get_run(run_id)
    assert run.info.experiment_id == store.experiment_id
    assert run.data.tags["app.turns"] == "1"
    assert run.data.tags[contract.RunTag.SESSION] == "sess-1"


# ------------------------------------------------------------------------------ turns that follow


def test_second_and_third_turn(store, tracking_uri, tmp_path):
    settings = Settings(tracking_uri=tracking_uri)
    conv = Conversation(scenario="catify", session_id="sess-2", provider="demo")
    first = asyncio.run(runner.run_turn(TurnRequest(conv, "The matrix with a cat", settings, store)))
    assert first.status == "ok", first.error
    second = asyncio.run(runner.run_turn(TurnRequest(first.conversation, "A room with two kittens", settings, store)))
    assert second.status == "ok", second.error
    run_id = second.conversation.id
    assert run_id == first.conversation.id

    traces = _traces(store.client, store.experiment_id)
    assert len(traces) == 2
    by_turn = {t.info.tags[contract.TraceTag.TURN]: t for t in traces}
    assert set(by_turn) == {"1", "2"}
    assert by_turn["2"].info.trace_id == second.trace_id
    assert all(t.info.trace_metadata["mlflow.sourceRun"] == run_id for t in traces)
    assert all(t.info.trace_metadata["mlflow.trace.session"] == run_id for t in traces), "one MLflow session a conversation"
    assert all(t.info.trace_metadata["mlflow.trace.user"] == "sess-2" for t in traces)

    loaded = store.load(run_id)
    assert loaded.turns == 2
    assert loaded.scenario == "catify" and loaded.session_id == "sess-2" and loaded.provider == "demo"
    assert loaded.state == second.conversation.state
    assert len(loaded.image_lookup) == 2 * N_IMAGES
    assert sorted(e["index"] for e in loaded.image_lookup.values()) == list(range(2 * N_IMAGES))
    turn2 = [e for e in loaded.image_lookup.values() if e["turn"] == 2]
    assert {e["trace_id"] for e in turn2} == {second.trace_id}
    assert [m["turn"] for m in loaded.transcript].count(2) == FULL_TURN_MESSAGES + 1
    assert loaded.state["agent_states"][agents.IMAGE_AGENT]["agent_state"]["last_prompt"] == _assistant(second.entries)[-1]["text"]

    # the saved state loads into a fresh team
    async def reload_state():
        clients = providers.build_clients(settings)
        try:
            team = agents.build_team(
                scenarios.get(loaded.scenario),
                clients,
                runner._Recorder(None, Conversation("catify", "x", "demo"), lambda text: None),
                3,
                loaded.options,
            )
            await team.load_state(loaded.state)
            return await team.save_state()
        finally:
            await clients.close()

    assert asyncio.run(reload_state()) == loaded.state

    # and a third turn runs from the loaded conversation
    third = asyncio.run(runner.run_turn(TurnRequest(loaded, "Now a beach", settings, store)))
    assert third.status == "ok", third.error
    assert len(_assistant(third.entries)) == FULL_TURN_MESSAGES
    traces = _traces(store.client, store.experiment_id)
    assert len(traces) == 3
    assert sorted(t.info.tags[contract.TraceTag.TURN] for t in traces) == ["1", "2", "3"]
    reloaded = store.load(run_id)
    assert reloaded.turns == 3
    assert len(reloaded.image_lookup) == 3 * N_IMAGES


# ----------------------------------------------------------------------------------- concurrency


def test_concurrent_turns_keep_their_own_run(store, tracking_uri):
    settings = Settings(tracking_uri=tracking_uri)
    conversations = []
    for i in range(6):
        conv = Conversation(scenario="catify", session_id=f"sess-c{i % 3}", provider="demo")
        store.create(conv)
        conversations.append(conv)
    handles = [TurnHandle(TurnRequest(conversations[i], f"A cat number {i} in the matrix", settings, store)) for i in range(6)]
    for handle in handles:
        handle.start()
    outcomes = [handle.wait(60) for handle in handles]
    assert all(o is not None and o.status == "ok" for o in outcomes), [o and o.error for o in outcomes]
    assert len({o.trace_id for o in outcomes}) == 6

    traces = {t.info.trace_id: t for t in _traces(store.client, store.experiment_id)}
    assert len(traces) == 6
    for i, outcome in enumerate(outcomes):
        conv = conversations[i]
        trace = traces[outcome.trace_id]
        assert trace.info.trace_metadata["mlflow.sourceRun"] == conv.id
        assert trace.info.tags[contract.TraceTag.CONVERSATION] == conv.id
        assert trace.info.trace_metadata["mlflow.trace.session"] == conv.id
        assert trace.info.trace_metadata["mlflow.trace.user"] == conv.session_id
        root = [s for s in trace.data.spans if s.parent_id is None]
        assert len(root) == 1 and root[0].inputs == {"messages": [{"role": "user", "content": f"A cat number {i} in the matrix"}]}
        # no span of another turn leaked into this trace
        image_ids = [s.attributes[contract.SpanAttr.IMAGE_ID] for s in _pictures(trace)]
        assert sorted(image_ids) == sorted(e["image_id"] for e in outcome.entries if "image_id" in e)
        assert len(_spans(trace, span_type="CHAT_MODEL")) == catify.DEFAULT_ITERATIONS
        assert len(trace.data.spans) == 1 + N_IMAGES + catify.DEFAULT_ITERATIONS + N_IMAGES + catify.DEFAULT_ITERATIONS
        # every picture of the turn is in its own conversation's run
        listed = {Path(f.path).name for f in store.client.list_artifacts(conv.id, "images")}
        assert {f"{i}.png" for i in image_ids} <= listed


# ------------------------------------------------------------------------------------------ stop


def test_stop_early(store, tracking_uri, monkeypatch):
    monkeypatch.setenv("DEMO_LATENCY_MS", "100")
    settings = Settings(tracking_uri=tracking_uri)
    conv = Conversation(scenario="catify", session_id="sess-stop", provider="demo")
    handle = TurnHandle(TurnRequest(conv, "The matrix with a cat", settings, store)).start()
    seen, deadline = 0, time.monotonic() + 30
    while time.monotonic() < deadline:
        events = handle.events_since(seen, timeout=0.5)
        seen += len(events)
        if any(isinstance(e, Said) for e in events):
            handle.stop()
            break
        assert not handle.done, "the turn finished before its first message was seen"
    else:
        pytest.fail("no message event arrived")
    outcome = handle.wait(30)
    assert outcome is not None
    assert outcome.status == "stopped", outcome.error
    done = _assistant(outcome.entries)
    assert 1 <= len(done) < FULL_TURN_MESSAGES
    assert outcome.entries[-1]["role"] == "notice"

    loaded = store.load(outcome.conversation.id)
    assert loaded.turns == 1
    assert loaded.state and loaded.state["type"] == "TeamState"
    assert len(loaded.image_lookup) == sum(1 for e in done if "image_id" in e)

    traces = _traces(store.client, store.experiment_id)
    assert len(traces) == 1
    root = [s for s in traces[0].data.spans if s.parent_id is None][0]
    assert root.attributes[contract.TurnAttr.STATUS] == "stopped"
    assert len(_pictures(traces[0])) == len(loaded.image_lookup)


# ----------------------------------------------------------------------------------- tracing off


def test_tracing_off_still_saves(store, tracking_uri):
    settings = Settings(tracking_uri=tracking_uri)
    conv = Conversation(scenario="catify", session_id="sess-off", provider="demo")
    outcome = asyncio.run(runner.run_turn(TurnRequest(conv, "The matrix with a cat", settings, store, trace=False)))
    assert outcome.status == "ok", outcome.error
    assert outcome.trace_id is None
    assert _traces(store.client, store.experiment_id) == []
    loaded = store.load(outcome.conversation.id)
    assert loaded.turns == 1
    assert loaded.state
    assert len(loaded.transcript) == FULL_TURN_MESSAGES + 1
    assert len(loaded.image_lookup) == N_IMAGES
    assert all(e["trace_id"] is None for e in loaded.image_lookup.values())
    for image_id in loaded.image_lookup:
        assert store.load_image(loaded.id, image_id) is not None


def test_no_trace_lost_when_many_turns_export_in_the_background(store, tracking_uri):
    """The chat page does not wait for exports (wait_for_trace=False): N concurrent turns, then a flush,
    must give exactly N complete traces. MLflow's default queues would drop some (docs/ARCHITECTURE.md, "Export")."""
    settings = Settings(tracking_uri=tracking_uri)
    n = 16
    conversations = [Conversation(scenario="catify", session_id=f"load-{i}", provider="demo", options={"iterations": 1}) for i in range(n)]
    for conv in conversations:
        store.create(conv)
    handles = [
        TurnHandle(TurnRequest(conversations[i], f"{i + 1} cats in a neon alley", settings, store, wait_for_trace=False)).start()
        for i in range(n)
    ]
    outcomes = [h.wait(120) for h in handles]
    assert [o.status for o in outcomes] == ["ok"] * n, [o.error for o in outcomes]
    export.flush()
    traces = _traces(store.client, store.experiment_id)
    assert sorted(t.info.trace_id for t in traces) == sorted(o.trace_id for o in outcomes)
    for trace in traces:
        assert trace.info.state.value == "OK"
        assert len(trace.data.spans) == 1 + 3 + 2 + 1, "root, 2 image_agent + 1 critic steps, 2 images, 1 model call"


def test_two_turns_at_once_on_one_conversation_the_second_is_told(store, tracking_uri, monkeypatch, reliability):
    """Two tabs sending to one conversation at the same moment: one turn runs, the other is refused before
    it spends anything, and the saved conversation has exactly the one turn."""
    monkeypatch.setenv("DEMO_LATENCY_MS", "150")
    settings = Settings(tracking_uri=tracking_uri)
    conv = Conversation(scenario="catify", session_id="two-tabs", provider="demo", options={"iterations": 1})
    store.create(conv)
    handles = [TurnHandle(TurnRequest(conv, f"tab {i}: a cat", settings, store)).start() for i in range(2)]
    outcomes = sorted((h.wait(60) for h in handles), key=lambda o: o.status)
    assert [o.status for o in outcomes] == ["error", "ok"]
    assert "answering in another tab" in outcomes[0].error and outcomes[0].trace_id is None
    assert store.load(conv.id).turns == 1 and len(_traces(store.client, store.experiment_id)) == 1
    reliability(
        area="concurrency",
        fault="one conversation, two tabs sending at the same moment",
        sees=outcomes[0].error[:120],
        kept="exactly one turn saved and traced; the refused turn spent nothing; no interleaved messages",
    )


def test_a_new_conversation_is_claimed_from_its_first_turn(store, tracking_uri, monkeypatch):
    """Its run exists (and could be opened in another tab) while the first turn still runs: that other tab's
    turn is refused instead of both saving a "turn 1"."""

    monkeypatch.setenv("DEMO_LATENCY_MS", "300")
    settings = Settings(tracking_uri=tracking_uri)
    first = TurnHandle(
        TurnRequest(
            Conversation(scenario="catify", session_id="tab-a", provider="demo", options={"iterations": 1}), "tab a: a cat", settings, store
        )
    ).start()
    deadline = time.monotonic() + 30
    while not (runs := store.client.search_runs([store.experiment_id])):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    other_tab = store.load(runs[0].info.run_id)
    second = asyncio.run(runner.run_turn(TurnRequest(other_tab, "tab b: a dog", settings, store)))
    assert second.status == "error" and "answering in another tab" in second.error
    assert first.wait(60).status == "ok" and store.load(other_tab.id).turns == 1


@pytest.mark.parametrize("landed", [False, True], ids=["failed before its tags", "landed, answer lost"])
def test_a_failed_save_is_no_conflict_with_itself(store, tracking_uri, monkeypatch, landed):
    """When saving a turn fails (before its tags are written, or after they landed with the answer lost), the
    next turn of the same page saves everything (no false "another tab" message)."""
    settings = Settings(tracking_uri=tracking_uri)
    conversation = Conversation(scenario="catify", session_id="s", provider="demo", options={"iterations": 1})
    real_log_batch = store.client.log_batch
    calls = {"n": 0}

    def flaky_log_batch(run_id, *args, **kwargs):
        if calls["n"] == 0:
            calls["n"] += 1
            if landed:
                real_log_batch(run_id, *args, **kwargs)
            raise ConnectionError("store went away")
        return real_log_batch(run_id, *args, **kwargs)

    monkeypatch.setattr(store.client, "log_batch", flaky_log_batch)
    first = asyncio.run(runner.run_turn(TurnRequest(conversation, "a cat", settings, store)))
    assert first.status == "ok" and any("Could not save the conversation" in w for w in first.warnings)
    assert first.conversation.pending_turns == 1
    assert store.stored_turns(first.conversation.id) == (1 if landed else 0)
    second = asyncio.run(runner.run_turn(TurnRequest(first.conversation, "a dog", settings, store)))
    assert second.status == "ok", second.error
    assert second.conversation.pending_turns == 0
    loaded = store.load(first.conversation.id)
    assert loaded.turns == 2 and [e["text"] for e in loaded.transcript if e["role"] == "user"] == ["a cat", "a dog"]


def test_unsaved_turns_never_overwrite_what_another_tab_saved_meanwhile(store, tracking_uri):
    """A tab whose turn could not be saved (store away) and another tab that saved a turn in the meantime:
    writing the first tab's turn later is refused and the store keeps the other tab's; the first tab's
    version can still be kept as a conversation of its own, pictures included."""
    settings = Settings(tracking_uri=tracking_uri)
    first = asyncio.run(
        runner.run_turn(
            TurnRequest(
                Conversation(scenario="catify", session_id="s", provider="demo", options={"iterations": 1}), "a cat", settings, store
            )
        )
    )
    tab_a, tab_b = store.load(first.conversation.id), store.load(first.conversation.id)
    offline = asyncio.run(runner.run_turn(TurnRequest(tab_a, "now a dog", settings, None)))
    assert offline.status == "ok" and offline.conversation.pending_turns == 1
    assert asyncio.run(runner.run_turn(TurnRequest(tab_b, "now a bird", settings, store))).status == "ok"
    with pytest.raises(ConversationConflict, match="continued in another tab"):
        store.save_pending(offline.conversation)
    assert offline.conversation.pending_turns == 1, "still this tab's to keep"
    saved = store.load(first.conversation.id)
    assert saved.turns == 2 and [e["text"] for e in saved.transcript if e["role"] == "user"] == ["a cat", "now a bird"]
    assert len(store.client.list_artifacts(saved.id, "images")) == 4, "none of the refused version's pictures either"

    assert store.save_as_new(offline.conversation) == 2
    copy = store.load(offline.conversation.id)
    assert copy.id != first.conversation.id and copy.title == "a cat (copy)" and copy.turns == 2
    assert [e["text"] for e in copy.transcript if e["role"] == "user"] == ["a cat", "now a dog"]
    assert len(copy.image_lookup) == 4 and all(
        (store.load_image(copy.id, image_id) or b"").startswith(b"\x89PNG") for image_id in copy.image_lookup
    )


def test_the_turn_summary_counts_pictures_as_picture_calls(first_turn):
    """Picture spans are LLM spans now (MLflow's model icon); the summary and every reader still count them as
    pictures, by their name, priced at the picture's price."""
    _, settings, _, traces = first_turn
    summary_tag = json.loads(traces[0].info.tags[contract.TraceTag.SUMMARY])
    kinds = {(kind, model): calls for kind, model, _agent, calls, *_ in summary_tag["calls"]}
    assert kinds[("image", settings.image_model)] == N_IMAGES
    assert kinds[("chat", settings.vision_model)] == catify.DEFAULT_ITERATIONS


def test_a_hosted_turn_keeps_no_markdown_picture_in_its_spans_and_the_transcript_keeps_the_text(tracking_uri):
    """Issue 29: MLflow's own UI fetches what markdown in a span names (tests/browser/test_mlflow_ui_pictures.py
    measures it); in a hosted demo the spans and previews hold `![` defused, the transcript the text as typed."""
    store = ConversationStore.connect(tracking_uri, f"defused-{uuid.uuid4().hex[:10]}")
    message = "a cat ![t](http://127.0.0.1:9/x.png) on a roof"
    settings = Settings(tracking_uri=tracking_uri, hosted=HostedLimits())
    conv = Conversation(scenario="catify", session_id="visitor", provider="demo", options={"iterations": 1})
    outcome = asyncio.run(runner.run_turn(TurnRequest(conv, message, settings, store)))
    assert outcome.status == "ok", outcome.error
    assert outcome.conversation.transcript[0]["text"] == message
    [trace] = _traces(store.client, store.experiment_id)
    stored = trace.to_json()
    assert "![" not in stored.replace("\\u200b", "\u200b") and "!\\u200b[t](http://127.0.0.1:9/x.png)" in stored
    assert trace.info.request_preview == "a cat !\u200b[t](http://127.0.0.1:9/x.png) on a roof"
