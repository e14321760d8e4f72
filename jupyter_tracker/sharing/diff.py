"""What changed between the notebooks of two runs: ``diff_snapshots(run_a, run_b)``.

The cell alignment comes from nbdime's notebook diff (its diff model: ``addrange`` /
``removerange`` / ``patch`` operations on the cell list, with nbdime's similarity heuristics
deciding when an edited cell is "changed" rather than "removed + added"). Only cell type and
source are compared (outputs, ids and execution counts differ on every run and would drown the
signal). Params that differ come from the store. The result is data (``SnapshotDiff``) with a
readable inline HTML view in Jupyter and a text form for terminals.
"""

from __future__ import annotations

import difflib
import html
from dataclasses import dataclass, field

from ..errors import InvalidValueError
from ..store.current import resolve_store


@dataclass
class CellChange:
    """One cell added, removed or changed; ``index_a``/``index_b`` are positions in each notebook."""

    change: str  # "added", "removed" or "changed"
    index_a: int | None
    index_b: int | None
    source_a: str
    source_b: str
    cell_type: str = "code"

    @property
    def unified_diff(self) -> str:
        return "".join(difflib.unified_diff(self.source_a.splitlines(keepends=True),
                                            self.source_b.splitlines(keepends=True),
                                            fromfile=f"a[{self.index_a}]", tofile=f"b[{self.index_b}]"))


@dataclass
class SnapshotDiff:
    """The differences between the notebooks (and params) of ``run_a`` and ``run_b``."""

    run_a: str
    run_b: str
    kind: str
    cells: list[CellChange] = field(default_factory=list)
    params: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    unchanged_cells: int = 0

    @property
    def added(self) -> list[CellChange]:
        return [c for c in self.cells if c.change == "added"]

    @property
    def removed(self) -> list[CellChange]:
        return [c for c in self.cells if c.change == "removed"]

    @property
    def changed(self) -> list[CellChange]:
        return [c for c in self.cells if c.change == "changed"]

    def to_dict(self) -> dict:
        """Plain data (for ``--json`` and scripts)."""
        return {"run_a": self.run_a, "run_b": self.run_b, "kind": self.kind, "unchanged_cells": self.unchanged_cells,
                "params": {k: {"a": a, "b": b} for k, (a, b) in self.params.items()},
                "cells": [{"change": c.change, "index_a": c.index_a, "index_b": c.index_b, "cell_type": c.cell_type,
                           "source_a": c.source_a, "source_b": c.source_b, "diff": c.unified_diff}
                          for c in self.cells]}

    def __str__(self) -> str:
        lines = [f"diff of runs {self.run_a[:8]} -> {self.run_b[:8]} ({self.kind} snapshots): "
                 f"{len(self.added)} added, {len(self.removed)} removed, {len(self.changed)} changed, "
                 f"{self.unchanged_cells} unchanged cell(s)"]
        for key, (a, b) in self.params.items():
            lines.append(f"param {key}: {a!r} -> {b!r}")
        for cell in self.cells:
            if cell.change == "changed":
                lines.append(f"~ cell {cell.index_a} -> {cell.index_b} changed:\n{cell.unified_diff.rstrip()}")
            elif cell.change == "added":
                lines.append(f"+ cell {cell.index_b} added:\n" + _prefix(cell.source_b, "+ "))
            else:
                lines.append(f"- cell {cell.index_a} removed:\n" + _prefix(cell.source_a, "- "))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        parts = [f"<div class='jt-diff' style='font-family:sans-serif;font-size:13px'>"
                 f"<b>Runs {html.escape(self.run_a[:8])} → {html.escape(self.run_b[:8])}</b>: "
                 f"{len(self.added)} added, {len(self.removed)} removed, {len(self.changed)} changed, "
                 f"{self.unchanged_cells} unchanged cell(s)"]
        if self.params:
            cell = "style='padding:2px 10px;border-bottom:1px solid #eee;text-align:left'"
            parts.append(f"<table style='margin:6px 0;border-collapse:collapse'><tr><th {cell}>param</th>"
                         f"<th {cell}>a ({html.escape(self.run_a[:8])})</th>"
                         f"<th {cell}>b ({html.escape(self.run_b[:8])})</th></tr>" + "".join(
                f"<tr><td {cell}>{html.escape(k)}</td><td {cell}>{html.escape(str(a))}</td>"
                f"<td {cell}>{html.escape(str(b))}</td></tr>" for k, (a, b) in self.params.items()) + "</table>")
        colors = {"+": "#e6ffed", "-": "#ffeef0", "@": "#f1f8ff"}
        for cell in self.cells:
            if cell.change == "changed":
                # the ---/+++ file header would repeat the title
                title, text = f"cell {cell.index_a} → {cell.index_b} changed", cell.unified_diff.split("\n", 2)[-1]
            elif cell.change == "added":
                title, text = f"cell {cell.index_b} added", _prefix(cell.source_b, "+")
            else:
                title, text = f"cell {cell.index_a} removed", _prefix(cell.source_a, "-")
            rows = "".join(f"<div style='background:{colors.get(line[:1], '#fff')}'>{html.escape(line) or ' '}</div>"
                           for line in text.splitlines())
            parts.append(f"<div style='margin:6px 0'><div><b>{html.escape(title)}</b></div>"
                         f"<pre style='border:1px solid #ddd;padding:4px;margin:2px 0'>{rows}</pre></div>")
        parts.append("</div>")
        return "".join(parts)


