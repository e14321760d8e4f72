"""Team sync's engine: the mirror of the local store on the team's MLflow server, exactly once.

A ``Mirror`` looks at the store every ``TrackerConfig.sync_interval`` seconds and sends what the server
lacks. It runs in its own process (``sync_worker``, started by the kernel through ``sync.start_mirror``,
or ``jupyter-tracker sync``), never in the training process: its HTTP, JSON and DuckDB work would take
the GIL from ``log_metric``. It reads the merged store in short sessions, like any reader, and a slow or
dead server only delays it: it backs off exponentially (1 s, 2 s, … 60 s).

What is sent when: a RUNNING run's new metric points, params, tags and name within a pass (seconds);
once it has ended (or the store marked it KILLED), its status and end time, artifacts, notebook
snapshot, console, environment and registered versions, through ``jt.push``'s own code (one layout,
``mlflow_layout``). Later local edits (rename, tags, delete/undelete) are applied on the server.

Exactly once: the durable high-water mark is the store table ``internal.sync_runs`` (migration 4):
per (remote, run) the MLflow run id, how many of the run's metric points the server acknowledged, and
a fingerprint of the name, tags, params and deleted flag last sent. A table rather than a file because
it is written under the store's lock in one transaction with the rest of the store (no torn file after a
SIGKILL), is carried by compaction and backups with the data it describes, and ``sync_status`` reads it
joined with the runs in one query. Points are counted in the order they were merged (``rowid``), which
only ever appends for a run, so "the first N points" never changes. The mark is advanced only after the
server acknowledged a contiguous prefix of batches; a batch that may have arrived without its mark
being written (a SIGKILL, a timeout) is sent again, and MLflow's SQL store drops points it already
holds (same key, step, timestamp, value), so its history has no duplicate and misses nothing.

One mirror per store at a time: ``<store>/sync.lock`` (a non-blocking flock) is held by the process
that mirrors; other processes with sync on wait and take over when it exits.

Credentials are MLflow's own (``MLFLOW_TRACKING_USERNAME``/``PASSWORD``, ``MLFLOW_TRACKING_TOKEN``,
``MLFLOW_TRACKING_INSECURE_TLS``, ``MLFLOW_TRACKING_SERVER_CERT_PATH``): read by MLflow's client at
each request, never written. A remote URI with a password in it is refused (settings would show it);
messages and the store name a remote without any ``user@`` part (``public_uri``).
"""

from __future__ import annotations

import contextvars
import json
import os
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..config import get_config
from ..errors import ConfigError, SyncError, TrackerError
from ..mlflow_layout import (
    LOCAL_ONLY_TAGS,
    ORIGIN_PREFIX,
    RUN_ID_TAG,
    SENT_TAG,
    is_bookkeeping_tag,
)
from ..query.sync import (
    EXCLUDED_TAGS_SQL,
    FINGERPRINT,
    FINGERPRINT_CTES,
    MIRRORED_TAGS_EXCLUDED,
    end_pending,
    needs_sync,
)
from ..store.current import resolve_store
from ..store.locking import try_lock_exclusive
from ..store.sql import transaction
from ..store.sync_state import STATE_FILE
from .mlflow_client import RequestSettings, talking_to

#: MLflow accepts at most 1000 metrics per ``log_batch``.
METRICS_PER_REQUEST = 1000
#: Requests in flight at once: the server stores one batch while the next are encoded and on the wire.
REQUESTS_IN_FLIGHT = 4
#: Points read from the store per session, sent, then recorded (the most a crash makes us resend).
POINTS_PER_ROUND = 50_000
PARAMS_TAGS_PER_REQUEST = 100
#: While a process logs into the store (a training loop on this machine), the mirror sends the backlog
#: of ended runs with its CPU time at most this share of the time that passes: it rests between those
#: requests (its threads otherwise get slices of the loop's core even in the idle scheduling class, once
#: the other cores are busy). A live run's own points are not held back: they are what the team awaits.
LIVE_DUTY = 0.2
#: ... and reads such a backlog at most this many points per round, so a live run's new points never
#: wait behind a whole round of another run's backlog.
LIVE_POINTS_PER_ROUND = 5_000
#: How often the mirror asks whether a process is logging (a stat and a pread per journal file).
LIVE_CHECK_S = 0.1
#: The longest rest between two requests.
MAX_REST_S = 5.0
MAX_BACKOFF_S = 60.0
SYNC_LOCK = "sync.lock"
#: The running mirror's state beyond ``internal.sync_runs`` (see ``Mirror._publish``).
#: The mirror backs off by itself: MLflow's client gives up at once instead of retrying for minutes.
SYNC_SETTINGS = RequestSettings(max_retries=0, backoff_factor=0, timeout_s=15)
_LOG_BATCH = "/api/2.0/mlflow/runs/log-batch"


