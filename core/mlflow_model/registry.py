"""Teams in MLflow's model registry: log Catify (core/mlflow_model/catify_model.py), a built-in scenario or a team
file (core/mlflow_model/team_model.py) as a model from code with the product's pinned requirements, list versions
and aliases, set an alias (and promote: an alias moved with who and when on the version), load by URI and
predict. Used by the Models page, core.evaluation and scripts/catify_model.py; every failure is a RegistryError
with a sentence for the user, never a traceback."""

from __future__ import annotations

import contextlib
import getpass
import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import mlflow
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from .. import agents, contract, scenarios
from ..config import Settings
from ..conversations import ConversationStore
from ..observe import export
from ..records import Asker, asked_by
from ..runtimes import team_code
from ..scenarios.catify import DEFAULT_CRITIC_INSTRUCTION
from ..scenarios.catify import KEY as CATIFY
from ..store import fluent_lock, is_not_found

MODEL_NAME = "catify"
MODEL_FILE = Path(__file__).with_name("catify_model.py")
TEAM_MODEL_FILE = Path(__file__).with_name("team_model.py")
CORE_DIR = Path(__file__).parents[1]  # the whole package travels with the model (code_paths)
REQUIREMENTS = CORE_DIR.parent / "requirements.txt"
MAX_INSTRUCTION_CHARS = 2000  # as the model's own check (catify_model.py)
_fluent_lock = fluent_lock  # log_model needs MLflow's process-wide active run


class RegistryError(RuntimeError):
    """A registry action that cannot be done; the message is for the user."""


@dataclass(frozen=True)
class VersionRow:
    version: int
    aliases: tuple[str, ...]
    created_ms: int
    user: str
    run_id: str
    provider: str
    iterations: str
    status: str
    instruction: str = ""  # Catify's critic instruction as logged ("" for versions logged before it was)
    scenario: str = ""  # the team it runs (catify, analyst, weather, team:<file>)
    model_id: str = ""  # MLflow's logged model behind the version (its evaluations link to it)
    promoted: dict[str, str] = field(default_factory=dict)  # alias -> "<who> at <when>", as recorded on promotion

    def without_people(self) -> VersionRow:
        """The row without who logged or promoted it (a person's email or subject, the server's OS account): what
        a hosted demo's visitors see (core.hosted.sees_people); when, and which alias, stay."""
        return replace(self, user="", promoted={alias: "at " + record.rpartition(" at ")[2] for alias, record in self.promoted.items()})


def pinned_requirements(path: Path = REQUIREMENTS) -> list[str]:
    """The product's exact pins, as the logged model's requirements: loading it elsewhere installs the same."""
    lines = [line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("-")]  # pins only, no pip options


def signature(settings: Settings, iterations: int, instruction: str = "") -> ModelSignature:
    """Input: prompts (one string column). Params: iterations, the critic's instruction and provider settings,
    defaulting to the settings the version was logged with (so a prediction without params answers as the
    version was meant to); never a key."""
    defaults = {
        "iterations": int(iterations),
        "instruction": instruction or DEFAULT_CRITIC_INSTRUCTION,
        "provider": settings.provider,
        "base_url": settings.base_url,
        "chat_model": settings.chat_model,
        "vision_model": settings.vision_model,
        "image_model": settings.image_model,
        "image_size": settings.image_size,
        "image_quality": settings.image_quality,
        "image_format": "base64",
    }
    params = [ParamSpec(name, "long" if isinstance(value, int) else "string", value) for name, value in defaults.items()]
    return ModelSignature(inputs=Schema([ColSpec("string")]), params=ParamSchema(params))


def _describe(exc: Exception, what: str) -> RegistryError:
    if is_not_found(exc):
        return RegistryError(f"{what} does not exist in this MLflow store.")
    return RegistryError(f"{what} could not be used: {str(exc).splitlines()[0][:300]}")


