"""The scenario registry: a scenario is one module of this package that defines `SCENARIO = Scenario(...)`; a
module may also define `discover_scenarios()` returning (scenarios, problems) for many at once (team files).

It declares everything the app needs to run it and show it: key, label, description, how to build its team,
its worst-case cost (hosted demo), its options (drawn by the chat page, limited in hosted mode), its agents'
display names and what they are doing, and the demo model's role for each agent. Adding a scenario is adding
a module here; `register` adds one from anywhere else (a test, a plugin). Like AutoGen's own `teams/`
package: one module per team type."""

from __future__ import annotations

import importlib
import pkgutil
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Union

from ..agents import RUNTIMES
from ..documents import MAX_UPLOAD_MB
from ..errors import InputError

if TYPE_CHECKING:  # annotations only: scenario modules import core.agents, which must not import us back
    from ..agents import TeamContext
    from ..config import Settings


@dataclass(frozen=True)
class AgentInfo:
    """How one agent shows in the chat: its name in the team, a display name, an icon, what it is doing."""

    name: str
    label: str
    icon: str = ":material/smart_toy:"
    doing: str = "working"  # the progress line: "critic is critiquing"


@dataclass(frozen=True)
class IntOption:
    key: str
    label: str
    default: int
    min: int
    max: int
    help: str = ""


@dataclass(frozen=True)
class TextOption:
    """Free text a person writes (an instruction, a system message): it joins every model call, so hosted
    mode limits it like a message and counts it in the cost bound."""

    key: str
    label: str
    default: str
    height: int = 110
    help: str = ""


@dataclass(frozen=True)
class ChoiceOption:
    key: str
    label: str
    choices: Mapping[str, str]  # value -> label
    default: Callable[[Settings], str]  # may depend on the provider (offline demo: an offline choice)
    help: str = ""


@dataclass(frozen=True)
class DocumentOption:
    """A text document the team works on (Analyst & Summarizer's report): asked for before the first turn,
    pasted or uploaded (core.documents), and kept with the conversation."""

    key: str
    label: str
    placeholder: str = ""
    upload_label: str = "…or upload it (.txt, .md)"
    max_upload_mb: int = MAX_UPLOAD_MB  # the upload box's limit, the one core.documents checks
    question: str = "What are the main points?"  # asked when a message sent with no document became it


Option = Union[IntOption, TextOption, ChoiceOption, DocumentOption]


@dataclass(frozen=True)
class CostQuestion:
    """What a cost bound needs (core.hosted): the settings, the options, and token estimates of what every
    model call of the turn will see at least (message + history + system framing + written options)."""

    settings: Settings
    options: Mapping[str, Any]
    message_tokens: int
    context_tokens: int
    written_tokens: int  # the TextOptions' text, in every call


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    description: str
    # the most a turn can cost in USD on a real provider; None when a price is unknown (core.hosted)
    cost_bound: Callable[[CostQuestion], float | None]
    agents: tuple[AgentInfo, ...] = ()
    options: tuple[Option, ...] = ()
    icon: str = ":material/groups:"
    placeholder: str = "Your message"
    side_by_side: bool = False  # its agents answer the same message at once: shown in columns
    draws_pictures: bool = False  # its conversations have a picture lineage (the Traces page's lineage view)
    # billed beyond what the app records per call (gpt-image prompt tokens): its worst case, part of the bound
    # (the settled cost counts the prompts really sent: core.turn.runner `_Turn.billed`)
    unrecorded_cost: Callable[[CostQuestion], float] = field(default=lambda question: 0.0)
    order: int = 100  # place in the picker
    example: str = ""  # a first message to try, offered as a button on an empty conversation
    team_file: str = ""  # the file a user's team came from (core.runtimes.agentchat.team_files): a hosted demo offers allow-listed ones
    models_asked: tuple[str, ...] = ()  # the models a team file names (the sidebar's provider decides what runs)
    listed: bool = True  # offered in the pickers; a loaded model version's own copy of a team is not
    runtime: str = "agentchat"  # the agent runtime that builds and runs its team (core.agents.RUNTIMES)
    # which team the runtime builds for it: a name its runtime's builders know (agentchat's: core/runtimes/agentchat/
    # teams/); a copy under another key (a logged model version's) keeps it
    team: str = ""
    # or the scenario's own builder, for a team only one runtime can run (a team file: agentchat's format)
    build: Callable[[TeamContext], Any] | None = None

    def agent(self, name: str) -> AgentInfo | None:
        return next((a for a in self.agents if a.name == name), None)

    def option_defaults(self, settings: Settings) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for option in self.options:
            if isinstance(option, ChoiceOption):
                values[option.key] = option.default(settings)
            elif not isinstance(option, DocumentOption):
                values[option.key] = option.default
        return values

    def text_options(self) -> tuple[TextOption, ...]:
        return tuple(o for o in self.options if isinstance(o, TextOption))

    def document(self) -> DocumentOption | None:
        return next((o for o in self.options if isinstance(o, DocumentOption)), None)


