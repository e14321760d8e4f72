"""Can this run be reproduced? Its slice placed in the saved notebook, and a verdict with reasons.

``linear`` means: the executions the run depends on are cells of the saved notebook, unchanged since
they ran, in top-to-bottom order, with no other cell in between redefining what they pass on. Anything
else is a warning that names the variable and the cell: a name from a cell below, from a cell edited or
deleted since, from an earlier run of the same cell, with no visible definition (exec, %run, a magic, an
import side effect), a notebook never saved, random draws without a visible seed.

The verdict is stored as tags (``jt.reproducibility`` = ``linear`` | ``warnings`` and its reasons), the
slice as the artifact ``jupyter_tracker/slice.json``; both travel with the run (bundles, MLflow).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import get_config
from . import source as source_capture
from .slices import cell_trees, names_of, session_log

VERDICT_TAG = "jt.reproducibility"
REASONS_TAG = "jt.reproducibility.reasons"
SLICE_ARTIFACT = "jupyter_tracker/slice.json"
#: On a reproduction: the run it reproduces. On the original: the latest result and what it was.
REPRODUCES_TAG = "jt.reproduces"
REPRODUCTION_TAG = "jt.reproduction"
REPRODUCTION_DETAIL_TAG = "jt.reproduction.detail"
LINEAR, WARNINGS = "linear", "warnings"
SLICE_VERSION = 1
_REASONS_LIMIT = 7000   # tag values hold 8,000 characters


@dataclass
class Verdict:
    """``linear`` or ``warnings``, the reasons (each names a variable and a cell), and notes that are
    not warnings (data files the slice reads, which are not captured)."""

    verdict: str
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def short(self) -> str:
        """The first reason and how many more: what the %%track summary line shows."""
        if not self.reasons:
            return LINEAR
        more = f" (+{len(self.reasons) - 1} more)" if len(self.reasons) > 1 else ""
        return f"not reproducible as saved: {self.reasons[0]}{more}"


@dataclass
class _SavedCell:
    position: int          # 1-based, counting every cell of the saved notebook from the top
    cell_id: str | None
    source: str


def _normal(source: str) -> str:
    return source.strip()


def saved_code_cells(notebook_path: str | Path | None) -> list[_SavedCell] | None:
    """The code cells of the saved .ipynb (None when there is no readable saved notebook); read once per
    version of the file."""
    if not notebook_path:
        return None
    try:
        stat = Path(notebook_path).stat()
        key = (str(notebook_path), stat.st_mtime_ns, stat.st_size)
        if key in _saved:
            return _saved[key]
        cells = json.loads(Path(notebook_path).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    found = []
    for index, cell in enumerate(cells, start=1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            found.append(_SavedCell(index, cell.get("id"), "".join(source) if isinstance(source, list) else source))
    _saved.clear()
    _saved[key] = found
    return found


_saved: dict[tuple[str, int, int], list[_SavedCell]] = {}


class _Index:
    """The saved code cells by id and by source, to place executions without rescanning the notebook."""

    def __init__(self, saved: list[_SavedCell]) -> None:
        self.by_id = {c.cell_id: c for c in saved if c.cell_id}
        self.by_source: dict[str, _SavedCell] = {}
        for cell in saved:
            self.by_source.setdefault(_normal(cell.source), cell)


def _locate(execution: dict[str, Any], index: _Index) -> tuple[int | None, str]:
    """Where an execution's cell is in the saved notebook: (position, 'unchanged' | 'edited' | 'deleted' (its
    cell id is gone) | 'missing' (no cell id, and no saved cell has its source))."""
    source = _normal(execution["source"])
    cell = index.by_id.get(execution.get("cell_id"))
    if cell is not None:
        return cell.position, "unchanged" if _normal(cell.source) == source else "edited"
    cell = index.by_source.get(source)
    if cell is not None:
        return cell.position, "unchanged"
    return None, "deleted" if execution.get("cell_id") else "missing"


def build_slice(count: int, cell_id: str | None, raw_cell: str, notebook_path: str | None,
                to_python: Callable[[str], str], started: int | None = None) -> dict[str, Any]:
    """The slice of the execution ``count`` (recorded now if the post-run hook has not yet) as a JSON-able
    record: each execution with its source as run, cell id, the names it took from which execution, and
    its position in the saved notebook. With ``started`` (the execution that started a run ended by
    ``count``), the slice of every execution from ``started`` to ``count``: the run's own executions,
    listed as ``run_executions``."""
    session_log.record(count, cell_id, raw_cell, tree=cell_trees.current())
    own = session_log.between(started, count) if started is not None and started < count else [count]
    executions, forgotten = session_log.slice(own, to_python)
    saved = saved_code_cells(notebook_path)
    records = []
    index = _Index(saved) if saved is not None else None
    for execution in executions:
        record = execution.to_dict()
        if index is not None:
            record["position"], record["cell_status"] = _locate(record, index)
        else:
            record["position"], record["cell_status"] = None, "unsaved"
        records.append(record)
    hidden = [{"execution_count": e.count, "hidden": list(e.names.hidden) if e.names else []}
              for e in session_log.hidden_before(count)]
    return {"version": SLICE_VERSION, "execution_count": count, "run_executions": own, "notebook_path": notebook_path,
            "saved": saved is not None, "forgotten": forgotten, "executions": records, "hidden_before": hidden[-20:],
            "kept_executions": session_log.limit}


def _where(record: dict[str, Any] | None, count: int) -> str:
    if record is not None and record.get("position"):
        return f"cell {record['position']} (execution [{count}])"
    return f"execution [{count}]"


def assess(slice_record: dict[str, Any], is_defined: Callable[[str], bool],
           to_python: Callable[[str], str] = lambda code: code) -> Verdict:
    """The verdict of a slice: ``linear`` or the reasons it is not (see the module docstring).

    ``is_defined(name)`` says whether the kernel holds ``name`` now (a read with no recorded definition
    then came from somewhere the tracker cannot see); ``to_python`` turns IPython syntax into Python,
    for the saved cells between a definition and its use.
    """
    reasons: list[str] = []
    notes: list[str] = []
    by_count = {r["execution_count"]: r for r in slice_record["executions"]}
    own = [by_count[c] for c in slice_record.get("run_executions", [slice_record["execution_count"]]) if c in by_count]
    saved = saved_code_cells(slice_record.get("notebook_path")) if slice_record.get("saved") else None
    if not slice_record.get("saved"):
        reasons.append("the notebook was never saved (the kernel knows no .ipynb): a colleague has no notebook "
                       "to run")
    for record in own:
        if record.get("cell_status") in ("edited", "deleted", "missing"):
            what = "this cell" if len(own) == 1 else "a cell the run executed"
            reasons.append(f"{what} (execution [{record['execution_count']}]) differs from the saved notebook "
                           f"(edited after it ran, or not saved since)")
    told: set[tuple[str, int]] = set()
    positions = [cell.position for cell in saved or []]
    for record in slice_record["executions"]:
        reader = record["execution_count"]
        for name, definer in record["depends"].items():
            source = by_count.get(definer)
            if source is None:
                continue
            if definer != reader and (name, definer) not in told and \
                    source["cell_status"] in ("edited", "deleted", "missing"):
                told.add((name, definer))
                state = {"edited": f"cell {source['position']} was edited since it ran",
                         "deleted": "cell was deleted since it ran",
                         "missing": "cell is no longer in the saved notebook as it ran (edited or deleted since)",
                         }[source["cell_status"]]
                reasons.append(f"`{name}` came from execution [{definer}], whose {state}")
                continue
            below, above = source.get("position"), record.get("position")
            if below is None or above is None:
                continue
            if below > above:
                reasons.append(f"`{name}` came from {_where(source, definer)}, below {_where(record, reader)} "
                               f"that reads it")
            elif below == above and definer != reader:
                reasons.append(f"`{name}` came from an earlier run [{definer}] of the same cell {above}, run again "
                               f"as [{reader}]: top to bottom it runs once")
            elif saved is not None and below < above:
                between = saved[bisect.bisect_right(positions, below):bisect.bisect_left(positions, above)]
                for cell in between:
                    if name in _defines(cell.source, to_python):
                        reasons.append(f"`{name}` came from {_where(source, definer)}, but cell {cell.position} "
                                       f"between it and {_where(record, reader)} redefines it")
                        break
        for name in record.get("undefined", []):
            if is_defined(name):
                hidden = [h for h in slice_record.get("hidden_before", []) if h["execution_count"] < reader]
                seen = f"; execution [{hidden[-1]['execution_count']}] ran {', '.join(hidden[-1]['hidden'])}" \
                    if hidden else ""
                reasons.append(f"`{name}` (read by {_where(record, reader)}) has no visible definition: made by "
                               f"exec, %run, a magic or an import side effect{seen}")
    draws = [(r, call) for r in slice_record["executions"] for call in r.get("rng_calls", [])]
    if draws and not any(r.get("seeds") for r in slice_record["executions"]):
        record, call = draws[0]
        reasons.append(f"{_where(record, record['execution_count'])} draws random numbers ({call}) with no visible "
                       f"seed call (np.random.seed, random.seed, torch.manual_seed, default_rng(seed))")
    if slice_record.get("forgotten"):
        reasons.append(f"executions {', '.join(f'[{c}]' for c in slice_record['forgotten'])} it depends on are "
                       f"older than the {slice_record.get('kept_executions')} executions the session keeps")
    files = sorted({f for r in slice_record["executions"] for f in r.get("data_files", [])})
    if files:
        notes.append(f"reads data files the tracker does not capture: {', '.join(files[:10])}")
    reasons = list(dict.fromkeys(reasons))
    return Verdict(WARNINGS if reasons else LINEAR, reasons, notes)


def _defines(source: str, to_python: Callable[[str], str]) -> frozenset[str]:
    return names_of(source, to_python).defines


def verdict_tags(verdict: Verdict) -> dict[str, str]:
    """The tags that store a verdict (reasons one per line, cut to what a tag holds)."""
    text = "\n".join(verdict.reasons + verdict.notes)
    if len(text) > _REASONS_LIMIT:
        text = text[:_REASONS_LIMIT] + " …"
    return {VERDICT_TAG: verdict.verdict, REASONS_TAG: text} if text else {VERDICT_TAG: verdict.verdict}


def _judged_slice(shell: Any, count: int, cell_id: str | None, raw_cell: str,
                  notebook_path: str | None, started: int | None = None) -> tuple[dict[str, Any], Verdict]:
    to_python = shell.transform_cell
    slice_record = build_slice(count, cell_id, raw_cell, notebook_path, to_python, started)
    hidden_names = set(getattr(shell, "user_ns_hidden", {}) or {})
    namespace = shell.user_ns
    verdict = assess(slice_record, lambda name: name in namespace and name not in hidden_names, to_python)
    slice_record["verdict"] = {"verdict": verdict.verdict, "reasons": verdict.reasons, "notes": verdict.notes}
    return slice_record, verdict


def _store(run: Any, slice_record: dict[str, Any], verdict: Verdict) -> Verdict:
    run.log_dict(slice_record, SLICE_ARTIFACT)
    run.set_tags(verdict_tags(verdict))
    return verdict


def record_run(run: Any, shell: Any, count: int, cell_id: str | None, raw_cell: str) -> Verdict:
    """Build the slice of the cell execution that made ``run``, judge it, and store both with the run."""
    notebook_path = (getattr(run, "source", None) or {}).get("notebook_path")
    return _store(run, *_judged_slice(shell, count, cell_id, raw_cell, notebook_path))


def record_ending_cell(run: Any) -> Verdict | None:
    """For a run ended by ordinary code while a notebook cell runs (``with jt.start_run(): ...``, or
    ``run.end()``): the slice of every execution made while it was active (from the cell that started
    it to this one: ``run = jt.start_run()`` in one cell, logging in the next, ``jt.end_run()`` in a
    third) and its verdict, stored with the run as ``%%track`` stores them. None (nothing stored)
    outside a running cell, with slices off, or when the run already has a verdict (a ``%%track`` run
    records its own). Never raises: a view of the run must not break the user's cell, so a failure is
    a warning."""
    cell = source_capture.current_cell
    count = cell.get("execution_count")
    if not cell.get("running") or count is None or VERDICT_TAG in run.tags or not get_config().slices:
        return None
    shell = source_capture.ipython_shell()
    if shell is None or not hasattr(shell, "transform_cell"):
        return None
    source = getattr(run, "source", None) or {}
    notebook_path = source.get("notebook_path")
    started = source.get("execution_count")
    started = started if isinstance(started, int) and started <= count else count
    key = (started, count, notebook_path)
    try:
        # Runs started and ended by the same executions (child runs of a sweep in one cell) share a slice.
        if _last_ending.get("key") != key:
            _last_ending.clear()
            _last_ending.update(key=key, judged=_judged_slice(shell, count, cell.get("cell_id"),
                                                              cell.get("raw_cell") or "", notebook_path, started))
        return _store(run, *_last_ending["judged"])
    except Exception as exc:  # noqa: BLE001 - static analysis of user code must never fail the run's end
        import warnings

        warnings.warn(f"jupyter_tracker could not record the slice of run {run.run_id[:8]}: "
                      f"{type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=3)
        return None



def slice_notebook(slice_record: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The slice as a clean notebook (nbformat v4 JSON): its executions as cells, in the order they ran,
    without outputs; ``%load_ext jupyter_tracker`` first when a cell needs ``%%track`` and none loads it."""
    sources = [record["source"] for record in slice_record["executions"]]
    if any(s.lstrip().startswith(("%%track", "%track")) for s in sources) and \
            not any("load_ext jupyter_tracker" in s for s in sources):
        sources.insert(0, "%load_ext jupyter_tracker")
    cells = []
    for index, source in enumerate(sources):
        cells.append({"cell_type": "code", "id": f"slice-{index + 1}", "execution_count": None, "metadata": {},
                      "outputs": [], "source": source})
    for cell, record in zip(cells[len(cells) - len(slice_record["executions"]):], slice_record["executions"]):
        cell["metadata"]["jupyter_tracker"] = {"execution_count": record["execution_count"],
                                               "cell_id": record.get("cell_id")}
    return {"nbformat": 4, "nbformat_minor": 5, "cells": cells, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "jupyter_tracker": {"run_id": run_id, "kind": "slice",
                            "notebook_path": slice_record.get("notebook_path")}}}


_last_ending: dict[str, Any] = {}