def public_uri(uri: str) -> str:
    """``uri`` without a ``user:password@`` part (what may be stored, printed or logged)."""
    parts = urlsplit(uri.strip())
    if parts.username is not None or parts.password is not None:
        host = parts.hostname or ""
        parts = parts._replace(netloc=host + (f":{parts.port}" if parts.port else ""))
    return urlunsplit(parts).rstrip("/")


def check_remote(remote_uri: str) -> None:
    """Refuse what is not an MLflow tracking URI, and a URI with a password in it (settings, argv and
    outputs would show it), before anything is started or set."""
    if not remote_uri.startswith(("http://", "https://", "databricks", "sqlite:", "postgresql", "mysql")):
        raise ConfigError(f"the remote {public_uri(remote_uri)!r} is not an MLflow tracking URI; give the "
                          f"team's server, e.g. %tracker remote http://mlflow.team:5000")
    if urlsplit(remote_uri.strip()).password is not None:
        raise ConfigError(f"the remote {public_uri(remote_uri)} was given with a password in its URL, which "
                          f"settings and outputs would show; give the URL without it and set "
                          f"MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)")


@dataclass
class RunSync:
    """One run as the mirror sees it: the store's side and what was sent (``internal.sync_runs``)."""

    run_key: int
    run_id: str
    experiment: str
    run_name: str
    parent_run_id: str | None
    status: str
    deleted: bool
    points: int
    fingerprint: str
    mlflow_run_id: str | None
    points_sent: int
    sent_fingerprint: str | None
    tag_keys: list[str]
    ended: bool
    last_sent: int | None
    last_error: str | None
    #: registered versions of the run that this remote was not sent yet (``internal.sync_versions``)
    unsent_versions: int = 0

    @property
    def pending_points(self) -> int:
        return 0 if self.deleted else max(self.points - self.points_sent, 0)

    def needs_work(self) -> bool:
        return needs_sync(deleted=self.deleted, on_server=self.mlflow_run_id is not None,
                          pending_points=self.pending_points, edited=self.fingerprint != self.sent_fingerprint,
                          end_pending=self.end_pending)

    @property
    def end_pending(self) -> bool:
        """Its end (status, artifacts, snapshot, registered versions) is to be sent, or a version
        registered since."""
        return end_pending(self.status, self.ended, self.unsent_versions)


