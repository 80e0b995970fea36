"""The layout's rules, checked on the source: the core never reaches back into the app, and no
import loop hides behind an import inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

HUB = Path(__file__).resolve().parents[2] / "hub"
# The app around the core: settings, the process, the edges. The core imports none of them.
APP_MODULES = ("hub.settings", "hub.runtime", "hub.app", "hub.bootstrap", "hub.cli", "hub.api")
APP_MODULES += ("hub.connectors", "hub.readiness", "hub.check", "hub.logging_setup")


def module_name(path: Path) -> str:
    parts = path.relative_to(HUB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(tree: ast.AST) -> list[tuple[ast.stmt, str]]:
    found: list[tuple[ast.stmt, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node, alias.name) for alias in node.names)
    return found


def imported_modules(node: ast.stmt, known: set[str]) -> set[str]:
    """The hub modules an import statement loads: `from hub.api import webui_auths` loads the
    submodule `hub.api.webui_auths` (its parent package is a given, not a dependency)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names} & known
    if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
        return set()
    submodules = {f"{node.module}.{alias.name}" for alias in node.names} & known
    return submodules or ({node.module} & known)


def top_level_imports(tree: ast.Module, known: set[str]) -> set[str]:
    """Modules imported when the module is imported (not inside functions or TYPE_CHECKING)."""
    names: set[str] = set()
    for node in tree.body:
        names |= imported_modules(node, known)
    return names


def test_the_core_never_imports_the_app() -> None:
    offenders = []
    for path in sorted((HUB / "core").rglob("*.py")):
        for node, name in imports(ast.parse(path.read_text(encoding="utf-8"))):
            if name.startswith(APP_MODULES):
                offenders.append(f"{path.relative_to(HUB.parent)}:{node.lineno} imports {name}")
    assert offenders == []


def deferred_imports(tree: ast.Module) -> list[ast.stmt]:
    """Imports inside functions and under `if TYPE_CHECKING:`: the places a loop can hide."""
    found: list[ast.stmt] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.extend(n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom))
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found.extend(n for n in node.body if isinstance(n, ast.Import | ast.ImportFrom))
    return found


def test_no_deferred_hub_import_closes_a_loop() -> None:
    """An import inside a function is fine for a slow optional library, and one under
    TYPE_CHECKING for a type; but one that points back at a module importing this one at its
    top hides an import loop."""
    modules = {module_name(p): p for p in HUB.rglob("*.py")}
    known = set(modules)
    top = {
        name: top_level_imports(ast.parse(path.read_text(encoding="utf-8")), known)
        for name, path in modules.items()
    }

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            current = todo.pop()
            if current == goal:
                return True
            if current in seen:
                continue
            seen.add(current)
            todo.extend(top.get(current, ()))
        return False

    loops = []
    for name, path in modules.items():
        for node in deferred_imports(ast.parse(path.read_text(encoding="utf-8"))):
            for target in imported_modules(node, known) - {name}:
                if reaches(target, name):
                    loops.append(f"{name}:{node.lineno} imports {target}, which imports {name}")
    assert loops == []
