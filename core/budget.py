"""Hosted-demo limits: the most a turn can cost, worked out before anything runs; what each visitor session
and the whole day have spent of the owner's key; how many turns a minute a visitor may send.

A turn is admitted only if its upper bound fits in what is left, so a turn is refused whole or runs
whole: nothing is half-done. The bound comes from MLflow's catalog prices (chat), our picture prices, the
number of model calls a scenario can make, and the per-call output cap hosted mode puts on every model
call (`Settings.max_output_tokens`). While a turn runs its bound is reserved; when it ends the reservation
becomes what it really cost. Prices come from the same catalog MLflow uses to price the spans."""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .config import HostedLimits, Settings

IMAGE_INPUT_TOKENS = 8_500  # one 512-px picture as gpt-4o-mini bills it (85 + 170 tokens, times its 33x factor)
SYSTEM_AND_FORMAT_TOKENS = 600  # our system messages, role descriptions, tool schemas, message framing
CALLS_PER_WEATHER_MESSAGE = 5  # a speaker choice (retried up to 3 times) and a tool call with its reflection
# gpt-image models also bill the prompt's text tokens, which the per-picture price does not include
IMAGE_PROMPT_USD_PER_TOKEN = {"gpt-image-1": 5e-6, "gpt-image-1-mini": 2e-6}
MAX_USER_TEXT_CHARS = 2_000  # hosted mode: an edited instruction or system message (core.budget.check_options)


class TurnRefused(Exception):
    """A turn the hosted-demo limits do not allow; the message says why and what the visitor can do."""


def tokens_for(text: str | int) -> int:
    """An upper estimate of a text's tokens: half its UTF-8 bytes (English averages ~4 characters a token;
    other scripts and emoji take more bytes, and more tokens, per character). A number is taken as ASCII
    characters."""
    size = text if isinstance(text, int) else len(str(text).encode("utf-8"))
    return size // 2 + 1


def check_options(scenario: str, options: Mapping[str, Any]) -> None:
    """Hosted mode: text a visitor wrote into options (an instruction, system messages) goes into every model
    call, so it is limited like a message."""
    from .config import ConfigError

    for key in ("instruction", "analyst_system", "summarizer_system"):
        value = str(options.get(key) or "")
        if len(value) > MAX_USER_TEXT_CHARS:
            raise ConfigError(f"The {key.replace('_', ' ')} has {len(value):,} characters; this demo allows "
                              f"{MAX_USER_TEXT_CHARS:,}.")


def unrecorded_usd(scenario: str, options: Mapping[str, Any], settings: Settings, message: str) -> float:
    """What a turn may cost beyond what the app records per call: the prompt tokens gpt-image models bill
    on top of the picture price. Added to the bound, and to the settled cost."""
    from .agents import CATIFY, DEFAULT_ITERATIONS

    rate = IMAGE_PROMPT_USD_PER_TOKEN.get(settings.image_model or "", 0.0)
    if scenario != CATIFY or not rate or settings.provider == "demo":
        return 0.0
    prompt_tokens = tokens_for(message) + (settings.max_output_tokens or 4_000)  # the critic writes later prompts
    return (int(options.get("iterations", DEFAULT_ITERATIONS)) + 1) * prompt_tokens * rate


def _chat(settings: Settings, model: str, input_tokens: int, calls: int) -> float | None:
    from .pricing import token_cost

    out = settings.max_output_tokens or 4_000
    one = token_cost(model, input_tokens, out, "openai" if settings.provider == "openai" else None)
    return None if one is None else one * calls


def max_turn_cost(scenario: str, options: Mapping[str, Any], settings: Settings, message: str,
                  history_chars: int = 0) -> float | None:
    """The most this turn can cost in USD (0 for the demo provider); None when a price is unknown."""
    from .agents import ANALYST_SUMMARIZER, CATIFY, DEFAULT_ITERATIONS, MAX_WEATHER_MESSAGES, WEATHER
    from .images import image_price_usd

    if settings.provider == "demo":
        return 0.0
    written = sum(tokens_for(str(options.get(k) or "")) for k in ("instruction", "analyst_system", "summarizer_system"))
    context = tokens_for(message) + tokens_for(history_chars) + SYSTEM_AND_FORMAT_TOKENS + written
    if scenario == CATIFY:
        n = int(options.get("iterations", DEFAULT_ITERATIONS))
        picture = image_price_usd(settings.image_model, settings.image_quality, settings.image_size) \
            if settings.image_model else 0.0
        # the critic sees one picture and its prompt (a one-message context), however long the chat; later
        # prompts are the critic's own, at most one capped output long
        prompt = tokens_for(message) + (settings.max_output_tokens or 4_000)
        critic = _chat(settings, settings.vision_model,
                       prompt + IMAGE_INPUT_TOKENS + SYSTEM_AND_FORMAT_TOKENS + written, n)
        if picture is None or critic is None:
            return None
        return (n + 1) * picture + critic + unrecorded_usd(scenario, options, settings, message)
    if scenario == ANALYST_SUMMARIZER:
        report = str(options.get("report") or "")
        return _chat(settings, settings.chat_model, context + tokens_for(report), 2)
    if scenario == WEATHER:
        # every message can be a speaker choice plus a model call with a tool round trip; each sees the turn
        # so far (messages of at most one capped output each)
        grown = MAX_WEATHER_MESSAGES * (settings.max_output_tokens or 4_000)
        return _chat(settings, settings.chat_model, context + grown, CALLS_PER_WEATHER_MESSAGE * MAX_WEATHER_MESSAGES)
    return None