def _candidates(con: Any, remote: str, experiments: list[str]) -> list[RunSync]:
    """Every run the mirror is responsible for, with its sync state: ours (not pulled from an MLflow
    server), of the mirrored experiments, not deleted unless it was sent. Points are counted only for
    runs whose end was not sent yet (an ended run's points do not change): a pass costs little in a
    store of millions of points."""
    rows = con.execute(f"""
        WITH points AS (SELECT run_key, count(*) AS n FROM internal.metrics
                        WHERE run_key NOT IN (SELECT r.run_key FROM internal.runs r JOIN internal.sync_runs s
                                              ON s.remote = ? AND s.run_id = r.run_id WHERE s.ended)
                        GROUP BY run_key),
             {FINGERPRINT_CTES},
             unsent AS (SELECT v.run_id, count(*) AS n FROM internal.model_versions v
                        WHERE NOT EXISTS (SELECT 1 FROM internal.sync_versions s WHERE s.remote = ? AND s.name = v.name
                                          AND s.version = v.version)
                        GROUP BY v.run_id)
        SELECT r.run_key, r.run_id, e.name, r.run_name, r.parent_run_id, r.status, r.deleted,
               coalesce(points.n, s.points_sent, 0),
               {FINGERPRINT},
               s.mlflow_run_id, coalesce(s.points_sent, 0), s.fingerprint, coalesce(s.tag_keys, []::VARCHAR[]),
               coalesce(s.ended, false), s.last_sent, s.last_error, coalesce(unsent.n, 0)
        FROM internal.runs r JOIN internal.experiments e USING (experiment_id)
        LEFT JOIN unsent ON unsent.run_id = r.run_id
        LEFT JOIN points USING (run_key) LEFT JOIN tag_print t USING (run_key) LEFT JOIN param_print p USING (run_key)
        LEFT JOIN internal.sync_runs s ON s.remote = ? AND s.run_id = r.run_id
        WHERE (r.origin IS NULL OR r.origin NOT LIKE '{ORIGIN_PREFIX}%')
          AND (len(?::VARCHAR[]) = 0 OR e.name IN (SELECT unnest(?::VARCHAR[])))
          AND (NOT r.deleted OR s.mlflow_run_id IS NOT NULL)
        ORDER BY r.start_time, r.run_key""", [remote, MIRRORED_TAGS_EXCLUDED, remote, remote, experiments,
                                              experiments]).fetchall()
    return [RunSync(*row[:12], list(row[12]), *row[13:]) for row in rows]


def _save(con: Any, remote: str, run: RunSync, versions: list[tuple[str, int]] | None = None) -> None:
    """Write ``run``'s sync state (one row per remote and run), and ``versions`` (name, number) as sent,
    in one transaction."""
    with transaction(con):
        con.execute("DELETE FROM internal.sync_runs WHERE remote = ? AND run_id = ?", [remote, run.run_id])
        con.execute("INSERT INTO internal.sync_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [remote, run.run_id, run.mlflow_run_id, run.points_sent, run.sent_fingerprint, run.tag_keys,
                     run.ended, run.last_sent, run.last_error])
        for name, version in versions or []:
            con.execute("DELETE FROM internal.sync_versions WHERE remote = ? AND name = ? AND version = ?",
                        [remote, name, version])
            con.execute("INSERT INTO internal.sync_versions VALUES (?, ?, ?, ?, ?)",
                        [remote, name, version, run.run_id, run.last_sent])