# Option keys become widget keys in the browser session, next to the app's own: a scenario may not take these
# (the chat page's state, the sidebar's settings) nor a name that starts like a family of the app's keys.
RESERVED_OPTION_KEYS = frozenset(
    {
        "turn",
        "conversation",
        "failed",
        "parked",
        "conflicted",
        "last_turn",
        "last_warnings",
        "retry",
        "stop",
        "chat_input",
        "provider",
        "api_key",
        "base_url",
        "image_model",
        "session_id",
        "uses_owner_key",
        "admin",
        "experiment",
        "time_range",
        "page",
        "sort",
        "agent_runtime",  # the chat's runtime choice (issue 34)
    }
)
RESERVED_OPTION_PREFIXES = (
    "_",
    "admin_",
    "chat_model",
    "vision_model",
    "image_model",
    "size_",
    "quality_",
    "open_",
    "parked_",
    "save_",
    "reload_",
    "f_",
    "trace_",
    "model_",
    "alias_",
    "predict",
    "cmp_",
)


def check_option_keys(scenario: Scenario) -> None:
    """Refuse a scenario whose option keys the app already uses (or uses twice): a clear error at registration,
    not a page that breaks in a browser."""
    keys = [o.key for o in scenario.options]
    for key in keys:
        if not key.isidentifier() or key in RESERVED_OPTION_KEYS or key.startswith(RESERVED_OPTION_PREFIXES):
            raise ValueError(f"Scenario {scenario.key!r}: option key {key!r} is taken by the app; choose another.")
    if len(set(keys)) != len(keys):
        raise ValueError(f"Scenario {scenario.key!r} has two options with one key.")


class UnknownScenario(InputError):
    """A scenario key this app does not have (an old conversation of a removed scenario, a typo)."""


_registry: dict[str, Scenario] = {}
_lock = threading.RLock()  # reentrant: a scenario module may register() while discovery imports it
_discovered = False
_problems: list[str] = []  # modules that failed to load
_sources: dict[str, Any] = {}  # modules with discover_scenarios(): name -> module
_found: dict[str, tuple[object, set[str], list[str]]] = {}  # name -> (fingerprint, keys, problems)
_checked = 0.0
RECHECK_S = 1.0  # how often a source's fingerprint is looked at (a glob of a small folder)


def register(scenario: Scenario) -> Scenario:
    """Add a scenario (or replace one with the same key)."""
    check_option_keys(scenario)
    with _lock:
        _registry[scenario.key] = scenario
    return scenario


def unregister(key: str) -> None:
    with _lock:
        _registry.pop(key, None)


def _runtime_sources() -> list[str]:
    """The runtimes' own sources of scenarios (core.agents.RUNTIMES: agentchat's team files); a runtime that cannot
    load is said like a broken scenario module."""
    try:
        return RUNTIMES.sources()
    except Exception as exc:  # noqa: BLE001 - said on the chat page; the built-in scenarios stay
        _problems.append(f"An agent runtime could not be loaded ({type(exc).__name__}: {str(exc)[:200]}).")
        return []


