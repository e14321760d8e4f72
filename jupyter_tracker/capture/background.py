"""One background worker for slow capture work (package list, git) so starting a run stays fast."""

from __future__ import annotations

import queue
import threading
import warnings
from collections.abc import Callable

_jobs: queue.Queue = queue.Queue()
_worker: threading.Thread | None = None
_lock = threading.Lock()


def _work() -> None:
    while True:
        job = _jobs.get()
        try:
            job()
        except Exception as exc:  # noqa: BLE001 - capture must never break the user's run
            warnings.warn(f"jupyter_tracker could not record the environment: {exc}", RuntimeWarning, stacklevel=2)
        finally:
            _jobs.task_done()


def submit(job: Callable[[], None]) -> None:
    """Run ``job`` on the background worker (started on first use)."""
    global _worker
    with _lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_work, name="jupyter_tracker-capture", daemon=True)
            _worker.start()
    _jobs.put(job)


def idle() -> bool:
    """True when no capture job is queued or running."""
    return _jobs.unfinished_tasks == 0


def drain(timeout: float) -> None:
    """Wait up to ``timeout`` seconds for queued jobs (called at exit and by tests)."""
    import time

    deadline = time.monotonic() + timeout
    while _jobs.unfinished_tasks and time.monotonic() < deadline:
        time.sleep(0.01)
