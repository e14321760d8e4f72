"""jupyter_tracker, through its public API (``jt.*``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from .common import announce_and_die, dir_size, median_time, run_values, stop_requested, wait_until


def _jt(root: str):
    import jupyter_tracker as jt

    jt.set_store(os.path.join(root, "store"))
    return jt


def prepare(root: str) -> dict:
    jt = _jt(root)
    with jt.start_run(run_name="prepare", experiment="bench"):
        jt.log_metric("warmup", 1.0)
    jt.search_runs(max_results=1)
    return {"bytes": dir_size(os.path.join(root, "store"))}


def log_loop(root: str, n: int) -> dict:
    start = time.perf_counter()
    jt = _jt(root)
    imported = time.perf_counter()
    run = jt.start_run(run_name="loop", experiment="bench")
    started = time.perf_counter()
    log_metric = jt.log_metric
    for step in range(n):
        log_metric("loss", step * 0.001, step=step)
    looped = time.perf_counter()
    run_id = run.run_id
    jt.end_run()
    ended = time.perf_counter()
    return {"import_s": imported - start, "init_s": started - imported, "us_per_call": (looped - started) / n * 1e6,
            "finish_s": ended - looped, "run_id": run_id}


def visible_writer(root: str, n: int, signal_file: str) -> dict:
    jt = _jt(root)
    run = jt.start_run(run_name="visible", experiment="bench")
    while not os.path.exists(signal_file + ".ready"):
        time.sleep(0.001)
    for step in range(n):
        jt.log_metric("loss", step * 0.001, step=step)
    with open(signal_file + ".tmp", "w") as handle:
        handle.write(f"{run.run_id} {time.time()!r}")
    os.replace(signal_file + ".tmp", signal_file)
    time.sleep(30)  # stay alive, run still RUNNING, until the reader has seen the points or times out
    jt.end_run()
    return {}


def visible_reader(root: str, n: int, signal_file: str) -> dict:
    jt = _jt(root)
    jt.search_runs(max_results=1)  # warm: imports and the first connection are not what we measure
    Path(signal_file + ".ready").touch()  # the writer starts its loop only now
    while not os.path.exists(signal_file):
        time.sleep(0.001)
    run_id, written = Path(signal_file).read_text().split()
    while True:
        try:
            if len(jt.get_metric_history(run_id, "loss")) >= n:
                break
        except jt.TrackerError:
            pass
        time.sleep(0.001)
    return {"visible_after_s": time.time() - float(written)}


def create_runs(root: str, n: int) -> dict:
    jt = _jt(root)
    start = time.perf_counter()
    for index in range(n):
        params, _metrics, _tags = run_values(index)
        with jt.start_run(run_name=f"r{index}", experiment="create"):
            jt.log_params(params)
            jt.log_metric("acc", index / n)
    elapsed = time.perf_counter() - start
    return {"ms_per_run": elapsed / n * 1e3}


def seed_history(root: str, n: int) -> dict:
    jt = _jt(root)
    jt.search_runs(max_results=1)
    empty = dir_size(os.path.join(root, "store"))
    with jt.start_run(run_name="history", experiment="history") as run:
        log_metric = jt.log_metric
        for step in range(n):
            log_metric("loss", 1.0 / (step + 1), step=step)
    return {"run_id": run.run_id, "empty_bytes": empty}


def read_history(root: str, n: int, reps: int, run_id: str) -> dict:
    jt = _jt(root)
    full = median_time(lambda: jt.get_metric_history(run_id, "loss"), reps)
    assert len(jt.get_metric_history(run_id, "loss")) == n
    sampled = median_time(lambda: jt.get_metric_history(run_id, "loss", max_points=2000), reps)
    return {"full_s": full, "downsampled_s": sampled}


def seed_runs(root: str, n: int) -> dict:
    jt = _jt(root)
    jt.search_runs(max_results=1)
    empty = dir_size(os.path.join(root, "store"))
    for index in range(n):
        params, metrics, tags = run_values(index)
        with jt.start_run(run_name=f"r{index}", experiment="search", tags=tags):
            jt.log_params(params)
            jt.log_metrics(metrics)
    return {"empty_bytes": empty}


def store_bytes(root: str) -> dict:
    """The store's size once the writing process has exited and a reader merged its journal."""
    jt = _jt(root)
    jt.search_runs(max_results=1)
    return {"bytes": dir_size(os.path.join(root, "store"))}


def search(root: str, n: int, reps: int) -> dict:
    jt = _jt(root)
    found = []
    warmup = lambda: jt.search_runs("search", max_results=1)  # noqa: E731
    everything = median_time(lambda: found.append(jt.search_runs("search", max_results=n + 10)), reps, warmup)
    assert len(found[-1]) == n
    filtered = median_time(lambda: jt.search_runs("search", "metrics.m0 > 0.5 and params.p0 = 'a'",
                                                  max_results=n + 10), reps, warmup)
    ordered = median_time(lambda: jt.search_runs("search", order_by="metrics.m1 DESC", max_results=10), reps,
                          warmup)
    return {"all_s": everything, "filter_s": filtered, "order_s": ordered}


def crash_child(root: str, n: int) -> dict:
    jt = _jt(root)
    jt.start_run(run_name="crash", experiment="crash")
    for step in range(n):
        jt.log_metric("loss", float(step), step=step)
    announce_and_die(f"LOGGED {n}")
    return {}


def crash_read(root: str, n: int) -> dict:
    jt = _jt(root)
    runs = jt.search_runs("crash")
    if runs.empty:
        return {"kept": 0, "status": "missing"}
    run_id = runs.iloc[0]["run_id"]
    try:
        kept = len(jt.get_metric_history(run_id, "loss"))
    except jt.TrackerError:
        kept = 0
    return {"kept": kept, "status": str(runs.iloc[0]["status"])}


def writer(root: str, n: int, start_at: float, index: int) -> dict:
    jt = _jt(root)
    errors = 0
    with jt.start_run(run_name=f"writer{index}", experiment="concurrency"):
        wait_until(start_at)
        begin = time.time()
        for step in range(n):
            try:
                jt.log_metric("loss", step * 0.5, step=step)
            except Exception:  # noqa: BLE001 - counted, the benchmark reports every error
                errors += 1
        end = time.time()
    return {"begin": begin, "end": end, "errors": errors}


def reader(root: str, stop_file: str) -> dict:
    jt = _jt(root)
    polls = errors = 0
    while not stop_requested(stop_file):
        try:
            jt.search_runs("concurrency")
        except jt.TrackerError:
            pass  # the experiment may not exist yet
        except Exception:  # noqa: BLE001 - counted
            errors += 1
        polls += 1
        time.sleep(0.05)
    return {"polls": polls, "errors": errors}
