"""Team sync: every run reaches the team's MLflow server by itself, live and exactly once.

``%tracker remote URL`` (or ``TrackerConfig.remote_uri``, or ``JUPYTER_TRACKER_REMOTE``) starts the
mirror (``mirror.Mirror``) in a child process of the kernel (``sync_worker``), never in a thread of it:
the mirror's HTTP, JSON and DuckDB work would otherwise compete with ``log_metric`` for the GIL. The
kernel only starts, wakes and stops that process, through a pipe to its stdin: nothing is added to the
``log_metric`` path, and a slow or dead server never blocks a cell, the kernel or the end of a run.

The process follows the kernel: it exits when the pipe closes (the kernel exited, crashed or was
killed). Credentials travel only in its environment (MLflow's own variables, read by MLflow's client),
never on its command line or in a file; when they change in the kernel (``os.environ``), the next wake
starts a new process with them.

One mirror per store at a time (``<store>/sync.lock``): a second kernel's process waits and takes over
when the first exits. ``sync_status`` reads the durable state (``internal.sync_runs``) and what the live
process published (``<store>/sync-state.json``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..config import ENV_REMOTE, ENV_STORE_DIR, get_config
from ..errors import ConfigError, SyncError
from ..store.current import resolve_store
from ..store.sync_state import worker_state
from .mirror import SYNC_LOCK, Mirror, PassReport, RunSync, _candidates, check_remote, public_uri
from .sync_worker import ENV_SETTINGS

#: MLflow's client reads these at each request; a change means a new worker (its environment is fixed).
CREDENTIAL_VARIABLES = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN",
                        "MLFLOW_TRACKING_INSECURE_TLS", "MLFLOW_TRACKING_SERVER_CERT_PATH",
                        "MLFLOW_TRACKING_CLIENT_CERT_PATH")
#: How long a worker gets to finish its current request when stopped, before SIGTERM, then SIGKILL.
STOP_GRACE_S = 5.0
#: How long ``sync_once`` waits for another process's mirror that holds the store's sync lock.
LOCK_WAIT_S = 15.0


def _credentials() -> tuple[str | None, ...]:
    return tuple(os.environ.get(name) for name in CREDENTIAL_VARIABLES)


def _package_root() -> str:
    """The directory that holds the ``jupyter_tracker`` this kernel imported (the worker imports the same)."""
    return str(Path(__file__).resolve().parents[2])


class MirrorProcess:
    """The kernel's handle on its mirror process: start, wake (``follow_now``), stop; it holds no thread."""

    def __init__(self, remote_uri: str, *, store: Any = None) -> None:
        check_remote(remote_uri)
        self.remote_uri = remote_uri
        self.remote = public_uri(remote_uri)
        self._store = store
        self.store_root = resolve_store(store).root
        self._process: subprocess.Popen[bytes] | None = None
        self._credentials = _credentials()

    def _settings(self, follow_now: bool = False) -> dict:
        config = get_config()
        return {"experiments": list(config.remote_experiments), "follow": list(config.remote_follow),
                "interval": config.sync_interval, "follow_interval": config.follow_interval,
                "follow_now": follow_now, "parent": os.getpid()}

    def start(self) -> MirrorProcess:
        """Start the worker process (if it is not running), in a session of its own."""
        if self.running:
            return self
        self.store_root = resolve_store(self._store).root
        self._credentials = _credentials()
        path = os.environ.get("PYTHONPATH", "")
        env = {**os.environ, ENV_STORE_DIR: str(self.store_root), ENV_REMOTE: self.remote_uri,
               ENV_SETTINGS: json.dumps(self._settings()),
               "PYTHONPATH": _package_root() + (os.pathsep + path if path else "")}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "jupyter_tracker.sharing.sync_worker"], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True, close_fds=True)
        return self

    def wake(self, follow_now: bool = False) -> None:
        """Tell the worker to look now, with the settings as they are; a new worker when the previous
        one died, the credentials changed or the current store is another one."""
        if (not self.running or _credentials() != self._credentials
                or resolve_store(self._store).root != self.store_root):
            self.stop()
            self.start()
            if not follow_now:
                return
        assert self._process is not None and self._process.stdin is not None
        try:
            self._process.stdin.write((json.dumps(self._settings(follow_now)) + "\n").encode())
            self._process.stdin.flush()
        except (BrokenPipeError, ValueError):   # it exited between the check and the write
            self.stop()
            self.start()

    def follow_now(self) -> None:
        """Pull the followed experiments now."""
        self.wake(follow_now=True)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def stop(self, timeout: float = STOP_GRACE_S) -> None:
        """Close the worker's stdin (it stops after its current request), then SIGTERM, then SIGKILL."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            try:
                process.stdin.close()
            except BrokenPipeError:
                pass   # already gone
        for step in (process.terminate, process.kill):
            try:
                process.wait(timeout)
                return
            except subprocess.TimeoutExpired:
                step()
        process.wait()

    @property
    def last_error(self) -> str | None:
        """The failure that stops the worker as a whole (unreachable server, refused credentials), if any."""
        state = worker_state(self.store_root, self.remote)
        return state.get("last_error") if state else None


# -- the process's mirror and the public functions ---------------------------------------------------
_mirror: MirrorProcess | None = None
_mirror_lock = threading.Lock()


def current_mirror() -> MirrorProcess | None:
    """The mirror process this kernel started, if any."""
    return _mirror


def start_mirror(remote_uri: str | None = None, *, store: Any = None) -> MirrorProcess:
    """Start (or wake, or restart for another remote) this kernel's mirror process to ``remote_uri``
    (default: ``TrackerConfig.remote_uri`` / ``JUPYTER_TRACKER_REMOTE``). Returns at once."""
    global _mirror
    uri = (remote_uri or get_config().remote_uri).strip()
    if not uri:
        raise ConfigError("no remote is set; name the team's MLflow server: %tracker remote http://HOST:5000 "
                          "(or TrackerConfig.remote_uri, or JUPYTER_TRACKER_REMOTE)")
    with _mirror_lock:
        if _mirror is not None and _mirror.remote_uri == uri:
            _mirror.wake()
            return _mirror
        mirror = MirrorProcess(uri, store=store)
        if _mirror is not None:
            _mirror.stop()
        _mirror = mirror.start()
        return mirror


def stop_mirror() -> None:
    """Stop this kernel's mirror process (what was sent stays recorded; a later start resumes)."""
    global _mirror
    with _mirror_lock:
        if _mirror is not None:
            _mirror.stop()
            _mirror = None


