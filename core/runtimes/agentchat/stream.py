"""From what an agentchat team streams to what the chat shows: each event of `run_stream` read into transcript
entries and progress, with no I/O (tests/test_turn_entries.py feeds it agentchat's own message types).

`StreamReader` keeps the little a turn must remember between events: the step count, why each speaker
was chosen (announced before the speaker's message arrives), which tool call ids mean which function, and
whether the team handed over to the user."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Callable

from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import (
    BaseAgentEvent,
    BaseChatMessage,
    HandoffMessage,
    ModelClientStreamingChunkEvent,
    MultiModalMessage,
    SelectSpeakerEvent,
    ToolCallExecutionEvent,
    ToolCallRequestEvent,
)

from ... import contract
from ...records import TranscriptEntry

HANDOFF_PREFIX = "transfer_to_"  # agentchat's hand-off tools: shown as the agent's message, not as a tool call


def arguments_text(arguments: str) -> str:
    """`{"city": "Lehi"}` as `city="Lehi"`, for the chat."""
    try:
        parsed = json.loads(arguments or "{}")
        return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in parsed.items())
    except (ValueError, AttributeError):
        return str(arguments)[:200]


def message_entry(message: BaseChatMessage, turn: int, step: int, why: str = "") -> TranscriptEntry:
    """An agent's message as a transcript entry: its words (a picture's prompt), picture id and note, why its
    speaker was chosen, and whether it hands over to the user."""
    if isinstance(message, MultiModalMessage):
        text = " ".join(c for c in message.content if isinstance(c, str))
    else:  # the planner's end-of-turn word is for the team, not for the reader
        text = re.sub(r"\s*\bTERMINATE\b\s*$", "", message.to_text()).strip() or message.to_text()
    entry: TranscriptEntry = {"role": "assistant", "name": message.source, "turn": turn, "step": step, "text": text}
    if "image_id" in message.metadata:
        entry["image_id"] = message.metadata["image_id"]
    if "note" in message.metadata:
        entry["note"] = message.metadata["note"]
    if why:
        entry["why"] = why
    if isinstance(message, HandoffMessage) and message.target == "user":
        entry["asks_user"] = True
    return entry


def tool_entry(source: str, name: str, arguments: str, result: str, is_error: bool, turn: int, step: int) -> TranscriptEntry:  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
    return {
        "role": "tool",
        "name": source,
        "tool": name,
        "turn": turn,
        "step": step,
        "text": f"{name}({arguments_text(arguments)}) → {result}",
        "is_error": bool(is_error or result.startswith(contract.TOOL_ERROR_PREFIX)),
    }


@dataclass(frozen=True)
class Progress:
    """Who works next, and why: "critic is critiquing", shown as step `step`."""

    text: str
    step: int


@dataclass
class Reading:
    """What one streamed item adds to the turn."""

    entries: list[TranscriptEntry] = field(default_factory=list)
    progress: Progress | None = None
    chunk: tuple[str, str] | None = None  # (agent, text): a piece of an answer still being written


@dataclass
class StreamReader:
    turn: int
    doing: Callable[[str], str] = lambda name: "working"  # "drawing", from the scenario's AgentInfo
    label: Callable[[str], str] = lambda name: name  # "Image agent": names as people read them
    explain: Callable[[str], str] | None = None  # why a speaker was chosen (a rule, or the model)
    step: int = 0
    waiting: bool = False  # the team handed over to the user
    stop_reason: str = ""
    _reasons: dict[str, str] = field(default_factory=dict)  # speaker -> why, shown with its message
    _requested: dict[str, tuple[str, str]] = field(default_factory=dict)  # tool call id -> (name, arguments)

    def read(self, item: BaseAgentEvent | BaseChatMessage | TaskResult) -> Reading:
        if isinstance(item, TaskResult):
            self.stop_reason = item.stop_reason or ""
        elif isinstance(item, ModelClientStreamingChunkEvent) and item.content:
            return Reading(chunk=(item.source, item.content))
        elif isinstance(item, SelectSpeakerEvent) and item.content:
            return Reading(progress=self._speakers(list(item.content)))
        elif isinstance(item, ToolCallRequestEvent):
            self._requested.update({call.id: (call.name, call.arguments) for call in item.content})
        elif isinstance(item, ToolCallExecutionEvent):
            return Reading(entries=self._tool_results(item))
        elif isinstance(item, BaseChatMessage) and item.source != "user":
            self.step += 1
            entry = message_entry(item, self.turn, self.step, why=self._reasons.pop(item.source, ""))
            self.waiting = self.waiting or bool(entry.get("asks_user"))
            return Reading(entries=[entry])
        return Reading()

    def _speakers(self, speakers: list[str]) -> Progress:
        why = self.explain(speakers[0]) if self.explain else ""
        self._reasons.update({name: why for name in speakers if why})
        doing = " and ".join(f"{self.label(name)} is {self.doing(name)}" for name in speakers)
        return Progress(text=doing + (f" ({why})" if why else ""), step=self.step + 1)

    def _tool_results(self, event: ToolCallExecutionEvent) -> list[TranscriptEntry]:
        entries = []
        for result in event.content:
            name, arguments = self._requested.get(result.call_id, (result.name, ""))
            if name.startswith(HANDOFF_PREFIX):
                continue  # a hand-off shows as the agent's message
            entries.append(tool_entry(event.source, name, arguments, str(result.content), bool(result.is_error), self.turn, self.step + 1))
        return entries
