"""Running one benchmark task in a fresh process and reading its result: every tool's task runs in
its own ``python -m bench.worker`` (or another worker module) so nothing one measurement imported or
cached helps the next. The workload modules (run.py and the per-workload modules it calls) share these."""

from __future__ import annotations

import json
import subprocess
import sys

from .servers import REPO, process_env


class WorkerError(RuntimeError):
    """A task failed in its worker process; the message carries the end of its output."""


def call(tool: str, task: str, timeout: float = 3600, worker: str = "bench.worker", **arguments) -> dict:
    """Run ``task`` of ``tool`` in a fresh process (``python -m WORKER``) and return its result dict."""
    command = [sys.executable, "-m", worker, tool, task, json.dumps(arguments)]
    process = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=process_env(),
                             check=False)
    for line in reversed(process.stdout.splitlines()):
        if line.startswith("BENCH-RESULT "):
            return json.loads(line[len("BENCH-RESULT "):])
    tail = (process.stderr or process.stdout).strip().splitlines()[-6:]
    raise WorkerError(f"{tool}.{task} exited {process.returncode}: " + " | ".join(tail))


def worker_process(tool: str, task: str, arguments: dict) -> subprocess.Popen:
    """``task`` of ``tool`` started in its own process (``bench.worker``), not waited for."""
    return subprocess.Popen([sys.executable, "-m", "bench.worker", tool, task, json.dumps(arguments)], cwd=REPO,
                            env=process_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result_of(out: str, err: str, what: str) -> dict:
    lines = [x for x in out.splitlines() if x.startswith("BENCH-RESULT ")]
    if not lines:
        raise WorkerError(f"{what} failed: {err.strip().splitlines()[-3:]}")
    return json.loads(lines[-1][len("BENCH-RESULT "):])


def pair(tool: str, reader_task: str, writer_task: str, arguments: dict) -> tuple[subprocess.Popen, subprocess.Popen]:
    """A reader and a writer process of the same tool, the reader started first."""
    return worker_process(tool, reader_task, arguments), worker_process(tool, writer_task, arguments)


def finish_pair(reader: subprocess.Popen, writers: list[subprocess.Popen], what: str) -> dict:
    """Wait for the reader's result, then end the writers (they stay alive until the reader is done)."""
    try:
        out, err = reader.communicate(timeout=600)
    finally:
        for writer in writers:
            writer.kill()
            writer.wait()
    return result_of(out, err, what)
