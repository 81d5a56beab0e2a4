"""Hosted-demo policy, in one place and without Streamlit: which turns may run (message size, options, turns a
minute, spend caps), what a turn can cost at most before anything runs, what each visitor and the whole day have
spent of the owner's key (in the shared spend ledger, core.ledger), and whose conversations and traces a visitor
may see.

A turn is admitted only if its upper bound fits in what is left, so a turn is refused whole or runs whole:
nothing is half-done. The bound comes from each scenario (`Scenario.cost_bound`, from core.costs: MLflow's
catalog prices, our picture prices and picture-prompt tokens, the scenario's number of model calls, and the
per-call output cap hosted mode puts on every model call, `Settings.max_output_tokens`). The bound is reserved in
the ledger before anything is sent; when the turn ends the reservation becomes what it really cost
(`TurnOutcome.billed_usd`). The ledger is a table every instance shares, so a restart or a second instance
forgets nothing (docs/DEPLOY.md: where it lives)."""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from . import costs, ledger, scenarios
from .config import HostedLimits, Settings
from .conversations import Conversation
from .documents import validate_report
from .errors import InputError, TurnRefused
from .identity import ADDRESS_KEY, Visitor
from .records import Asker

log = logging.getLogger(__name__)
MAX_USER_TEXT_CHARS = 2_000  # hosted mode: an edited instruction or system message (check_options)
NO_LEDGER = (
    "This demo cannot count what the owner's key spends, so it does not use it: its MLflow store is "
    "not a database the app writes to (a tracking server), and its owner has not set APP_LEDGER_URI to "
    "one every app instance reaches (the spend ledger's)."
)
LEDGER_DOWN = "This demo's spend ledger cannot be reached right now, so the owner's key is not used."
NOTHING_RUN = " Nothing was run. The demo provider is free and still works, as does your own key."


def check_message(limits: HostedLimits, message: str) -> None:
    if len(message) > limits.max_message_chars:
        raise InputError(f"This demo takes messages of up to {limits.max_message_chars:,} characters; yours has {len(message):,}.")


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
            raise InputError(f"The {option.key.replace('_', ' ')} has {len(value):,} characters; this demo allows {MAX_USER_TEXT_CHARS:,}.")


def _question(
    scenario: scenarios.Scenario, options: Mapping[str, Any], settings: Settings, message: str, history_bytes: int
) -> scenarios.CostQuestion:
    written = sum(costs.tokens_for(str(options.get(o.key) or "")) for o in scenario.text_options())
    context = costs.tokens_for(message) + costs.tokens_for(history_bytes) + costs.SYSTEM_AND_FORMAT_TOKENS + written
    return scenarios.CostQuestion(
        settings=settings, options=options, message_tokens=costs.tokens_for(message), context_tokens=context, written_tokens=written
    )


def max_turn_cost(scenario: str, options: Mapping[str, Any], settings: Settings, message: str, history_chars: int = 0) -> float | None:
    """The most this turn can cost in USD (0 for the demo provider); None when a price is unknown."""
    if settings.provider == "demo":
        return 0.0
    chosen = scenarios.get(scenario)
    return chosen.cost_bound(_question(chosen, options, settings, message, history_chars))


def history_bytes(conversation: Conversation) -> int:
    """The conversation so far, as the bound counts it: every later model call may see it."""
    return sum(len(str(e.get("text", "")).encode("utf-8")) for e in conversation.transcript)


@dataclass(frozen=True)
class Visit:
    """Who asks for a turn in a hosted demo: the gate the owner's key is kept by, the identity the caps and the rate
    limit are kept for (an opaque string), whether the owner's key pays, and the keys the turns a minute count
    against (`rates`)."""

    spend: SpendGate
    visitor: str
    uses_owner_key: bool
    rates: Sequence[tuple[str, int]] = ()


