"""Which ``Run`` an MLflow call for a run id writes through, in this process.

A run created here writes through the ``Run`` that created it. A run created by another process
(another ``mlflow server`` worker, another script) or one that has ended gets an attached handle
(``Run.attach``): its records go to this process's journal, the run stays its creator's.
Inside a ``%%track`` cell, MLflow's first ``start_run`` adopts the cell's run instead of
starting a second one.
"""

from __future__ import annotations

import threading
from pathlib import Path

from ..run import Run, active_run
from ..store.database import Store
from ..store.sql import fetch_one
from .errors import missing

_handles: dict[tuple[Path, str], Run] = {}
_created: set[tuple[Path, str]] = set()
_adopted: set[tuple[Path, str]] = set()
_lock = threading.Lock()


def remember(run: Run) -> None:
    """A run this plugin started: later calls for its id write through it."""
    with _lock:
        _handles[(run.store.root, run.run_id)] = run
        _created.add((run.store.root, run.run_id))


def adoptable(store: Store) -> Run | None:
    """The jupyter_tracker run active in this process (a ``%%track`` cell's, a ``jt.start_run``'s)
    when MLflow may log into it: on this store, not started by MLflow, not already in use by an
    open MLflow run. Marks it adopted."""
    run = active_run()
    if run is None or run.store.root != store.root:
        return None
    key = (run.store.root, run.run_id)
    with _lock:
        if key in _created or key in _adopted:
            return None
        _adopted.add(key)
        _handles[key] = run
    return run


def release_if_adopted(store: Store, run_id: str) -> bool:
    """MLflow ended its use of ``run_id``; True when that was an adopted run (whose owner ends it)."""
    key = (store.root, run_id)
    with _lock:
        if key in _adopted:
            _adopted.discard(key)
            return True
    return False


def handle(store: Store, run_id: str) -> Run:
    """A writable ``Run`` for ``run_id`` (raises RESOURCE_DOES_NOT_EXIST for an unknown id)."""
    key = (store.root, run_id)
    with _lock:
        run = _handles.get(key)
    if run is not None and run.active:
        return run
    with store.session() as con:
        row = fetch_one(con, """SELECT r.run_id, e.name, r.run_name, r.parent_run_id, r.start_time, r.run_key
            FROM internal.runs r JOIN internal.experiments e USING (experiment_id) WHERE r.run_id = ?""", [run_id])
        if row is None:
            raise missing(f"Run with id={run_id} not found in the jupyter_tracker store {store.root}")
        params = dict(con.execute("SELECT key, value FROM internal.params WHERE run_key = ?", [row[5]]).fetchall())
    run = Run.attach(store, row[0], experiment=row[1], run_name=row[2], parent_run_id=row[3], start_time=row[4],
                     params=params)
    with _lock:
        _handles[key] = run
    return run