def _prefix(text: str, mark: str) -> str:
    return "".join(f"{mark}{line}\n" for line in text.splitlines())


def _sources_only(notebook) -> dict:
    return {"nbformat": 4, "nbformat_minor": 4, "metadata": {},
            "cells": [{"cell_type": c["cell_type"], "source": c["source"], "metadata": {}, "outputs": [],
                       "execution_count": None} if c["cell_type"] == "code" else
                      {"cell_type": c["cell_type"], "source": c["source"], "metadata": {}}
                      for c in notebook["cells"]]}


def diff_notebooks(notebook_a, notebook_b) -> tuple[list[CellChange], int]:
    """(cell changes, unchanged cell count) between two notebooks, aligned by nbdime."""
    from nbdime import diff_notebooks as nbdime_diff

    a, b = _sources_only(notebook_a), _sources_only(notebook_b)
    cells_a, cells_b = a["cells"], b["cells"]
    operations = next((d["diff"] for d in nbdime_diff(a, b) if d["key"] == "cells"), [])
    changes: list[CellChange] = []
    touched_a: set[int] = set()
    offset = 0  # index in b = index in a + offset, moved by additions and removals before it
    by_key: dict[int, list] = {}
    for operation in operations:
        by_key.setdefault(operation["key"], []).append(operation)
    for key in sorted(by_key):
        # nbdime's order at one key: additions come before the removal or patch of cell `key`.
        for operation in sorted(by_key[key], key=lambda o: {"addrange": 0, "removerange": 1, "patch": 2}[o["op"]]):
            if operation["op"] == "addrange":
                for position, cell in enumerate(operation["valuelist"]):
                    changes.append(CellChange("added", None, key + offset + position, "", cell["source"],
                                              cell["cell_type"]))
                offset += len(operation["valuelist"])
            elif operation["op"] == "removerange":
                for index in range(key, key + operation["length"]):
                    touched_a.add(index)
                    changes.append(CellChange("removed", index, None, cells_a[index]["source"], "",
                                              cells_a[index]["cell_type"]))
                offset -= operation["length"]
            else:
                touched_a.add(key)
                index_b = key + offset
                changes.append(CellChange("changed", key, index_b, cells_a[key]["source"],
                                          cells_b[index_b]["source"], cells_b[index_b]["cell_type"]))
    return changes, len(cells_a) - len(touched_a)


def diff_snapshots(run_a: str, run_b: str, kind: str = "executed", *, store=None) -> SnapshotDiff:
    """Cells added, removed and changed (with a source diff) between the notebook snapshots of two
    runs, and the params whose values differ. Displays as an inline diff in Jupyter."""
    from ..query import get_run, load_snapshot

    if kind not in ("executed", "saved"):
        raise InvalidValueError(f"snapshot kind must be 'executed' or 'saved', not {kind!r}")
    store = resolve_store(store)
    record_a, record_b = get_run(run_a, store=store), get_run(run_b, store=store)
    notebook_a = load_snapshot(record_a.run_id, kind, store=store)
    notebook_b = load_snapshot(record_b.run_id, kind, store=store)
    changes, unchanged = diff_notebooks(notebook_a, notebook_b)
    params = {key: (record_a.params.get(key), record_b.params.get(key))
              for key in sorted(set(record_a.params) | set(record_b.params))
              if record_a.params.get(key) != record_b.params.get(key)}
    return SnapshotDiff(record_a.run_id, record_b.run_id, kind, changes, params, unchanged)
