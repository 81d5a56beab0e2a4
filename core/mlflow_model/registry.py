"""Catify in MLflow's model registry: log the team as a model from code (core/mlflow_model/catify_model.py) with the
product's pinned requirements, list versions and aliases, set an alias, load by URI and predict. Used by
the Models page and by scripts/catify_model.py; every failure is a RegistryError with a sentence for the
user, never a traceback."""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from .. import contract, scenarios, team_files
from ..config import Settings
from ..conversations import ConversationStore
from ..observe import export
from ..store import is_not_found

MODEL_NAME = "catify"
MODEL_FILE = Path(__file__).with_name("catify_model.py")
TEAM_MODEL_FILE = Path(__file__).with_name("team_model.py")
CORE_DIR = Path(__file__).parents[1]  # the whole package travels with the model (code_paths)
REQUIREMENTS = CORE_DIR.parent / "requirements.txt"
_fluent_lock = threading.Lock()  # log_model needs MLflow's process-wide active run


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


def pinned_requirements(path: Path = REQUIREMENTS) -> list[str]:
    """The product's exact pins, as the logged model's requirements: loading it elsewhere installs the same."""
    lines = [line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("-")]  # pins only, no pip options


def signature(settings: Settings, iterations: int):
    """Input: prompts (one string column). Params: iterations and provider settings, defaulting to the
    settings the version was logged with; never a key."""
    defaults = {"iterations": int(iterations), "provider": settings.provider, "base_url": settings.base_url,
                "chat_model": settings.chat_model, "vision_model": settings.vision_model,
                "image_model": settings.image_model, "image_size": settings.image_size,
                "image_quality": settings.image_quality, "image_format": "base64"}
    params = [ParamSpec(name, "long" if isinstance(value, int) else "string", value)
              for name, value in defaults.items()]
    return ModelSignature(inputs=Schema([ColSpec("string")]), params=ParamSchema(params))


def _describe(exc: Exception, what: str) -> RegistryError:
    if is_not_found(exc):
        return RegistryError(f"{what} does not exist in this MLflow store.")
    return RegistryError(f"{what} could not be used: {str(exc).splitlines()[0][:300]}")


def log_catify(tracking_uri: str, experiment_name: str, settings: Settings, iterations: int,
               name: str = MODEL_NAME) -> int:
    """Log the Catify team with these settings (no key) as a new version of the registered model `name`."""
    experiment_id = ConversationStore.connect(tracking_uri, experiment_name).experiment_id
    try:
        with _fluent_lock:
            mlflow.set_tracking_uri(tracking_uri)
            with mlflow.start_run(experiment_id=experiment_id, run_name=f"log {name} model") as run:
                mlflow.set_tags({contract.KIND: "model", contract.PROVIDER: settings.provider})
                info = mlflow.pyfunc.log_model(
                    name=name, python_model=str(MODEL_FILE), code_paths=[str(CORE_DIR)],
                    pip_requirements=pinned_requirements(), signature=signature(settings, iterations),
                    registered_model_name=name)
        version = int(info.registered_model_version)
        client = mlflow.MlflowClient(tracking_uri)
        client.set_model_version_tag(name, str(version), contract.PROVIDER, settings.provider)
        client.set_model_version_tag(name, str(version), contract.ITERATIONS, str(int(iterations)))
        client.set_model_version_tag(name, str(version), contract.LOGGING_RUN, run.info.run_id)
        return version
    except RegistryError:
        raise
    except Exception as exc:
        raise RegistryError(f"The model could not be logged: {str(exc).splitlines()[0][:300]}") from exc


def team_model_name(scenario_key: str) -> str:
    """The registered model of a team file's team: `team-<file>` (`team:trip_desk` → `team-trip_desk`)."""
    return "team-" + re.sub(r"[^A-Za-z0-9_-]+", "-", scenario_key.removeprefix("team:")).strip("-")


