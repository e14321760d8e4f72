"""Aim with a local repository, through ``aim.Run`` and ``aim.Repo``.

Aim indexes runs in a background watcher (what ``aim up`` runs); a fresh reader process has to
index the run's chunks itself (``RepoIndexManager.index``) before ``Repo``/``Run`` can see them.
"""

from __future__ import annotations

import os
import time

from .common import announce_and_die, dir_size, median_time, training_curve


def _repo_path(root: str) -> str:
    path = os.path.join(root, "aim-repo")
    os.makedirs(path, exist_ok=True)
    return path


def _run(root: str, experiment: str):
    from aim import Run

    return Run(repo=_repo_path(root), experiment=experiment, system_tracking_interval=None,
               log_system_params=False, capture_terminal_logs=False)


def _indexed_repo(root: str):
    from aim import Repo
    from aim.sdk.index_manager import RepoIndexManager

    repo = Repo(_repo_path(root))
    manager = RepoIndexManager.get_index_manager(repo)
    chunks = os.path.join(repo.path, "meta", "chunks")
    for run_hash in os.listdir(chunks):
        manager.index(run_hash)
    return Repo(_repo_path(root))


def prepare(root: str) -> dict:
    run = _run(root, "bench")
    run.track(1.0, name="warmup", step=0)
    run.close()
    return {"bytes": dir_size(root)}


def log_loop(root: str, n: int) -> dict:
    start = time.perf_counter()
    import aim  # noqa: F401 - the import is part of what a user pays

    imported = time.perf_counter()
    run = _run(root, "bench")
    started = time.perf_counter()
    first = min(1_000, n)
    for step in range(first):            # timed from the run's first call
        run.track(step * 0.001, name="loss", step=step)
    first_done = time.perf_counter()
    for step in range(first, n):
        run.track(step * 0.001, name="loss", step=step)
    looped = time.perf_counter()
    run.close()
    ended = time.perf_counter()
    return {"import_s": imported - start, "init_s": started - imported, "us_per_call": (looped - started) / n * 1e6,
            "first_us_per_call": (first_done - started) / first * 1e6, "finish_s": ended - looped, "run_id": run.hash}


def seed_history(root: str, n: int) -> dict:
    empty = dir_size(root)
    values = training_curve(n)
    run = _run(root, "history")
    for step in range(n):
        run.track(values[step], name="loss", step=step)
    run_hash = run.hash
    run.close()
    return {"run_id": run_hash, "empty_bytes": empty}


def store_bytes(root: str) -> dict:
    return {"bytes": dir_size(root)}


def _values(repo, run_hash: str):
    from aim import Run

    run = Run(run_hash=run_hash, repo=repo, read_only=True)
    for metric in run.metrics():
        if metric.name == "loss":
            return run, metric.values.values_numpy()
    return run, []


def read_history(root: str, n: int, reps: int, run_id: str) -> dict:
    repo = _indexed_repo(root)
    full = median_time(lambda: _values(repo, run_id), reps)
    assert len(_values(repo, run_id)[1]) == n
    return {"full_s": full, "downsampled_s": None}


def crash_child(root: str, n: int) -> dict:
    run = _run(root, "crash")
    for step in range(n):
        run.track(float(step), name="loss", step=step)
    announce_and_die(f"LOGGED {n}")
    return {}


def crash_read(root: str, n: int) -> dict:
    try:
        repo = _indexed_repo(root)
        hashes = [run.hash for run in repo.iter_runs() if run.experiment == "crash"]
    except Exception as error:  # noqa: BLE001 - an unreadable repository is the finding
        return {"kept": 0, "status": f"unreadable: {type(error).__name__}"}
    if not hashes:
        return {"kept": 0, "status": "missing"}
    run, values = _values(repo, hashes[0])
    return {"kept": len(values), "status": "active (never closed)" if run.active else "finished"}
