"""Hosted-demo policy, in one place and without Streamlit: which turns may run (message size, options, turns a
minute, spend caps), what a turn can cost at most before anything runs, what each visitor session and the
whole day have spent of the owner's key (also on other instances, from the store), and whose conversations
and traces a visitor may see.

A turn is admitted only if its upper bound fits in what is left, so a turn is refused whole or runs whole:
nothing is half-done. The bound comes from each scenario (`Scenario.cost_bound`, from core.costs: MLflow's
catalog prices, our picture prices, the scenario's number of model calls, and the per-call output cap hosted
mode puts on every model call, `Settings.max_output_tokens`). While a turn runs its bound is reserved; when
it ends the reservation becomes what it really cost."""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from mlflow.tracing.client import TracingClient

from . import contract, costs, scenarios
from .config import HostedLimits, Settings
from .conversations import Conversation
from .errors import InputError, TurnRefused
from .identity import Visitor

MAX_USER_TEXT_CHARS = 2_000  # hosted mode: an edited instruction or system message (check_options)


def check_message(limits: HostedLimits, message: str) -> None:
    if len(message) > limits.max_message_chars:
        raise InputError(f"This demo takes messages of up to {limits.max_message_chars:,} characters; yours has "
                         f"{len(message):,}.")


def offered(limits: HostedLimits | None, scenario: scenarios.Scenario) -> bool:
    """A hosted demo offers the built-in scenarios and only the team files its owner allow-listed
    (`APP_HOSTED_TEAMS`): a team file is code that runs on the server."""
    return limits is None or not scenario.team_file or scenario.team_file in limits.team_files


def offered_scenarios(limits: HostedLimits | None) -> list[scenarios.Scenario]:
    return [s for s in scenarios.all_scenarios() if s.listed and offered(limits, s)]


def check_scenario(limits: HostedLimits, scenario: str) -> None:
    if not offered(limits, scenarios.get(scenario)):
        raise TurnRefused("This demo does not run that team: its owner has not allow-listed the file.")


def check_options(scenario: str, options: Mapping[str, Any]) -> None:
    """Text a visitor wrote into options (an instruction, system messages) goes into every model call, so it
    is limited like a message."""
    for option in scenarios.get(scenario).text_options():
        value = str(options.get(option.key) or "")
        if len(value) > MAX_USER_TEXT_CHARS:
            raise InputError(f"The {option.key.replace('_', ' ')} has {len(value):,} characters; this demo allows "
                             f"{MAX_USER_TEXT_CHARS:,}.")


def _question(scenario: scenarios.Scenario, options: Mapping[str, Any], settings: Settings, message: str,
              history_bytes: int) -> scenarios.CostQuestion:
    written = sum(costs.tokens_for(str(options.get(o.key) or "")) for o in scenario.text_options())
    context = (costs.tokens_for(message) + costs.tokens_for(history_bytes) + costs.SYSTEM_AND_FORMAT_TOKENS
               + written)
    return scenarios.CostQuestion(settings=settings, options=options, message_tokens=costs.tokens_for(message),
                                  context_tokens=context, written_tokens=written)


def max_turn_cost(scenario: str, options: Mapping[str, Any], settings: Settings, message: str,
                  history_chars: int = 0) -> float | None:
    """The most this turn can cost in USD (0 for the demo provider); None when a price is unknown."""
    if settings.provider == "demo":
        return 0.0
    chosen = scenarios.get(scenario)
    return chosen.cost_bound(_question(chosen, options, settings, message, history_chars))


def unrecorded_usd(scenario: str, options: Mapping[str, Any], settings: Settings, message: str) -> float:
    """What a turn may cost beyond what the app records per call (gpt-image prompt tokens): added to the
    bound by the scenario, and to the settled cost by the reservation."""
    if settings.provider == "demo":
        return 0.0
    chosen = scenarios.get(scenario)
    return chosen.unrecorded_cost(_question(chosen, options, settings, message, 0))


def history_bytes(conversation: Conversation) -> int:
    """The conversation so far, as the bound counts it: every later model call may see it."""
    return sum(len(str(e.get("text", "")).encode("utf-8")) for e in conversation.transcript)


