"""The scenarios as agentchat team builders, and the custom agents they need.

- Catify: an image agent draws the user's prompt, a vision critic answers `CRITICS:` / `PROMPT:`, the image
  agent draws the new prompt; n iterations give 1 + n pictures and n critiques per turn.
- Analyst & Summarizer: two agents answer the same report and question at the same time (GraphFlow).
- Weather group chat: a planner, a weather assistant with one function tool, and the user, with a rule-first
  speaker selector (core.speakers) and a hand-off to the user that pauses the team."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

from autogen_agentchat.agents import AssistantAgent, BaseChatAgent
from autogen_agentchat.base import Handoff, Response, TerminationCondition
from autogen_agentchat.conditions import ExternalTermination, MaxMessageTermination
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage, MultiModalMessage, TextMessage
from autogen_agentchat.teams import SelectorGroupChat
from autogen_core import CancellationToken
from autogen_core import Image as AGImage
from autogen_core.model_context import BufferedChatCompletionContext

from . import critique, pictures, speakers, tracing, weather
from .demo import INSTRUCTION_MARKER
from .images import GeneratedImage, ImageGenerator
from .providers import Clients, require_image_model

CATIFY = "catify"
ANALYST_SUMMARIZER = "analyst"
WEATHER = "weather"
IMAGE_AGENT = "image_agent"
CRITIC = "critic"
DEFAULT_CRITIC_INSTRUCTION = "Add fluffy cats. Like a lot of cats. If there's less than 100 cats I'll be mad."
DEFAULT_ITERATIONS = 2
MAX_ITERATIONS = 6
CRITIC_IMAGE_SIDE = 512

SCENARIOS = {CATIFY: "Catify", ANALYST_SUMMARIZER: "Analyst & Summarizer", WEATHER: "Weather group chat"}


@dataclass
class ImageRecord:
    """One picture's place in the lineage: the seed's {prompt, index} and what connects it to the rest."""

    image_id: str
    prompt: str
    index: int
    turn: int
    parent: str | None
    critique: str | None
    model: str
    size: str
    quality: str
    cost_usd: float | None
    trace_id: str | None = None
    artifact_path: str | None = None

    def lookup_entry(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "index": self.index, "turn": self.turn, "parent": self.parent,
                "critique": self.critique, "trace_id": self.trace_id, "model": self.model, "size": self.size,
                "quality": self.quality, "cost_usd": self.cost_usd, "artifact_path": self.artifact_path}


class ImageSink(Protocol):
    """Where pictures go the moment they exist (the run's artifacts, the page); returns the artifact path."""

    def next_index(self) -> int: ...

    def store(self, record: ImageRecord, png: bytes) -> str | None: ...


class EncodedImage(AGImage):
    """An agentchat Image that encodes its PNG once. agentchat serialises every message it routes (for its
    event log, even when nobody listens), and plain `Image` re-encodes the picture each time: ~0.5 s a turn."""

    def __init__(self, image, png: bytes | None = None):
        super().__init__(image)
        self._base64 = base64.b64encode(png).decode("ascii") if png else None

    def to_base64(self) -> str:
        if self._base64 is None:
            self._base64 = super().to_base64()
        return self._base64


def new_image_id() -> str:
    return uuid.uuid4().hex[:16]


class ImageAgent(BaseChatAgent):
    """Draws the newest prompt: the user's message, or the critic's `PROMPT:`; keeps the last prompt
    when the critic gave none, and says so."""

    def __init__(self, generator: ImageGenerator, sink: ImageSink, turn: int, name: str = IMAGE_AGENT):
        super().__init__(name, "Draws the newest prompt as a picture.")
        self._generator = generator
        self._sink = sink
        self._turn = turn
        self._last_prompt: str | None = None
        self._last_image_id: str | None = None

    @property
    def produced_message_types(self):
        return (MultiModalMessage,)

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        prompt, parent, critique_text, note = self._next_prompt(messages)
        with tracing.image_span(self._generator.model, getattr(self._generator, "size", ""),
                                getattr(self._generator, "quality", ""), prompt) as span:
            image: GeneratedImage = await self._generator.generate(prompt)
            record = ImageRecord(
                image_id=new_image_id(), prompt=prompt, index=self._sink.next_index(), turn=self._turn,
                parent=parent, critique=critique_text, model=image.model, size=image.size, quality=image.quality,
                cost_usd=image.cost_usd, trace_id=tracing.current_trace_id())
            record.artifact_path = self._sink.store(record, image.png)
            tracing.record_image(span, record.image_id, record.artifact_path, record.cost_usd, parent)
            if span is not None:
                span.set_outputs({"image_id": record.image_id, "artifact_path": record.artifact_path,
                                  "revised_prompt": image.revised_prompt, "cost_usd": record.cost_usd})
        self._last_prompt, self._last_image_id = prompt, record.image_id
        small = pictures.downsize(image.png, CRITIC_IMAGE_SIDE)
        small_png = image.png if small.size == _png_size(image.png) else pictures.to_png(small)
        metadata = {"image_id": record.image_id}
        if note:
            metadata["note"] = note
        return Response(chat_message=MultiModalMessage(source=self.name, content=[prompt, EncodedImage(small, small_png)],
                                                       metadata=metadata))

    def _next_prompt(self, messages: Sequence[BaseChatMessage]) -> tuple[str, str | None, str | None, str | None]:
        """(prompt, parent image, critique, note for the chat) from the newest relevant message."""
        for message in reversed(messages):
            if message.source == CRITIC and isinstance(message, TextMessage):
                parsed = critique.parse(message.content)
                if parsed.prompt:
                    return parsed.prompt, self._last_image_id, parsed.critique, None
                kept = self._last_prompt or ""
                return kept, self._last_image_id, parsed.critique, "The critic gave no PROMPT:, so I drew the previous prompt again."
            if message.source not in (self.name, CRITIC):
                text = message.to_text().strip()
                if text:
                    return text, None, None, None
        if self._last_prompt:
            return self._last_prompt, self._last_image_id, None, "No new prompt, so I drew the previous one again."
        raise ValueError("There is nothing to draw yet: send a prompt first.")

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        self._last_prompt, self._last_image_id = None, None

    async def save_state(self) -> Mapping[str, Any]:
        return {"type": "ImageAgentState", "last_prompt": self._last_prompt, "last_image_id": self._last_image_id}

    async def load_state(self, state: Mapping[str, Any]) -> None:
        self._last_prompt = state.get("last_prompt")
        self._last_image_id = state.get("last_image_id")


def _png_size(png: bytes) -> tuple[int, int]:
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def critic_system_message(instruction: str) -> str:
    return (
        "You are a demanding art critic. You get a picture and the prompt it was drawn from. "
        "Criticise the picture against the user's instruction and write a better prompt for the image model.\n"
        f"{INSTRUCTION_MARKER} {instruction.strip() or DEFAULT_CRITIC_INSTRUCTION}\n"
        "Answer in exactly this format and nothing else:\n"
        "CRITICS: <what is wrong and what to change>\n"
        "PROMPT: <the complete new prompt for the image model>"
    )


@dataclass
class TeamPlan:
    """What the runner needs besides the team: its stop switch, how many steps to expect (0: unknown), what
    each speaker is doing, the task message for the user's text, and why a speaker was chosen."""

    team: Any
    stop: ExternalTermination
    total_steps: int
    step_labels: dict[str, str] = field(default_factory=dict)
    task: Callable[[str], str] = lambda text: text
    explain: Callable[[str], str] | None = None


def _catify_selector(messages: Sequence[BaseAgentEvent | BaseChatMessage]) -> str:
    """A fresh user prompt or a critique goes to the image agent; a picture goes to the critic."""
    last = next((m for m in reversed(messages) if isinstance(m, BaseChatMessage)), None)
    return CRITIC if last is not None and last.source == IMAGE_AGENT else IMAGE_AGENT


def build_catify(clients: Clients, sink: ImageSink, turn: int, iterations: int = DEFAULT_ITERATIONS,
                 instruction: str = DEFAULT_CRITIC_INSTRUCTION) -> TeamPlan:
    iterations = max(1, min(int(iterations), MAX_ITERATIONS))
    image_agent = ImageAgent(require_image_model(clients), sink, turn)
    critic = AssistantAgent(
        CRITIC, model_client=clients.vision, system_message=critic_system_message(instruction),
        description="Looks at the newest picture and answers CRITICS: and PROMPT:.",
        model_context=BufferedChatCompletionContext(buffer_size=1),  # only the newest picture, not every one so far
    )
    stop = ExternalTermination()
    # the user's message + (iterations + 1) pictures + iterations critiques
    termination: TerminationCondition = MaxMessageTermination(2 * iterations + 2) | stop
    team = SelectorGroupChat(
        [tracing.TracedAgent(image_agent), tracing.TracedAgent(critic)],
        model_client=clients.chat,  # never asked: the selector function always decides
        selector_func=_catify_selector,
        allow_repeated_speaker=True,
        termination_condition=termination,
        emit_team_events=True,  # SelectSpeakerEvent: the page shows who works next
    )
    return TeamPlan(team=team, stop=stop, total_steps=2 * iterations + 1,
                    step_labels={IMAGE_AGENT: "drawing", CRITIC: "critiquing"})


# --- Analyst & Summarizer ------------------------------------------------------------------------------------------

ANALYST = "analyst"
SUMMARIZER = "summarizer"
DEFAULT_ANALYST_SYSTEM = ("You are a careful analyst. Read the report and the question. Pull out the key figures, "
                          "trends and risks, and answer the question from the report only. Be concrete and brief.")
DEFAULT_SUMMARIZER_SYSTEM = ("You are a summarizer. Summarise the report in three short sentences a busy reader "
                             "understands, then answer the question in one sentence, from the report only.")


def analyst_task(report: str, turn: int) -> Callable[[str], str]:
    """The first turn sends the report with the question; follow-ups send the question (the agents keep the
    report in their saved context)."""
    def task(text: str) -> str:
        if turn == 1 and report.strip():
            return f"REPORT:\n{report.strip()}\n\nQUESTION: {text}"
        return f"QUESTION: {text}"
    return task


def build_analyst_summarizer(clients: Clients, turn: int, options: Mapping[str, Any]) -> TeamPlan:
    """Both agents answer the same message at the same time: a GraphFlow with two start nodes and no edges
    runs them concurrently, and its state saves and loads like any team."""
    from autogen_agentchat.teams import DiGraphBuilder, GraphFlow

    agents = [
        AssistantAgent(ANALYST, model_client=clients.for_role(ANALYST),
                       system_message=str(options.get("analyst_system") or DEFAULT_ANALYST_SYSTEM),
                       description="Analyses the report: figures, trends, risks."),
        AssistantAgent(SUMMARIZER, model_client=clients.for_role(SUMMARIZER),
                       system_message=str(options.get("summarizer_system") or DEFAULT_SUMMARIZER_SYSTEM),
                       description="Summarises the report for a busy reader."),
    ]
    builder = DiGraphBuilder()
    nodes = [tracing.TracedAgent(agent) for agent in agents]
    for node in nodes:
        builder.add_node(node)
    if not options.get("concurrent", True):  # one after the other (the summarizer then reads the analysis)
        builder.add_edge(nodes[0], nodes[1])
    stop = ExternalTermination()
    team = GraphFlow(participants=builder.get_participants(), graph=builder.build(), termination_condition=stop)
    return TeamPlan(team=team, stop=stop, total_steps=2, step_labels={ANALYST: "analysing", SUMMARIZER: "summarising"},
                    task=analyst_task(str(options.get("report") or ""), turn))


# --- Weather group chat --------------------------------------------------------------------------------------------

PLANNER = speakers.PLANNER
WEATHER_ASSISTANT = speakers.WEATHER_ASSISTANT
MAX_WEATHER_MESSAGES = 8  # a normal turn takes 4-5 messages; the rest is room for one detour
PLANNER_SYSTEM = (
    "You are the planner of a small team that answers questions about the weather. When the user asks about the "
    "weather, make sure you know the city: if it is missing, call transfer_to_user with your question. When you "
    "know the city, ask the weather assistant for it, writing 'weather_assistant: please get the current weather "
    "for <city>.' When the weather assistant has answered, give the user the answer in one or two sentences and "
    "end your message with TERMINATE. For anything else, answer briefly and end with TERMINATE.")
WEATHER_SYSTEM = ("You are the weather assistant. Use the get_weather tool for each city you are asked about, then "
                  "report what it returned. If it returned an ERROR, say plainly what failed.")
SELECTOR_PROMPT = """Choose who speaks next in a weather team.
Roles:
{roles}

Conversation so far:
{history}

Read the above conversation. Then select the next role from {participants} to play. Only return the role."""


class AskUser(Handoff):
    """A hand-off to the user that carries the question, so the chat shows what the team wants to know."""

    @property
    def handoff_tool(self):  # type: ignore[override]
        from autogen_core.tools import FunctionTool

        async def ask_user(question: str) -> str:
            return question

        return FunctionTool(tracing.traced_tool(ask_user), name=self.name, description=self.description, strict=True)


def weather_source_for(options: Mapping[str, Any], clients: Clients) -> weather.WeatherSource:
    """The offline source with the demo provider (and unless chosen otherwise), Open-Meteo with real ones."""
    demo = clients.settings is None or clients.settings.provider == "demo"
    return weather.source_for(str(options.get("weather_source") or ("offline" if demo else "open-meteo")))


def build_weather(clients: Clients, turn: int, options: Mapping[str, Any],
                  source: weather.WeatherSource | None = None) -> TeamPlan:
    from autogen_agentchat.conditions import HandoffTermination, TextMentionTermination
    from autogen_core.tools import FunctionTool

    get_weather = weather.weather_function(source or weather_source_for(options, clients),
                                           timeout_s=float(options.get("weather_timeout_s", weather.DEFAULT_TIMEOUT_S)))
    tool = FunctionTool(tracing.traced_tool(get_weather), name="get_weather",
                        description="Current weather for a city: temperature in °C, conditions and wind.")
    planner = AssistantAgent(PLANNER, model_client=clients.for_role(PLANNER), system_message=PLANNER_SYSTEM,
                             handoffs=[AskUser(target="user", description="Ask the user for something you need, "
                                               "such as the city.")],
                             description="Talks with the user, plans, and asks the user when something is missing.")
    assistant = AssistantAgent(WEATHER_ASSISTANT, model_client=clients.for_role(WEATHER_ASSISTANT),
                               system_message=WEATHER_SYSTEM, tools=[tool], reflect_on_tool_use=True,
                               description="Looks up the current weather of a city with get_weather.")
    selector = speakers.WeatherSpeakerSelector()
    stop = ExternalTermination()
    termination: TerminationCondition = (HandoffTermination(target="user")
                                         | TextMentionTermination("TERMINATE", sources=[PLANNER])
                                         | MaxMessageTermination(MAX_WEATHER_MESSAGES) | stop)
    team = SelectorGroupChat(
        [tracing.TracedAgent(planner), tracing.TracedAgent(assistant)],
        model_client=clients.for_role("selector"),
        selector_func=selector,
        selector_prompt=SELECTOR_PROMPT,
        allow_repeated_speaker=True,
        termination_condition=termination,
        emit_team_events=True,
    )
    return TeamPlan(team=team, stop=stop, total_steps=0,
                    step_labels={PLANNER: "planning", WEATHER_ASSISTANT: "checking the weather"},
                    explain=selector.reason)


def build_team(scenario: str, clients: Clients, sink: ImageSink, turn: int, options: Mapping[str, Any]) -> TeamPlan:
    if scenario == CATIFY:
        return build_catify(clients, sink, turn, iterations=options.get("iterations", DEFAULT_ITERATIONS),
                            instruction=options.get("instruction", DEFAULT_CRITIC_INSTRUCTION))
    if scenario == ANALYST_SUMMARIZER:
        return build_analyst_summarizer(clients, turn, options)
    if scenario == WEATHER:
        return build_weather(clients, turn, options)
    raise ValueError(f"Unknown scenario {scenario!r}.")
