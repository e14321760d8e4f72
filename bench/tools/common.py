"""Small helpers the tool modules share."""

from __future__ import annotations

import math
import os
import random
import signal
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

PARAM_VALUES = ("a", "b", "c", "d")
CURVE_SEED = 20261202


def training_curve(n: int, seed: int = CURVE_SEED) -> list[float]:
    """``n`` values shaped like a real loss curve, the same for every tool: an exponential decay
    towards a floor plus seeded gaussian noise (what real training logs compress like), not the
    ``1/(step+1)`` sequence that a columnar codec shrinks to almost nothing."""
    rng = random.Random(seed)
    scale = max(n / 5, 1.0)
    return [0.1 + 2.0 * math.exp(-step / scale) + rng.gauss(0.0, 0.02) for step in range(n)]


class ErrorTally:
    """Every exception a loop met, by class name, split into two counts kept the same way for every
    tool: ``expected`` are the named "not there yet" answers (the run or experiment a reader polls
    for does not exist yet), ``errors`` is everything else (lock timeouts, "database is locked"...)."""

    def __init__(self, expected: tuple[str, ...] = ()) -> None:
        self.expected_names = expected
        self.errors: Counter[str] = Counter()
        self.expected: Counter[str] = Counter()

    def add(self, error: BaseException, not_there_yet: bool = False) -> None:
        name = type(error).__name__
        if not_there_yet or name in self.expected_names:
            self.expected[name] += 1
        else:
            self.errors[f"{name}: {str(error)[:80]}" if len(self.errors) < 5 else name] += 1

    def to_json(self) -> dict:
        return {"errors": sum(self.errors.values()), "error_names": dict(self.errors),
                "not_yet": sum(self.expected.values()), "not_yet_names": dict(self.expected)}


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


def announce_done(root: str, index: int, run_id: str) -> None:
    """A concurrency writer says its loop returned and which run holds its points."""
    path = Path(root) / f"done{index}"
    path.with_suffix(".tmp").write_text(run_id)
    os.replace(path.with_suffix(".tmp"), path)


def done_writers(root: str, pending: set[int]) -> list[tuple[int, str]]:
    """The pending writers that have announced they are done, with their run ids."""
    found = []
    for index in sorted(pending):
        path = Path(root) / f"done{index}"
        if path.exists():
            found.append((index, path.read_text()))
    return found


def poll_pause(root: str, pending: set[int], seconds: float = 0.05) -> None:
    """Wait ``seconds`` between polls, or less as soon as a pending writer announces it is done, so
    the end-to-end figure is not rounded up to the poll interval."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any((Path(root) / f"done{index}").exists() for index in pending):
            return
        time.sleep(0.001)
