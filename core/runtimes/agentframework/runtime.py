"""Microsoft Agent Framework (agent-framework-core 1.26, -openai, -orchestrations) behind the runtime protocol
(core.runtimes): a scenario's workflow as a `Team`, its `run(stream=True)` events read into the protocol's events, its
state a workflow checkpoint kept with the conversation, Stop as a flag its termination condition reads (a team file's
workflow, which the app did not build: the run read up to the next superstep boundary), a hard stop as cancelling the
task that reads the workflow. A workflow's `request_info` pauses the turn like the built-in Weather's question, and the
next message answers it from the checkpoint (asking.py).

State: Agent Framework keeps a conversation in checkpoints (`WorkflowCheckpoint`); the newest one after a turn is the
conversation's state (`{"agentframework_checkpoint": …}`, JSON, ~10 KB, saved as `conversation/state.json` like any
turn's), so a reload, another app process or another instance restores it into a fresh workflow and sends the next
message (a restore pass, then the message: `run()` takes no message together with a checkpoint id). The checkpoint's
values are encoded by Agent Framework's own codec (pickle under its allowlist of types): only checkpoints this app
wrote are ever loaded (the conversation's own artifacts)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Mapping

from agent_framework import AgentResponse, AgentResponseUpdate, InMemoryCheckpointStorage, WorkflowCheckpoint
from agent_framework._workflows._checkpoint_encoding import (  # the codec its FileCheckpointStorage uses (no public name)
    decode_checkpoint_value,
    encode_checkpoint_value,
)

from ...agents import TeamContext
from ...records import TranscriptEntry
from .. import Finished, RunEvent, Spoke, Task, Working, Writing
from ..agentchat.stream import HANDOFF_PREFIX, tool_entry
from .agents import picture_id
from .asking import answer, answerable, cannot_answer, question
from .clients import AgentFrameworkClients, build_clients
from .plan import Plan
from .state import kept
from .teams import BUILDERS

if TYPE_CHECKING:
    from ...config import Settings
    from ...scenarios import Scenario

STATE_KEY = "agentframework_checkpoint"
NAME = "agentframework"


def _said(text: str) -> str:
    """The planner's end-of-turn word is for the team, not for the reader."""
    return re.sub(r"\s*\bTERMINATE\b\s*$", "", text).strip() or text


