"""Automatic params of a ``%%track`` cell: the settings a cell states as top-level literals.

A cell that says ``lr = 0.1`` or ``layers = (64, 32)`` states a setting; a cell that says
``results = {}`` and then fills it, or ``count = 0`` and then ``count += 1``, keeps state. Only the
first kind is a param: a scalar (number, string, bool, None) or a short sequence of scalars,
assigned once at the top level and not changed later in the same cell.
"""

from __future__ import annotations

import ast
from typing import Any

MAX_SEQUENCE = 16
"""A list or tuple of more scalars than this is data, not a setting."""

MAX_TEXT = 500
"""A string longer than this is data (a prompt, a document), not a setting."""

_MUTATING_METHODS = frozenset({
    "append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse",
    "update", "setdefault", "popitem", "add", "discard", "difference_update",
    "intersection_update", "symmetric_difference_update",
})


def literal_assignments(code: str) -> dict[str, Any]:
    """The automatic params of a cell's Python code: ``{name: value}`` for every top-level
    ``name = <scalar or short sequence of scalars>`` that the cell does not change otherwise (a later
    top-level literal assignment of the same name wins, as it does when the cell runs).

    Skipped: names starting with ``_``, empty containers, dicts and sets, long strings and
    sequences, and names the cell also binds to something else, augments (``+=``), subscripts into,
    deletes, loops over as a target, or calls a mutating method on (``results.append(...)``).
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return {}
    found: dict[str, Any] = {}
    settings: dict[str, list[ast.stmt]] = {}
    rejected: set[str] = set()
    for node in tree.body:
        target, value = _single_target(node)
        if target is None or value is None or target.startswith("_"):
            continue
        try:
            literal = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            rejected.add(target)
            continue
        if not _is_setting(literal):
            rejected.add(target)
            continue
        found[target] = literal  # a later top-level literal overrides an earlier one, as it does when run
        settings.setdefault(target, []).append(node)
    if not found:
        return found
    changed = _changed_names(tree, [node for nodes in settings.values() for node in nodes]) | rejected
    return {name: value for name, value in found.items() if name not in changed}


def _single_target(node: ast.stmt) -> tuple[str | None, ast.expr | None]:
    """``(name, value)`` of ``name = value`` or ``name: T = value``; ``(None, None)`` otherwise."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id, node.value
    if isinstance(node, ast.AnnAssign) and node.value is not None and isinstance(node.target, ast.Name):
        return node.target.id, node.value
    return None, None


def _is_scalar(value: object) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_TEXT
    return value is None or isinstance(value, (bool, int, float))


def _is_setting(value: object) -> bool:
    if isinstance(value, (list, tuple)):
        return 0 < len(value) <= MAX_SEQUENCE and all(_is_scalar(item) for item in value)
    return _is_scalar(value)


def _changed_names(tree: ast.Module, literal_assignments: list[ast.stmt]) -> set[str]:
    """Names the cell binds, deletes or mutates anywhere other than its top-level literal assignments."""
    first_targets = set()
    for statement in literal_assignments:
        target = statement.targets[0] if isinstance(statement, ast.Assign) else getattr(statement, "target", None)
        first_targets.add(id(target))
    changed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            if id(node) not in first_targets:
                changed.add(node.id)
        elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            changed.update(_base_names(node.value))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in _MUTATING_METHODS):
            changed.update(_base_names(node.func.value))
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            changed.update(node.names)
    return changed


def _base_names(node: ast.expr) -> set[str]:
    """The variable an attribute chain or subscript starts from: ``a`` of ``a.b[0].c``."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return {node.id} if isinstance(node, ast.Name) else set()
