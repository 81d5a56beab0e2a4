"""A store filled the way users fill it: Catify turns from the chat side (demo provider, and the OpenAI path
against the local server so costs are real), plus traces other code wrote: a plain `@mlflow.trace`
function and an `mlflow.openai.autolog()` call through the real `openai` SDK to the same local server."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import mlflow
import openai
from mlflow.entities import AssessmentSource, AssessmentSourceType, Feedback
from mlflow.tracing.client import TracingClient

from core import contract, feedback
from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.observe import export
from core.turn import TurnRequest, run_turn
from tests.openai_server import OpenAIStub

FOREIGN_QUESTION = "What does <b>MLflow</b> trace?"


@dataclass
class FilledStore:
    tracking_uri: str
    experiment_name: str
    store: ConversationStore
    conversations: dict[str, str] = field(default_factory=dict)  # label -> run id
    turn_traces: list[str] = field(default_factory=list)
    foreign_traces: list[str] = field(default_factory=list)
    sessions: dict[str, str] = field(default_factory=dict)  # label -> session id
    feedback: dict[str, tuple[int, int]] = field(default_factory=dict)  # trace id -> current (thumbs up, down)
    picture_prompts: list[str] = field(default_factory=list)  # what the paid turn asked gpt-image-1 (low, 1024x1024) for


def _turns(conversation: Conversation, messages: list[str], settings: Settings, store: ConversationStore) -> list[str]:
    ids = []
    for message in messages:
        outcome = asyncio.run(run_turn(TurnRequest(conversation, message, settings, store)))
        assert outcome.status == "ok", outcome.error
        conversation = outcome.conversation
        ids.append(outcome.trace_id)
    return ids


def foreign_traces(experiment_id: str, server: OpenAIStub) -> list[str]:
    """Two traces without app.* keys: a plain decorated function, and an autologged OpenAI call inside one."""

    @mlflow.trace
    def tokenize(text: str) -> list[str]:
        return text.split()

    @mlflow.trace(name="answer_question")
    def answer(question: str) -> str:
        client = openai.OpenAI(api_key="sk-foreign-test", base_url=server.base_url, max_retries=0)
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
        return reply.choices[0].message.content

    mlflow.set_experiment(experiment_id=experiment_id)
    ids = []
    tokenize("three plain words")
    ids.append(mlflow.get_last_active_trace_id())
    mlflow.openai.autolog()
    try:
        answer(FOREIGN_QUESTION)
        ids.append(mlflow.get_last_active_trace_id())
    finally:
        mlflow.openai.autolog(disable=True)
    export.flush()
    for trace_id in ids:
        assert tracing_complete(trace_id)
    return ids


def tracing_complete(trace_id: str) -> bool:
    client = mlflow.MlflowClient()
    for _ in range(200):
        try:
            if str(client.get_trace(trace_id).info.state.value) in ("OK", "ERROR"):
                return True
        except Exception:
            pass
        time.sleep(0.05)
    return False


def fill(tracking_uri: str, experiment_name: str) -> FilledStore:
    store = ConversationStore.connect(tracking_uri, experiment_name)
    filled = FilledStore(tracking_uri, experiment_name, store, sessions={"alice": "session-alice", "bob": "session-bob"})
    demo = Settings(tracking_uri=tracking_uri)
    a = Conversation(scenario="catify", session_id="session-alice", provider="demo", options={"iterations": 2})
    filled.turn_traces += _turns(a, ["The matrix with a cat", "now on a beach"], demo, store)
    with OpenAIStub() as server:
        paid = Settings(
            provider="openai",
            api_key="sk-test-fill",
            base_url=server.base_url,
            chat_model="gpt-4o-mini",
            vision_model="gpt-4o-mini",
            image_model="gpt-image-1",
            image_size="1024x1024",
            image_quality="low",
            tracking_uri=tracking_uri,
            max_retries=0,
        )
        b = Conversation(scenario="catify", session_id="session-bob", provider="openai", options={"iterations": 1})
        filled.turn_traces += _turns(b, ["a red car at night"], paid, store)
        filled.picture_prompts = [r.body["prompt"] for r in server.requests_to("/images/generations")]
        filled.foreign_traces = foreign_traces(store.experiment_id, server)
    runs = store.client.search_runs([store.experiment_id])
    filled.conversations = {r.data.tags["app.session"].split("-")[1]: r.info.run_id for r in runs}
    rate(filled)
    return filled


def rate(filled: FilledStore) -> None:
    """Ratings as people leave them: through the app (two people on the first turn, one on the second), and as
    MLflow's own UI and code leave them: a judge's feedback of the same name (not a person's: never counted), and
    someone overriding Bob's thumbs up in MLflow's UI (his becomes invalid: only the override counts)."""
    first, second, paid = filled.turn_traces
    uri = filled.tracking_uri
    feedback.rate(uri, first, "alice@example.com", True, "Lovely *cats*")
    feedback.rate(uri, first, "carol", False)
    feedback.rate(uri, second, "alice@example.com", False, "no beach in it")
    client = TracingClient(uri)
    client.log_assessment(
        second,
        Feedback(
            name=contract.Assessment.FEEDBACK, value=True, source=AssessmentSource(source_type=AssessmentSourceType.LLM_JUDGE, source_id="a-judge")
        ),
    )
    bobs = feedback.rate(uri, paid, "bob", True)
    assert bobs is not None
    client.log_assessment(
        paid,
        Feedback(
            name=contract.Assessment.FEEDBACK,
            value=False,
            overrides=bobs.assessment_id,
            source=AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id="dana"),
        ),
    )
    filled.feedback = {first: (1, 1), second: (0, 1), paid: (0, 1)}