def log_team(tracking_uri: str, experiment_name: str, settings: Settings, scenario_key: str) -> tuple[str, int]:
    """Log a team file's team (core/mlflow_model/team_model.py, the file as an artifact) as a new version of
    `team-<file>`; returns the model's name and version. The provider settings become the params' defaults;
    never a key."""
    scenario = scenarios.find(scenario_key)
    if scenario is None or not scenario.team_file:
        raise RegistryError(f"“{scenario_key}” is not a team file's team this app offers.")
    path = team_files.teams_dir() / scenario.team_file
    name = team_model_name(scenario_key)
    experiment_id = ConversationStore.connect(tracking_uri, experiment_name).experiment_id
    defaults = {"provider": settings.provider, "base_url": settings.base_url, "chat_model": settings.chat_model}
    team_signature = ModelSignature(inputs=Schema([ColSpec("string")]), params=ParamSchema(
        [ParamSpec(key, "string", value) for key, value in defaults.items()]))
    try:
        with _fluent_lock:
            mlflow.set_tracking_uri(tracking_uri)
            with mlflow.start_run(experiment_id=experiment_id, run_name=f"log {name} model") as run:
                mlflow.set_tags({contract.KIND: "model", contract.PROVIDER: settings.provider,
                                 contract.SCENARIO: scenario_key})
                info = mlflow.pyfunc.log_model(
                    name=name, python_model=str(TEAM_MODEL_FILE), code_paths=[str(CORE_DIR)],
                    artifacts={"team_file": str(path)}, model_config={"team_key": scenario_key},
                    pip_requirements=pinned_requirements(), signature=team_signature, registered_model_name=name)
        version = int(info.registered_model_version)
        client = mlflow.MlflowClient(tracking_uri)
        for key, value in ((contract.PROVIDER, settings.provider), (contract.SCENARIO, scenario_key),
                           (contract.LOGGING_RUN, run.info.run_id)):
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
        rows.append(VersionRow(version=int(v.version), aliases=tuple(sorted(aliases.get(str(v.version), ()))),
                               created_ms=int(v.creation_timestamp or 0), user=v.user_id or _run_user(client, v.run_id),
                               run_id=v.run_id or "", provider=(v.tags or {}).get(contract.PROVIDER, ""),
                               iterations=(v.tags or {}).get(contract.ITERATIONS, ""), status=str(v.status)))
    return rows


def _run_user(client: Any, run_id: str | None) -> str:
    """Who logged it: the registry keeps no user for local stores, the run does (`mlflow.user`)."""
    try:
        return client.get_run(run_id).data.tags.get(contract.RUN_USER, "") if run_id else ""
    except Exception:  # noqa: BLE001
        return ""


def set_alias(tracking_uri: str, alias: str, version: int, name: str = MODEL_NAME) -> None:
    alias = (alias or "").strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,254}", alias) or re.fullmatch(r"[vV]\d+|latest", alias):
        raise RegistryError(f"“{alias[:80]}” cannot be an alias: use letters, digits, _ or -, starting with a "
                            "letter (and not 'latest' or v<number>).")
    try:
        mlflow.MlflowClient(tracking_uri).set_registered_model_alias(name, alias, str(int(version)))
    except Exception as exc:
        raise _describe(exc, f"Version {version} of model {name!r}") from exc


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


def predict(model: Any, prompts: Any, params: dict[str, Any] | None = None,
            experiment_id: str | None = None) -> list[dict[str, Any]]:
    """The model's predictions; with `experiment_id`, their traces go there (the model traces into MLflow's
    active experiment, a process-wide setting: set and used under one lock)."""
    try:
        with _fluent_lock if experiment_id else contextlib.nullcontext():
            if experiment_id:
                mlflow.set_experiment(experiment_id=str(experiment_id))
            return model.predict(prompts, params=params or None)
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise RegistryError(f"The prediction failed: {message.splitlines()[0][:400]}") from exc
