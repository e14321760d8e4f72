"""``jt.reproduce``: run a run's slice (or its saved notebook) again in a fresh kernel, and compare.

The notebook is written to a scratch folder and executed by nbclient in a new kernel whose working
directory is the original notebook's folder (so relative data paths read what the original read; pass
``cwd`` to choose another). The ``%%track`` cell in it makes a new run in the same store; that run is
tagged ``jt.reproduces`` = the original's id, and the original gets the latest result
(``jt.reproduction`` = ``reproduced`` | ``differs`` | ``failed`` and ``jt.reproduction.detail``: when,
from what, by which run, what differed).
"""

from __future__ import annotations

import html
import math
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..capture.reproducibility import (
    REPRODUCES_TAG,
    REPRODUCTION_DETAIL_TAG,
    REPRODUCTION_TAG,
)
from ..errors import InvalidValueError
from ..manage import set_run_tag
from ..query import get_run, load_slice_notebook, load_snapshot, sql
from ..store.current import resolve_store

REPRODUCED, DIFFERS, FAILED = "reproduced", "differs", "failed"
SOURCES = ("slice", "saved")
DEFAULT_TIMEOUT = 600.0
#: Artifacts the tracker itself writes (the slice); they describe a run rather than being its result.
_OWN_ARTIFACTS = "jupyter_tracker/"


@dataclass
class Reproduction:
    """What ``jt.reproduce`` found: the status, the new run, and one row per param, metric and artifact
    (``frame`` is that table as a DataFrame; displays as HTML in a notebook)."""

    run_id: str
    status: str
    source: str
    when: str
    rtol: float
    new_run_id: str | None = None
    error: str | None = None
    notebook_path: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def frame(self):  # -> pandas.DataFrame (pandas imported only here)
        import pandas as pd

        return pd.DataFrame(self.rows, columns=["kind", "key", "original", "reproduced", "same"])

    @property
    def differences(self) -> list[dict[str, Any]]:
        """The rows that differ (metrics outside the tolerance, other params, other artifact contents)."""
        return [row for row in self.rows if not row["same"]]

    def summary(self) -> str:
        """One line: the status, from what, by which run, and what differed or failed."""
        head = f"{self.status} from {self.source} at {self.when}"
        if self.new_run_id:
            head += f" by run {self.new_run_id[:8]}"
        if self.status == FAILED:
            return f"{head}: {self.error}"
        if self.status == DIFFERS:
            return f"{head}: " + ", ".join(f"{r['kind']}s.{r['key']} {r['original']} → {r['reproduced']}"
                                           for r in self.differences[:5])
        return f"{head}: same params, metrics within rtol={self.rtol:g}, same artifacts"

    def __str__(self) -> str:
        lines = [f"run {self.run_id[:8]}: {self.summary()}"]
        lines += [f"  {'=' if r['same'] else '≠'} {r['kind']}s.{r['key']}: {r['original']} → {r['reproduced']}"
                  for r in self.rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        color = {REPRODUCED: "#1a7f37", DIFFERS: "#bf8700", FAILED: "#cf222e"}[self.status]
        table = self.frame.to_html(index=False, escape=True) if self.rows else ""
        return (f"<div><p><b style='color:{color}'>{html.escape(self.status)}</b> "
                f"{html.escape(self.summary().split(': ', 1)[-1])}</p>"
                f"<p style='font-size:smaller'>run {html.escape(self.run_id[:8])}, from {html.escape(self.source)}"
                f", reproduction {html.escape((self.new_run_id or '—')[:8])}</p>{table}</div>")

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "status": self.status, "from": self.source, "when": self.when,
                "rtol": self.rtol, "new_run_id": self.new_run_id, "error": self.error,
                "notebook_path": self.notebook_path, "rows": self.rows}