def log_catify(
    tracking_uri: str, experiment_name: str, settings: Settings, iterations: int, name: str = MODEL_NAME, instruction: str = ""
) -> int:
    """Log the Catify team with these settings and critic instruction (no key) as a new version of the registered
    model `name`: everything that shapes its answers is the version's (its params' defaults and tags)."""
    instruction = (instruction or "").strip() or DEFAULT_CRITIC_INSTRUCTION
    if len(instruction) > MAX_INSTRUCTION_CHARS:
        raise RegistryError(f"The critic instruction has {len(instruction):,} characters; the limit is {MAX_INSTRUCTION_CHARS:,}.")
    experiment_id = ConversationStore.connect(tracking_uri, experiment_name).experiment_id
    try:
        with _fluent_lock:
            mlflow.set_tracking_uri(tracking_uri)
            with mlflow.start_run(experiment_id=experiment_id, run_name=f"log {name} model") as run:
                mlflow.set_tags({contract.RunTag.KIND: "model", contract.RunTag.PROVIDER: settings.provider})
                info = mlflow.pyfunc.log_model(
                    name=name,
                    python_model=str(MODEL_FILE),
                    code_paths=[str(CORE_DIR)],
                    pip_requirements=pinned_requirements(),
                    signature=signature(settings, iterations, instruction),
                    registered_model_name=name,
                )
        version = int(info.registered_model_version)
        client = mlflow.MlflowClient(tracking_uri)
        for key, value in (
            (contract.RunTag.PROVIDER, settings.provider),
            (contract.RunTag.ITERATIONS, str(int(iterations))),
            (contract.RunTag.INSTRUCTION, instruction),
            (contract.RunTag.SCENARIO, CATIFY),
            (contract.RunTag.LOGGING_RUN, run.info.run_id),
            (contract.RunTag.LOGGED_MODEL, info.model_id or ""),
        ):
            client.set_model_version_tag(name, str(version), key, value)
        return version
    except RegistryError:
        raise
    except Exception as exc:
        raise RegistryError(f"The model could not be logged: {str(exc).splitlines()[0][:300]}") from exc


def team_model_name(scenario_key: str, runtime: str = "") -> str:
    """The registered model of a team: a team file's is `team-<file>` (`team:trip_desk` → `team-trip_desk`), a
    built-in scenario's is its key (`analyst`, `weather`; Catify's is `catify`); on another runtime than its own, the
    runtime's name follows (`analyst-agentframework`: its versions are apart, their answers and costs compared)."""
    if not scenario_key.startswith("team:"):
        scenario = scenarios.find(scenario_key)
        other = runtime and scenario is not None and runtime != scenario.runtime
        return re.sub(r"[^A-Za-z0-9_-]+", "-", scenario_key + (f"-{runtime}" if other else "")).strip("-")
    return "team-" + re.sub(r"[^A-Za-z0-9_-]+", "-", scenario_key.removeprefix("team:")).strip("-")


def loggable_teams() -> list[scenarios.Scenario]:
    """Every team that can be logged as a model: the built-in scenarios (Catify has its own model file) and team
    files; not a loaded version's own copy."""
    return [s for s in scenarios.all_scenarios() if s.listed]


def _option_params(scenario: scenarios.Scenario, options: dict[str, Any]) -> list[ParamSpec]:
    return [
        ParamSpec(
            key,
            "long" if isinstance(value, int) and not isinstance(value, bool) else "string",
            value if isinstance(value, int) and not isinstance(value, bool) else str(value),
        )
        for key, value in options.items()
    ]


def scenario_options(scenario: scenarios.Scenario, settings: Settings, given: dict[str, Any] | None) -> dict[str, Any]:
    """A built-in scenario's options as a version records them: its defaults on these settings, with what was
    given; an option it does not have is a sentence."""
    options = scenario.option_defaults(settings)
    document = scenario.document()
    if document is not None:
        options[document.key] = ""
    unknown = set(given or {}) - set(options)
    if unknown:
        raise RegistryError(f"{scenario.label} has no option {', '.join(sorted(unknown))}; it has {', '.join(options) or 'none'}.")
    options.update({k: v for k, v in (given or {}).items() if v is not None})
    return options


