"""The offline demo provider: a chat model, a vision model and an image model that need no key and no
network, cost nothing, answer the same input the same way, and still react to what they are given.

The chat client is a real agentchat `ChatCompletionClient`, so the demo runs the same agents, teams,
state and tracing code as OpenAI does. Set `DEMO_LATENCY_MS` to add a fixed delay per call."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import re
from typing import Any, AsyncGenerator, Callable, Mapping, Optional, Sequence

from autogen_core import CancellationToken, FunctionCall, Image
from autogen_core.models import (
    AssistantMessage,
    ChatCompletionClient,
    CreateResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    ModelInfo,
    RequestUsage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import Tool, ToolSchema

from ...demo import brief, drawing
from ...image_models import GeneratedImage
from ...scenarios.catify import INSTRUCTION_MARKER

DEMO_CHAT_MODEL = "demo-chat"
DEMO_VISION_MODEL = "demo-vision"
DEMO_IMAGE_MODEL = "demo-image"


def latency_s() -> float:
    try:
        return max(0.0, float(os.environ.get("DEMO_LATENCY_MS", "0")) / 1000)
    except ValueError:
        return 0.0


def count_text_tokens(text: str) -> int:
    """A deterministic stand-in for a BPE tokenizer: words and punctuation, long words split every 6 chars."""
    pieces = re.findall(r"\w+|[^\w\s]", text or "")
    return sum(max(1, math.ceil(len(p) / 6)) for p in pieces)


def count_image_tokens(image: Image) -> int:
    """OpenAI's high-detail vision formula: 85 + 170 per 512-pixel tile."""
    w, h = image.image.size
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)


def _message_text(message: LLMMessage) -> str:
    content = getattr(message, "content", "")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(c if isinstance(c, str) else getattr(c, "content", "") if not isinstance(c, Image) else "" for c in content)
    return str(content)


def count_prompt_tokens(messages: Sequence[LLMMessage]) -> int:
    total = 3
    for message in messages:
        total += 4 + count_text_tokens(_message_text(message))
        content = getattr(message, "content", None)
        if isinstance(content, list):
            total += sum(count_image_tokens(c) for c in content if isinstance(c, Image))
    return total


# A responder looks at the request and either answers (text or tool calls) or passes (None).
Responder = Callable[[Sequence[LLMMessage], Sequence[Any]], Optional[str | list[FunctionCall]]]


def critic_responder(messages: Sequence[LLMMessage], tools: Sequence[Any]) -> Optional[str]:
    """Answer as the Catify vision critic when the newest user message carries a picture."""
    last = next((m for m in reversed(messages) if isinstance(m, UserMessage)), None)
    if last is None or not isinstance(last.content, list):
        return None
    image = next((c for c in last.content if isinstance(c, Image)), None)
    if image is None:
        return None
    prompt = " ".join(c for c in last.content if isinstance(c, str)).strip()
    system = "\n".join(m.content for m in messages if isinstance(m, SystemMessage))
    return critic_reply(prompt, drawing.analyse(image.image), _instruction(system))


def _instruction(system_text: str) -> str:
    """The user's critic instruction in the critic's system message (all its lines, up to Catify's answer format)."""
    if INSTRUCTION_MARKER in system_text:
        text = system_text.split(INSTRUCTION_MARKER, 1)[1]
        return text.split("\nAnswer in exactly this format", 1)[0].strip()
    return system_text.strip().splitlines()[0] if system_text.strip() else ""


def critic_reply(prompt: str, stats: drawing.PictureStats, instruction: str) -> str:
    """What the demo critic says: the picture (its pixels, and what its prompt drew) against the brief, which is the
    instruction over the user's message (`brief.read`); the next prompt is the user's message with the brief's
    changes (styles, cats, place, weather, light, mood), the fixes the pixels call for that the brief does not
    contradict, and the fixes asked for before."""
    base = prompt.split(" — ", 1)[0].strip() or "a picture"
    feats = drawing.features(prompt)
    asked = brief.read(instruction)
    wanted = asked.over(brief.read(base))
    notes, changes = [f"The picture is {stats.words()}."], list[str]()
    _judge_cats(asked, feats.cats, notes, changes)
    _judge_brief(asked, wanted, feats, stats, notes)
    changes += brief.phrases(asked)
    changes += _pixel_fixes(wanted, feats, stats, notes)
    earlier = prompt.split(" — ", 1)[1].split(", ") if " — " in prompt else []
    kept = [c.strip() for c in earlier if c.strip() and not re.search(r"\bcats?\b|kitten|^with ", c) and _agrees(c, wanted)]
    changes += [c for c in kept if c not in changes]  # fixes asked for before still apply
    if len(notes) == 1:
        notes.append("It already matches the brief.")
    tail = f" — {', '.join(changes)}" if changes else ""
    return f"CRITICS: {' '.join(notes)}\nPROMPT: {base}{tail}"


