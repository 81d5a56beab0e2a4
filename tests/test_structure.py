"""The house rules, checked on the source: core/ has no import cycles and never imports Streamlit; the tracing
contract's keys are spelled only in core/contract.py; imports sit at the top of modules; nothing edits
sys.path; every core module is in docs/ARCHITECTURE.md's table; every doc a file cites exists."""

from __future__ import annotations

import ast
import re
import symtable
from pathlib import Path

import pytest

from scripts import check_safeguards

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"
SOURCE_DIRS = ("core", "ui", "pages", "scripts", "benchmarks", "tests")


def _python_files(*dirs: str) -> list[Path]:
    files = [p for d in dirs for p in (ROOT / d).rglob("*.py")]
    return sorted(files + ([ROOT / "streamlit_app.py"] if "pages" in dirs else []))


def _module_name(path: Path) -> str:
    base = ROOT if path.is_relative_to(ROOT) else path.parent.parent  # a scratch package in a test
    parts = list(path.relative_to(base).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path) -> set[str]:
    """Modules this file imports when it runs (not under `if TYPE_CHECKING:`), as absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rsplit(".", 1)[0]
    skipped = {
        id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # `from . import x` imports module x
    return found


def _core_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in CORE.rglob("*.py")}
    return {name: {m for m in _runtime_imports(path) if m in modules and m != name} for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append(trail[trail.index(target) :] + [target])
            elif not state.get(target):
                visit(target, trail + [target])
        state[node] = 2

    for start in sorted(graph):
        if not state.get(start):
            visit(start, [start])
    return cycles


def test_core_modules_import_no_cycle():
    graph = _core_graph()
    assert len(graph) > 20, "the module graph was not read"
    assert {"core.contract", "core.observe.spans"} <= graph["core.turn.runner"] | graph["core.observe.spans"]
    cycles = _cycles({name: targets - {"core"} for name, targets in graph.items()})
    assert not cycles, f"import cycles among core modules: {cycles}"


def _package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The module graph with each subpackage of core as one node (core.scenarios, core.turn, ...) and each
    top-level core module as its own: a package and a module must not lean on each other both ways."""

    def node(module: str) -> str:
        parts = module.split(".")
        return ".".join(parts[:2]) if len(parts) >= 3 else module

    packages: dict[str, set[str]] = {}
    for name, targets in graph.items():
        packages.setdefault(node(name), set()).update(node(t) for t in targets if t != "core" and node(t) != node(name))
    return packages


def test_core_packages_import_no_cycle():
    """A cycle through a package (core/agents.py -> core.scenarios.critique while core/scenarios/catify.py ->
    core.agents) is no module cycle, yet neither side can be read, moved or tested without the other."""
    packages = _package_graph(_core_graph())
    assert {"core.scenarios", "core.turn", "core.observe", "core.agents"} <= set(packages), "the package graph was not read"
    cycles = _cycles(packages)
    assert not cycles, f"import cycles among core's packages and modules: {cycles}"


def test_the_package_cycle_check_can_fail():
    graph = {"core.agents": {"core.scenarios.critique"}, "core.scenarios.catify": {"core.agents"}, "core.scenarios.critique": set()}
    assert _cycles(_package_graph(graph)) == [["core.agents", "core.scenarios", "core.agents"]]


def test_every_noqa_says_why():
    """A silenced rule is a decision: the comment says which rule and, after a dash, why (`# noqa: BLE001 - ...`)."""
    bare = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in _python_files(*SOURCE_DIRS)
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if (m := re.search(r"#\s*noqa\b(.*)$", line)) and not re.match(r":\s*[A-Z]+[0-9]+(?:,\s*[A-Z]+[0-9]+)*\s+(?:-|\()\s*\S", m.group(1))
    ]
    assert not bare, "say why after each noqa: " + ", ".join(bare)


def test_the_cycle_check_can_fail(tmp_path):
    """Relative imports are read both ways, TYPE_CHECKING imports are not, and a cycle is found."""
    (tmp_path / "b.py").write_text("from .a import thing\nif TYPE_CHECKING:\n    from . import c\n")
    imports_b = _runtime_imports(tmp_path / "b.py")
    assert any(m.endswith(".a") for m in imports_b) and not any(m.endswith(".c") for m in imports_b)
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_agentchat_is_imported_only_in_its_runtime_folder():
    """The runtime seam (core.runtimes): a framework's types stay in its runtime's folder, and the protocol names
    none, so a second runtime is a folder of its own (tests/test_runtime_seam.py runs a turn on one)."""
    agentchat = CORE / "runtimes" / "agentchat"
    outside = [
        str(p.relative_to(ROOT))
        for p in _python_files("core", "ui", "pages")
        if not p.is_relative_to(agentchat) and any(m.split(".")[0].startswith("autogen") for m in _runtime_imports(p))
    ]
    assert not outside, f"agentchat imported outside core/runtimes/agentchat/: {outside}"
    protocol = _runtime_imports(CORE / "runtimes" / "__init__.py")
    assert not [m for m in protocol if m.startswith(("autogen", "core.runtimes."))], protocol


