"""Servers started on loopback by the benchmark and the test suite: a free port, a wait until a server
answers, and a real ``mlflow server`` (with the environment every benchmark process gets)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUTPUT_TAIL = 4000  # characters of a server's output quoted when it fails to start


class ServerError(RuntimeError):
    """A server exited or did not answer in time; the message carries the end of its output."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, for a server about to start."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_answers(url: str, timeout: float, process: subprocess.Popen | None = None,
                       output: Path | None = None) -> bytes:
    """Poll ``url`` until it answers with a success status; return the body of that answer.

    A server accepts connections (or answers errors) a while before it is ready, so anything short
    of a 2xx answer is retried. If ``process`` (the server) exits first, or ``timeout`` seconds pass,
    raise ServerError quoting the end of ``output``, the file the server writes its output to.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise ServerError(f"the server exited with code {process.returncode} before {url} answered"
                              f"{_output_tail(output)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except OSError as error:  # refused, reset, timed out, or an HTTP error status: not ready yet
            if time.monotonic() > deadline:
                raise ServerError(f"{url} did not answer in {timeout:.0f} s (last: {error}){_output_tail(output)}"
                                  ) from None
            time.sleep(0.25)


def _output_tail(output: Path | None) -> str:
    if output is None:
        return ""
    try:
        text = output.read_text(errors="replace")
    except OSError as error:
        return f"; its output {output} cannot be read: {error}"
    return f"; the end of its output ({output}):\n{text[-OUTPUT_TAIL:]}"


def process_env() -> dict:
    """The environment of every process the benchmark starts, workers and servers alike: the repository
    importable, W&B offline, MLflow logging synchronous, warnings silenced, no JUPYTER_TRACKER_DIR
    inherited from the caller (each tool is given its own root)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1",
           "MLFLOW_ENABLE_ASYNC_LOGGING": "false", "PYTHONWARNINGS": "ignore"}
    env.pop("JUPYTER_TRACKER_DIR", None)
    return env


#: The command prefix that starts a process in Linux's SCHED_IDLE class (its children inherit it), else at nice 19.
_IDLE_CLASS = ["chrt", "--idle", "0"] if shutil.which("chrt") else ["nice", "-n", "19"]


@contextmanager
def mlflow_server(directory: Path, backend_store_uri: str | None = None, workers: int = 1,
                  extra_env: dict | None = None, port: int | None = None,
                  app_name: str | None = None, remote_stand_in: bool = False) -> Iterator[str]:
    """A real ``mlflow server`` (SQLite backend unless ``backend_store_uri`` names another, e.g.
    ``jupyter-tracker:///...``; local artifacts) on loopback; yields its URI once it answers /health
    and its processes are idle. Its output goes to ``directory/server.log``; ``extra_env`` is added to
    its environment. ``port`` (default: a free one) lets a stopped server come back at the same
    address; ``app_name`` is MLflow's ``--app-name`` (``basic-auth``). ``remote_stand_in``: the server
    and every process it starts run in Linux's idle scheduling class, standing in for the team's
    server on another machine when what is measured is the cost to this machine's training loop."""
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log_path = directory / "server.log"
    with open(log_path, "a") as log:
        server = subprocess.Popen(
            [*(_IDLE_CLASS if remote_stand_in else []), sys.executable, "-m", "mlflow", "server",
             "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers), *(["--app-name", app_name] if app_name else []),
             "--backend-store-uri", backend_store_uri or f"sqlite:///{directory / 'mlflow.db'}",
             "--artifacts-destination", str(directory / "artifacts")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**process_env(), "MLFLOW_DISABLE_TELEMETRY": "true", **(extra_env or {})})
        try:
            uri = f"http://127.0.0.1:{port}"
            wait_until_answers(f"{uri}/health", timeout=300, process=server, output=log_path)
            _wait_until_idle(server.pid)
            yield uri
        finally:
            # MLflow's server takes long to stop on SIGTERM and its job consumers (huey) can outlive
            # it: end the whole process group, then make sure nothing of it is left.
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(server.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            server.wait()


def _wait_until_idle(pid: int, limit_s: float = 120) -> None:
    """A fresh MLflow server answers /health while it is still starting (seconds of CPU in its
    processes, which would be charged to whichever tool pushes first): wait until they are idle."""
    import psutil

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
        for process in processes:
            try:
                process.cpu_percent(None)
            except psutil.NoSuchProcess:  # a short-lived child of the server ended meanwhile
                pass
        time.sleep(1.0)
        busy = 0.0
        for process in processes:
            try:
                busy += process.cpu_percent(None)
            except psutil.NoSuchProcess:
                pass
        if busy < 10:
            return