@dataclass
class _Reader:
    """What a turn remembers between workflow events: the step count, tool calls by id, the last answer."""

    turn: int
    plan: Plan
    doing: Callable[[str], str]
    label: Callable[[str], str]
    step: int = 0
    state: str = ""  # the workflow's last status
    waiting: bool = False  # a request_info is pending: the user's next message answers it
    _calls: dict[str, tuple[str, str]] = field(default_factory=dict)
    _asking: set[str] = field(default_factory=set)  # agents whose answer is a question to the user

    def read(self, event: Any) -> list[RunEvent]:
        """One workflow event as the protocol's: who works next, a piece of an answer, an agent's finished answer, a
        question to the user."""
        kind, who = event.type, event.executor_id
        if kind == "status":
            state = getattr(event, "state", None)
            self.state = str(getattr(state, "value", state) or self.state)  # IDLE, IDLE_WITH_PENDING_REQUESTS, …
        if kind == "request_info":
            return self.asked(event)
        if who not in self.plan.participants:
            return []
        if kind == "executor_invoked":
            return [self.working(who)]
        if kind == "intermediate":
            text = "".join(c.text for c in event.data.contents if c.type == "text" and c.text)
            return [Writing(who, text, self.step + 1)] if text else []
        if kind == "executor_completed":
            return [Spoke(self.entries(who, answer), self.step + 1) for answer in _answers(event.data)]
        return []

    def asked(self, event: Any) -> list[RunEvent]:
        """A `request_info`: the turn will wait for the user (asking.py). An agent's hand-back is its answer, marked as
        asking when its step completes; another step's question is said here. A request the chat cannot answer is a
        sentence, before the turn waits for an answer it could never send."""
        asker = str(event.source_executor_id)
        if not answerable(event.response_type):
            raise cannot_answer(asker, event.response_type)
        self.waiting = True
        if asker in self.plan.participants:
            self._asking.add(asker)
            return []
        self.step += 1
        entry: TranscriptEntry = {
            "role": "assistant",
            "name": asker,
            "turn": self.turn,
            "step": self.step,
            "text": question(event.data),
            "asks_user": True,
        }
        return [Spoke([entry], self.step)]

    def working(self, name: str) -> Working:
        why = self.plan.explain(name) if self.plan.explain else ""
        return Working(f"{self.label(name)} is {self.doing(name)}" + (f" ({why})" if why else ""), self.step + 1)

    def entries(self, name: str, response: Any) -> list[TranscriptEntry]:
        """An agent's answer as the chat shows it: its tool calls with their results, then its words (a picture's
        prompt and id)."""
        self.step += 1
        why = self.plan.explain(name) if self.plan.explain else ""
        entries, words, image_id, asks = self._read_contents(name, response)
        entry: TranscriptEntry = {
            "role": "assistant",
            "name": name,
            "turn": self.turn,
            "step": self.step,
            "text": _said(" ".join(words) or asks),
        }
        if asks or name in self._asking:
            self._asking.discard(name)
            entry["asks_user"] = True
        if image_id:
            entry["image_id"] = image_id
        if why:
            entry["why"] = why
        if entries and not entry["text"] and not image_id:
            return entries  # a hand-off with no words (HandoffBuilder's handoff_to_<agent>): its tool call says it
        return [*entries, entry]

    def _read_contents(self, name: str, response: Any) -> tuple[list[TranscriptEntry], list[str], str, str]:
        """(its tool calls with their results, its words, its picture's id, the question of a hand-off to the user)."""
        entries: list[TranscriptEntry] = []
        words: list[str] = []
        image_id = asks = ""
        for message in getattr(response, "messages", []) or []:
            for content in message.contents:
                if content.type == "function_call" and str(content.name).startswith(HANDOFF_PREFIX):
                    asks = str((content.parse_arguments() or {}).get("question") or "")  # a hand-off: the agent's words
                elif content.type == "function_call":
                    arguments = content.arguments if isinstance(content.arguments, str) else _json(content.arguments)
                    self._calls[str(content.call_id)] = (str(content.name), arguments)
                elif content.type == "function_result" and str(content.call_id) in self._calls:
                    tool, arguments = self._calls[str(content.call_id)]
                    entries.append(tool_entry(name, tool, arguments, str(content.result), bool(content.exception), self.turn, self.step))
                elif content.type == "text" and content.text:
                    words.append(content.text)
            image_id = image_id or picture_id(message)
        return entries, words, image_id, asks


def _answers(sent: Any) -> list[Any]:
    """The agent answers an executor's step sent on: its `AgentExecutorResponse`s, else its streamed updates as one
    answer (a HandoffBuilder agent sends requests to the others and yields its words as updates)."""
    items = list(sent or []) if isinstance(sent, list) else [sent]
    answers = [item.agent_response for item in items if getattr(item, "agent_response", None) is not None]
    updates = [item for item in items if isinstance(item, AgentResponseUpdate)]
    if not answers and updates:
        answers = [AgentResponse.from_updates(updates)]
    return answers


def _json(value: Any) -> str:
    import json  # noqa: PLC0415 - a tool call's arguments as a dict (Agent Framework parses them)

    return json.dumps(value or {}, ensure_ascii=False)


