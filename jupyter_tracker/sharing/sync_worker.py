"""``python -m jupyter_tracker.sharing.sync_worker``: the team-sync mirror as a child process of a kernel.

``sync.start_mirror`` starts it in a session of its own (a Ctrl-C or an interrupt of the kernel does not
reach it) with everything it needs in its environment: the store (``JUPYTER_TRACKER_DIR``), the remote
(``JUPYTER_TRACKER_REMOTE``), MLflow's own credential variables, and the settings below as JSON in
``JUPYTER_TRACKER_SYNC_WORKER``. Nothing secret is on its command line or written anywhere.

Its stdin is a pipe from the kernel: each line is the settings again as JSON (experiments mirrored and
followed, intervals, ``"follow_now"``), and means "look now". End of file means the kernel is gone (it
exited, crashed or was SIGKILLed: the pipe closes with it), and so does a parent process id that changed
(a forked child of the kernel may keep the pipe open): the worker then stops after its current request;
what it sent is recorded, the next mirror resumes from there. It runs at the lowest CPU priority there
is (``lower_priority``: Linux's ``SCHED_IDLE``, else ``NICENESS``): on a machine whose cores are all busy,
the training loop goes first and the mirror takes what is left.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

from ..config import ENV_REMOTE, get_config
from .mirror import Mirror

ENV_SETTINGS = "JUPYTER_TRACKER_SYNC_WORKER"
PARENT_CHECK_S = 1.0
#: The worker yields the CPU to the training process on a busy machine (it only delays the mirror).
NICENESS = 19


def apply_settings(settings: dict) -> None:
    """The kernel's team-sync settings, as this process's configuration."""
    config = get_config()
    config.remote_experiments = list(settings.get("experiments", []))
    config.remote_follow = list(settings.get("follow", []))
    config.sync_interval = float(settings.get("interval", config.sync_interval))
    config.follow_interval = float(settings.get("follow_interval", config.follow_interval))


def lower_priority() -> None:
    """This process, and every thread it starts afterwards (DuckDB's included), yields the CPU to the
    kernel's: ``SCHED_IDLE`` where the system has it (Linux: the scheduler runs it on cycles nothing
    else wants, with a small share so it never starves), else the highest niceness it may take."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return
    except (AttributeError, OSError):
        pass
    try:
        os.nice(NICENESS)
    except OSError:
        pass   # a priority we may not lower further: the mirror works the same, only less politely


def _listen(mirror: Mirror) -> None:
    for line in sys.stdin:
        try:
            settings = json.loads(line)
        except ValueError:
            continue   # not from our kernel: ignored, like any stray byte on a pipe
        apply_settings(settings)
        mirror.wake(follow=bool(settings.get("follow_now")))
    mirror.request_stop()


def _watch_parent(mirror: Mirror, parent: int) -> None:
    while not mirror.stopping:
        if os.getppid() != parent:
            mirror.request_stop()
            return
        time.sleep(PARENT_CHECK_S)


def main() -> int:
    """Mirror the store in the environment to the remote in the environment until the kernel is gone."""
    settings = json.loads(os.environ.get(ENV_SETTINGS, "{}"))
    apply_settings(settings)
    lower_priority()
    mirror = Mirror(os.environ[ENV_REMOTE])
    signal.signal(signal.SIGTERM, lambda *_: mirror.request_stop())
    threading.Thread(target=_listen, args=(mirror,), name="jupyter-tracker-sync-stdin", daemon=True).start()
    threading.Thread(target=_watch_parent, args=(mirror, int(settings.get("parent", os.getppid()))),
                     name="jupyter-tracker-sync-parent", daemon=True).start()
    try:
        mirror.run_forever()
    finally:
        mirror.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
