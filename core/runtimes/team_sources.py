"""A team file as scenarios, whatever runtime runs it, and the chat's upload box: a file is read by the runtime whose
format or factory it is (`team_code.reader_of`: a *.json team, a `create_team` file agentchat's, a `create_workflow`
file Agent Framework's), through that runtime's own source of scenarios (its `sources` module's `read_scenarios`).
So an upload is checked, named and kept once, here, for both runtimes (docs/TEAMS.md), and a logged model reads its
file the same way (core/mlflow_model/team_model.py). No framework is imported here: a runtime is loaded when a
file of its kind is read."""

from __future__ import annotations

import importlib
import os
import secrets
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Callable

from ..agents import RUNTIMES
from ..costs import model_for
from ..errors import InputError
from . import team_code
from .team_code import MAX_FILE_BYTES as MAX_FILE_BYTES
from .team_code import MAX_FILE_MB as MAX_FILE_MB
from .team_code import TeamFileError

if TYPE_CHECKING:
    from ..config import Settings
    from ..scenarios import Scenario

Reader = Callable[[Path, Path], "tuple[list[Scenario], list[str]]"]


def _source(runtime: str) -> ModuleType:
    """The runtime's source of team-file scenarios: the one of its `sources` modules with `read_scenarios`."""
    for name in RUNTIMES.get(runtime).sources:
        module = importlib.import_module(name)
        if callable(getattr(module, "read_scenarios", None)):
            return module
    raise TeamFileError(f"The {runtime} runtime reads no team files.")


def _reader(runtime: str) -> Reader:
    """The runtime's reader of its team files: `read_scenarios(path, shown)`."""
    return _source(runtime).read_scenarios


def read(path: Path, shown: Path | None = None) -> tuple[list[Scenario], list[str]]:
    """The scenarios a team file holds, read by the runtime it is for, and a sentence for each of its teams that
    cannot be used (a gallery's); TeamFileError when none can. `shown`: the name it has (or will have) in its folder."""
    return _reader(team_code.reader_of(path))(path, shown or path)


def add_upload(name: str, data: bytes) -> tuple[list[str], list[str]]:
    """Keep a team file a user uploaded in the uploads folder (the app's data folder, outside the checkout), so its
    conversations reopen after a restart.
    Returns the keys of the teams it holds and a sentence for each of its teams that cannot be used. It is
    read under a hidden name first and put in place only if it can be used (InputError with the reason
    otherwise, nothing left behind); a name in use by another file gets a number, never overwritten. The
    caller has checked that uploads are allowed (never in a hosted demo)."""
    base = Path(os.path.basename((name or "").replace("\\", "/")))
    suffix = base.suffix.lower()
    if suffix not in team_code.TEAM_FILE_SUFFIXES:
        raise InputError(
            f"“{base.name}” is not a team file: upload a .json team (AutoGen Studio's format) or a .py file with a "
            "create_team(models) function (AutoGen) or a create_workflow(models) function (Agent Framework)."
        )
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"“{base.name}” is {len(data) / 1e6:.1f} MB; team files can be up to 1 MB.")
    folder = team_code.uploads_dir()
    stem = team_code.slug(base.stem).replace("-", "_").strip("_.") or "team"  # no hidden or helper names
    try:
        folder.mkdir(parents=True, exist_ok=True)
        staged = folder / f".upload-{secrets.token_hex(6)}{suffix}"
        staged.write_bytes(data)
    except OSError as exc:
        raise InputError(
            f"The uploads folder {folder} cannot take the file ({exc.strerror or exc}); point APP_DATA_DIR at a "
            "folder this app may write, or put the file into the teams folder (APP_TEAMS_DIR) yourself."
        ) from None
    try:
        number, target = 1, folder / f"{stem}{suffix}"
        while _taken(target, data):
            number += 1
            target = folder / f"{stem}_{number}{suffix}"
        found, unusable = read(staged, target)
        if not found:
            raise InputError(" ".join(unusable))
        while True:  # put in place without overwriting a file another upload just put there
            try:
                os.link(staged, target)
                break
            except FileExistsError:
                if target.read_bytes() == data:
                    break
                number += 1
                target = folder / f"{stem}_{number}{suffix}"
                found, unusable = read(staged, target)
    finally:
        staged.unlink(missing_ok=True)
    return [scenario.key for scenario in found], list(unusable)


def _taken(target: Path, data: bytes) -> bool:
    """A name another file has: in the uploads (with other bytes) or in the teams folder (keys must stay unique)."""
    return (target.exists() and target.read_bytes() != data) or (team_code.teams_dir() / target.name).exists()


def uploads() -> list[str]:
    """The names of the team files uploaded in the app (the ones it may remove)."""
    return [p.name for p in team_code.team_paths(team_code.uploads_dir())]


def remove_upload(name: str) -> str:
    """Take an uploaded team out of the picker: the file moves to the uploads' hidden `.removed/` folder (nothing
    is lost; put it back to offer it again). Only an upload: the teams folder is the owner's. Its conversations and
    traces stay in MLflow. Returns the sentence to show; InputError when there is no such upload."""
    folder = team_code.uploads_dir()
    if name not in uploads():
        raise InputError(f"“{name}” is not an uploaded team file (the teams folder's files are removed there).")
    removed = folder / ".removed"
    try:
        removed.mkdir(parents=True, exist_ok=True)
        os.replace(folder / name, removed / f"{secrets.token_hex(4)}-{name}")
    except OSError as exc:
        raise InputError(f"“{name}” could not be removed ({exc.strerror or exc}).") from None
    return (
        f"Removed “{name}” from the Scenario picker; its conversations and traces stay in MLflow (kept in "
        f"{removed}, put it back to offer it again)."
    )


def run_note(scenario: Scenario, settings: Settings) -> str:
    """What the chat page says about a team file's run: the file, the models it asks for and what it gets on
    the sidebar's provider, how it ends (its runtime's `RUN_ENDS`), and that it is code."""
    if not scenario.team_file:
        return ""
    got = {asked: model_for(settings, asked) for asked in scenario.models_asked}
    models = (
        "; ".join(f"asks for {asked}, runs on {model}" if asked != model else f"runs on {model}" for asked, model in got.items())
        or f"runs on {settings.chat_model}"
    )
    ends = getattr(_source(scenario.runtime), "RUN_ENDS", "")
    return (
        f"Team file {scenario.team_file} · {models} ({settings.provider} provider, chosen in the sidebar) · "
        + (f"{ends} · " if ends else "")
        + "a team file is code that runs on this server: use files you trust."
    )