def configure_remote(uri: str | None, experiments: list[str] | None = None) -> str:
    """``%tracker remote``: set the remote (``"off"`` stops mirroring) and/or which experiments are
    mirrored, start the mirror, and say in one line what is mirrored where."""
    config = get_config()
    if experiments is not None:
        config.remote_experiments = experiments
    if uri == "off":
        config.remote_uri = ""
        stop_mirror()
        return "remote: off (nothing is mirrored; what was sent is remembered)"
    if uri:
        check_remote(uri)   # refuses what is not a tracking URI before the setting changes
        config.remote_uri = uri
    if not config.remote_uri:
        return "remote: not set (%tracker remote http://HOST:5000)"
    mirror = start_mirror()
    scope = ", ".join(config.remote_experiments) or "every experiment"
    return f"remote: {mirror.remote} (mirroring {scope} in the background)"


def follow(experiment: str) -> str:
    """``%tracker follow EXP``: pull ``experiment``'s runs from the remote now and periodically."""
    config = get_config()
    if experiment not in config.remote_follow:
        config.remote_follow = [*config.remote_follow, experiment]
    start_mirror().follow_now()
    return (f"following {experiment!r} on {public_uri(config.remote_uri)}: its runs are pulled every "
            f"{config.follow_interval:g} s (marked by origin, never pushed back)")


def remote_changed(change: dict) -> None:
    """Observer of ``TrackerConfig.remote_uri``: ``%config TrackerConfig.remote_uri = URL`` (or
    ``%tracker remote_uri=URL``) starts the mirror, an empty value stops it."""
    if change["new"].strip():
        start_mirror(change["new"])
    else:
        stop_mirror()