def admit(visit: Visit, settings: Settings, conversation: Conversation, message: str) -> Reservation | None:
    """Hosted demo: the message size, the options, turns a minute and the spend caps, checked before anything
    runs (raises InputError or TurnRefused with the reason); None when the app is not a hosted demo. Asked by the
    turn's front door (core.turn.admission) with the message it validated."""
    limits = settings.hosted
    if limits is None:
        return None
    check_message(limits, message)
    check_scenario(limits, conversation.scenario)
    check_options(conversation.scenario, conversation.options)
    bound = max_turn_cost(conversation.scenario, conversation.options, settings, message, history_bytes(conversation))
    return visit.spend.admit(visit.visitor, limits, bound, uses_owner_key=visit.uses_owner_key, rates=visit.rates)


def admit_variants(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
    spend: SpendGate,
    settings: Settings,
    scenario: str,
    conversations: Sequence[Conversation],
    cell_settings: Sequence[Settings],
    message: str,
    visitor: str,
    *,
    uses_owner_key: bool,
    rates: Sequence[tuple[str, int]] = (),
) -> Reservation | None:
    """A fork or grid in a hosted demo: every cell checked like a turn, then admitted as one: the sum of the cells'
    bounds reserved at once, before any call is made, and each cell one of the minute's turns. None when the app is
    not a hosted demo."""
    limits = settings.hosted
    if limits is None:
        return None
    check_message(limits, message)
    check_scenario(limits, scenario)
    bounds = []
    document = scenarios.get(scenario).document()
    for conversation, cell in zip(conversations, cell_settings):
        check_options(scenario, conversation.options)
        if document is not None:  # the report every cell keeps and sends: the chat's limit
            validate_report(str(conversation.options.get(document.key) or ""))
        bounds.append(max_turn_cost(scenario, conversation.options, cell, message, history_bytes(conversation)))
    total = None if any(b is None for b in bounds) else sum(b or 0.0 for b in bounds)
    reservation = spend.admit(visitor, limits, total, uses_owner_key=uses_owner_key, rates=rates, turns=len(bounds))
    reservation.parts = tuple(bounds) if reservation.id is not None else ()
    return reservation


def rates(limits: HostedLimits | None, visitor: Visitor) -> list[tuple[str, int]]:
    """What a visitor's turns a minute count against, and how many each allows: the person (signed in) or the
    browser (anonymous), and for anonymous visitors also their client address, shared by all of its visitors."""
    if limits is None:
        return []
    keys = [(visitor.rate_key or visitor.owner, limits.turns_per_minute)]
    if visitor.address_key:
        keys.append((visitor.address_key, limits.turns_per_minute_per_address))
    return keys


def admit_prediction(spend: SpendGate, limits: HostedLimits | None, visitor: Visitor, prompt: str) -> None:
    """A hosted visitor's prediction on the Models page (on the free demo provider): held to the chat's message
    length and counted with their turns a minute. Raises InputError or TurnRefused with the reason."""
    if limits is None:
        return
    check_message(limits, prompt)
    spend.count_turns(rates(limits, visitor))


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


def may_use_owner_key(limits: HostedLimits | None, visitor: Visitor, provider: str = "openai") -> bool:
    """The owner's key pays only for a signed-in person (the caps are kept per person, who cannot reset them by
    reloading), and only on OpenAI itself: on "openai-compatible" the visitor names the server, and the key would
    go to whatever address they typed. On one's own machine the key is one's own."""
    return limits is None or (visitor.signed_in and provider == "openai")


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


def sees_evaluations(limits: HostedLimits | None, is_admin: bool) -> bool:
    """Evaluations, their results and prompt sets (saved, or taken from past turns) hold other people's words: every
    session's requests and the answers to them. In a hosted demo they are its admin's; a visitor sees none."""
    return not is_visitor(limits, is_admin)


def sees_people(limits: HostedLimits | None, is_admin: bool) -> bool:
    """Who logged or promoted a model version, who made a prompt set (a person's email or subject, the server's OS
    account MLflow records): in a hosted demo its admin's to see, nobody else's (registry.VersionRow.without_people)."""
    return not is_visitor(limits, is_admin)