def log_team(
    tracking_uri: str,
    experiment_name: str,
    settings: Settings,
    scenario_key: str,
    options: dict[str, Any] | None = None,
    runtime: str = "",
) -> tuple[str, int]:
    """Log a team as a new version of its model (core/mlflow_model/team_model.py): a team file's team with the
    file as an artifact (`team-<file>`), or a built-in scenario (Analyst & Summarizer, Weather) with its options
    in the model's config (`analyst`, `weather`). Returns the model's name and version. The provider settings
    and the options become the params' defaults; never a key."""
    scenario = scenarios.find(scenario_key)
    if scenario is None or not scenario.listed or scenario_key == CATIFY:
        raise RegistryError(
            f"“{scenario_key}” is not a team this app can log here{' (Catify has its own: log_catify)' if scenario_key == CATIFY else ''}."
        )
    if runtime and runtime not in agents.runtimes_for(scenario):
        raise RegistryError(f"{agents.RUNTIME_LABELS.get(runtime, runtime)} has no team for “{scenario.label}”.")
    name = team_model_name(scenario_key, runtime)
    if scenario.team_file:
        if options:
            raise RegistryError("A team file's team has no options: what shapes its answers is in the file.")
        artifacts: dict[str, str] | None = {"team_file": str(team_code.find_path(scenario.team_file))}
        config: dict[str, Any] = {"team_key": scenario_key}
        chosen: dict[str, Any] = {}
    else:
        artifacts, chosen = None, scenario_options(scenario, settings, options)
        config = {"scenario": scenario_key, "options": chosen, "runtime": agents.runtime_name(scenario, runtime)}
    experiment_id = ConversationStore.connect(tracking_uri, experiment_name).experiment_id
    defaults = {"provider": settings.provider, "base_url": settings.base_url, "chat_model": settings.chat_model}
    team_signature = ModelSignature(
        inputs=Schema([ColSpec("string")]),
        params=ParamSchema([ParamSpec(key, "string", value) for key, value in defaults.items()] + _option_params(scenario, chosen)),
    )
    try:
        with _fluent_lock:
            mlflow.set_tracking_uri(tracking_uri)
            with mlflow.start_run(experiment_id=experiment_id, run_name=f"log {name} model") as run:
                mlflow.set_tags(
                    {contract.RunTag.KIND: "model", contract.RunTag.PROVIDER: settings.provider, contract.RunTag.SCENARIO: scenario_key}
                )
                info = mlflow.pyfunc.log_model(
                    name=name,
                    python_model=str(TEAM_MODEL_FILE),
                    code_paths=[str(CORE_DIR)],
                    artifacts=artifacts,
                    model_config=config,
                    pip_requirements=pinned_requirements(),
                    signature=team_signature,
                    registered_model_name=name,
                )
        version = int(info.registered_model_version)
        client = mlflow.MlflowClient(tracking_uri)
        tags = [
            (contract.RunTag.PROVIDER, settings.provider),
            (contract.RunTag.SCENARIO, scenario_key),
            (contract.RunTag.LOGGING_RUN, run.info.run_id),
            (contract.RunTag.LOGGED_MODEL, info.model_id or ""),
            (contract.RunTag.RUNTIME, agents.runtime_name(scenario, runtime)),
        ]
        if chosen:  # the whole options are in the model's config; the tag shows them, long texts cut short
            tags.append(
                (
                    contract.RunTag.OPTIONS,
                    json.dumps(
                        {k: v if not isinstance(v, str) or len(v) <= 200 else v[:200] + "…" for k, v in chosen.items()}, ensure_ascii=False
                    ),
                )
            )
        for key, value in tags:
            client.set_model_version_tag(name, str(version), key, value)
        return name, version
    except RegistryError:
        raise
    except Exception as exc:
        raise RegistryError(f"The model could not be logged: {str(exc).splitlines()[0][:300]}") from exc


def versions(tracking_uri: str, name: str = MODEL_NAME) -> list[VersionRow]:
    """Newest first; empty when nothing is registered under `name` yet."""
    client = mlflow.MlflowClient(tracking_uri)
    try:
        found = client.search_model_versions(f"name = '{name}'")
        aliases: dict[str, list[str]] = {}
        if found:  # search results leave aliases out; the registered model has them
            for alias, version in (client.get_registered_model(name).aliases or {}).items():
                aliases.setdefault(str(version), []).append(alias)
    except Exception as exc:
        raise _describe(exc, f"Model {name!r}") from exc
    rows = []
    for v in sorted(found, key=lambda v: int(v.version), reverse=True)[:50]:
        tags = v.tags or {}
        rows.append(
            VersionRow(
                version=int(v.version),
                aliases=tuple(sorted(aliases.get(str(v.version), ()))),
                created_ms=int(v.creation_timestamp or 0),
                user=v.user_id or _run_user(client, v.run_id),
                run_id=v.run_id or "",
                provider=tags.get(contract.RunTag.PROVIDER, ""),
                iterations=tags.get(contract.RunTag.ITERATIONS, ""),
                status=str(v.status),
                instruction=tags.get(contract.RunTag.INSTRUCTION, ""),
                scenario=tags.get(contract.RunTag.SCENARIO, CATIFY if name == MODEL_NAME else ""),
                model_id=getattr(v, "model_id", None) or tags.get(contract.RunTag.LOGGED_MODEL, ""),
                promoted={
                    k.removeprefix(contract.RunTag.PROMOTED_PREFIX): value
                    for k, value in tags.items()
                    if k.startswith(contract.RunTag.PROMOTED_PREFIX)
                },
            )
        )
    return rows


