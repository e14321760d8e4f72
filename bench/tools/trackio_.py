"""Trackio with its local SQLite store (``TRACKIO_DIR``), through ``trackio`` and its
``SQLiteStorage`` reader (what its dashboard reads with). Trackio keeps no run status."""

from __future__ import annotations

import os
import time

from .common import announce_and_die, dir_size, median_time, run_values


def _trackio(root: str):
    os.environ["TRACKIO_DIR"] = os.path.join(root, "trackio")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import trackio

    return trackio


def _init(trackio, project: str, name: str, config: dict | None = None):
    return trackio.init(project=project, name=name, config=config, auto_log_cpu=False, auto_log_gpu=False)


def prepare(root: str) -> dict:
    trackio = _trackio(root)
    _init(trackio, "bench", "prepare")
    trackio.log({"warmup": 1.0})
    trackio.finish()
    return {"bytes": dir_size(os.path.join(root, "trackio"))}


def log_loop(root: str, n: int) -> dict:
    start = time.perf_counter()
    trackio = _trackio(root)
    imported = time.perf_counter()
    _init(trackio, "bench", "loop")
    started = time.perf_counter()
    for step in range(n):
        trackio.log({"loss": step * 0.001}, step=step)
    looped = time.perf_counter()
    trackio.finish()
    ended = time.perf_counter()
    return {"import_s": imported - start, "init_s": started - imported, "us_per_call": (looped - started) / n * 1e6,
            "finish_s": ended - looped, "run_id": "loop"}


def seed_history(root: str, n: int) -> dict:
    trackio = _trackio(root)
    _init(trackio, "history", "history")
    empty = dir_size(os.path.join(root, "trackio"))
    for step in range(n):
        trackio.log({"loss": 1.0 / (step + 1)}, step=step)
    trackio.finish()
    return {"run_id": "history", "empty_bytes": empty}


def read_history(root: str, n: int, reps: int, run_id: str) -> dict:
    _trackio(root)
    from trackio.sqlite_storage import SQLiteStorage

    def full():
        SQLiteStorage._logs_read_cache = {} if hasattr(SQLiteStorage, "_logs_read_cache") else None
        return SQLiteStorage.get_logs("history", run_id)

    full_s = median_time(full, reps)
    assert len(SQLiteStorage.get_logs("history", run_id)) == n
    sampled = median_time(lambda: SQLiteStorage.get_logs("history", run_id, max_points=2000), reps)
    return {"full_s": full_s, "downsampled_s": sampled}


def seed_runs(root: str, n: int) -> dict:
    """Runs go in through ``SQLiteStorage.bulk_log`` (one call per run: params as config, the five
    metrics as one log row); ``trackio.init`` per run would take about 70 ms each."""
    _trackio(root)
    from trackio.sqlite_storage import SQLiteStorage

    empty = dir_size(os.path.join(root, "trackio"))
    for index in range(n):
        params, metrics, tags = run_values(index)
        SQLiteStorage.bulk_log("search", f"r{index}", [metrics], steps=[0], config={**params, **tags})
    return {"empty_bytes": empty}


def store_bytes(root: str) -> dict:
    return {"bytes": dir_size(os.path.join(root, "trackio"))}


def search(root: str, n: int, reps: int) -> dict:
    """Trackio lists a project's runs; it has no filter or ordering, so only the listing is timed."""
    _trackio(root)
    from trackio.sqlite_storage import SQLiteStorage

    found = []
    everything = median_time(lambda: found.append(SQLiteStorage.get_runs("search")), reps)
    assert len(found[-1]) == n
    return {"all_s": everything, "filter_s": None, "order_s": None}


def crash_child(root: str, n: int) -> dict:
    trackio = _trackio(root)
    _init(trackio, "crash", "crash")
    for step in range(n):
        trackio.log({"loss": float(step)}, step=step)
    announce_and_die(f"LOGGED {n}")
    return {}


def crash_read(root: str, n: int) -> dict:
    _trackio(root)
    from trackio.sqlite_storage import SQLiteStorage

    if "crash" not in SQLiteStorage.get_runs("crash"):
        return {"kept": 0, "status": "missing"}
    kept = sum(1 for row in SQLiteStorage.get_logs("crash", "crash") if "loss" in row)
    return {"kept": kept, "status": "no status kept"}