def test_agent_framework_is_imported_only_in_its_runtime_folder():
    """The second runtime (issue 34) keeps its framework in its folder as agentchat does; of agentchat's folder it reads
    only the offline demo (its models and scripted roles, written on agentchat's message types, which it serves over
    OpenAI's wire format) and the transcript's tool line, never agentchat's runtime, agents, spans or clients."""
    folder = CORE / "runtimes" / "agentframework"
    outside = [
        str(p.relative_to(ROOT))
        for p in _python_files("core", "ui", "pages")
        if not p.is_relative_to(folder) and any(m.split(".")[0].startswith("agent_framework") for m in _runtime_imports(p))
    ]
    assert not outside, f"agent_framework imported outside core/runtimes/agentframework/: {outside}"
    allowed = re.compile(r"core\.runtimes\.agentchat(\.(demo_wire|demo_models|stream|teams\.analyst|teams\.weather_demo)(\.\w+)?)?$")
    borrowed = {
        f"{p.relative_to(ROOT)}: {m}"
        for p in _python_files("core/runtimes/agentframework")
        for m in _runtime_imports(p)
        if m.startswith("core.runtimes.agentchat") and not allowed.match(m)
    }
    assert not borrowed, borrowed


def test_team_files_common_to_both_runtimes_name_neither_framework():
    """core/runtimes/team_code.py is what both runtimes' team files share (folders, loading a file, whose it is): it
    imports no framework and no runtime's folder, so either runtime reads team files without the other."""
    imported = _runtime_imports(CORE / "runtimes" / "team_code.py")
    assert imported, "the module's imports were not read"
    assert not [m for m in imported if m.startswith(("autogen", "agent_framework", "core.runtimes."))], imported


def test_the_upload_box_names_neither_framework():
    """core/runtimes/team_sources.py reads a team file through the runtime it is for (the chat's upload, a logged
    model): it reaches a runtime's reader by its `sources`, never by importing a framework or a runtime's folder, so
    there is one upload path for both runtimes' files and neither is loaded for the other's."""
    imported = _runtime_imports(CORE / "runtimes" / "team_sources.py")
    assert "core.runtimes.team_code" in imported, imported
    assert not [
        m for m in imported if m.startswith(("autogen", "agent_framework", "core.runtimes.agentchat", "core.runtimes.agentframework"))
    ], imported
    defined = [
        str(p.relative_to(ROOT))
        for p in _python_files("core", "ui", "pages")
        if any(isinstance(n, ast.FunctionDef) and n.name == "add_upload" for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))))
    ]
    assert defined == ["core/runtimes/team_sources.py"], f"one upload path for team files: {defined}"


def test_core_never_imports_streamlit():
    offenders = [
        str(p.relative_to(ROOT))
        for p in CORE.rglob("*.py")
        if any(m == "streamlit" or m.startswith("streamlit.") for m in _runtime_imports(p))
    ]
    assert not offenders


# a string that *is* a contract key: app.<name> or one of MLflow's own attribute/tag/metadata keys
_KEY = re.compile(r"""["'](app\.[a-z_.]+|mlflow\.(?:llm|chat|trace|span|traceTag|sourceRun|spanInputs)[A-Za-z_.]*|session\.id)["']""")


@pytest.mark.parametrize("directory", ["core", "ui", "pages"])
def test_contract_keys_are_spelled_only_in_the_contract_module(directory):
    found = []
    for path in _python_files(directory):
        if path == CORE / "contract.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if (match := _KEY.search(line)) and not line.lstrip().startswith("#"):
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(1)}")
    assert not found, "spell these through core.contract:\n" + "\n".join(found)


def test_imports_sit_at_the_top_of_modules_unless_a_comment_says_why():
    """An import inside a function hides a dependency; where one is needed, a comment on its line says why."""
    hidden = []
    for path in _python_files("core", "ui", "pages"):
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)) and "#" not in lines[inner.lineno - 1]:
                        hidden.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    assert not hidden, hidden


