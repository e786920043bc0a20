"""The layout holds: no import cycles anywhere in `connect_app` (imports inside functions count),
and none of the nevers of docs/architecture.md.

Imports are read with `ast`, so nothing is imported to check them. Only `if TYPE_CHECKING:` blocks
are left out: they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "connect_app"

# Entry points: they wire the layers together, so they may import anything but nothing imports them.
ENTRY_MODULES = {"connect_app.cli", "connect_app.wsgi", "connect_app.jobs.handlers"}
TOP_LEVEL_MODULES = {"__init__", "cli", "config", "services", "wsgi", "errors"}


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported(tree: ast.AST, module: str, is_package: bool) -> Iterable[str]:
    """Every app module this module imports, at any depth except `if TYPE_CHECKING:` blocks."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            yield base
            # `from connect_app.jobs import queue` imports the module connect_app.jobs.queue.
            yield from (f"{base}.{alias.name}" for alias in node.names)
        stack.extend(ast.iter_child_nodes(node))


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    files = {module_name(path, root): path for path in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = set(_imported(tree, name, path.name == "__init__.py"))
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def _in(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def never_broken(graph: Mapping[str, set[str]]) -> list[str]:
    """The layering rules, each as `importer -> imported` pairs that must not exist."""
    problems = []
    for source, targets in graph.items():
        for target in targets:
            rule = None
            if _in(source, "connect_app.reality") and not _in(target, "connect_app.reality"):
                rule = "reality imports nothing of the app"
            elif _in(source, "connect_app.intake") and _in(
                    target, "connect_app.connect.jira", "connect_app.connect.audited", "connect_app.sync",
                    "connect_app.web", "connect_app.jobs.handlers"):
                rule = "intake never calls Jira, sync or web"
            elif _in(source, "connect_app.connect") and _in(target, "connect_app.web", "connect_app.sync",
                                                            "connect_app.jobs"):
                rule = "connect never imports web, sync or jobs"
            elif _in(source, "connect_app.store") and _in(target, "connect_app.web", "connect_app.sync",
                                                          "connect_app.jobs", "connect_app.connect"):
                rule = "store holds data, never behaviour above it"
            elif _in(target, "connect_app.sandbox") and not _in(source, "connect_app.sandbox", "connect_app.cli"):
                rule = "nothing outside sandbox (and the cli) imports sandbox"
            elif target in ENTRY_MODULES and source not in ENTRY_MODULES and not _in(source, "connect_app.sandbox"):
                rule = "only entry points import the handler registry and the cli"
            if rule:
                problems.append(f"{source} -> {target}: {rule}")
    return sorted(problems)


PURE_FORBIDDEN = ("flask", "sqlalchemy", "requests", "github", "werkzeug", "jwt", "atlassian_jwt")


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_never_is_broken() -> None:
    assert never_broken(import_graph()) == []


def test_reality_is_pure() -> None:
    for path in (PACKAGE / "reality").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name in _imported(tree, module_name(path), path.name == "__init__.py"):
            assert name.split(".")[0] not in PURE_FORBIDDEN, f"{path.name} imports {name}"


def test_only_entry_modules_sit_at_the_top() -> None:
    top = {path.stem for path in PACKAGE.glob("*.py")}
    assert top <= TOP_LEVEL_MODULES, f"move into a layer: {sorted(top - TOP_LEVEL_MODULES)}"


# ---- the checker itself must catch what it is for -------------------------------------------


def _tree(tmp_path: Path, files: Mapping[str, str]) -> Path:
    root = tmp_path / "connect_app"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_cycle_closed_inside_a_function_is_found(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "__init__.py": "",
        "jobs/__init__.py": "",
        "jobs/worker.py": "from connect_app.sync import apply\n",
        "sync/__init__.py": "",
        "sync/apply.py": "def later():\n    from connect_app.jobs.worker import x\n",
    })
    assert find_cycle(import_graph(root)) == ["connect_app.jobs.worker", "connect_app.sync.apply",
                                               "connect_app.jobs.worker"]


def test_type_checking_imports_are_not_edges(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "__init__.py": "",
        "a.py": "from connect_app import b\n",
        "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from connect_app import a\n",
    })
    assert find_cycle(import_graph(root)) is None


@pytest.mark.parametrize(("files", "rule"), [
    ({"reality/__init__.py": "", "reality/drift.py": "from connect_app.store import models\n",
      "store/__init__.py": "", "store/models.py": ""}, "reality imports nothing"),
    ({"intake/__init__.py": "", "intake/github.py": "from connect_app.sync.apply import x\n",
      "sync/__init__.py": "", "sync/apply.py": ""}, "intake never"),
    ({"connect/__init__.py": "", "connect/jira.py": "import connect_app.web.panel\n",
      "web/__init__.py": "", "web/panel.py": ""}, "connect never"),
    ({"web/__init__.py": "", "web/admin.py": "from connect_app.sandbox import stack\n",
      "sandbox/__init__.py": "", "sandbox/stack.py": ""}, "sandbox"),
    ({"web/__init__.py": "", "web/admin.py": "from connect_app.jobs.handlers import Handlers\n",
      "jobs/__init__.py": "", "jobs/handlers.py": ""}, "handler registry"),
])
def test_each_never_is_caught(tmp_path: Path, files: dict[str, str], rule: str) -> None:
    root = _tree(tmp_path, {"__init__.py": "", **files})
    problems = never_broken(import_graph(root))
    assert problems and all(rule in problem for problem in problems), problems


def test_the_architecture_doc_has_a_line_for_every_folder() -> None:
    # docs/architecture.md is where a newcomer learns the folders: one that it leaves out is one
    # nobody is told about.
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    folders = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert folders, "no subpackages found"
    assert [name for name in folders if f"| `{name}/` |" not in doc] == []
