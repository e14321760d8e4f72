"""Trackio with its local SQLite store (``TRACKIO_DIR``), through ``trackio`` and its
``SQLiteStorage`` reader (what its dashboard reads with). Trackio keeps no run status."""

from __future__ import annotations

import os
import time
from pathlib import Path

from .common import ErrorTally, announce_and_die, dir_size, median_time, run_values, training_curve


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
    first = min(1_000, n)
    for step in range(first):            # timed from the run's first call
        trackio.log({"loss": step * 0.001}, step=step)
    first_done = time.perf_counter()
    for step in range(first, n):
        trackio.log({"loss": step * 0.001}, step=step)
    looped = time.perf_counter()
    trackio.finish()
    ended = time.perf_counter()
    return {"import_s": imported - start, "init_s": started - imported, "us_per_call": (looped - started) / n * 1e6,
            "first_us_per_call": (first_done - started) / first * 1e6, "finish_s": ended - looped, "run_id": "loop"}


def visible_writer(root: str, n: int, signal_file: str) -> dict:
    trackio = _trackio(root)
    _init(trackio, "bench", "visible")
    while not os.path.exists(signal_file + ".ready"):
        time.sleep(0.001)
    for step in range(n):
        trackio.log({"loss": step * 0.001}, step=step)
    with open(signal_file + ".tmp", "w") as handle:
        handle.write(f"visible {time.time()!r}")
    os.replace(signal_file + ".tmp", signal_file)
    time.sleep(30)  # stay alive (run not finished) until the reader has seen the points or times out
    trackio.finish()
    return {}


def visible_reader(root: str, n: int, signal_file: str) -> dict:
    """Trackio's dashboard reader (``SQLiteStorage.get_logs``) polled until all ``n`` points are there:
    Trackio buffers ``log`` calls and a background thread writes them to SQLite."""
    _trackio(root)
    from trackio.sqlite_storage import SQLiteStorage

    SQLiteStorage.get_runs("bench")
    Path(signal_file + ".ready").touch()
    while not os.path.exists(signal_file):
        time.sleep(0.001)
    run_name, written = Path(signal_file).read_text().split()
    tally = ErrorTally()
    while True:
        try:
            if hasattr(SQLiteStorage, "_logs_read_cache"):
                SQLiteStorage._logs_read_cache = {}
            if sum(1 for row in SQLiteStorage.get_logs("bench", run_name) if "loss" in row) >= n:
                break
        except Exception as error:  # noqa: BLE001 - every error is counted
            tally.add(error)
        time.sleep(0.001)
    return {"visible_after_s": time.time() - float(written), **tally.to_json()}


def seed_history(root: str, n: int) -> dict:
    trackio = _trackio(root)
    _init(trackio, "history", "history")
    empty = dir_size(os.path.join(root, "trackio"))
    values = training_curve(n)
    for step in range(n):
        trackio.log({"loss": values[step]}, step=step)
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