def test_pages_hold_no_global_state():
    """Pages are views: a `global` in one means state that belongs in core or in session state."""
    offenders = [
        f"{p.relative_to(ROOT)}:{n.lineno}"
        for p in _python_files("pages", "ui")
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(n, ast.Global)
    ]
    assert not offenders, offenders


def test_nothing_edits_sys_path():
    """The project installs as a package (pyproject.toml); nothing reaches around that."""
    edits = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in _python_files(*SOURCE_DIRS)
        if p != Path(__file__)
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"sys\.path\.(insert|append)|sys\.path\s*\+?=", line)
    ]
    assert not edits, edits


def test_every_core_module_is_in_the_architecture_table():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\|\s*`([\w/]+\.py)`", text, flags=re.MULTILINE))
    modules = {str(p.relative_to(CORE)) for p in CORE.rglob("*.py") if p.name != "__init__.py"}
    packages = {
        str(p.parent.relative_to(CORE)) + "/__init__.py"
        for p in CORE.rglob("__init__.py")
        if any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in ast.parse(p.read_text()).body)
    }
    missing = sorted((modules | packages) - listed)
    assert not missing, f"core modules missing from docs/ARCHITECTURE.md's table: {missing}"
    stale = sorted(listed - {str(p.relative_to(CORE)) for p in CORE.rglob("*.py")})
    assert not stale, f"docs/ARCHITECTURE.md lists modules that do not exist: {stale}"


_CITED = re.compile(r"\b((?:docs/)?[A-Z][A-Z_]+\.md)\b")


def test_every_cited_doc_exists():
    cited = []
    for path in [*_python_files(*SOURCE_DIRS), *ROOT.glob("*.md"), *(ROOT / "docs").glob("*.md")]:
        if path == Path(__file__):
            continue
        for name in set(_CITED.findall(path.read_text(encoding="utf-8"))):
            candidates = [ROOT / name, ROOT / "docs" / name]
            if not any(c.exists() for c in candidates):
                cited.append(f"{path.relative_to(ROOT)} cites {name}")
    assert not cited, cited


def test_every_safeguard_is_where_scripts_check_safeguards_looks():
    """scripts/check_safeguards.py takes each safeguard out of its function and runs its tests (about half an
    hour, so not in this suite); here, in a second, every one of them is still found where it says."""
    lost = []
    for safeguard in check_safeguards.SAFEGUARDS:
        try:
            compile(check_safeguards.without(safeguard, (ROOT / safeguard.file).read_text(encoding="utf-8")), safeguard.file, "exec")
        except (check_safeguards.NotThere, SyntaxError) as exc:
            lost.append(f"{safeguard.name}: {exc}")
    assert len(check_safeguards.SAFEGUARDS) >= 34 and not lost, lost


# every page builds one context at its top and passes it (issue 33)
EXPLICIT_PAGES = tuple(sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py")))


def _page_variables_read_in_functions(source: str, filename: str) -> list[str]:
    """`function: name` for each name a function reads that the page binds at its top as a variable: not an
    import, function, class or UPPER_CASE constant (symtable: a nested function's own and enclosing names are not
    globals)."""
    tree = ast.parse(source)
    imported = {
        (alias.asname or alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    found = []

    functions = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}

    def visit(table: symtable.SymbolTable, in_function: bool) -> None:
        """Every scope inside a `def` (its lambdas and comprehensions too); the page's own lambdas and
        comprehensions run in its top-level flow, where its variables are what they read."""
        for child in table.get_children():
            inside = in_function or (child.get_type() == "function" and child.get_name() in functions)
            if inside:
                for sym in child.get_symbols():
                    name = sym.get_name()
                    if sym.is_global() and sym.is_referenced() and name in variables:
                        found.append(f"{child.get_name()}: {name}")
            visit(child, inside)

    top = symtable.symtable(source, filename, "exec")
    variables = {
        s.get_name() for s in top.get_symbols() if s.is_assigned() and s.get_name() not in imported | defined and not s.get_name().isupper()
    }
    visit(top, False)
    return sorted(found)


@pytest.mark.parametrize("page", EXPLICIT_PAGES)
def test_page_functions_get_what_they_draw_from_their_arguments(page):
    source = (ROOT / page).read_text(encoding="utf-8")
    assert not _page_variables_read_in_functions(source, page)


def test_the_page_variables_check_can_fail():
    source = "import streamlit as st\nLIMIT = 3\nshown = st.empty()\n\n\ndef draw():\n    return shown, LIMIT\n"
    assert _page_variables_read_in_functions(source, "page.py") == ["draw: shown"]
