"""Where a run's code came from: the notebook cell (code, execution count, cell id, notebook
path) or the script (path and content), and the key that chains re-runs of the same cell."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from .snapshot import resolve_notebook_path

_SCRIPT_LIMIT = 1_000_000

#: Set by the IPython extension's pre_run_cell hook: the cell being executed right now.
current_cell: dict = {}


def ipython_shell():
    """The running IPython shell, or None outside IPython (without importing IPython)."""
    module = sys.modules.get("IPython")
    if module is None:
        return None
    try:
        return module.get_ipython()
    except AttributeError:
        return None


def notebook_path(shell) -> Path | None:
    """The .ipynb file of the kernel, when Jupyter told the kernel its session path."""
    session = None
    if shell is not None:
        session = shell.user_ns.get("__session__")
    session = session or os.environ.get("JPY_SESSION_NAME")
    return resolve_notebook_path(session)


def cell_key(cell_id: str | None, path: Path | None, code: str) -> str:
    """Same cell → same key: its cell id; else its position in the saved notebook; else the
    notebook path and the cell's first line (a cell never saved has no other identity)."""
    if cell_id:
        return f"cell:{cell_id}"
    position = _position_in_saved_notebook(path, code) if path else None
    if position is not None:
        return f"nb:{path}:#{position}"
    first_line = code.strip().splitlines()[0] if code.strip() else ""
    digest = hashlib.sha256(first_line.encode()).hexdigest()[:16]
    return f"nb:{path or ''}:{digest}"


#: The code cells' sources of each saved notebook, by path, with the (mtime, size) they were read at:
#: a %%track cell re-reads its notebook only when it was saved since (a kernel runs one notebook).
_saved_sources: dict[Path, tuple[tuple[int, int], list[str | None]]] = {}


def _position_in_saved_notebook(path: Path, code: str) -> int | None:
    """Index of the code cell whose saved source is ``code`` (or, failing that, the only code
    cell with the same first line, for a cell edited since the last save)."""
    sources = _saved_code_sources(path)
    if sources is None:
        return None
    if code in sources:
        return sources.index(code)
    first = code.strip().split("\n", 1)[0]
    matches = [i for i, s in enumerate(sources) if s is not None and s.strip().split("\n", 1)[0] == first]
    return matches[0] if len(matches) == 1 else None


def _saved_code_sources(path: Path) -> list[str | None] | None:
    """Each cell's source in the saved notebook at ``path`` (None for a markdown or raw cell), or None
    when it cannot be read."""
    import json

    try:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = _saved_sources.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        sources = ["".join(c.get("source", "")) if c.get("cell_type") == "code" else None for c in cells]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    _saved_sources[path] = (stamp, sources)
    return sources


def cell_source(shell, code: str, execution_count: int | None, cell_id: str | None) -> dict:
    """Source record of a run started by a notebook cell."""
    path = notebook_path(shell)
    return {"kind": "cell", "code": code, "execution_count": execution_count, "cell_id": cell_id,
            "notebook_path": str(path) if path else None, "cell_key": cell_key(cell_id, path, code)}


def script_source() -> dict:
    """Source record of a run started by a plain script (path and content)."""
    argv0 = sys.argv[0] if sys.argv else ""
    path = Path(argv0).absolute() if argv0 and argv0 not in ("-c", "-m", "-") else None
    code = None
    if path is not None and path.is_file():
        try:
            code = path.read_text(encoding="utf-8", errors="replace")[:_SCRIPT_LIMIT]
        except OSError:
            code = None
    elif argv0 == "-c":
        path = None
    return {"kind": "script", "script_path": str(path) if path else None, "code": code,
            "cell_key": f"script:{path}" if path else None}


def current_source() -> tuple[dict, object]:
    """(source record, shell or None) for a run started now by ordinary code."""
    shell = ipython_shell()
    if shell is not None and hasattr(shell, "history_manager") and shell.history_manager is not None:
        history = shell.history_manager.input_hist_raw
        code = current_cell.get("raw_cell") or (history[-1] if history else "")
        count = current_cell.get("execution_count") or getattr(shell, "execution_count", None)
        return cell_source(shell, code, count, current_cell.get("cell_id")), shell
    return script_source(), None