def asker(limits: HostedLimits | None, visitor: Visitor) -> Asker:
    """A prediction asked on the Models page is the visitor's own trace (their session: the Traces page shows it to
    them, and to nobody else but the admin), and in a hosted demo its spans defuse markdown pictures."""
    return Asker(session=visitor.owner, defuse_markup=limits is not None)


def may_open(owner: str | None, conversation_session: str) -> bool:
    """A conversation (or a trace, by its session) opens for everyone, or for its own visitor only."""
    return owner is None or conversation_session == owner


def open_ledger(settings: Settings) -> SpendGate:
    """The spend ledger for this app's store (one per process is enough; every instance shares its table):
    in `APP_LEDGER_URI` when set, else in the tracking database; without either (a remote `mlflow server`),
    one that refuses every turn on the owner's key and says what to set."""
    limits = settings.hosted
    database = ledger.database_for(settings.tracking_uri, str(limits.ledger_uri) if limits else "")
    ttl = limits.ledger_ttl_s if limits else ledger.DEFAULT_TTL_S
    return SpendGate(database, reservation_ttl_s=ttl)


@dataclass
class Reservation:
    """A turn's claim on the owner's key: its bound, reserved in the ledger (`id`; None when nothing is
    reserved: a visitor's own key), until `settle`."""

    ledger: "SpendGate"
    session_id: str
    day: str
    amount: float
    id: str | None = None
    settled: bool = False
    parts: tuple[float | None, ...] = ()  # a grid's: each cell's bound (a cell whose cost stays unknown keeps it)

    def settle(self, actual_usd: float | None, now: float | None = None) -> None:
        """Replace the reserved upper bound by what the turn really cost, every paid item counted
        (`TurnOutcome.billed_usd`); None, when that is unknown, keeps the bound."""
        self.ledger._settle(self, actual_usd, now)


