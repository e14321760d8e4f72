"""jupyter_tracker, through its public API (``jt.*``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from .common import (
    ErrorTally,
    announce_and_die,
    announce_done,
    dir_size,
    done_writers,
    median_time,
    poll_pause,
    run_values,
    stop_requested,
    training_curve,
    wait_until,
)

#: What a reader polling for a run that is still being written may be told, by name: "not there yet".
NOT_YET = ("ExperimentNotFoundError", "RunNotFoundError", "MetricNotFoundError")
FIRST_CALLS = 1_000
ACK_TIMEOUT_S = 300  # a run not seen FINISHED in this long fails the row instead of hanging the benchmark


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
    first = min(FIRST_CALLS, n)
    for step in range(first):            # timed from the run's first call: nothing warms the loop
        jt.log_metric("loss", step * 0.001, step=step)
    first_done = time.perf_counter()
    for step in range(first, n):
        jt.log_metric("loss", step * 0.001, step=step)
    looped = time.perf_counter()
    run_id = run.run_id
    jt.end_run()
    ended = time.perf_counter()
    return {"import_s": imported - start, "init_s": started - imported, "us_per_call": (looped - started) / n * 1e6,
            "first_us_per_call": (first_done - started) / first * 1e6, "finish_s": ended - looped, "run_id": run_id}


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
    tally = ErrorTally(NOT_YET)
    while True:
        try:
            if len(jt.get_metric_history(run_id, "loss")) >= n:
                break
        except Exception as error:  # noqa: BLE001 - every error is counted, "not there yet" by name
            tally.add(error)
        time.sleep(0.001)
    return {"visible_after_s": time.time() - float(written), **tally.to_json()}


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


def create_visible_writer(root: str, n: int, ack_dir: str) -> dict:
    """``n`` runs one after another, each timed from ``start_run`` until a reader in another process
    (``create_visible_reader``) reports it FINISHED in ``search_runs``."""
    jt = _jt(root)
    ack = Path(ack_dir)
    while not (ack / "ready").exists():
        time.sleep(0.001)
    times = []
    for index in range(n):
        params, _metrics, _tags = run_values(index)
        start = time.perf_counter()
        with jt.start_run(run_name=f"v{index}", experiment="create_visible") as run:
            jt.log_params(params)
            jt.log_metric("acc", index / n)
        (ack / f"{index}.tmp").write_text(run.run_id)
        os.replace(ack / f"{index}.tmp", ack / f"{index}.run")
        give_up = time.monotonic() + ACK_TIMEOUT_S
        while not (ack / f"{index}.seen").exists():
            if time.monotonic() > give_up:
                raise TimeoutError(f"run {index} not reported FINISHED by the reader in {ACK_TIMEOUT_S} s")
            time.sleep(0.0005)
        times.append(time.perf_counter() - start)
    return {"ms_per_run": sum(times) / n * 1e3}


def create_visible_reader(root: str, n: int, ack_dir: str) -> dict:
    jt = _jt(root)
    ack = Path(ack_dir)
    jt.search_runs(max_results=1)   # imports and the first connection happen before the writer starts
    (ack / "ready").touch()
    tally = ErrorTally(NOT_YET)
    for index in range(n):
        while not (ack / f"{index}.run").exists():
            time.sleep(0.0005)
        run_id = (ack / f"{index}.run").read_text()
        give_up = time.monotonic() + ACK_TIMEOUT_S
        while time.monotonic() < give_up:
            try:
                runs = jt.search_runs("create_visible", max_results=n + 10)
                if list(runs.loc[runs["run_id"] == run_id, "status"]) == ["FINISHED"]:
                    break
            except Exception as error:  # noqa: BLE001 - every error is counted, "not there yet" by name
                tally.add(error)
            time.sleep(0.0005)
        else:
            tally.errors[f"run not shown FINISHED within {ACK_TIMEOUT_S} s"] += 1
        (ack / f"{index}.seen").touch()
    return tally.to_json()


def seed_history(root: str, n: int) -> dict:
    jt = _jt(root)
    jt.search_runs(max_results=1)
    empty = dir_size(os.path.join(root, "store"))
    values = training_curve(n)
    with jt.start_run(run_name="history", experiment="history") as run:
        log_metric = jt.log_metric
        for step in range(n):
            log_metric("loss", values[step], step=step)
    return {"run_id": run.run_id, "empty_bytes": empty}


def backlog_writer(root: str, n: int) -> dict:
    """Log ``n`` points and exit without reading: the journal is left for the next reader to merge."""
    jt = _jt(root)
    values = training_curve(n)
    with jt.start_run(run_name="backlog", experiment="backlog"):
        for step in range(n):
            jt.log_metric("loss", values[step], step=step)
    return {}


def first_read(root: str) -> dict:
    """The first ``search_runs`` of a fresh process (imports done before the clock starts): with a
    journal backlog it includes the merge, without one it is the floor the merge is measured over."""
    jt = _jt(root)
    import pandas  # noqa: F401 - imported before timing, as search_runs' own import

    start = time.perf_counter()
    jt.search_runs(max_results=1)
    return {"first_s": time.perf_counter() - start}


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


def seed_summaries(root: str, n: int, points: int) -> dict:
    """``n`` runs, each with a ``loss`` and an ``acc`` curve of ``points`` steps."""
    jt = _jt(root)
    curve = training_curve(points)
    for index in range(n):
        with jt.start_run(run_name=f"r{index}", experiment="summaries", snapshot=False) as run:
            shift = (index % 97) / 200
            for step, loss in enumerate(curve):
                run.log_metric("loss", loss + shift, step=step)
                run.log_metric("acc", 1 - loss - shift, step=step)
    return {}


def search_summaries(root: str, n: int, reps: int) -> dict:
    jt = _jt(root)
    warmup = lambda: jt.search_runs("summaries", max_results=1)  # noqa: E731
    found = []
    plain = median_time(lambda: found.append(jt.search_runs("summaries", max_results=n + 10)), reps, warmup)
    summarised = median_time(lambda: found.append(jt.search_runs(
        "summaries", max_results=n + 10, summaries=["min", "max", "step=50"])), reps, warmup)
    assert len(found[-1]) == n and "metrics.loss.min" in found[-1].columns
    filtered = median_time(lambda: jt.search_runs("summaries", "metrics.loss.min < 0.3", max_results=n + 10),
                           reps, warmup)
    ordered = median_time(lambda: jt.search_runs("summaries", order_by="metrics.loss.min", max_results=10),
                          reps, warmup)
    return {"plain_s": plain, "summaries_s": summarised, "filter_s": filtered, "order_s": ordered}


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
    tally = ErrorTally()
    with jt.start_run(run_name=f"writer{index}", experiment="concurrency") as run:
        wait_until(start_at)
        begin = time.time()
        for step in range(n):
            try:
                jt.log_metric("loss", step * 0.5, step=step)
            except Exception as error:  # noqa: BLE001 - counted, the benchmark reports every error
                tally.add(error)
        end = time.time()
        announce_done(root, index, run.run_id)
    return {"begin": begin, "end": end, **tally.to_json()}


def reader(root: str, stop_file: str, writers: int, n: int) -> dict:
    """Poll ``search_runs`` every 50 ms while the writers write; once a writer says it is done, also
    check its points until all ``n`` are visible: ``visible_at`` is when every writer's were."""
    jt = _jt(root)
    polls = 0
    tally = ErrorTally(NOT_YET)
    pending = set(range(writers))
    visible_at = None
    while not stop_requested(stop_file) and visible_at is None:
        try:
            jt.search_runs("concurrency")
            for index, run_id in done_writers(root, pending):
                if len(jt.get_metric_history(run_id, "loss")) >= n:
                    pending.discard(index)
            if not pending:
                visible_at = time.time()
        except Exception as error:  # noqa: BLE001 - every error is counted, "not there yet" by name
            tally.add(error)
        polls += 1
        poll_pause(root, pending)
    return {"polls": polls, "visible_at": visible_at, **tally.to_json()}
