"""Notebook snapshots: what actually ran, even when the notebook was never saved.

Two kinds per run:

* ``executed``: built from the kernel's execution history: every input of this kernel session
  in execution order (the tracked cell last), with each one's displayed result where IPython
  kept it (``Out``). The tracked cell's console output and error are attached when loading.
* ``saved``: the .ipynb on disk, when the kernel knows its notebook path.

Each cell is stored as its own content-addressed object, so a thousand runs of an unchanged
5 MB notebook store its cells once; a snapshot record is a list of cell hashes.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from ..store.objects import ObjectStore

_TEXT_LIMIT = 10_000
_lock = threading.Lock()
_history_cache: dict[tuple[int, int], str] = {}   # (id(store objects), execution_count) -> cell sha
_saved_cache: dict[tuple[str, int, int], tuple[str, list[str]]] = {}


def put_json(objects: ObjectStore, value: Any) -> str:
    """Store ``value`` as canonical JSON (sorted keys, compact) in the object store; its sha256."""
    return objects.put_bytes(json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8"))


def _result_output(value: Any, count: int) -> dict | None:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a user's broken __repr__ must not break tracking
        return None
    if len(text) > _TEXT_LIMIT:
        text = text[:_TEXT_LIMIT] + " …"
    return {"output_type": "execute_result", "execution_count": count, "metadata": {},
            "data": {"text/plain": text}}


def _code_cell(source: str, count: int | None, outputs: list[dict], cell_id: str) -> dict:
    return {"cell_type": "code", "id": cell_id, "execution_count": count, "metadata": {},
            "outputs": outputs, "source": source}


def capture_executed(shell, objects: ObjectStore, current_source: str, current_count: int | None) -> dict:
    """Store the execution history of ``shell`` plus the running cell; return the event fields."""
    history = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None) or []
    results = shell.user_ns.get("Out", {}) if hasattr(shell, "user_ns") else {}
    last = (current_count - 1) if current_count else len(history) - 1
    shas: list[str] = []
    for count in range(1, min(last, len(history) - 1) + 1):
        cache_key = (id(objects), count)
        with _lock:
            sha = _history_cache.get(cache_key)
        if sha is None:
            outputs = []
            if count in results:
                output = _result_output(results[count], count)
                if output is not None:
                    outputs.append(output)
            sha = put_json(objects, _code_cell(history[count], count, outputs, f"exec-{count}"))
            with _lock:
                _history_cache[cache_key] = sha
        shas.append(sha)
    shas.append(put_json(objects, _code_cell(current_source, current_count, [],
                                              f"exec-{current_count or 'current'}")))
    meta = {"nbformat": 4, "nbformat_minor": 5, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}}}
    return {"kind": "executed", "cells": shas, "meta": put_json(objects, meta)}


def capture_saved(objects: ObjectStore, notebook_path: Path) -> dict | None:
    """Store the saved .ipynb at ``notebook_path`` cell by cell; None if it cannot be read."""
    try:
        stat = notebook_path.stat()
    except OSError:
        return None
    cache_key = (str(notebook_path), stat.st_mtime_ns, stat.st_size)
    with _lock:
        cached = _saved_cache.get(cache_key)
    if cached is None:
        try:
            notebook = json.loads(notebook_path.read_text(encoding="utf-8"))
            cells = notebook["cells"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        shas = [put_json(objects, cell) for cell in cells]
        meta = {key: value for key, value in notebook.items() if key != "cells"}
        cached = (put_json(objects, meta), shas)
        with _lock:
            _saved_cache[cache_key] = cached
    meta_sha, shas = cached
    return {"kind": "saved", "cells": shas, "meta": meta_sha, "notebook_path": str(notebook_path)}


def assemble(objects: ObjectStore, meta_sha: str, cell_shas: list[str]) -> dict:
    """Rebuild a notebook dict (nbformat v4 JSON) from its stored objects."""
    notebook = json.loads(objects.read_bytes(meta_sha))
    notebook["cells"] = [json.loads(objects.read_bytes(sha)) for sha in cell_shas]
    return notebook


def resolve_notebook_path(session_path: str | None, cwd: Path | None = None) -> Path | None:
    """Turn the kernel's session path (``__session__``/``JPY_SESSION_NAME``) into a file path.

    Jupyter gives it relative to the server's root or absolute; the kernel's working directory
    is usually the notebook's folder, so try the path as given, then its name in the cwd.
    """
    if not session_path:
        return None
    cwd = cwd or Path(os.getcwd())
    candidate = Path(session_path)
    options = [candidate] if candidate.is_absolute() else [cwd / candidate, cwd / candidate.name]
    if not candidate.is_absolute():
        options += [parent / candidate for parent in cwd.parents]
    for option in options:
        if option.suffix == ".ipynb" and option.is_file():
            return option.absolute()
    return None