def _json_number(value: float) -> float | str:
    """A metric value as MLflow's JSON API (protobuf's mapping) spells it: NaN and ±inf as strings."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return value


class _Sender:
    """Metric points to one MLflow server in batches of ``METRICS_PER_REQUEST``, ``REQUESTS_IN_FLIGHT`` at
    once. Requests go through MLflow's own ``http_request`` with the host credentials its REST store
    resolves (auth, TLS, headers exactly as its client sends them), with a JSON body built directly
    (MLflow's entities and protobuf cost more than the request itself); without a REST store (a
    database URI) through ``MlflowClient.log_batch``."""

    def __init__(self, client: Any) -> None:
        self.client = client
        store = getattr(getattr(client, "_tracking_client", None), "store", None)
        self._host_creds = getattr(store, "get_host_creds", None)
        # Daemon threads of our own, not a ThreadPoolExecutor: the interpreter joins an executor's
        # threads at exit, so a request stuck on a slow server would hold up the end of the kernel.
        self._requests: queue.Queue[tuple[Future[None], contextvars.Context, str, list[tuple]] | None] = queue.Queue()
        for number in range(REQUESTS_IN_FLIGHT):
            threading.Thread(target=self._work, name=f"jupyter-tracker-sync-send-{number}", daemon=True).start()

    def close(self) -> None:
        for _ in range(REQUESTS_IN_FLIGHT):
            self._requests.put(None)

    def _work(self) -> None:
        while (request := self._requests.get()) is not None:
            future, context, mlflow_run_id, points = request
            try:
                context.run(self._post, mlflow_run_id, points)
            except BaseException as exc:  # noqa: BLE001 - handed to the sender, which raises it
                future.set_exception(exc)
            else:
                future.set_result(None)

    def _submit(self, mlflow_run_id: str, points: list[tuple]) -> Future[None]:
        # each request runs in a copy of this context, so talking_to's settings reach the worker threads
        future: Future[None] = Future()
        self._requests.put((future, contextvars.copy_context(), mlflow_run_id, points))
        return future

    def _post(self, mlflow_run_id: str, points: list[tuple]) -> None:
        if self._host_creds is None:
            from mlflow.entities import Metric

            self.client.log_batch(mlflow_run_id, metrics=[Metric(k, v, t, s) for k, v, t, s in points])
            return
        from mlflow.utils.rest_utils import http_request, verify_rest_response

        body = {"run_id": mlflow_run_id, "metrics": [
            {"key": k, "value": _json_number(v), "timestamp": t, "step": s} for k, v, t, s in points]}
        verify_rest_response(http_request(self._host_creds(), _LOG_BATCH, "POST", json=body), _LOG_BATCH)

    def send(self, mlflow_run_id: str, points: list[tuple], pacer: _Pacer | None = None
             ) -> tuple[int, BaseException | None]:
        """Send ``points`` in order; return how many of them, from the first, the server acknowledged
        (a contiguous prefix) and the failure that stopped the rest, if any. ``pacer`` rests before
        each request while a training loop logs."""
        in_flight: deque[tuple[int, Future[None]]] = deque()
        acked, failure = 0, None
        batches = (points[i:i + METRICS_PER_REQUEST] for i in range(0, len(points), METRICS_PER_REQUEST))
        for batch in batches:
            if pacer is not None:
                pacer.rest()
            in_flight.append((len(batch), self._submit(mlflow_run_id, batch)))
            # While a loop logs, one request at a time: fewer of our threads wanting a core at once.
            if len(in_flight) >= (1 if pacer is not None and pacer.live() else REQUESTS_IN_FLIGHT):
                acked, failure = self._settle(in_flight.popleft(), acked, failure)
                if failure is not None:
                    break
        while in_flight:
            acked, failure = self._settle(in_flight.popleft(), acked, failure)
        return acked, failure

    @staticmethod
    def _settle(entry: tuple[int, Future[None]], acked: int, failure: BaseException | None
                ) -> tuple[int, BaseException | None]:
        size, future = entry
        error = future.exception()
        if failure is None and error is None:
            return acked + size, None
        return acked, failure or error


class _Pacer:
    """The mirror's manners towards a training loop: while a process logs into the store, the mirror
    rests between requests so that its CPU time (every thread of the process: requests, JSON, DuckDB's
    merges) is at most ``LIVE_DUTY`` of the time that passes; otherwise it runs at full speed. Waiting
    for the network or a lock costs the loop nothing and is not counted. Called from the mirror's own
    thread only."""

    def __init__(self, store: Any, stopping: threading.Event) -> None:
        self._store, self._stopping = store, stopping
        self._cpu = time.process_time()
        self._checked = float("-inf")
        self._live = False

    def live(self) -> bool:
        """Whether a process is logging into the store (asked at most every ``LIVE_CHECK_S`` seconds)."""
        now = time.monotonic()
        if now - self._checked >= LIVE_CHECK_S:
            self._checked = now
            try:
                self._live = self._store.merge_pending()
            except OSError:
                self._live = False
        return self._live

    def rest(self) -> None:
        """Between two pieces of work: while a loop logs, wait ``1 / LIVE_DUTY - 1`` times the CPU time
        the process used since the last rest."""
        used = time.process_time() - self._cpu
        if self.live():
            self._stopping.wait(min(used * (1 / LIVE_DUTY - 1), MAX_REST_S))
        self._cpu = time.process_time()


@dataclass
class PassReport:
    """What one pass of the mirror did."""

    runs_sent: int = 0
    points_sent: int = 0
    pending_runs: int = 0
    failed: dict[str, str] = field(default_factory=dict)


class Mirror:
    """The background mirror of one store on one remote (see the module docstring)."""

    def __init__(self, remote_uri: str, *, store: Any = None) -> None:
        check_remote(remote_uri)
        self.remote_uri = remote_uri
        self.remote = public_uri(remote_uri)
        self._store = store
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._client: Any = None
        self._sender: _Sender | None = None
        self._lock: tuple[str, int] | None = None   # (store root, fd of its sync.lock)
        self._experiment_ids: dict[str, str] = {}
        self._next_follow = 0.0
        self.failures = 0
        self.last_error: str | None = None
        self.follow_error: str | None = None
        self.waiting_for_lock = False
        self.syncing_runs = 0
        self._published: dict | None = None
        self._pacer: _Pacer | None = None

    # -- the loop (in the sync worker process, or ``jupyter-tracker sync``) -------------------------
    def request_stop(self) -> None:
        """Ask the loop to stop after its current request (callable from any thread or a signal handler)."""
        self._stopping.set()
        self._wake.set()

    def close(self) -> None:
        """Release the store's sync lock and the sender's threads (after the loop has returned)."""
        self._release_lock()
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    def wake(self, follow: bool = False) -> None:
        """Look at the store now instead of after the interval (``follow``: pull followed experiments too)."""
        if follow:
            self._next_follow = 0.0
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run_forever(self) -> None:
        """Passes every ``sync_interval`` seconds (sooner when woken), backing off after failures, until
        ``request_stop``."""
        while not self._stopping.is_set():
            try:
                self.run_pass()
                delay = get_config().sync_interval
            except Exception as exc:  # noqa: BLE001 - the mirror records every failure and retries later
                delay = self._failed(exc)
            self._publish()
            self._wake.wait(delay)
            self._wake.clear()

    def _publish(self) -> None:
        """Write what ``sync_status`` cannot read from ``internal.sync_runs`` (the failure that stops every
        run, waiting for another mirror) to ``<store>/sync-state.json``, atomically and only on a change:
        the kernel that started this process, the CLI and the panels read it. No credential is in it."""
        state = {"pid": os.getpid(), "remote": self.remote, "last_error": self.last_error,
                 "follow_error": self.follow_error, "waiting_for_lock": self.waiting_for_lock}
        if state == self._published:
            return
        try:
            root = resolve_store(self._store).root
            temporary = root / f".{STATE_FILE}.{os.getpid()}"
            temporary.write_text(json.dumps(state))
            os.replace(temporary, root / STATE_FILE)
        except OSError:
            return   # a full or read-only disk: the next pass tries again
        self._published = state

    def _reason(self, exc: BaseException) -> str:
        return _reason(exc).replace(self.remote_uri, self.remote)

    def _failed(self, exc: BaseException) -> float:
        self.failures += 1
        self.last_error = self._reason(exc)
        self._client = None   # connect again: the server may have moved or restarted
        return min(MAX_BACKOFF_S, 2.0 ** (self.failures - 1))

    def run_until_caught_up(self, max_passes: int = 1000) -> PassReport:
        """Passes in the calling thread until nothing is pending (``jupyter-tracker sync --once``);
        raises ``SyncError`` on the first pass that fails."""
        total = PassReport()
        for _ in range(max_passes):
            try:
                report = self.run_pass()
            except TrackerError:
                raise
            except Exception as exc:  # noqa: BLE001 - the server's failure, said as ours
                self._failed(exc)
                raise SyncError(f"sync to {self.remote} failed: {self.last_error}. Nothing local was lost; "
                                f"run it again to send the rest") from None
            total.runs_sent += report.runs_sent
            total.points_sent += report.points_sent
            total.failed.update(report.failed)
            total.pending_runs = report.pending_runs
            if self.waiting_for_lock or report.runs_sent == 0 or report.pending_runs == len(report.failed):
                break
        return total

    # -- one pass --------------------------------------------------------------------------------
    def run_pass(self) -> PassReport:
        """Send everything the server lacks (and pull followed experiments when due)."""
        store = resolve_store(self._store)
        report = PassReport()
        if not self._hold_lock(store):
            self.waiting_for_lock = True
            return report
        self.waiting_for_lock = False
        config = get_config()
        self._pacer = _Pacer(store, self._stopping)
        with talking_to(self.remote, "sync", SYNC_SETTINGS):
            with store.session() as con:
                runs = [r for r in _candidates(con, self.remote, list(config.remote_experiments)) if r.needs_work()]
            runs.sort(key=lambda r: r.status != "RUNNING")   # live runs first: their points are awaited
            report.pending_runs = len(runs)
            self.syncing_runs = len(runs)
            try:
                client = self._connect() if runs else None
                for run in runs:
                    if self._stopping.is_set():
                        break
                    before = run.points_sent
                    try:
                        self._sync_run(client, store, run)
                    except Exception as exc:
                        if not _is_about_the_run(exc):
                            raise
                        run.last_error = self._reason(exc)
                        with store.session() as con:
                            _save(con, self.remote, run)
                        report.failed[run.run_id] = run.last_error
                        continue
                    report.runs_sent += 1
                    report.points_sent += run.points_sent - before
            except Exception as exc:
                self._record_error(store, runs, self._reason(exc))
                raise
            finally:
                self.syncing_runs = 0
            if config.remote_follow and time.monotonic() >= self._next_follow:
                self._follow(store, list(config.remote_follow))
        self.failures, self.last_error = 0, None
        return report

    def _connect(self) -> Any:
        if self._client is None:
            try:
                from mlflow.tracking import MlflowClient
            except ImportError:
                from ..errors import MissingExtraError

                raise MissingExtraError("team sync needs MLflow's client: `pip install mlflow` (or "
                                        "`pip install mlflow-skinny`)") from None
            client = MlflowClient(tracking_uri=self.remote_uri)
            client.search_experiments(max_results=1)   # fails fast: unreachable, or credentials refused
            if self._sender is not None:
                self._sender.close()
            self._client, self._sender = client, _Sender(client)
        return self._client

    def _sync_run(self, client: Any, store: Any, run: RunSync) -> None:
        had_error, run.last_error = run.last_error is not None, None
        if run.deleted:
            client.delete_run(run.mlflow_run_id)
            run.sent_fingerprint = run.fingerprint
            with store.session() as con:
                _save(con, self.remote, run)
            return
        if run.mlflow_run_id is None:
            self._create_remote_run(client, store, run)
        if run.fingerprint != run.sent_fingerprint:
            self._send_params_tags(client, store, run)
        if run.pending_points:
            self._send_points(store, run)
        if run.end_pending:
            self._send_end(client, store, run)
        elif had_error:
            with store.session() as con:
                _save(con, self.remote, run)

    def _experiment_id(self, client: Any, name: str) -> str:
        if name not in self._experiment_ids:
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                experiment_id = client.create_experiment(name)
            else:
                if experiment.lifecycle_stage == "deleted":
                    client.restore_experiment(experiment.experiment_id)
                experiment_id = experiment.experiment_id
            self._experiment_ids[name] = experiment_id
        return self._experiment_ids[name]

    def _create_remote_run(self, client: Any, store: Any, run: RunSync) -> None:
        """The MLflow run mirroring ``run``: the one a push or an earlier mirror made (found by its
        ``jt.run_id`` tag, so a crash between creating it and recording it makes no second one), or
        a new one. Its points are then all sent again (MLflow drops those it holds)."""
        experiment_id = self._experiment_id(client, run.experiment)
        found = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_ID_TAG}` = '{run.run_id}'",
                                   max_results=1)
        if found:
            run.mlflow_run_id = found[0].info.run_id
        else:
            with store.session() as con:
                row = con.execute("SELECT start_time FROM internal.runs WHERE run_key = ?", [run.run_key]).fetchone()
                parent = con.execute("SELECT mlflow_run_id FROM internal.sync_runs WHERE remote = ? AND run_id = ?",
                                     [self.remote, run.parent_run_id]).fetchone() if run.parent_run_id else None
            tags = {RUN_ID_TAG: run.run_id, "mlflow.runName": run.run_name}
            if parent and parent[0]:
                tags["mlflow.parentRunId"] = parent[0]
            run.mlflow_run_id = client.create_run(experiment_id, start_time=row[0], tags=tags,
                                                  run_name=run.run_name).info.run_id
        run.points_sent, run.sent_fingerprint, run.tag_keys, run.ended = 0, None, [], False
        with store.session() as con:
            _save(con, self.remote, run)

    def _send_params_tags(self, client: Any, store: Any, run: RunSync) -> None:
        """The run's name, params and tags as they are now; tags deleted locally deleted there too."""
        from mlflow.entities import Param, RunTag

        with store.session() as con:
            params = con.execute("SELECT key, value FROM internal.params WHERE run_key = ? ORDER BY key",
                                 [run.run_key]).fetchall()
            tags = con.execute(f"SELECT key, value FROM internal.tags WHERE run_key = ? AND NOT {EXCLUDED_TAGS_SQL} "
                               f"ORDER BY key", [run.run_key, sorted(LOCAL_ONLY_TAGS)]).fetchall()
        tags = [(k, v) for k, v in tags if not is_bookkeeping_tag(k)]
        if run.sent_fingerprint is not None:
            remote = client.get_run(run.mlflow_run_id)
            if remote.info.lifecycle_stage == "deleted":
                client.restore_run(run.mlflow_run_id)
            if remote.info.run_name != run.run_name:
                client.update_run(run.mlflow_run_id, name=run.run_name)
        sent_params = [Param(k, v) for k, v in params]
        for start in range(0, len(sent_params), PARAMS_TAGS_PER_REQUEST):
            client.log_batch(run.mlflow_run_id, params=sent_params[start:start + PARAMS_TAGS_PER_REQUEST])
        sent_tags = [RunTag(k, v) for k, v in tags]
        for start in range(0, len(sent_tags), PARAMS_TAGS_PER_REQUEST):
            client.log_batch(run.mlflow_run_id, tags=sent_tags[start:start + PARAMS_TAGS_PER_REQUEST])
        keys = [k for k, _ in tags]
        for gone in sorted(set(run.tag_keys) - set(keys)):
            client.delete_tag(run.mlflow_run_id, gone)
        run.sent_fingerprint, run.tag_keys, run.last_sent = run.fingerprint, keys, _now_ms()
        with store.session() as con:
            _save(con, self.remote, run)

    def _send_points(self, store: Any, run: RunSync) -> None:
        """The run's metric points from its high-water mark on, a round at a time; the mark moves
        only over what the server acknowledged."""
        assert self._sender is not None
        pacer = self._pacer if run.status != "RUNNING" else None   # a live run's points are not held back
        while run.points_sent < run.points and not self._stopping.is_set():
            live = pacer is not None and pacer.live()
            with store.session() as con:
                points = con.execute(
                    "SELECT k.key, m.value, m.timestamp, m.step FROM internal.metrics m "
                    "JOIN internal.metric_keys k USING (key_id) WHERE m.run_key = ? ORDER BY m.rowid LIMIT ? OFFSET ?",
                    [run.run_key, LIVE_POINTS_PER_ROUND if live else POINTS_PER_ROUND, run.points_sent]).fetchall()
            if not points:
                break
            acked, failure = self._sender.send(run.mlflow_run_id, points, pacer)
            if acked:
                run.points_sent += acked
                run.last_sent = _now_ms()
                with store.session() as con:
                    _save(con, self.remote, run)
            if failure is not None:
                raise failure
            if live:
                break   # a backlog's next round waits for the next pass, which starts with the live runs

    def _send_end(self, client: Any, store: Any, run: RunSync) -> None:
        """Status, end time, artifacts, snapshot, console, environment and registered versions, by
        ``push`` itself (told by the progress tag that every point is there already). Again when a
        version of the run was registered after that: ``push`` skips the complete run and creates only
        the versions the server lacks (found by their ``jt.version`` tag), with their stage and aliases."""
        from .mlflow_push import push

        if run.pending_points:
            return
        with store.session() as con:   # read before the push: a version registered meanwhile is sent next time
            versions = con.execute("SELECT name, version FROM internal.model_versions WHERE run_id = ?",
                                   [run.run_id]).fetchall()
        if not run.ended:
            client.set_tag(run.mlflow_run_id, SENT_TAG, str(run.points))
        push([run.run_id], self.remote_uri, include_children=False, store=store, settings=SYNC_SETTINGS)
        run.ended, run.last_sent, run.unsent_versions = True, _now_ms(), 0
        with store.session() as con:
            _save(con, self.remote, run, versions)

    def _record_error(self, store: Any, runs: list[RunSync], reason: str) -> None:
        """A failure that stopped the pass, recorded on every run still waiting (``sync_status``
        shows it, in this process or another)."""
        try:
            with store.session() as con:
                for run in runs:
                    if run.needs_work():
                        run.last_error = reason
                        _save(con, self.remote, run)
        except TrackerError:
            pass   # the store busy or full: the failure itself is still raised and kept in memory

    def _follow(self, store: Any, experiments: list[str]) -> None:
        """Pull the followed experiments' runs (marked by origin; never mirrored back), the RUNNING ones
        live: RUNNING here with their points so far, taken again on each follow until they end."""
        from .mlflow_pull import pull

        errors = []
        for experiment in experiments:
            try:
                pull(self.remote_uri, experiment, store=store, settings=SYNC_SETTINGS, live=True)
            except TrackerError as exc:
                errors.append(_reason(exc))
        self.follow_error = "; ".join(errors) or None
        self._next_follow = time.monotonic() + get_config().follow_interval

    # -- the store's sync lock -------------------------------------------------------------------
    def _hold_lock(self, store: Any) -> bool:
        root = str(store.root)
        if self._lock is not None:
            if self._lock[0] == root:
                return True
            self._release_lock()
        store.ensure_directory()
        path = store.root / SYNC_LOCK
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o644))
        fd = try_lock_exclusive(path)
        if fd is None:
            return False
        self._lock = (root, fd)
        return True

    def _release_lock(self) -> None:
        if self._lock is not None:
            os.close(self._lock[1])   # closing the descriptor releases its flock
            self._lock = None