def _judge_cats(asked: brief.Brief, have: int, notes: list[str], changes: list[str]) -> None:
    """The cats the instruction asks for: exactly, or at least (raised step by step toward it), or another subject."""
    if asked.subject is not None:
        notes.append(f"The brief asks for {asked.subject}, which I do not see yet.")
        changes.append(f"with {asked.subject}")
    if asked.cats is None:
        return
    target, counted = asked.cats, f"I count about {have} cat{'s' if have != 1 else ''}"
    if asked.at_least and have < target:
        notes.append(f"{counted}; the brief wants {target} or more, so there must be far more.")
        changes.append(brief.cats_phrase(asked, min(target, max(12, have * 8))))
    elif asked.at_least:
        notes.append(f"About {have} cats: the brief of {target} is met.")
        changes.append(brief.cats_phrase(asked, have))
    else:
        wants = brief.cats_phrase(asked, target).removeprefix("with ")
        notes.append(f"{counted}; the brief asks for {wants}." if have != target else f"{wants.capitalize()}, as the brief asks.")
        changes.append(brief.cats_phrase(asked, target))


def _judge_brief(
    asked: brief.Brief, wanted: brief.Brief, feats: drawing.PromptFeatures, stats: drawing.PictureStats, notes: list[str]
) -> None:
    """What the picture lacks of the brief's styles, place, weather and light (or that it has them)."""
    if wanted.monochrome:
        styles = ", ".join(s for s in wanted.styles if s in ("film noir", "black and white"))
        colour = stats.colourfulness >= 0.05
        notes.append(f"The brief asks for {styles}; {'the picture is still in colour' if colour else 'it is, good'}.")
    for style in (s for s in wanted.styles if s in drawing.STYLES):
        notes.append(f"The brief asks for {style}; {'this is' if feats.style == style else 'this is not'} painted that way yet.")
    if asked.place and asked.scene != feats.scene:
        notes.append(f"The brief puts it {asked.place}; this looks like a {feats.scene}.")
    if asked.weather and asked.weather != feats.weather:
        notes.append(f"There is no {asked.weather} yet.")
    if wanted.light == "dark" and stats.brightness >= 0.35:
        notes.append(f"It is too bright for {wanted.light_phrase or 'the mood asked for'}.")
    elif wanted.light == "bright" and stats.brightness < 0.5:
        notes.append(f"It is too dark; the brief wants {wanted.light_phrase or 'bright light'}.")


def _pixel_fixes(wanted: brief.Brief, feats: drawing.PromptFeatures, stats: drawing.PictureStats, notes: list[str]) -> list[str]:
    """Fixes the pixels call for, unless the brief asks otherwise (no warm light for a dark alley, no colour for noir)."""
    fixes = []
    if stats.brightness < 0.35 and wanted.light is None:
        notes.append("It is too dark to enjoy the details.")
        fixes.append("warm bright light")
    if stats.colourfulness < 0.12 and not feats.monochrome and not wanted.monochrome and "watercolour" not in wanted.styles:
        notes.append("The colours are washed out.")
        fixes.append("in vivid colour")
    if stats.busyness > 0.16 and wanted.place is None and wanted.weather is None and not wanted.styles:
        notes.append("The background competes with the subject.")
        fixes.append("simple clean background")
    return fixes


def _agrees(change: str, wanted: brief.Brief) -> bool:
    """An earlier fix the brief now contradicts is dropped."""
    if "bright light" in change and wanted.light == "dark":
        return False
    return not ("vivid colour" in change and wanted.monochrome)


def echo_responder(messages: Sequence[LLMMessage], tools: Sequence[Any]) -> str:
    """The fallback: a short, deterministic answer that shows what the model was given."""
    last = next((m for m in reversed(messages) if isinstance(m, (UserMessage, FunctionExecutionResultMessage))), None)
    return _echo(_message_text(last) if last is not None else "")


def _echo(text: str, role: str = "") -> str:
    words = text.split()
    preview = " ".join(words[:12]) + (" …" if len(words) > 12 else "")
    as_role = f", as {role}" if role else ""
    return f"(demo model{as_role}) “{preview}” ({len(words)} words read)."  # the words first: a next agent's numbers


