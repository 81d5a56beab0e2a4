"""Who speaks next in the Weather group chat: deterministic rules first, the model only when no rule decides,
and every choice explained ("which rule", or "chosen by the model") so the chat can show it.

This is `SelectorGroupChat(selector_func=...)`: the function returns a name, or None to let the group chat's
model choose from short role descriptions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage, HandoffMessage

from ....scenarios import weather_source as weather
from ....scenarios.weather import PLANNER, WEATHER_ASSISTANT

USER = "user"
BY_MODEL = "chosen by the model: no rule applied"
WEATHER_WORDS = re.compile(r"\b(weather|forecast|temperature)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Rule:
    name: str  # what the chat shows
    speaker: str
    applies: Callable[[BaseChatMessage], bool]


def _text(message: BaseChatMessage) -> str:
    return message.to_text() if hasattr(message, "to_text") else str(getattr(message, "content", ""))


RULES: tuple[Rule, ...] = (
    Rule("your new message goes to the planner", PLANNER, lambda m: m.source == USER),
    Rule(
        "a weather question naming a known city goes to the weather assistant",
        WEATHER_ASSISTANT,
        lambda m: (
            m.source == PLANNER
            and not isinstance(m, HandoffMessage)
            and bool(WEATHER_WORDS.search(_text(m)))
            and bool(weather.known_cities_in(_text(m)))
        ),
    ),
    Rule("the weather assistant reports back to the planner", PLANNER, lambda m: m.source == WEATHER_ASSISTANT),
)


class WeatherSpeakerSelector:
    """The selector function, remembering why it chose (read by the runner when the choice is announced)."""

    def __init__(self, rules: Sequence[Rule] = RULES):
        self.rules = tuple(rules)
        self.last_reason = ""

    def __call__(self, messages: Sequence[BaseAgentEvent | BaseChatMessage]) -> str | None:
        last = next((m for m in reversed(messages) if isinstance(m, BaseChatMessage)), None)
        if last is not None:
            for rule in self.rules:
                if rule.applies(last):
                    self.last_reason = f"rule: {rule.name}"
                    return rule.speaker
        self.last_reason = BY_MODEL
        return None

    def reason(self, speaker: str) -> str:
        return self.last_reason