def admit(ledger: SpendLedger, settings: Settings, conversation: Conversation, message: str, visitor: str,
          *, uses_owner_key: bool) -> Reservation | None:
    """Hosted demo: the message size, the options, turns a minute and the spend caps, checked before anything
    runs (raises InputError or TurnRefused with the reason); None when the app is not a hosted demo."""
    limits = settings.hosted
    if limits is None:
        return None
    check_message(limits, message)
    check_scenario(limits, conversation.scenario)
    check_options(conversation.scenario, conversation.options)
    bound = max_turn_cost(conversation.scenario, conversation.options, settings, message,
                          history_bytes(conversation))
    reservation = ledger.admit(visitor, limits, bound, uses_owner_key=uses_owner_key)
    if uses_owner_key:
        reservation.unrecorded = unrecorded_usd(conversation.scenario, conversation.options, settings, message)
    return reservation


def day_spent_in_store(tracking_uri: str, experiment_id: str, day: str) -> float:
    """What owner-paid turns (`app.billing` = owner) cost on this UTC day, by the store's own trace costs:
    the other app instances' share of the day's cap. 0 when the store cannot be read (the in-process
    ledger still holds this instance's spend)."""
    try:
        midnight = int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)
        client, token, total = TracingClient(tracking_uri), None, 0.0
        query = (f"tags.`{contract.BILLING}` = '{contract.BILLED_TO_OWNER}' "
                 f"AND trace.timestamp_ms >= {midnight}")
        while True:
            page = client.search_traces(locations=[experiment_id], include_spans=False, max_results=500,
                                        page_token=token, filter_string=query)
            total += sum(float((t.info.cost or {}).get("total_cost") or 0) for t in page)
            token = page.token
            if not token:
                return total
    except Exception:  # noqa: BLE001 - see the docstring
        return 0.0


# --- who may use what ----------------------------------------------------------------------------------------------------
OPENAI_ENDPOINT = "https://api.openai.com/v1"  # where a visitor's own key goes: never the owner's OPENAI_BASE_URL


def providers_for(limits: HostedLimits | None, visitor: Visitor, all_providers: tuple[str, ...]) -> tuple[str, ...]:
    """The providers a visitor may pick: all of them on one's own machine; in a hosted demo, the free demo provider
    for anonymous visitors, OpenAI for people who signed in (the owner's key within the caps, or their own), and an
    OpenAI-compatible server of their own only when the owner allows it (the server would fetch an address a
    visitor chose)."""
    if limits is None:
        return all_providers
    if not visitor.signed_in:
        return ("demo",)
    return tuple(p for p in all_providers if p != "openai-compatible" or limits.visitor_base_urls)


def may_use_owner_key(limits: HostedLimits | None, visitor: Visitor) -> bool:
    """The owner's key pays only for a signed-in person: the caps are kept per person, who cannot reset them by
    reloading; on one's own machine the key is one's own."""
    return limits is None or visitor.signed_in


def typed_key_endpoint(limits: HostedLimits | None, provider: str, base_url: str) -> str:
    """Where a key a hosted visitor typed is sent: OpenAI's own endpoint (not the owner's OPENAI_BASE_URL, which
    the openai SDK would read from the server's environment), or the visitor's own server when allowed."""
    if limits is not None and provider == "openai":
        return OPENAI_ENDPOINT
    return base_url


# --- who may see what ---------------------------------------------------------------------------------------------------
def visible_session(limits: HostedLimits | None, visitor: str, is_admin: bool) -> str | None:
    """Whose conversations and traces this visitor may see: their own in a hosted demo (None: everyone's)."""
    return None if limits is None or is_admin else visitor


def is_visitor(limits: HostedLimits | None, is_admin: bool) -> bool:
    """A hosted demo's visitor (not its admin): sees only their own things and changes no shared ones
    (model versions, aliases)."""
    return limits is not None and not is_admin


def may_open(owner: str | None, conversation_session: str) -> bool:
    """A conversation (or a trace, by its session) opens for everyone, or for its own visitor only."""
    return owner is None or conversation_session == owner


@dataclass
class Reservation:
    ledger: "SpendLedger"
    session_id: str
    day: str
    amount: float
    settled: bool = False
    unrecorded: float = 0.0  # billed beyond what the app records per call (Scenario.unrecorded_cost)

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