class SpendGate:
    """The gate a turn passes on the owner's key (named apart from core.ledger's `SpendBook`, the table it keeps the
    spend in): the caps are kept in the shared ledger (core.ledger: `database` is a
    SQLAlchemy URI; the default, an in-memory sqlite database, is private to this process and only for tests
    and scripts; None: there is no ledger, and the owner's key is refused). Turns a minute are counted in this
    process, for every turn."""

    def __init__(self, database: str | None = ledger.MEMORY, *, reservation_ttl_s: float = ledger.DEFAULT_TTL_S):
        self.book = ledger.SpendBook(database, reservation_ttl_s) if database else None
        self._lock = threading.Lock()
        self._turns: dict[str, collections.deque] = collections.defaultdict(collections.deque)

    @staticmethod
    def today(now: float | None = None) -> str:
        return dt.datetime.fromtimestamp(time.time() if now is None else now, dt.timezone.utc).date().isoformat()

    def spent(self, session_id: str, now: float | None = None) -> tuple[float, float]:
        """(what this identity, and what everyone, spent and reserved of the owner's key today). Raises
        TurnRefused when there is no ledger or it cannot be read."""
        if self.book is None:
            raise TurnRefused(NO_LEDGER)
        try:
            return self.book.spent(session_id, self.today(now))
        except ledger.LedgerUnavailable as exc:
            log.warning("The spend ledger cannot be read: %s", exc)
            raise TurnRefused(LEDGER_DOWN) from None

    def admit(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
        self,
        session_id: str,
        limits: HostedLimits,
        bound_usd: float | None,
        *,
        uses_owner_key: bool,
        now: float | None = None,
        rates: Sequence[tuple[str, int]] = (),
        turns: int = 1,
    ) -> Reservation:
        """Reserve the turn's bound, or raise TurnRefused saying why. Rate limits apply to every turn, counted per
        key of `rates` (hosted.rates: the person or the browser, and an anonymous visitor's address; the identity
        at `limits.turns_per_minute` when none is given); spend caps (per identity and per UTC day, in the
        ledger) to turns paid with the owner's key."""
        now = time.time() if now is None else now
        day = self.today(now)
        counted = self.count_turns(rates or [(session_id, limits.turns_per_minute)], now, turns)
        try:
            return self._reserve(session_id, limits, bound_usd, uses_owner_key, day, now)
        except TurnRefused:
            with self._lock:  # a refused turn is not one of the minute's turns
                for recent in counted:
                    for _ in range(turns):
                        if now in recent:
                            recent.remove(now)
            raise

    def count_turns(self, rates: Sequence[tuple[str, int]], now: float | None = None, turns: int = 1) -> list[collections.deque]:
        """`turns` more turns (or predictions; a grid's cells) this minute for every key of `rates`, or TurnRefused
        (counting none) when one of them has not that many left."""
        now = time.time() if now is None else now
        with self._lock:
            counted = []
            for key, allowed in rates:
                recent = self._turns[key]
                while recent and now - recent[0] >= 60:
                    recent.popleft()
                if len(recent) + turns > allowed:
                    if turns > 1 and len(recent) < allowed:
                        raise TurnRefused(
                            f"This demo allows {allowed} turns a minute; these {turns} settings are "
                            f"{turns} turns, and {allowed - len(recent)} are left this minute. Run "
                            "fewer, or wait a minute."
                        )
                    wait = int(60 - (now - recent[0])) + 1
                    where = "from one address" if key.startswith(ADDRESS_KEY) else "per visitor"
                    raise TurnRefused(f"This demo allows {allowed} turns a minute {where}. Try again in {wait} s.")
                counted.append(recent)
            for recent in counted:
                recent.extend([now] * turns)
            return counted

    def _reserve(
        self, session_id: str, limits: HostedLimits, bound_usd: float | None, uses_owner_key: bool, day: str, now: float
    ) -> Reservation:
        if not uses_owner_key:
            return Reservation(self, session_id, day, 0.0)
        if bound_usd is None:
            raise TurnRefused(
                "This turn's cost cannot be bounded (a model without a known price), so the "
                "demo does not run it on the owner's key. Choose another model, or use "
                "your own key."
            )
        if self.book is None:
            raise TurnRefused(NO_LEDGER + NOTHING_RUN)
        try:
            reservation_id = self.book.reserve(
                session_id, day, bound_usd, identity_cap_usd=limits.session_cap_usd, day_cap_usd=limits.daily_cap_usd, now=now
            )
        except ledger.OverCap as over:
            if over.cap == "identity":
                raise TurnRefused(
                    f"This turn could cost up to ${bound_usd:.4f}, and you have ${over.left_usd:.4f} "
                    f"left of your ${limits.session_cap_usd:.2f} cap for today on this demo. Nothing was run. Switch to "
                    "the demo provider (free), use your own key, or fewer iterations."
                ) from None
            raise TurnRefused(
                f"This demo has spent its ${limits.daily_cap_usd:.2f} budget for today (this turn could cost "
                f"up to ${bound_usd:.4f}). Nothing was run. The demo provider is free and still works."
            ) from None
        except ledger.LedgerUnavailable as exc:
            log.warning("The spend ledger cannot be reached: %s", exc)
            raise TurnRefused(LEDGER_DOWN + " Try again in a moment." + NOTHING_RUN) from None
        return Reservation(self, session_id, day, bound_usd, id=reservation_id)

    def _settle(self, reservation: Reservation, actual: float | None, now: float | None = None) -> None:
        with self._lock:
            if reservation.settled:
                return
            reservation.settled = True
        if reservation.id is None or self.book is None:
            return
        try:
            if not self.book.settle(reservation.id, actual, now=time.time() if now is None else now):
                log.warning("A spend reservation was settled after it expired: its bound stays counted.")
        except ledger.LedgerUnavailable as exc:  # the bound stays reserved, and counts: safe, only too much
            log.warning("A spend reservation could not be settled (its bound stays counted): %s", exc)
