"""``python -m bench.first_calls N [N ...]``: ``jt.log_metric`` per call in a loop from the run's first
call, in a fresh store, environment capture on (as a user's first run gets it), one fresh process per N.

Prints import, start_run, the loop's wall and main-thread CPU time per call, and end_run. The first
calls of a run are where a capture thread that holds the GIL shows (issue 19): compare N=20,000
against N=1,000,000, which is mostly steady state.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time


def one(n: int) -> str:
    root = tempfile.mkdtemp(prefix="jt-first-calls-")
    started = time.perf_counter()
    import jupyter_tracker as jt

    imported = time.perf_counter()
    jt.set_store(os.path.join(root, "store"))
    run = jt.start_run(run_name="loop", experiment="bench")
    begun = time.perf_counter()
    log_metric = jt.log_metric
    wall, cpu = time.perf_counter(), time.thread_time()
    for step in range(n):
        log_metric("loss", step * 0.001, step=step)
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    ending = time.perf_counter()
    run.end()
    ended = time.perf_counter()
    return (f"N={n:,}: import {1e3 * (imported - started):.1f} ms, start_run {1e3 * (begun - imported):.1f} ms, "
            f"per call {wall / n * 1e6:.3f} µs wall, {cpu / n * 1e6:.3f} µs main-thread CPU, "
            f"end_run {1e3 * (ended - ending):.1f} ms")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        print(one(int(sys.argv[2])))
    else:
        for count in sys.argv[1:] or ["20000", "1000000"]:
            subprocess.run([sys.executable, "-m", "bench.first_calls", "--one", count], check=True)
