"""Notebook snapshots of a run: load one as a notebook, restore it as a new .ipynb, list kinds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import (
    InvalidValueError,
    PathExistsError,
    SnapshotNotFoundError,
)
from ..store.current import resolve_store
from ..store.sql import fetch_one
from .arguments import check_flag, check_run_id
from .runs import resolve_run

if TYPE_CHECKING:
    from nbformat import NotebookNode

    from ..store.database import Store


def load_snapshot(run_id: str, kind: str = "executed", *, store: Store | None = None) -> NotebookNode:
    """The notebook of a run as an nbformat NotebookNode.

    ``kind="executed"`` (default): the code that actually ran in the kernel, in execution order,
    ending with the tracked cell and its console output and error. ``kind="saved"``: the .ipynb
    file as saved on disk when the run started.
    """
    import nbformat

    from ..capture.snapshot import assemble

    check_run_id(run_id)
    if not isinstance(kind, str) or kind not in ("executed", "saved"):
        raise InvalidValueError(f"snapshot kind must be 'executed' or 'saved', not {kind!r:.80}")
    store = resolve_store(store)
    with store.session(read_only=True) as con:
        run_key, full_id = resolve_run(con, run_id)
        rows = con.execute("""SELECT kind, meta_sha, cell_shas, notebook_path FROM internal.snapshots
                              WHERE run_key = ? ORDER BY created_time DESC""", [run_key]).fetchall()
        console = con.execute("SELECT stream, text FROM internal.console WHERE run_key = ? ORDER BY seq",
                              [run_key]).fetchall()
        # resolve_run just found this run, so its row exists.
        error: tuple[Any, ...]
        error = fetch_one(con, "SELECT error_type, error_message, error_traceback, status FROM internal.runs "
                            "WHERE run_key = ?", [run_key])  # type: ignore[assignment]
    chosen = next((r for r in rows if r[0] == kind), None)
    if chosen is None:
        kinds = sorted({r[0] for r in rows})
        why = (f"it has only: {', '.join(kinds)}" if kinds else
               "it ran outside a notebook, with --no-snapshot, or the notebook was never saved")
        raise SnapshotNotFoundError(f"run {full_id[:8]} has no {kind!r} snapshot: {why}")
    notebook = assemble(store.objects, chosen[1], list(chosen[2]))
    notebook.setdefault("metadata", {})["jupyter_tracker"] = {"run_id": full_id, "kind": kind,
                                                              "notebook_path": chosen[3]}
    if kind == "executed" and notebook["cells"]:
        tracked = notebook["cells"][-1]
        tracked.setdefault("metadata", {})["jupyter_tracker"] = {"tracked": True, "run_id": full_id,
                                                                 "status": error[3]}
        for stream, text in console:
            outputs = tracked["outputs"]
            if outputs and outputs[-1].get("output_type") == "stream" and outputs[-1].get("name") == stream:
                outputs[-1]["text"] += text   # chunks flushed apart are one output, as a front end shows them
            else:
                outputs.append({"output_type": "stream", "name": stream, "text": text})
        if error[0]:
            tracked["outputs"].append({"output_type": "error", "ename": error[0], "evalue": error[1] or "",
                                       "traceback": (error[2] or "").splitlines()})
    # reads() also joins the line lists of on-disk notebooks back into strings.
    return nbformat.reads(json.dumps(notebook), as_version=4)  # type: ignore[no-any-return]  # reads is unannotated


def restore_snapshot(run_id: str, path: str | Path, kind: str = "executed", overwrite: bool = False,
                     *, minimal: bool = False, store: Store | None = None) -> Path:
    """Write a run's notebook snapshot to ``path`` as a runnable .ipynb; never overwrites by default.

    ``minimal=True`` writes just the run's slice instead (the executions its code depended on, in the
    order they ran) as a clean linear notebook: the smallest notebook that recomputes the run.
    """
    import os

    import nbformat

    check_run_id(run_id)
    check_flag(minimal, "minimal")
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidValueError(f"path must be a file path such as 'restored.ipynb', not "
                                f"{type(path).__name__} {path!r:.80}")
    check_flag(overwrite, "overwrite")
    target = Path(path)
    if target.suffix != ".ipynb":
        raise InvalidValueError(f"restore_snapshot writes a notebook; give a path ending in .ipynb, not {str(path)!r}")
    if target.exists() and not overwrite:
        raise PathExistsError(f"{target} already exists; choose another path or pass overwrite=True")
    notebook = load_slice_notebook(run_id, store=store) if minimal else load_snapshot(run_id, kind, store=store)
    nbformat.validate(notebook)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    nbformat.write(notebook, str(temporary))
    temporary.replace(target)
    return target


def load_slice(run_id: str, *, store: Store | None = None) -> dict[str, Any]:
    """The recorded slice of a run (``jupyter_tracker/slice.json``: its executions, their sources, cell ids,
    positions and the names each took from which execution, and the verdict)."""
    from ..capture.reproducibility import SLICE_ARTIFACT

    check_run_id(run_id)
    store = resolve_store(store)
    with store.session(read_only=True) as con:
        run_key, full_id = resolve_run(con, run_id)
        row = fetch_one(con, "SELECT sha256 FROM internal.artifacts WHERE run_key = ? AND path = ?",
                        [run_key, SLICE_ARTIFACT])
    if row is None:
        raise SnapshotNotFoundError(f"run {full_id[:8]} has no recorded slice: slices are recorded for %%track "
                                    f"cells run with the extension loaded (TrackerConfig.slices); use "
                                    f"minimal=False for the executed or saved snapshot")
    record: dict[str, Any] = json.loads(store.objects.read_bytes(row[0]))
    record["run_id"] = full_id
    return record


def load_slice_notebook(run_id: str, *, store: Store | None = None) -> NotebookNode:
    """A run's slice as a clean linear notebook (see ``restore_snapshot(minimal=True)``)."""
    import nbformat

    from ..capture.reproducibility import slice_notebook

    record = load_slice(run_id, store=store)
    notebook = slice_notebook(record, record["run_id"])
    return nbformat.reads(json.dumps(notebook), as_version=4)  # type: ignore[no-any-return]  # reads is unannotated


def snapshot_kinds(run_id: str, *, store: Store | None = None) -> list[str]:
    """Which notebook snapshots (``executed``, ``saved``) the run has."""
    check_run_id(run_id)
    with resolve_store(store).session(read_only=True) as con:
        run_key, _ = resolve_run(con, run_id)
        return sorted(k for (k,) in con.execute(
            "SELECT DISTINCT kind FROM internal.snapshots WHERE run_key = ?", [run_key]).fetchall())
