"""No log call in hub/ passes a reserved LogRecord attribute in `extra`: logging raises
"Attempt to overwrite 'created' in LogRecord" for those, on the line that logs, at run time."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

HUB = Path(__file__).resolve().parents[2] / "hub"
RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def extra_keys(node: ast.expr | None, assigned: dict[str, ast.expr]) -> list[str]:
    """The string keys of an `extra=` argument: a dict literal, `dict(a=…)`, or a name bound
    to one of those in the same function."""
    if isinstance(node, ast.Name) and node.id in assigned:
        node = assigned[node.id]
    if isinstance(node, ast.Dict):
        return [
            k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)
        ]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return [k.arg for k in node.keywords if k.arg is not None]
    return []


def offenders_in(tree: ast.AST, where: str) -> list[str]:
    found: list[str] = []
    scopes = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    for scope in [tree, *scopes]:
        assigned = {
            target.id: node.value
            for node in ast.walk(scope)
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for call in ast.walk(scope):
            if not isinstance(call, ast.Call):
                continue
            for keyword in call.keywords:
                if keyword.arg != "extra":
                    continue
                for key in extra_keys(keyword.value, assigned):
                    if key in RESERVED:
                        found.append(f"{where}:{call.lineno} extra key {key!r}")
    return sorted(set(found))


def test_no_reserved_log_record_attribute_is_an_extra_key() -> None:
    offenders: list[str] = []
    for path in sorted(HUB.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders.extend(offenders_in(tree, str(path.relative_to(HUB.parent))))
    assert offenders == []


def test_the_check_sees_each_form_of_extra() -> None:
    source = (
        "def f(log, n):\n"
        "    log.info('a', extra={'created': n})\n"
        "    log.warning('b', extra=dict(name=n))\n"
        "    fields = {'module': n, 'fine': 1}\n"
        "    log.error('c', extra=fields)\n"
        "    log.info('d', extra={'prompts_created': n})\n"
    )
    found = offenders_in(ast.parse(source), "x.py")
    assert found == [
        "x.py:2 extra key 'created'",
        "x.py:3 extra key 'name'",
        "x.py:5 extra key 'module'",
    ]
