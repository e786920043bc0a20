"""A provider adds parsing and reading, never a second drift engine: nothing in reality/ or sync/
knows which repository host a fact came from (issue 13)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[2] / "connect_app"
HOSTS = {"github", "gitlab", "bitbucket"}


def _modules() -> list[Path]:
    return sorted([*(PACKAGE / "reality").rglob("*.py"), *(PACKAGE / "sync").rglob("*.py")])


def test_no_host_name_is_a_value_in_reality_or_sync() -> None:
    found = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.lower() in HOSTS:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.value!r}")
    assert found == []


def test_reality_and_sync_import_no_provider_or_host_parser() -> None:
    found = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            found += [f"{path.relative_to(PACKAGE)}: {name}" for name in names
                      if name.startswith(("connect_app.providers", "connect_app.intake"))]
    assert found == []
