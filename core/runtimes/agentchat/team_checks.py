"""What can be checked in a declarative team file when it is read, without running a model (issue 31): so a team
that cannot run is said on the chat page when the file is read, never found out only after a message.

- every component's `provider` resolves to a class installed here (AutoGen Studio's gallery names
  `autogen_ext.tools.mcp.McpWorkbench`, whose `mcp` package is not installed, and OpenAI, Azure and Anthropic clients);
- every FunctionTool's `source_code` compiles and its `global_imports` are installed (the gallery's Deep Research
  Team imports `html2text` and `bs4` in its `fetch_webpage` and `google_search` tools); compiled only, never run:
  agentchat runs a tool's source when the team is built, once per turn (core.runtimes.agentchat.team_files);
- agents, workbenches and tools this app does not run are named with why (a web surfer needs a browser and the
  internet, an MCP workbench a server of its own, a code executor runs what models write).

The shapes are AutoGen Studio's: `python/packages/autogen-studio/autogenstudio/gallery/builder.py` in
microsoft/autogen (`create_default_gallery()`: `FunctionTool` configs with `source_code`, `name`, `global_imports` as
module names or `{"module", "imports"}`; `StaticWorkbench` and `McpWorkbench` workbenches under an agent's
`workbench`) and `autogen_core.tools.FunctionTool._from_config`, which execs the imports and then the source."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any, Iterator

# agents that cannot run in this app: what they need, said when the file is read (not a traceback mid-turn)
CANNOT_RUN = {
    "MultimodalWebSurfer": "browses the web in a browser of its own and needs the internet",
    "FileSurfer": "reads files on the server's disk",
    "VideoSurfer": "downloads and watches videos",
    "OpenAIAssistantAgent": "runs on OpenAI's Assistants service, not on the sidebar's provider",
    "CodeExecutorAgent": "executes the code models write",
}
# workbenches and tools (by class name) the app does not run, and why
CANNOT_USE = {
    "McpWorkbench": "talks to an MCP server (a program it starts on this server, or a server on the internet)",
    "StdioMcpToolAdapter": "talks to an MCP server that runs as a program on this server",
    "SseMcpToolAdapter": "talks to an MCP server over the network",
    "StreamableHttpMcpToolAdapter": "talks to an MCP server over the network",
    "PythonCodeExecutionTool": "executes the code models write",
}
SHIMS = "core.runtimes.agentchat.team_files"  # the app's own stand-ins (AppModel): always importable


def components(node: Any) -> Iterator[dict[str, Any]]:
    """Every component in a tree (a dict with `provider` and `config`), depth first."""
    if isinstance(node, dict):
        if "provider" in node and "config" in node:
            yield node
        for value in node.values():
            yield from components(value)
    elif isinstance(node, list):
        for value in node:
            yield from components(value)


def component_class(provider: str) -> type | str:
    """The class a provider names, or a sentence's end saying why there is none."""
    module_path, _, class_name = provider.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_path), class_name)
    except ModuleNotFoundError as exc:
        return f"needs {provider}, but the module {exc.name} is not installed here"
    except Exception:  # noqa: BLE001 - any import failure of a module the file names is said, not raised
        return f"names {provider!r}, which is not a class this app can import"
    return found if isinstance(found, type) else f"names {provider!r}, which is not a class this app can import"


def problems(component: dict[str, Any], where: str) -> list[str]:
    """One sentence for each thing in the team that cannot run here (empty: it can be built)."""
    said: list[str] = []
    for node in components(component):
        sentence = _refused(node, where) or _unresolved(node, where) or _tool_problem(node, where)
        if sentence and sentence not in said:
            said.append(sentence)
    return said


def _refused(node: dict[str, Any], where: str) -> str | None:
    class_name = str(node.get("provider") or "").rpartition(".")[2]
    name = (node.get("config") or {}).get("name") or class_name
    if node.get("component_type") == "agent" and class_name in CANNOT_RUN:
        return (
            f"In {where}, {name} is a {class_name}, which {CANNOT_RUN[class_name]}; this app does not run it. Replace it "
            "with an AssistantAgent with tools, or use AutoGen Studio for this team."
        )
    if class_name in CANNOT_USE:
        label = node.get("label") or class_name
        return f"In {where}, {label} is a {class_name}, which {CANNOT_USE[class_name]}; this app does not run it."
    return None


def _unresolved(node: dict[str, Any], where: str) -> str | None:
    provider = str(node.get("provider") or "")
    if provider.startswith(SHIMS):
        return None
    found = component_class(provider)
    return f"{where[0].upper()}{where[1:]} {found}." if isinstance(found, str) else None


def _tool_problem(node: dict[str, Any], where: str) -> str | None:
    """A FunctionTool whose source does not compile, names no function, or imports what is not installed."""
    config = node.get("config") or {}
    if not str(node.get("provider") or "").endswith(".FunctionTool") or not isinstance(config, dict):
        return None
    name = str(config.get("name") or "a FunctionTool")
    source = config.get("source_code")
    if not isinstance(source, str) or "def " not in source:
        return f"In {where}, the tool {name} has no function in its source_code."
    try:
        compile(source, f"<tool {name}>", "exec")
    except SyntaxError as exc:
        return f"In {where}, the source of the tool {name} does not compile: {exc.msg} (line {exc.lineno})."
    missing = [m for m in _imported_modules(config.get("global_imports") or []) if not _installed(m)]
    if missing:
        return f"In {where}, the tool {name} imports {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed here."
    return None


def _imported_modules(imports: list[Any]) -> list[str]:
    """The modules a FunctionTool's `global_imports` name: "os", or {"module": "bs4", "imports": [...]}."""
    names = [str(i.get("module") or "") if isinstance(i, dict) else str(i) for i in imports]
    return list(dict.fromkeys(n for n in names if n))


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that is missing, or a malformed name
        return False