def _run_user(client: Any, run_id: str | None) -> str:
    """Who logged it: the registry keeps no user for local stores, the run does (`mlflow.user`)."""
    try:
        return client.get_run(run_id).data.tags.get(contract.RunTag.USER, "") if run_id else ""
    except Exception:  # noqa: BLE001 - who logged a version is a label: unknown rather than a failed table
        return ""


def set_alias(tracking_uri: str, alias: str, version: int, name: str = MODEL_NAME) -> None:
    alias = (alias or "").strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,254}", alias) or re.fullmatch(r"[vV]\d+|latest", alias):
        raise RegistryError(
            f"“{alias[:80]}” cannot be an alias: use letters, digits, _ or -, starting with a letter (and not 'latest' or v<number>)."
        )
    try:
        mlflow.MlflowClient(tracking_uri).set_registered_model_alias(name, alias, str(int(version)))
    except Exception as exc:
        raise _describe(exc, f"Version {version} of model {name!r}") from exc


def resolve(tracking_uri: str, name: str, ref: str | int) -> VersionRow:
    """The version an alias or a version number names now (`champion`, `3`, `v3`), or a sentence."""
    text = str(ref).strip()
    rows = versions(tracking_uri, name)
    number = int(text.lstrip("vV")) if re.fullmatch(r"[vV]?\d+", text) else None
    found = next((r for r in rows if (r.version == number if number is not None else text in r.aliases)), None)
    if found is None:
        known = sorted({a for r in rows for a in r.aliases}) + [str(r.version) for r in rows]
        raise RegistryError(
            f"Model {name!r} has no {'version' if number is not None else 'alias'} “{text[:80]}”"
            f"{'; it has ' + ', '.join(known) if known else ': log a version first'}."
        )
    return found


def promote(tracking_uri: str, name: str, alias: str, version: int, who: str) -> str:
    """Move `alias` to `version` and record on the version who did it and when (a local registry keeps no user
    for an alias move, so the version's tag holds it); returns the record."""
    set_alias(tracking_uri, alias, version, name)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    record = f"{(who or '').strip()[:100] or _user()} at {when}"
    try:
        mlflow.MlflowClient(tracking_uri).set_model_version_tag(
            name, str(int(version)), contract.RunTag.PROMOTED_PREFIX + alias.strip(), record
        )
    except Exception as exc:
        raise _describe(exc, f"Version {version} of model {name!r}") from exc
    return record


def _user() -> str:
    """Who, when nobody signed in: the user MLflow itself records on runs (`mlflow.user`: the OS user)."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - getpass raises whatever the OS gives (no user in a container): the label only
        return "unknown"


def load(tracking_uri: str, model_uri: str) -> Any:
    """A loaded model by URI (`models:/catify@champion`, `models:/catify/3`, `runs:/<id>/catify`)."""
    export.configure(tracking_uri)
    if not str(model_uri).startswith(("models:/", "runs:/")):
        raise RegistryError(f"“{str(model_uri)[:120]}” is not a model URI such as models:/catify@champion.")
    try:
        with _fluent_lock:
            mlflow.set_tracking_uri(tracking_uri)
            return mlflow.pyfunc.load_model(model_uri)
    except Exception as exc:
        raise _describe(exc, f"Model {model_uri}") from exc


def predict(
    model: Any, prompts: Any, params: dict[str, Any] | None = None, experiment_id: str | None = None, asker: Asker | None = None
) -> list[dict[str, Any]]:
    """The model's predictions; with `experiment_id`, their traces go there (the model traces into MLflow's
    active experiment, a process-wide setting: set and used under one lock); with `asker`, their traces are that
    person's and kind (core.records.Asker; else whoever the caller's context says)."""
    try:
        with _fluent_lock if experiment_id else contextlib.nullcontext(), asked_by(asker) if asker else contextlib.nullcontext():
            if experiment_id:
                mlflow.set_experiment(experiment_id=str(experiment_id))
            return model.predict(prompts, params=params or None)
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise RegistryError(f"The prediction failed: {message.splitlines()[0][:400]}") from exc