def _chosen_remote(remote_uri: str | None, experiments: list[str] | None) -> str:
    """The remote a foreground sync talks to (``remote_uri`` or the configured one), with ``experiments``
    (when given) as the experiments mirrored."""
    config = get_config()
    if experiments:
        config.remote_experiments = experiments
    uri = (remote_uri or config.remote_uri).strip()
    if not uri:
        raise ConfigError("no remote is set; give --remote http://HOST:5000 or set JUPYTER_TRACKER_REMOTE")
    return uri


def sync_once(remote_uri: str | None = None, *, experiments: list[str] | None = None, store: Any = None
              ) -> PassReport:
    """Send everything pending now, in the calling thread (``jupyter-tracker sync --once``). This kernel's
    own mirror process, if it mirrors the same store to the same remote, pauses meanwhile; another
    process's mirror is waited for up to ``LOCK_WAIT_S`` (it may be about to exit with its kernel)."""
    uri = _chosen_remote(remote_uri, experiments)
    own = _mirror if _mirror is not None and _mirror.remote_uri == uri and _mirror.running else None
    if own is not None and own.store_root == resolve_store(store).root:
        own.stop()
    else:
        own = None
    mirror = Mirror(uri, store=store)
    try:
        report = mirror.run_until_caught_up()
        deadline = time.monotonic() + LOCK_WAIT_S
        while mirror.waiting_for_lock and time.monotonic() < deadline:
            time.sleep(0.2)
            report = mirror.run_until_caught_up()
        if mirror.waiting_for_lock:
            raise SyncError(f"another process is mirroring this store to {mirror.remote} right now "
                            f"({SYNC_LOCK} is held); nothing needs doing here, it sends everything")
        return report
    finally:
        mirror.close()
        if own is not None:
            own.start()


def sync_forever(remote_uri: str | None = None, *, experiments: list[str] | None = None, store: Any = None) -> None:
    """Mirror in the foreground until interrupted (``jupyter-tracker sync``)."""
    uri = _chosen_remote(remote_uri, experiments)
    mirror = Mirror(uri, store=store)
    try:
        mirror.run_forever()
    finally:
        mirror.close()


def _state(run: RunSync, mirror_error: str | None) -> str:
    if not run.needs_work():
        return "synced"
    failure = run.last_error or mirror_error
    if failure:
        return f"failed: {failure}"
    if run.pending_points or run.mlflow_run_id is None:
        return f"pending {run.pending_points} points"
    if run.fingerprint != run.sent_fingerprint:
        return "pending edits"
    return f"pending {run.unsent_versions} model version(s)" if run.ended else "pending end of run"


def sync_status(remote: str | None = None, *, store: Any = None) -> Any:
    """A DataFrame, one row per mirrored run: ``run`` (id), ``run_name``, ``experiment``, ``state``
    (``synced``, ``pending N points``, ``pending end of run``, ``pending edits``, ``pending N model
    version(s)`` or ``failed: why``)
    and ``last_sent`` (when the server last acknowledged something of it). Read from the store's
    durable sync state and from what the store's live mirror process published."""
    import pandas as pd

    uri = (remote or get_config().remote_uri).strip()
    if not uri:
        raise ConfigError("no remote is set, so nothing is synced; set one with %tracker remote http://HOST:5000 "
                          "(or JUPYTER_TRACKER_REMOTE)")
    resolved = resolve_store(store)
    state = worker_state(resolved.root, public_uri(uri))
    mirror_error = state.get("last_error") if state else None
    with resolved.session() as con:
        runs = _candidates(con, public_uri(uri), list(get_config().remote_experiments))
    rows = [{"run": r.run_id, "run_name": r.run_name, "experiment": r.experiment, "state": _state(r, mirror_error),
             "last_sent": pd.to_datetime(r.last_sent, unit="ms") if r.last_sent else pd.NaT}
            for r in runs if not (r.deleted and not r.needs_work())]
    return pd.DataFrame(rows, columns=["run", "run_name", "experiment", "state", "last_sent"])
