"""The package's layers point one way, and no module imports its way back to itself.

storage (store/) <- tracking API (runs, capture, queries) <- magic, widgets, server, CLI, sharing.
Every import counts, module-level or inside a function: a lazy import hides a cycle from Python,
not from the next engineer.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "jupyter_tracker"

#: Modules everyone may use: they import nothing of the package above themselves.
BASE = {"errors", "clock", "config"}
#: The interfaces: nothing below imports them.
INTERFACES = ("magic", "widgets", "server", "cli", "sharing", "mlflow_backend", "__main__")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py") if "labextension" not in path.parts}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Package modules that ``name`` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in modules else origin
                       for alias in node.names]
        else:
            continue
        for imported in targets:
            target = imported
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != "jupyter_tracker" and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items() if name != "jupyter_tracker"}


def _layer(module: str) -> int:
    local = module.removeprefix("jupyter_tracker.")
    top = local.split(".")[0]
    if local in BASE:
        return 0
    if top == "store":
        return 1
    if top in INTERFACES:
        return 3
    return 2


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_graph_sees_lazy_imports():
    graph = _graph()
    assert "jupyter_tracker.store.merge" in graph["jupyter_tracker.store.database"]  # inside a function


def test_no_module_imports_its_way_back_to_itself():
    assert _cycles(_graph()) == []


def test_every_import_points_down_the_layers():
    upward = sorted(f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
                    for module, targets in _graph().items() for target in targets
                    if _layer(target) > _layer(module))
    assert upward == []
