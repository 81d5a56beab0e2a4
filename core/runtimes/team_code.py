"""Team files, whatever runtime runs them: where they are (the owner's teams folder, the uploads), the sentence for one
that cannot be used (`TeamFileError`), and reading a user's Python team file under a time limit. Each runtime reads its
own kinds (core/runtimes/agentchat/team_files.py and team_factories.py: AutoGen Studio's JSON and `create_team`;
core/runtimes/agentframework/team_factories.py: `create_workflow`); a Python file belongs to the runtime whose factory
it defines (`factory_defined`), so one file is never read, run and offered by both."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError

MAX_FILE_MB = 1  # the upload box says it (st.file_uploader max_upload_size); see core.documents.MAX_UPLOAD_MB
MAX_FILE_BYTES = MAX_FILE_MB * 1_000_000
TEAMS_DIR = Path(__file__).resolve().parents[2] / "teams"  # the project's, beside core/
TEAM_FILE_SUFFIXES = (".json", ".py")
# the factory function a Python team file defines, by the runtime that runs its team (docs/TEAMS.md); a file that
# defines both is refused (`load_module`): which runtime it is for is the file's to say
FACTORIES = {"agentchat": "create_team", "agentframework": "create_workflow"}
READS_JSON = "agentchat"  # the runtime whose declarative format a *.json team file is (AutoGen Studio's)


class TeamFileError(InputError):
    """A team file that cannot be used; the message names the file and what to change."""


def teams_dir() -> Path:
    """The owner's teams folder: `APP_TEAMS_DIR`, default the project's `teams/` (its shipped gallery)."""
    return Path(os.environ.get("APP_TEAMS_DIR") or TEAMS_DIR)


def data_dir() -> Path:
    """The app's own data folder: `APP_DATA_DIR`, default `$XDG_DATA_HOME/autogen-mlflow-dashboard` (there
    `~/.local/share/...`): what the app writes that is not in MLflow, outside the checkout (issue 31: uploads in the
    project's `teams/` were untracked files in the user's git tree)."""
    if folder := os.environ.get("APP_DATA_DIR"):
        return Path(folder)
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "autogen-mlflow-dashboard"


def uploads_dir() -> Path:
    """Where teams uploaded in the app are kept (and removed from): `teams/` in the data folder."""
    return data_dir() / "teams"


def all_team_paths(hosted: bool = False) -> list[Path]:
    """Every team file the app reads: the teams folder's, then the uploads (not in a hosted demo, which never takes
    one and offers only allow-listed files of its teams folder)."""
    paths = team_paths(teams_dir())
    return paths if hosted or uploads_dir().resolve() == teams_dir().resolve() else [*paths, *team_paths(uploads_dir())]


def find_path(name: str) -> Path:
    """A team file by its name, in the teams folder or the uploads (names are unique across both)."""
    for folder in (teams_dir(), uploads_dir()):
        if (folder / name).is_file():
            return folder / name
    return teams_dir() / name


def team_paths(folder: Path) -> list[Path]:
    """The team files in a folder: *.json and *.py, leaving out names starting with _ or . (helpers)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in TEAM_FILE_SUFFIXES and p.is_file() and not p.name.startswith(("_", ".")))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-") or "team"


def factories_defined(path: Path) -> list[str]:
    """The runtimes whose factories a Python team file defines at its top level (read, not run); none when it
    cannot be parsed."""
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return []
    names = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return [runtime for runtime, factory in FACTORIES.items() if factory in names]


def factory_defined(path: Path) -> str:
    """The runtime whose factory a Python team file defines, agentchat's first (a file with both is then refused when
    agentchat reads it: `load_module`); "" when it defines none or cannot be parsed (agentchat reads it and says why)."""
    return next(iter(factories_defined(path)), "")


def reader_of(path: Path) -> str:
    """The runtime that reads a team file: a *.json file's format's, a *.py file's factory's; a file with no factory
    (or one that cannot be parsed) goes to the first runtime, whose reader says what is wrong with it."""
    if path.suffix.lower() != ".py":
        return READS_JSON
    return factory_defined(path) or next(iter(FACTORIES))


def _one_factory(path: Path, shown: Path) -> None:
    """A file is one runtime's: one that defines both factories is said, not guessed at (and its code not run)."""
    defined = factories_defined(path)
    if len(defined) > 1:
        both = " and ".join(f"{FACTORIES[runtime]}(models)" for runtime in defined)
        raise TeamFileError(
            f"“{shown.name}” defines both {both}; a team file is for one runtime: keep create_team for AutoGen or "
            "create_workflow for Agent Framework (see docs/TEAMS.md)."
        )


def where(path: Path, exc: BaseException) -> str:
    """The line of the team file an error came from, when it came from there."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    return f" (line {frames[-1].lineno})" if frames else ""


def within(seconds: float, action: Callable[[], Any], what: str) -> Any:
    """Run a team file's own code with a time limit, on a worker thread: a file that hangs (or calls
    sys.exit) gets a sentence instead of freezing the page or the registry. Python cannot stop a thread, so a
    file that never returns keeps its thread; the app goes on."""
    result: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(action())
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: re-raised in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=run, name="team-file", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TeamFileError(
            f"{what} did not finish within {seconds:g} s; the app left it running and does not "
            "offer the team. Look for a loop or a call that waits."
        )
    if failure:
        raise failure[0]
    return result[0]


def load_module(path: Path, shown: Path, seconds: float) -> Any:
    """The file at `path` imported (as `shown`, the name the user knows it by), its own code given `seconds`; one that
    defines both runtimes' factories is refused before it runs."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise TeamFileError(f"“{shown.name}” is {path.stat().st_size / 1e6:.1f} MB; team files can be up to 1 MB.")
    _one_factory(path, shown)
    name = f"app_team_files.{slug(shown.stem).replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TeamFileError(f"“{shown.name}” cannot be read as Python.")
    module = importlib.util.module_from_spec(spec)
    try:
        within(seconds, lambda: spec.loader.exec_module(module), f"Reading “{shown.name}”")  # type: ignore[union-attr]
    except TeamFileError:
        raise
    except SyntaxError as exc:
        raise TeamFileError(f"“{shown.name}” has a syntax error on line {exc.lineno}: {exc.msg}.") from None
    except ModuleNotFoundError as exc:
        raise TeamFileError(f"“{shown.name}” needs the module {exc.name}, which is not installed here.") from None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the file's own code failed: said in a sentence
        raise TeamFileError(f"“{shown.name}” failed when it was read{where(path, exc)}: {type(exc).__name__}: {str(exc)[:300]}") from None
    sys.modules.pop(name, None)  # read again from the file next time
    return module


def example_in(description: str) -> str:
    """A first message a team file's description suggests ("… (try “What is 12.5 times 8?”)")."""
    found = re.search(r"\btry “([^”]{3,200})”", description, re.IGNORECASE)
    return found.group(1) if found else ""


def fingerprint() -> tuple[object, ...]:
    """Changes when a team file is added, changed or removed (or the folder is another): read them again."""
    folders = (str(teams_dir()), str(uploads_dir()))
    found: list[object] = [folders, os.environ.get("APP_HOSTED"), os.environ.get("APP_HOSTED_TEAMS")]
    for path in all_team_paths():
        try:
            stat = path.stat()
        except OSError:
            continue
        found.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(found)
