"""Small helpers the tool modules share."""

from __future__ import annotations

import os
import signal
import statistics
import sys
import time
from pathlib import Path

PARAM_VALUES = ("a", "b", "c", "d")


def dir_size(path: str | os.PathLike) -> int:
    """Bytes of every regular file under ``path`` (what the store costs on disk)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:
                pass
    return total


def median_time(function, reps: int, warmup=None) -> float:
    """Median wall time in seconds of ``reps`` calls of ``function``, after one untimed call of
    ``warmup`` (default: ``function`` itself) so lazy imports and first-connection costs of every
    tool stay out of the figure. A cheap warm-up keeps a minutes-long call from running twice."""
    (warmup or function)()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_values(index: int) -> tuple[dict[str, str], dict[str, float], dict[str, str]]:
    """The same params, metrics and tags for run ``index`` in every tool (deterministic)."""
    params = {f"p{j}": PARAM_VALUES[(index + j) % 4] for j in range(10)}
    metrics = {f"m{j}": ((index * 7919 + j * 104729) % 1000) / 1000.0 for j in range(5)}
    tags = {f"t{j}": f"tag{(index + j) % 10}" for j in range(3)}
    return params, metrics, tags


def announce_and_die(payload: str) -> None:
    """Print that the log calls returned, then SIGKILL ourselves (no atexit, no flush)."""
    sys.stdout.write(payload + "\n")
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def wait_until(start_at: float) -> None:
    """Sleep until the shared start time so concurrent writers begin together."""
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)


def stop_requested(stop_file: str) -> bool:
    return Path(stop_file).exists()