class AgentFrameworkTeam:
    """One turn's Agent Framework workflow as the protocol's `Team`."""

    def __init__(self, plan: Plan, reader: _Reader):
        self.plan, self.reader = plan, reader
        self.total_steps = plan.total_steps
        self.storage = InMemoryCheckpointStorage()
        self.workflow = plan.build(self.storage)
        self._restore: WorkflowCheckpoint | None = None
        self._task: asyncio.Task[Any] | None = None
        self._cut = False  # stopped between two supersteps: the work still in flight is not kept

    async def load_state(self, state: Mapping[str, Any]) -> None:
        if STATE_KEY not in state:
            raise ValueError("This conversation's saved state is not an Agent Framework checkpoint: it was run on another runtime.")
        checkpoint = WorkflowCheckpoint.from_dict(decode_checkpoint_value(state[STATE_KEY]))
        await self.storage.save(checkpoint)
        self._restore = checkpoint

    async def save_state(self) -> dict[str, Any]:
        latest = await self.storage.get_latest(workflow_name=self.workflow.name)
        if latest is None:
            return {}
        if self._cut:  # the next message starts afresh from what the steps that ran left, not from the abandoned ones
            latest.messages, latest.pending_request_info_events = {}, {}  # nor answers a question asked before Stop
        return {STATE_KEY: encode_checkpoint_value(kept(latest.to_dict()))}

    def stop(self) -> None:
        self.plan.stop[0] = True

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def run(self, task: Task) -> AsyncIterator[RunEvent]:
        self._task = asyncio.current_task()
        reader = self.reader
        stream = await self._stream(task.text)
        try:
            async for event in stream:
                for said in reader.read(event):
                    yield said
                if event.type == "superstep_completed" and await self._stop_here():
                    self._cut = True
                    reader.state = f"stopped by the user after superstep {event.iteration}"
                    break
        finally:
            await stream.close()  # its workflow span ends inside the turn's, also when stopped or failed
        plan = self.plan
        stopped = self._cut if plan.stops_between_steps else plan.stop[0] and (not plan.total_steps or reader.step < plan.total_steps)
        waiting = (plan.waiting() or reader.waiting) and not self._cut
        yield Finished(f"Agent Framework workflow {reader.state or 'ended'}", reader.step, waiting=waiting, stopped=stopped)

    async def _stream(self, text: str) -> Any:
        """The run that reads this message: the answer to the workflow's pending question (restored and answered in
        one run), else the conversation so far restored, then the message as a new run."""
        restore = self._restore
        if restore is not None and restore.pending_request_info_events:  # asking.py: the message answers it
            request_id, request = next(iter(restore.pending_request_info_events.items()))
            responses = {request_id: answer(request.response_type, text)}
            return self.workflow.run(checkpoint_id=restore.checkpoint_id, checkpoint_storage=self.storage, responses=responses, stream=True)
        if restore is not None:
            async for _ in self.workflow.run(checkpoint_id=restore.checkpoint_id, checkpoint_storage=self.storage, stream=True):
                pass
        return self.workflow.run(self.plan.task(text), checkpoint_storage=self.storage, stream=True)

    async def _stop_here(self) -> bool:
        """Stop asked for, by a workflow whose own termination does not read it (a team file's), with work left: it
        ends at this superstep's boundary, whose checkpoint is the conversation's state."""
        if not (self.plan.stop[0] and self.plan.stops_between_steps):
            return False
        latest = await self.storage.get_latest(workflow_name=self.workflow.name)
        return latest is not None and bool(latest.messages)


class AgentFrameworkRuntime:
    name = NAME
    sources = ("core.runtimes.agentframework.team_factories",)  # `create_workflow` files as scenarios
    teams = frozenset(BUILDERS)  # the scenarios' `team` names it builds (core.agents.runtimes_for)

    def models(self, settings: Settings) -> AgentFrameworkClients:
        return build_clients(settings)

    def build(self, scenario: Scenario, context: TeamContext) -> AgentFrameworkTeam:
        builder = BUILDERS.get(scenario.team) or scenario.build  # a built-in's, else its own (a workflow file)
        if builder is None:
            raise ValueError(f"Agent Framework has no team for the scenario “{scenario.label or scenario.key}”; run it on AutoGen.")
        plan = builder(context)

        def doing(name: str) -> str:
            info = scenario.agent(name)
            return info.doing if info is not None else "working"

        return AgentFrameworkTeam(plan, _Reader(context.turn, plan, doing, context.label))


RUNTIME = AgentFrameworkRuntime()

__all__ = ["RUNTIME"]