_OPERATORS = (
    ("*", r"\*|×|\btimes\b|\bmultipl"),
    ("/", r"/|÷|\bdivided\b"),
    ("+", r"\+|\bplus\b|\badd\b|\bsum\b"),
    ("-", r"\bminus\b|\bsubtract"),
)


def _schema(tool: Any) -> dict[str, Any]:
    schema = getattr(tool, "schema", tool)
    return schema if isinstance(schema, dict) else {}


def _arguments_for(schema: dict[str, Any], text: str) -> dict[str, Any] | None:
    """A tool's arguments from a message, or None when it does not give them all: numbers for number
    parameters in order, an operator for a parameter named like one, the message for a text parameter."""
    parameters = schema.get("parameters") or {}
    properties: dict[str, Any] = parameters.get("properties") or {}
    numbers = [float(n) for n in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?", text)]
    operator = next((op for op, pattern in _OPERATORS if re.search(pattern, text, re.IGNORECASE)), None)
    arguments: dict[str, Any] = {}
    for name, spec in properties.items():
        kind = (spec or {}).get("type")
        if kind in ("number", "integer") and numbers:
            value = numbers.pop(0)
            arguments[name] = int(value) if kind == "integer" else value
        elif kind == "string" and "op" in name.lower():
            if operator is not None:
                arguments[name] = operator
        elif kind == "string":
            arguments[name] = text.strip()[:500]
    required = parameters.get("required") or list(properties)
    return arguments if all(name in arguments for name in required) else None


_SELECTOR_ASK = re.compile(r"select the next role from \[([^\]]*)\]", re.IGNORECASE)


def _next_speaker(messages: Sequence[LLMMessage]) -> str | None:
    """A SelectorGroupChat asks its model who speaks next ("…select the next role from ['a', 'b']…", the
    prompt of agentchat and AutoGen Studio), by the agents' descriptions: the task to one whose description does not
    name another agent, an agent's output to one whose description names it ("critiques the assistant's output"),
    else the candidate after the last one who spoke, in the listed order."""
    prompt = next(
        (
            m.content
            for m in messages
            if isinstance(m, (SystemMessage, UserMessage)) and isinstance(m.content, str) and _SELECTOR_ASK.search(m.content)
        ),
        None,
    )
    if prompt is None:
        return None
    asks = _SELECTOR_ASK.findall(prompt)
    candidates = re.findall(r"'([^']+)'", asks[-1])
    if not candidates:
        return None
    roles = {name: text.lower() for name, text in re.findall(r"^(\w+): (.*)$", prompt.split("\n\n", 1)[0], re.MULTILINE)}
    history = prompt.split("\n\n", 1)[1] if "\n\n" in prompt else ""
    spoke = [name for name in re.findall(r"^(\w+): ", history, re.MULTILINE) if name in candidates]

    def names(name: str, other: str) -> bool:  # a description that names an agent works on that agent's output
        return bool(re.search(rf"\b{re.escape(other.split('_')[0].lower())}", roles.get(name, "")))

    if not spoke:  # the task goes to one whose description does not wait for another's work
        return next((c for c in candidates if not any(names(c, o) for o in candidates if o != c)), candidates[0])
    after = [c for c in candidates if c != spoke[-1] and names(c, spoke[-1])]
    return after[0] if after else candidates[(candidates.index(spoke[-1]) + 1) % len(candidates)]


_HANDOFF_NOTICE = re.compile(r"Transferred to \w+, adopting the role of \w+ immediately")


_GENERIC = set("someone asks about topics needs conversation becomes user users question questions help".split())


def _points_to(system: str, target: str, text: str) -> bool:
    """The system message says when to hand off to `target` ("If someone asks about technical topics or needs detailed
    analysis, hand off to Bob"): the message shares a word (by its first five letters) with that condition."""
    wanted: set[str] = set()
    for sentence in re.split(r"(?<=[.!?])\s+", system):
        if re.search(rf"\b{re.escape(target)}\b", sentence, re.IGNORECASE):
            condition = re.split(r"\bhand\b|\btransfer", sentence, maxsplit=1, flags=re.IGNORECASE)[0]
            wanted |= {w[:5] for w in re.findall(r"[a-z]{4,}", condition.lower()) if w not in _GENERIC and w != target.lower()}
    return bool(wanted & {w[:5] for w in re.findall(r"[a-z]{4,}", text.lower())})


HANDOFF_TOOLS = ("transfer_to_", "handoff_to_")  # agentchat's Swarm, Agent Framework's HandoffBuilder


def _handoff(tools: Sequence[Any], text: str, system: str = "") -> FunctionCall | None:
    """A hand-off an agent with hand-offs would make: to the user when the message gives no specifics (no
    number, no date) to work with, to another agent when the message names it or is what the system message
    says that agent is for (agentchat's Swarm: tools named transfer_to_<agent>; Agent Framework's HandoffBuilder:
    handoff_to_<agent>, whose agents ask the user by answering in words)."""
    for tool in tools:
        name = str(_schema(tool).get("name") or "")
        if not name.startswith(HANDOFF_TOOLS):
            continue
        target = re.sub(r"^(?:transfer|handoff)_to_", "", name)
        named = re.search(rf"\b{re.escape(target.replace('_', ' '))}\b", text.replace("_", " "), re.IGNORECASE)
        if (target == "user" and not re.search(r"\d", text)) or (target != "user" and (named or _points_to(system, target, text))):
            return FunctionCall(id=f"call_{name}_{hashlib.sha256(text.encode()).hexdigest()[:8]}", name=name, arguments="{}")
    return None


def _critique(system: str, messages: Sequence[LLMMessage]) -> str | None:
    """A critic's answer (its system message asks it to critique or review): what the other agent's last answer
    gives the task, and what would improve it."""
    if not re.search(r"\b(?:critique|criticise|criticize|review)", system, re.IGNORECASE):
        return None
    task = next((m for m in messages if isinstance(m, UserMessage) and m.source == "user"), None)
    answer = next((m for m in reversed(messages) if isinstance(m, UserMessage) and m.source != "user"), None)
    if task is None or answer is None:
        return None
    said = _message_text(answer).strip()
    return (
        f"Critique of {answer.source}'s answer “{said[:200]}” to “{_message_text(task)[:200]}”: it gives the result but "
        "not in words. Improvement: state the answer in one full sentence that repeats the question's figures."
    )


def _closing(messages: Sequence[LLMMessage]) -> str | None:
    """Asked again with nothing new (its own answer is the last thing it was given): it is done, in agentchat's
    usual stop word, so a team whose termination listens for it ends there."""
    last = next((m for m in reversed(messages) if not isinstance(m, SystemMessage)), None)
    if isinstance(last, AssistantMessage) and isinstance(last.content, str):
        return "I have answered that above and have nothing to add. TERMINATE"
    return None


def _answered(messages: Sequence[LLMMessage]) -> str | None:
    """The results of the tools it already called for the user's newest task (so a critique gets the final answer,
    not the same call again)."""
    start = max((i for i, m in enumerate(messages) if isinstance(m, UserMessage) and m.source == "user"), default=-1)
    done = [r for m in messages[start + 1 :] if isinstance(m, FunctionExecutionResultMessage) for r in m.content]
    if not done:
        return None
    return "; ".join(f"{r.name} gave {r.content}" for r in done)


def team_agent_responder(messages: Sequence[LLMMessage], tools: Sequence[Any]) -> str | list[FunctionCall]:
    """Any agent of a team a user brought, offline: it calls a tool when the message gives what the tool needs
    ("What is 12.5 times 8?" → calculator(a=12.5, b=8, operator="*")), hands off to the user when the message
    gives nothing specific to work with (and to an agent the message names), reports a tool's result, and
    otherwise answers shortly in the role its system message gives; it says TERMINATE when its system message
    asks for it, so the team ends as designed."""
    system = "\n".join(m.content for m in messages if isinstance(m, SystemMessage))
    speaker = _next_speaker(messages)
    if speaker is not None:
        return speaker
    suffix = " TERMINATE" if "TERMINATE" in system else ""
    last = messages[-1] if messages else None
    if isinstance(last, FunctionExecutionResultMessage):
        results = "; ".join(f"{r.name} gave {r.content}" for r in last.content)
        return f"Done: {results}.{suffix}"
    closing = _closing(messages)
    if closing is not None:
        return closing
    done = _answered(messages)
    if done is not None:
        return f"The answer, as the calculation gave it: {done}.{suffix}"
    critique = _critique(system, messages)
    if critique is not None:
        return critique + suffix
    return _act(messages, tools, system, suffix)


def _act(messages: Sequence[LLMMessage], tools: Sequence[Any], system: str, suffix: str) -> str | list[FunctionCall]:
    """A tool call when the message gives what a tool needs, else a hand-off, else a short answer in its role."""
    # what the agent is asked: the last message to it, passing over agentchat's own hand-off notices
    asked = next((m for m in reversed(messages) if isinstance(m, UserMessage) and not _HANDOFF_NOTICE.match(_message_text(m))), None)
    text = _message_text(asked) if asked is not None else ""
    for tool in tools:
        schema = _schema(tool)
        if str(schema.get("name") or "").startswith(HANDOFF_TOOLS):
            continue
        arguments = _arguments_for(schema, text) if schema.get("name") else None
        if arguments is not None:
            digest = hashlib.sha256(json.dumps(arguments, sort_keys=True).encode()).hexdigest()[:8]
            call_id = f"call_{schema['name']}_{digest}"
            return [FunctionCall(id=call_id, name=str(schema["name"]), arguments=json.dumps(arguments))]
    handoff = _handoff(tools, text, system)
    if handoff is not None:
        return [handoff]
    role = re.search(r"\bYou are (?:an? |the )?([^.,;:\n]{3,60})", system)
    return _echo(text, role.group(1).strip() if role else "") + suffix


DEFAULT_RESPONDERS: tuple[Responder, ...] = (critic_responder,)


class DemoChatCompletionClient(ChatCompletionClient):
    """Deterministic, content-aware, zero-cost chat and vision model."""

    def __init__(self, model: str = DEMO_CHAT_MODEL, responders: Sequence[Responder] = DEFAULT_RESPONDERS):
        self.model = model
        self._responders = tuple(responders)
        self._last_usage = RequestUsage(0, 0)
        self._total_usage = RequestUsage(0, 0)

    def _answer(self, messages: Sequence[LLMMessage], tools: Sequence[Any]) -> str | list[FunctionCall]:
        for responder in self._responders:
            answer = responder(messages, tools)
            if answer is not None:
                return answer
        return echo_responder(messages, tools)

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Any = "auto",
        json_output: Optional[bool | type] = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: Optional[CancellationToken] = None,
    ) -> CreateResult:
        delay = latency_s()
        if delay:
            await asyncio.sleep(delay)
        return self._complete(messages, tools)

    def _complete(self, messages: Sequence[LLMMessage], tools: Sequence[Any]) -> CreateResult:
        content = self._answer(messages, tools)
        completion = count_text_tokens(content if isinstance(content, str) else str([c.arguments for c in content]))
        usage = RequestUsage(prompt_tokens=count_prompt_tokens(messages), completion_tokens=completion)
        self._last_usage = usage
        self._total_usage = RequestUsage(
            self._total_usage.prompt_tokens + usage.prompt_tokens, self._total_usage.completion_tokens + usage.completion_tokens
        )
        return CreateResult(
            finish_reason="function_calls" if isinstance(content, list) else "stop", content=content, usage=usage, cached=False
        )

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Any = "auto",
        json_output: Optional[bool | type] = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: Optional[CancellationToken] = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        """The answer word by word, paced like a real model: a tenth of the latency before the first word,
        the rest spread over the others (so streaming shows offline too)."""
        result = self._complete(messages, tools)
        delay = latency_s()
        pieces = re.findall(r"\S+\s*", result.content) if isinstance(result.content, str) else []
        if delay:
            await asyncio.sleep(delay * (0.1 if pieces else 1.0))
        for piece in pieces:
            yield piece
            if delay:
                await asyncio.sleep(delay * 0.9 / len(pieces))
        yield result

    async def close(self) -> None:
        return None

    def actual_usage(self) -> RequestUsage:
        return self._last_usage

    def total_usage(self) -> RequestUsage:
        return self._total_usage

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return count_prompt_tokens(messages)

    def remaining_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return 128_000 - self.count_tokens(messages, tools=tools)

    @property
    def capabilities(self) -> ModelInfo:
        return self.model_info

    @property
    def model_info(self) -> ModelInfo:
        return ModelInfo(
            vision=True, function_calling=True, json_output=False, family="unknown", structured_output=False, multiple_system_messages=True
        )


class DemoImageGenerator:
    """Draws the prompt with Pillow; zero cost."""

    def __init__(self, model: str = DEMO_IMAGE_MODEL):
        self.model, self.size, self.quality = model, f"{drawing.SIZE}x{drawing.SIZE}", "standard"

    async def generate(self, prompt: str) -> GeneratedImage:
        delay = latency_s()
        if delay:
            await asyncio.sleep(delay)
        png = await asyncio.to_thread(drawing.draw, prompt)
        return GeneratedImage(png=png, model=self.model, size=self.size, quality=self.quality)

    async def close(self) -> None:
        return None
