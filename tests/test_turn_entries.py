"""Team events → transcript entries, with no team, store or model: agentchat's own message types fed to
`core.runtimes.agentchat.stream.StreamReader` one by one, as `run_stream` yields them."""

from __future__ import annotations

from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import (
    HandoffMessage,
    MultiModalMessage,
    SelectSpeakerEvent,
    TextMessage,
    ToolCallExecutionEvent,
    ToolCallRequestEvent,
)
from autogen_core import FunctionCall
from autogen_core.models import FunctionExecutionResult
from PIL import Image

from core.runtimes.agentchat.agents import EncodedImage
from core.runtimes.agentchat.stream import StreamReader, arguments_text, message_entry
from core.turn.runner import stop_notice


def reader(**changes) -> StreamReader:
    doing = {"planner": "planning", "weather_assistant": "checking the weather"}
    return StreamReader(turn=3, doing=lambda name: doing.get(name, "working"), **changes)


def test_a_weather_turn_reads_as_the_chat_shows_it():
    why = {"planner": "rule: your new message goes to the planner"}
    stream = reader(explain=lambda speaker: why.get(speaker, "chosen by the model: no rule applied"))
    seen = []
    for item in [
        TextMessage(source="user", content="What's the weather in Lehi?"),  # the task: not an entry
        SelectSpeakerEvent(source="selector", content=["planner"]),
        TextMessage(source="planner", content="weather_assistant: please get the current weather for Lehi."),
        SelectSpeakerEvent(source="selector", content=["weather_assistant"]),
        ToolCallRequestEvent(source="weather_assistant", content=[FunctionCall(id="c1", name="get_weather", arguments='{"city": "Lehi"}')]),
        ToolCallExecutionEvent(
            source="weather_assistant",
            content=[FunctionExecutionResult(call_id="c1", name="get_weather", content="Lehi: 3 °C, clear sky", is_error=False)],
        ),
        TextMessage(source="weather_assistant", content="Lehi: 3 °C, clear sky."),
        TextMessage(source="planner", content="It is 3 °C and clear in Lehi. TERMINATE"),
        TaskResult(messages=[], stop_reason="Text 'TERMINATE' mentioned"),
    ]:
        reading = stream.read(item)
        seen += [("progress", reading.progress.text, reading.progress.step)] if reading.progress else []
        seen += [(e["role"], e["name"], e["text"], e["step"], e.get("why")) for e in reading.entries]
    assert seen == [
        ("progress", "planner is planning (rule: your new message goes to the planner)", 1),
        (
            "assistant",
            "planner",
            "weather_assistant: please get the current weather for Lehi.",
            1,
            "rule: your new message goes to the planner",
        ),
        ("progress", "weather_assistant is checking the weather (chosen by the model: no rule applied)", 2),
        ("tool", "weather_assistant", 'get_weather(city="Lehi") → Lehi: 3 °C, clear sky', 2, None),
        ("assistant", "weather_assistant", "Lehi: 3 °C, clear sky.", 2, "chosen by the model: no rule applied"),
        ("assistant", "planner", "It is 3 °C and clear in Lehi.", 3, None),  # the team's end word is not shown
    ]
    assert stream.step == 3 and not stream.waiting and stream.stop_reason == "Text 'TERMINATE' mentioned"


def test_a_hand_off_to_the_user_waits_and_its_tool_call_is_not_an_entry():
    stream = reader()
    request = ToolCallRequestEvent(
        source="planner", content=[FunctionCall(id="h1", name="transfer_to_user", arguments='{"question": "Which city?"}')]
    )
    executed = ToolCallExecutionEvent(
        source="planner", content=[FunctionExecutionResult(call_id="h1", name="transfer_to_user", content="Which city?", is_error=False)]
    )
    assert stream.read(request).entries == [] and stream.read(executed).entries == []
    (entry,) = stream.read(HandoffMessage(source="planner", target="user", content="Which city?")).entries
    assert entry["asks_user"] is True and entry["text"] == "Which city?" and stream.waiting


def test_a_failed_tool_call_is_marked_by_flag_or_by_its_error_line():
    stream = reader()
    stream.read(
        ToolCallRequestEvent(
            source="w",
            content=[FunctionCall(id="a", name="get_weather", arguments="{}"), FunctionCall(id="b", name="get_weather", arguments="{}")],
        )
    )
    entries = stream.read(
        ToolCallExecutionEvent(
            source="w",
            content=[
                FunctionExecutionResult(call_id="a", name="get_weather", content="boom", is_error=True),
                FunctionExecutionResult(call_id="b", name="get_weather", content="ERROR: timed out", is_error=False),
            ],
        )
    ).entries
    assert [e["is_error"] for e in entries] == [True, True]


def test_a_picture_message_keeps_its_prompt_id_and_note():
    picture = EncodedImage(Image.new("RGB", (4, 4)), None)
    message = MultiModalMessage(
        source="image_agent",
        content=["a cat in the snow", picture],
        metadata={"image_id": "abcdef0123456789", "note": "kept the previous prompt"},
    )
    assert message_entry(message, turn=2, step=1) == {
        "role": "assistant",
        "name": "image_agent",
        "turn": 2,
        "step": 1,
        "text": "a cat in the snow",
        "image_id": "abcdef0123456789",
        "note": "kept the previous prompt",
    }


def test_small_pieces():
    assert arguments_text('{"city": "Zürich", "days": 2}') == 'city="Zürich", days=2'
    assert arguments_text("not json") == "not json"
    assert stop_notice(turn=1, step=2, total_steps=5)["text"] == "Stopped by you after step 2 of 5."
    assert stop_notice(turn=1, step=2, total_steps=0)["text"] == "Stopped by you after step 2."
    assert reader().read(SelectSpeakerEvent(source="s", content=["a", "b"])).progress.text == "a is working and b is working"
    named = reader(label={"image_agent": "Image agent"}.get).read(SelectSpeakerEvent(source="s", content=["image_agent"]))
    assert named.progress.text == "Image agent is working", "names as people read them, as in the messages"