def _discover() -> None:
    """Import every module of this package once; those that define SCENARIO register it, those that define
    discover_scenarios() are sources of many (team files), read again when their fingerprint() changes."""
    global _discovered
    if _discovered:
        _refresh_sources()
        return
    with _lock:
        if _discovered:
            return
        found = []
        _problems.clear()
        names = [f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__)]
        for name in [*names, *_runtime_sources()]:
            try:  # one broken scenario module must not take the other scenarios (and every page) down
                module = importlib.import_module(name)
                if isinstance(getattr(module, "SCENARIO", None), Scenario):
                    check_option_keys(module.SCENARIO)
                    found.append(module.SCENARIO)
                if callable(getattr(module, "discover_scenarios", None)):
                    _sources[name] = module
            except Exception as exc:  # noqa: BLE001 - said on the chat page, once per process
                _problems.append(
                    f"The scenario module {name} could not be loaded ({type(exc).__name__}: {str(exc)[:200]}); its scenario is not offered."
                )
        for scenario in found:
            _registry.setdefault(scenario.key, scenario)
        _discovered = True
        _refresh_sources(force=True)


def _refresh_sources(force: bool = False) -> None:
    """Read a source's scenarios again when what it reads from changed (a team file added, edited, removed)."""
    global _checked
    if not force and time.monotonic() - _checked < RECHECK_S:
        return
    with _lock:
        _checked = time.monotonic()
        for name, module in _sources.items():
            try:
                mark = module.fingerprint() if callable(getattr(module, "fingerprint", None)) else None
                if not force and name in _found and _found[name][0] == mark:
                    continue
                scenarios, problems = module.discover_scenarios()
                for scenario in scenarios:
                    check_option_keys(scenario)
            except Exception as exc:  # noqa: BLE001 - said on the chat page; the other scenarios stay
                mark, scenarios = None, []
                problems = [f"The scenarios of {name} could not be read ({type(exc).__name__}: {str(exc)[:200]})."]
            for key in _found.get(name, (None, set(), []))[1]:
                _registry.pop(key, None)
            keys = set()
            for scenario in scenarios:
                if scenario.key not in _registry:  # a built-in or registered scenario keeps its key
                    _registry[scenario.key] = scenario
                    keys.add(scenario.key)
            _found[name] = (mark, keys, list(problems))


def rescan() -> None:
    """Read every source of scenarios again now (after an upload, or when a test points at another folder)."""
    _discover()
    _refresh_sources(force=True)


def load_problems() -> list[str]:
    """Why a scenario module in the package is not offered, a sentence each (empty when all loaded)."""
    _discover()
    return [*_problems, *(problem for _, _, problems in _found.values() for problem in problems)]


def all_scenarios() -> list[Scenario]:
    _discover()
    return sorted(_registry.values(), key=lambda s: (s.order, s.label))


def find(key: str) -> Scenario | None:
    _discover()
    return _registry.get(key)


def get(key: str) -> Scenario:
    scenario = find(key)
    if scenario is None:
        raise UnknownScenario(f"“{key}” is not a scenario of this app; it has {', '.join(s.label for s in all_scenarios())}.")
    return scenario


def agent_info(name: str, scenario: str | None = None) -> AgentInfo | None:
    """How an agent shows: as its conversation's scenario declares it (two scenarios may both have a
    "critic"), else as any scenario declares it (a transcript of a removed scenario); None if none does."""
    own = find(scenario) if scenario else None
    if own is not None and (info := own.agent(name)) is not None:
        return info
    return next((info for s in all_scenarios() if (info := s.agent(name)) is not None), None)


def agent_label(name: str, scenario: str | None = None) -> str:
    """An agent's display name; its name as it is when no scenario declares it."""
    info = agent_info(name, scenario)
    return info.label if info is not None else name


def agent_icon(name: str, scenario: str | None = None) -> str:
    info = agent_info(name, scenario)
    return info.icon if info is not None else ":material/smart_toy:"