def _now_ms() -> int:
    return int(time.time() * 1000)


def _mlflow_cause(exc: BaseException) -> BaseException:
    """The MLflow exception behind ``exc`` (a ``SyncError`` wraps it), or ``exc`` itself."""
    from mlflow.exceptions import MlflowException

    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, MlflowException):
        cause = cause.__cause__
    return cause if cause is not None else exc


def _is_about_the_run(exc: BaseException) -> bool:
    """Whether the server refused something of this run (a bad value: skip it, go on with the others)
    rather than failing as a whole (unreachable, credentials refused, overloaded: stop and back off)."""
    from mlflow.exceptions import MlflowException, RestException

    cause = _mlflow_cause(exc)
    if not isinstance(cause, MlflowException):
        return False
    status = cause.get_http_status_code() if isinstance(cause, RestException) else 400
    return status in (400, 404) and cause.error_code not in ("UNAUTHENTICATED", "PERMISSION_DENIED")


def _reason(exc: BaseException) -> str:
    """A short, credential-free reason for a failure."""
    from mlflow.exceptions import MlflowException

    text = str(exc)
    cause = _mlflow_cause(exc)
    if isinstance(cause, MlflowException) and cause.get_http_status_code() in (401, 403):
        text = ("the server refused the credentials (check MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or "
                "MLFLOW_TRACKING_TOKEN)")
    elif "Connection refused" in text or "Max retries exceeded" in text or "NewConnectionError" in text:
        text = "cannot reach the server (it is down or the address is wrong); retrying with back-off"
    for secret in filter(None, (os.environ.get("MLFLOW_TRACKING_PASSWORD"), os.environ.get("MLFLOW_TRACKING_TOKEN"))):
        text = text.replace(secret, "***")
    return text.splitlines()[0][:300] if text else type(exc).__name__