def _check(from_: Any, timeout: Any, rtol: Any) -> None:
    if from_ not in SOURCES:
        raise InvalidValueError(f"from_ must be 'slice' (the executions the run depended on, in the order they "
                                f"ran) or 'saved' (the saved notebook top to bottom), not {from_!r:.80}")
    for name, value in (("timeout", timeout), ("rtol", rtol)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
                or (name == "timeout" and value == 0):
            raise InvalidValueError(f"{name} must be a {'positive' if name == 'timeout' else 'non-negative'} "
                                    f"number, not {value!r:.80}")


def reproduce(run_id: str, from_: str = "slice", *, timeout: float = DEFAULT_TIMEOUT, rtol: float = 1e-6,
              cwd: str | Path | None = None, kernel_name: str = "python3", store=None) -> Reproduction:
    """Run ``run_id``'s slice (``from_="slice"``, in its recorded order) or its saved notebook top to bottom
    (``from_="saved"``, what a colleague would do) in a fresh kernel, and compare the new run with it:
    params equal, each metric's final value within ``rtol``, artifacts' sha256 equal. ``timeout`` bounds
    each cell (seconds). The new run is tracked and linked to the original (see the module docstring)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    _check(from_, timeout, rtol)
    store = resolve_store(store)
    original = get_run(run_id, store=store)
    if from_ == "slice":
        notebook = load_slice_notebook(original.run_id, store=store)
    else:
        notebook = load_snapshot(original.run_id, "saved", store=store)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
    scratch = Path(tempfile.mkdtemp(prefix=f"jt-reproduce-{original.run_id[:8]}-"))
    path = scratch / f"reproduce-{original.run_id[:8]}-{from_}.ipynb"
    nbformat.write(notebook, str(path))
    folder = Path(cwd) if cwd is not None else _original_folder(original.source.get("notebook_path"), scratch)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    result = Reproduction(original.run_id, FAILED, from_, when, float(rtol), notebook_path=str(path))
    client = NotebookClient(notebook, timeout=int(math.ceil(timeout)), kernel_name=kernel_name,
                            resources={"metadata": {"path": str(folder)}})
    env = {**os.environ, "JUPYTER_TRACKER_DIR": str(store.root), "JPY_SESSION_NAME": str(path)}
    try:
        client.execute(env=env)
    except CellExecutionError as exc:
        result.error = f"{exc.ename}: {exc.evalue}"
    except CellTimeoutError:
        result.error = f"a cell ran longer than the timeout of {timeout:g} s"
    except DeadKernelError as exc:
        result.error = f"the kernel died: {exc}"
    finally:
        nbformat.write(notebook, str(path))
    result.new_run_id = _new_run(path, original.source.get("code"), store)
    if result.new_run_id is None and result.error is None:
        result.error = "the notebook ran but started no run (is the tracked cell's %%track line in it?)"
    if result.new_run_id is not None:
        new = get_run(result.new_run_id, store=store)
        set_run_tag(new.run_id, REPRODUCES_TAG, original.run_id, store=store)
        if result.error is None and new.error:
            result.error = f"{new.error['type']}: {new.error['message']}"
        if result.error is None:
            result.rows = _compare(original, new, float(rtol))
            result.status = DIFFERS if result.differences else REPRODUCED
    set_run_tag(original.run_id, REPRODUCTION_TAG, result.status, store=store)
    set_run_tag(original.run_id, REPRODUCTION_DETAIL_TAG, result.summary()[:7000], store=store)
    return result


def _original_folder(notebook_path: str | None, scratch: Path) -> Path:
    if notebook_path and Path(notebook_path).parent.is_dir():
        return Path(notebook_path).parent
    return scratch


def _new_run(path: Path, code: str | None, store) -> str | None:
    """The run the reproduction made: started by the scratch notebook, from the same cell code if several."""
    runs = sql("SELECT run_id, source_code FROM runs WHERE notebook_path = ? AND parent_run_id IS NULL "
               "ORDER BY start_time", [str(path)], store=store)
    if runs.empty:
        return None
    same = runs[runs.source_code == code]
    return str((same if not same.empty else runs).run_id.iloc[-1])


def _compare(original, new, rtol: float) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for key in sorted(set(original.params) | set(new.params)):
        a, b = original.params.get(key), new.params.get(key)
        rows.append({"kind": "param", "key": key, "original": a, "reproduced": b, "same": a == b})
    for key in sorted(set(original.metrics) | set(new.metrics)):
        x, y = original.metrics.get(key), new.metrics.get(key)
        same = x is not None and y is not None and (
            (math.isnan(x) and math.isnan(y)) or x == y or math.isclose(x, y, rel_tol=rtol, abs_tol=0.0))
        rows.append({"kind": "metric", "key": key, "original": x, "reproduced": y, "same": same})
    hashes_a = {a.path: a.sha256 for a in original.artifacts if not a.path.startswith(_OWN_ARTIFACTS)}
    hashes_b = {a.path: a.sha256 for a in new.artifacts if not a.path.startswith(_OWN_ARTIFACTS)}
    for key in sorted(set(hashes_a) | set(hashes_b)):
        a, b = hashes_a.get(key), hashes_b.get(key)
        rows.append({"kind": "artifact", "key": key, "original": a[:12] if a else None,
                     "reproduced": b[:12] if b else None, "same": a == b})
    return rows


__all__ = ["DIFFERS", "FAILED", "REPRODUCED", "Reproduction", "reproduce"]