@dataclass
class Reservation:
    ledger: "SpendLedger"
    session_id: str
    day: str
    amount: float
    settled: bool = False
    unrecorded: float = 0.0  # billed beyond what the app records per call (core.budget.unrecorded_usd)

    def settle(self, actual_usd: float | None) -> None:
        """Replace the reserved upper bound by what the turn really cost (the bound if that is unknown)."""
        actual = self.amount if actual_usd is None else max(0.0, float(actual_usd)) + self.unrecorded
        self.ledger._settle(self, actual)


@dataclass
class SpendLedger:
    """Spend of the owner's key per visitor session and per UTC day, with the bounds of running turns
    reserved. One per server process; `day_spent_elsewhere` adds what other app instances spent today
    (read from the shared MLflow store) when there are several."""

    day_spent_elsewhere: Callable[[str], float] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _session: dict[str, float] = field(default_factory=lambda: collections.defaultdict(float))
    _day: dict[str, float] = field(default_factory=lambda: collections.defaultdict(float))
    _turns: dict[str, collections.deque] = field(default_factory=lambda: collections.defaultdict(collections.deque))

    @staticmethod
    def today(now: float | None = None) -> str:
        return dt.datetime.fromtimestamp(time.time() if now is None else now, dt.timezone.utc).date().isoformat()

    def spent(self, session_id: str, now: float | None = None) -> tuple[float, float]:
        with self._lock:
            return self._session[session_id], self._day[self.today(now)]

    def admit(self, session_id: str, limits: HostedLimits, bound_usd: float | None, *, uses_owner_key: bool,
              now: float | None = None) -> Reservation:
        """Reserve the turn's bound, or raise TurnRefused saying why. Rate limits apply to every turn;
        spend caps to turns paid with the owner's key."""
        now = time.time() if now is None else now
        day = self.today(now)
        elsewhere = self.day_spent_elsewhere(day) if (uses_owner_key and self.day_spent_elsewhere) else 0.0
        with self._lock:
            recent = self._turns[session_id]
            while recent and now - recent[0] >= 60:
                recent.popleft()
            if len(recent) >= limits.turns_per_minute:
                wait = int(60 - (now - recent[0])) + 1
                raise TurnRefused(f"This demo allows {limits.turns_per_minute} turns a minute per visitor. "
                                  f"Try again in {wait} s.")
            amount = 0.0
            if uses_owner_key:
                if bound_usd is None:
                    raise TurnRefused("This turn's cost cannot be bounded (a model without a known price), so the "
                                      "demo does not run it on the owner's key. Choose another model, or use "
                                      "your own key.")
                session_left = limits.session_cap_usd - self._session[session_id]
                day_left = limits.daily_cap_usd - max(self._day[day], elsewhere)
                if bound_usd > session_left:
                    raise TurnRefused(
                        f"This turn could cost up to ${bound_usd:.4f}, and your session has ${max(session_left, 0):.4f} "
                        f"left of its ${limits.session_cap_usd:.2f} cap on this demo. Nothing was run. Switch to "
                        "the demo provider (free), use your own key, or fewer iterations.")
                if bound_usd > day_left:
                    raise TurnRefused(
                        f"This demo has spent its ${limits.daily_cap_usd:.2f} budget for today (this turn could cost "
                        f"up to ${bound_usd:.4f}). Nothing was run. The demo provider is free and still works.")
                amount = bound_usd
                self._session[session_id] += amount
                self._day[day] += amount
            recent.append(now)
            return Reservation(self, session_id, day, amount)

    def _settle(self, reservation: Reservation, actual: float) -> None:
        with self._lock:
            if reservation.settled:
                return
            reservation.settled = True
            if reservation.amount or actual:
                self._session[reservation.session_id] += actual - reservation.amount
                self._day[reservation.day] += actual - reservation.amount
