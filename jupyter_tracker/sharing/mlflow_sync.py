"""Team scale on an existing engine: push runs to, and pull runs from, an MLflow tracking server.

``push(run_ids, tracking_uri)`` sends runs with their params, every metric point (step and
timestamp kept), tags, artifacts, nested-run lineage (``mlflow.parentRunId``), the notebook
snapshot (artifact ``jt_snapshot/executed.ipynb``) and the registry versions made from them.
It is idempotent and resumable without any local bookkeeping: each MLflow run carries the tag
``jt.run_id`` (how a rerun finds it), metric points go in a fixed order in ``log_batch`` calls
of 999 points, every 5th with the tag ``jt.metric_points_sent``, so a push killed half way resumes
after the last batch the server acknowledged with the tag (resending a few it may hold already,
which MLflow recognises); artifacts already on the server with the right size are not sent again; the tag
``jt.push_complete`` marks a finished run, which later pushes skip.

MLflow cannot store ±inf (its SQL store clamps them to ±1.7976931348623157e308): such points
are listed in the tag ``jt.infinite_points`` and put back by ``pull``; ``PushResult.clamped``
reports them. ``pull(tracking_uri, experiment, filter)`` brings runs back into the local store
through the same one-transaction importer as bundles, keeping our run ids (``jt.run_id``) or
MLflow's 32-hex run ids for runs made elsewhere, so pulling twice adds nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ExperimentNotFoundError, MissingExtraError, SyncError, TrackerError
from ..store.current import resolve_store
from .bundle import ImportResult, collect_tables, import_tables

RUN_ID_TAG = "jt.run_id"
SENT_TAG = "jt.metric_points_sent"
COMPLETE_TAG = "jt.push_complete"
INFINITE_TAG = "jt.infinite_points"
PUSHED_TO_TAG = "jt.pushed_to"
MLFLOW_RUN_TAG = "jt.mlflow_run_id"
#: ``origin`` of a pulled run: "mlflow:<tracking uri>#<experiment id>".
ORIGIN_PREFIX = "mlflow:"
SNAPSHOT_ARTIFACT = "jt_snapshot/executed.ipynb"
#: Where the list of ±inf points goes when it is too long for a tag value (MLflow: 8,000 characters).
INFINITE_ARTIFACT = "jt_snapshot/infinite_points.json"
_TAG_VALUE_LIMIT = 8000
METRICS_PER_BATCH = 999  # MLflow: at most 1000 entities per log_batch; one slot is the progress tag
#: The progress tag rides on every 5th batch: a tag costs the server a second transaction (~30% of a
#: batch), and a resumed push resends at most 4 batches, which MLflow recognises as already stored.
PROGRESS_EVERY = 5
PARAMS_TAGS_PER_BATCH = 100
_MAX_DOUBLE = 1.7976931348623157e308
_BOOKKEEPING_TAGS = {RUN_ID_TAG, SENT_TAG, COMPLETE_TAG, INFINITE_TAG}


@dataclass
class PushResult:
    """What ``push`` did, per our run id: the MLflow run id and points sent now."""

    tracking_uri: str
    experiment_id: str
    mlflow_run_ids: dict[str, str] = field(default_factory=dict)
    points_sent: int = 0
    skipped: list[str] = field(default_factory=list)
    clamped: list[dict] = field(default_factory=list)
    model_versions: int = 0


#: What ``pull`` did has the shape of what ``import_runs`` did (pull imports through a bundle).
PullResult = ImportResult


#: MLflow client settings while we push or pull (unless the user set them): a few quick retries
#: instead of MLflow's minutes of backoff, and no "View run at" line printed per run.
_CLIENT_ENVIRONMENT = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                       "MLFLOW_HTTP_REQUEST_TIMEOUT": "60", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}


@contextmanager
def _talking_to(tracking_uri: str, action: str):
    """MLflow client settings for the duration of a push or pull, and any failure of the client or
    the network (not our own errors, not the user's interrupt) turned into one ``SyncError``."""
    added = [key for key in _CLIENT_ENVIRONMENT if key not in os.environ]
    os.environ.update({key: _CLIENT_ENVIRONMENT[key] for key in added})
    try:
        yield
    except TrackerError:
        raise
    except Exception as exc:
        from mlflow.exceptions import MlflowException

        if isinstance(exc, (MlflowException, OSError)) or "requests" in type(exc).__module__:
            raise _mlflow_error(action, tracking_uri, exc) from exc
        raise
    finally:
        for key in added:
            os.environ.pop(key, None)


def _client(tracking_uri: str):
    """An MlflowClient, after checking that the server answers (so an unreachable one fails fast)."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise MissingExtraError("push/pull need MLflow's client: `pip install mlflow` (or `pip install "
                                "mlflow-skinny`)") from None
    if tracking_uri.startswith(("http://", "https://")):
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(tracking_uri.rstrip("/") + "/health", timeout=5) as response:
                response.read()
        except (urllib.error.URLError, OSError) as exc:
            raise SyncError(f"cannot reach the MLflow server at {tracking_uri} ({getattr(exc, 'reason', exc)}); "
                            f"nothing was sent and nothing local changed. Start the server or fix the URI, then "
                            f"run the same push again") from None
    return MlflowClient(tracking_uri=tracking_uri)


def _mlflow_error(action: str, tracking_uri: str, exc: Exception) -> SyncError:
    return SyncError(f"{action} on {tracking_uri} failed: {exc}. Nothing local was lost; what reached the server "
                     f"is kept, and running the same command again sends only the rest")


def _experiment_id(client, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id
    return client.create_experiment(name)


def _find_pushed(client, experiment_id: str, run_id: str):
    found = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_ID_TAG}` = '{run_id}'", max_results=1)
    return found[0] if found else None


def push(run_ids, tracking_uri: str, *, experiment: str | None = None, include_children: bool = True,
         progress: bool = False, store=None) -> PushResult:
    """Send runs (ids or a ``search_runs`` DataFrame, with their nested runs) to an MLflow server.

    ``experiment`` names the MLflow experiment (default: each run's own experiment name). Safe to
    rerun: finished runs are skipped and an interrupted push continues where it stopped. Raises
    ``SyncError`` fast when the server is unreachable; the local store is never changed except
    for the tags ``jt.pushed_to`` and ``jt.mlflow_run_id`` set on runs once fully pushed."""
    with _talking_to(tracking_uri, "push"):
        return _push(run_ids, tracking_uri, experiment, include_children, progress, resolve_store(store))


def _push(run_ids, tracking_uri: str, experiment: str | None, include_children: bool, progress: bool,
          store) -> PushResult:
    from ..store.database import connect_duckdb

    client = _client(tracking_uri)
    with tempfile.TemporaryDirectory(prefix="jt-push-") as work:
        work_dir = Path(work)
        ordered, _ = collect_tables(run_ids, work_dir, include_children=include_children, store=store)
        tables = work_dir / "tables"
        db = connect_duckdb(":memory:")
        try:
            def rows(query: str, parameters: list | None = None, chunk: int | None = None):
                """The rows of ``query`` over the Parquet tables; with ``chunk``, an iterator of lists of
                that many rows (a million metric points never sit in memory at once)."""
                cursor = db.execute(query.replace("{t}", str(tables)), parameters or [])
                return cursor.fetchall() if chunk is None else iter(lambda: cursor.fetchmany(chunk), [])

            runs = rows("SELECT run_id, experiment, run_name, parent_run_id, status, start_time, end_time, last_seen "
                        "FROM '{t}/runs.parquet' ORDER BY start_time, run_id")
            total = rows("SELECT count(*) FROM '{t}/metrics.parquet'")[0][0]
            bar = None
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(total=total, desc="push", unit="pt", unit_scale=True)
            result = PushResult(tracking_uri, "")
            try:
                for run_id, run_experiment, name, parent, status, start, end, last_seen in runs:
                    experiment_id = _experiment_id(client, experiment or run_experiment)
                    result.experiment_id = experiment_id
                    existing = _find_pushed(client, experiment_id, run_id)
                    if existing is not None and existing.data.tags.get(COMPLETE_TAG) == "1":
                        result.mlflow_run_ids[run_id] = existing.info.run_id
                        result.skipped.append(run_id)
                        if bar is not None:
                            bar.update(int(existing.data.tags.get(SENT_TAG, "0")))
                        continue
                    run_tags = {RUN_ID_TAG: run_id, "mlflow.runName": name}
                    if parent and parent in result.mlflow_run_ids:
                        run_tags["mlflow.parentRunId"] = result.mlflow_run_ids[parent]
                    if existing is None:
                        mlflow_run = client.create_run(experiment_id, start_time=start, tags=run_tags, run_name=name)
                        mlflow_id, sent = mlflow_run.info.run_id, 0
                    else:
                        mlflow_id, sent = existing.info.run_id, int(existing.data.tags.get(SENT_TAG, "0"))
                    result.mlflow_run_ids[run_id] = mlflow_id
                    _push_params_tags(client, mlflow_id, rows, run_id)
                    if bar is not None:
                        bar.update(sent)
                    clamped = _infinite_points(rows, run_id)
                    if clamped:
                        result.clamped.extend({"run_id": run_id, **point} for point in clamped)
                        _record_infinite_points(client, mlflow_id, clamped, work_dir / "infinite" / run_id)
                    _push_metrics(client, mlflow_id, rows, run_id, sent, result, bar)
                    _push_artifacts(client, mlflow_id, rows, run_id, store, work_dir)
                    client.set_terminated(mlflow_id, status="FINISHED" if status == "FINISHED" else
                                          ("RUNNING" if status == "RUNNING" else
                                           "KILLED" if status == "KILLED" else "FAILED"),
                                          end_time=end if end is not None else last_seen)
                    if status != "RUNNING":
                        client.set_tag(mlflow_id, COMPLETE_TAG, "1")
                result.model_versions = _push_registry(client, rows, result.mlflow_run_ids)
            finally:
                if bar is not None:
                    bar.close()
        finally:
            db.close()
    _mark_local(result, tracking_uri, store)
    return result


def _push_params_tags(client, mlflow_id: str, rows, run_id: str) -> None:
    from mlflow.entities import Param, RunTag

    params = [Param(k, v) for k, v in rows("SELECT key, value FROM '{t}/params.parquet' WHERE run_id = ?", [run_id])]
    tags = [RunTag(k, v) for k, v in rows("SELECT key, value FROM '{t}/tags.parquet' WHERE run_id = ?", [run_id])
            if k not in _BOOKKEEPING_TAGS and not k.startswith("mlflow.")]
    for start in range(0, len(params), PARAMS_TAGS_PER_BATCH):
        client.log_batch(mlflow_id, params=params[start:start + PARAMS_TAGS_PER_BATCH])
    for start in range(0, len(tags), PARAMS_TAGS_PER_BATCH):
        client.log_batch(mlflow_id, tags=tags[start:start + PARAMS_TAGS_PER_BATCH])


def _infinite_points(rows, run_id: str) -> list[dict]:
    return [{"key": k, "step": s, "timestamp": t, "value": "inf" if v > 0 else "-inf"} for k, s, t, v in rows(
        "SELECT key, step, timestamp, value FROM '{t}/metrics.parquet' WHERE run_id = ? AND isinf(value)", [run_id])]


def _record_infinite_points(client, mlflow_id: str, points: list[dict], directory: Path) -> None:
    """The tag ``jt.infinite_points`` lists the ±inf points MLflow clamps (``pull`` puts them back);
    a list too long for a tag goes to an artifact the tag points at."""
    listed = json.dumps(points)
    if len(listed) > _TAG_VALUE_LIMIT:
        file = directory / Path(INFINITE_ARTIFACT).name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(listed)
        client.log_artifact(mlflow_id, str(file), artifact_path=str(Path(INFINITE_ARTIFACT).parent))
        listed = f"artifact:{INFINITE_ARTIFACT}"
    client.set_tag(mlflow_id, INFINITE_TAG, listed)


def _push_metrics(client, mlflow_id: str, rows, run_id: str, sent: int, result: PushResult, bar) -> None:
    """Send the run's metric points from position ``sent`` on; every ``PROGRESS_EVERY``-th batch
    carries the progress tag (the count of points stored once that batch is).

    MLflow stores a batch's metrics and its tags in two transactions, and the tag is not on every
    batch: a rerun after an interruption may resend a few batches the server already holds. MLflow
    drops points it already has (same key, step, timestamp and value), so nothing is doubled."""
    from mlflow.entities import Metric, RunTag

    (total,) = rows("SELECT count(*) FROM '{t}/metrics.parquet' WHERE run_id = ?", [run_id])[0]
    batches = rows("SELECT key, value, timestamp, step FROM '{t}/metrics.parquet' WHERE run_id = ? "
                   "ORDER BY key, step, timestamp, value OFFSET ?", [run_id, sent], chunk=METRICS_PER_BATCH)
    for batch, chunk in enumerate(batches, start=1):
        sent += len(chunk)
        last = sent >= total
        progress = [RunTag(SENT_TAG, str(sent))] if batch % PROGRESS_EVERY == 0 or last else []
        client.log_batch(mlflow_id, metrics=[Metric(k, v, t, s) for k, v, t, s in chunk], tags=progress)
        result.points_sent += len(chunk)
        if bar is not None:
            bar.update(len(chunk))


def _push_artifacts(client, mlflow_id: str, rows, run_id: str, store, work_dir: Path) -> None:
    """Upload artifacts (and the snapshot) that the server lacks or holds with another size."""
    wanted = {path: (sha, size) for path, sha, size in rows(
        "SELECT path, sha256, size FROM '{t}/artifacts.parquet' WHERE run_id = ?", [run_id])}
    snapshot = None
    if rows("SELECT count(*) FROM '{t}/snapshots.parquet' WHERE run_id = ? AND kind = 'executed'", [run_id])[0][0]:
        import nbformat

        from ..query import load_snapshot

        snapshot = work_dir / "snapshots" / run_id / "executed.ipynb"
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(load_snapshot(run_id, "executed", store=store), str(snapshot))
        wanted[SNAPSHOT_ARTIFACT] = (None, snapshot.stat().st_size)
    if not wanted:
        return
    present = _remote_files(client, mlflow_id, "")
    staging = work_dir / "upload" / run_id
    for path, (sha, size) in sorted(wanted.items()):
        if present.get(path) == size:
            continue
        local = staging / path
        local.parent.mkdir(parents=True, exist_ok=True)
        if sha is None:
            shutil.copyfile(snapshot, local)
        else:
            shutil.copyfile(store.objects.path(sha), local)
        directory = str(Path(path).parent)
        client.log_artifact(mlflow_id, str(local), artifact_path=None if directory == "." else directory)


def _remote_files(client, mlflow_id: str, path: str) -> dict[str, int]:
    files = {}
    for info in client.list_artifacts(mlflow_id, path or None):
        if info.is_dir:
            files.update(_remote_files(client, mlflow_id, info.path))
        else:
            files[info.path] = info.file_size
    return files


def _push_registry(client, rows, mlflow_run_ids: dict[str, str]) -> int:
    """Registered models and versions of the pushed runs into MLflow's model registry (idempotent via
    the version tag ``jt.version``), with aliases; stages as the tag ``jt.stage``."""
    from mlflow.exceptions import MlflowException

    versions = rows("SELECT name, version, run_id, artifact_path, stage, description FROM "
                    "'{t}/model_versions.parquet' ORDER BY name, version")
    if not versions:
        return 0
    aliases = rows("SELECT name, alias, version FROM '{t}/model_aliases.parquet'")
    created = 0
    remote_numbers: dict[tuple[str, int], str] = {}
    for name, version, run_id, artifact_path, stage, description in versions:
        if run_id not in mlflow_run_ids:
            continue
        try:
            client.create_registered_model(name)
        except MlflowException as exc:
            if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
                raise
        known = {mv.tags.get("jt.version"): mv.version
                 for mv in client.search_model_versions(f"name = '{name}'")}
        if str(version) in known:
            remote_numbers[(name, version)] = known[str(version)]
            continue
        mlflow_run = mlflow_run_ids[run_id]
        model_version = client.create_model_version(
            name, source=f"runs:/{mlflow_run}/{artifact_path}", run_id=mlflow_run,
            tags={"jt.version": str(version), "jt.stage": stage or "None"}, description=description)
        remote_numbers[(name, version)] = model_version.version
        created += 1
    for name, alias, version in aliases:
        if (name, version) in remote_numbers:
            client.set_registered_model_alias(name, alias, remote_numbers[(name, version)])
    return created


def _mark_local(result: PushResult, tracking_uri: str, store) -> None:
    from ..manage import set_run_tag

    for run_id, mlflow_id in result.mlflow_run_ids.items():
        set_run_tag(run_id, PUSHED_TO_TAG, tracking_uri, store=store)
        set_run_tag(run_id, MLFLOW_RUN_TAG, mlflow_id, store=store)


# -- pull ----------------------------------------------------------------------------------------------
def pull(tracking_uri: str, experiment: str, filter: str | None = None, *, max_results: int = 10_000,
         progress: bool = False, store=None) -> PullResult:
    """Bring the runs of an MLflow ``experiment`` (optionally an MLflow ``filter`` string such as
    ``"metrics.acc > 0.9"``) into the local store: params, full metric histories, tags, artifacts,
    nesting. Runs the store already has are skipped; everything goes in one transaction."""
    with _talking_to(tracking_uri, "pull"):
        return _pull(tracking_uri, experiment, filter, max_results, progress, resolve_store(store))


def _pull(tracking_uri: str, experiment: str, filter: str | None, max_results: int, progress: bool,
          store) -> PullResult:

    client = _client(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = [e.name for e in client.search_experiments(max_results=50)]
        raise ExperimentNotFoundError(f"the MLflow server at {tracking_uri} has no experiment {experiment!r}; "
                                      f"it has: {', '.join(names) or '(none)'}")
    mlflow_runs = []
    token = None
    while True:
        page = client.search_runs([found.experiment_id], filter_string=filter or "",
                                  max_results=min(max_results, 1000), page_token=token)
        mlflow_runs.extend(page)
        token = page.token
        if not token or len(mlflow_runs) >= max_results:
            break
    ours = {r.info.run_id: r.data.tags.get(RUN_ID_TAG) or r.info.run_id for r in mlflow_runs}
    with store.session() as con:
        local = {r for (r,) in con.execute("SELECT run_id FROM internal.runs WHERE run_id IN "
                                           "(SELECT unnest(?::VARCHAR[]))", [list(ours.values())]).fetchall()}
    wanted = [r for r in mlflow_runs if ours[r.info.run_id] not in local]
    with tempfile.TemporaryDirectory(prefix="jt-pull-") as work:
        work_dir = Path(work)
        iterator = wanted
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(wanted, desc="pull", unit="run")
        tables = _Tables()
        for mlflow_run in iterator:
            _collect_run(client, mlflow_run, ours, tables, work_dir, experiment)
        tables.write(work_dir / "tables")
        origin = f"{ORIGIN_PREFIX}{tracking_uri}#{found.experiment_id}"
        imported = import_tables(work_dir, origin, store=store)
    skipped = sorted(set(ours.values()) - set(imported.imported))
    return ImportResult(imported.imported, skipped, imported.metric_points, imported.model_versions)


_RUN_COLUMNS = ["run_id", "experiment", "experiment_created_time", "run_name", "parent_run_id", "status",
                "start_time", "end_time", "last_seen", "user_name", "host", "pid", "source_kind", "source_code",
                "cell_id", "execution_count", "notebook_path", "script_path", "cell_key", "env_sha", "git_commit",
                "git_branch", "git_remote", "git_dirty", "error_type", "error_message", "error_traceback",
                "deleted", "origin"]


@dataclass
class _Tables:
    runs: list[dict] = field(default_factory=list)
    params: list[tuple] = field(default_factory=list)
    tags: list[tuple] = field(default_factory=list)
    metrics: list[tuple] = field(default_factory=list)
    latest_metrics: list[tuple] = field(default_factory=list)
    artifacts: list[tuple] = field(default_factory=list)
    snapshots: list[tuple] = field(default_factory=list)

    def write(self, directory: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        directory.mkdir(parents=True, exist_ok=True)
        string, int64 = pa.string(), pa.int64()
        run_types = {c: string for c in _RUN_COLUMNS}
        run_types.update({c: int64 for c in ("experiment_created_time", "start_time", "end_time", "last_seen",
                                             "pid", "execution_count")})
        run_types.update({"git_dirty": pa.bool_(), "deleted": pa.bool_()})
        schema = pa.schema([(c, run_types[c]) for c in _RUN_COLUMNS])
        pq.write_table(pa.Table.from_pylist(self.runs, schema=schema), directory / "runs.parquet")
        layouts = {
            "params": (self.params, [("run_id", string), ("key", string), ("value", string)]),
            "tags": (self.tags, [("run_id", string), ("key", string), ("value", string)]),
            "metrics": (self.metrics, [("run_id", string), ("key", string), ("step", int64), ("timestamp", int64),
                                       ("value", pa.float64())]),
            "latest_metrics": (self.latest_metrics, [("run_id", string), ("key", string), ("step", int64),
                                                     ("timestamp", int64), ("value", pa.float64())]),
            "artifacts": (self.artifacts, [("run_id", string), ("path", string), ("size", int64),
                                           ("media_type", string), ("sha256", string), ("created_time", int64)]),
            "snapshots": (self.snapshots, [("run_id", string), ("kind", string), ("notebook_path", string),
                                           ("meta_sha", string), ("cell_shas", pa.list_(string)),
                                           ("created_time", int64)]),
        }
        for name, (rows, fields) in layouts.items():
            columns = list(zip(*rows)) if rows else [[] for _ in fields]
            table = pa.table({f: pa.array(list(col), type=t) for (f, t), col in zip(fields, columns)})
            pq.write_table(table, directory / f"{name}.parquet")


def _collect_run(client, mlflow_run, ours: dict[str, str], tables: _Tables, work_dir: Path, experiment: str) -> None:
    import mimetypes

    from ..store.objects import ObjectStore

    info, data = mlflow_run.info, mlflow_run.data
    run_id = ours[info.run_id]
    parent_mlflow = data.tags.get("mlflow.parentRunId")
    parent = None
    if parent_mlflow:
        parent = ours.get(parent_mlflow)
        if parent is None:
            parent = client.get_run(parent_mlflow).data.tags.get(RUN_ID_TAG) or parent_mlflow
    download_dir = work_dir / "download" / info.run_id
    infinite = {}
    if INFINITE_TAG in data.tags:
        listed = data.tags[INFINITE_TAG]
        if listed.startswith("artifact:"):
            listed = Path(client.download_artifacts(info.run_id, INFINITE_ARTIFACT, str(download_dir))).read_text()
        try:
            infinite = {(p["key"], p["step"], p["timestamp"]): float(p["value"]) for p in json.loads(listed)}
        except (ValueError, KeyError, TypeError):
            raise SyncError(f"the tag {INFINITE_TAG} of MLflow run {info.run_id} is not the list push wrote; its "
                            f"±inf points would come back as ±1.8e308. Fix or delete the tag, then pull again") \
                from None
    status = {"FINISHED": "FINISHED", "FAILED": "FAILED", "KILLED": "KILLED"}.get(info.status, "KILLED")
    tables.runs.append({
        "run_id": run_id, "experiment": experiment, "experiment_created_time": info.start_time,
        "run_name": data.tags.get("mlflow.runName") or info.run_name or run_id[:8], "parent_run_id": parent,
        "status": status, "start_time": info.start_time, "end_time": info.end_time or info.start_time,
        "last_seen": info.end_time or info.start_time, "user_name": data.tags.get("mlflow.user"),
        "source_kind": "mlflow", "origin": "mlflow", "deleted": False})
    tables.params.extend((run_id, k, v) for k, v in data.params.items())
    tables.tags.extend((run_id, k, v) for k, v in data.tags.items()
                       if k not in _BOOKKEEPING_TAGS and not k.startswith("mlflow."))
    if info.run_id != run_id:
        tables.tags.append((run_id, MLFLOW_RUN_TAG, info.run_id))
    for key in sorted(data.metrics):
        history = client.get_metric_history(info.run_id, key)
        best = None
        for metric in history:
            value = metric.value
            if abs(value) == _MAX_DOUBLE:
                value = infinite.get((key, metric.step, metric.timestamp), value)
            row = (run_id, key, metric.step, metric.timestamp, value)
            tables.metrics.append(row)
            if best is None or (metric.step, metric.timestamp) >= (best[2], best[3]):
                best = row
        if best is not None:
            tables.latest_metrics.append(best)
    objects = ObjectStore(work_dir / "objects_staging")
    created = info.end_time or int(time.time() * 1000)

    def stage(sha: str) -> None:
        final = work_dir / "objects" / sha
        final.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(objects.path(sha)), final)

    for path, _ in sorted(_remote_files(client, info.run_id, "").items()):
        if path == INFINITE_ARTIFACT:
            continue
        local = Path(client.download_artifacts(info.run_id, path, str(download_dir)))
        if path == SNAPSHOT_ARTIFACT:
            meta_sha, cell_shas = _snapshot_objects(objects, local)
            for sha in {meta_sha, *cell_shas}:
                stage(sha)
            tables.snapshots.append((run_id, "executed", None, meta_sha, cell_shas, created))
            continue
        sha, size = objects.put_file(local)
        stage(sha)
        media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        tables.artifacts.append((run_id, path, size, media_type, sha, created))


def _snapshot_objects(objects, notebook_file: Path) -> tuple[str, list[str]]:
    """Store a pushed snapshot notebook the way the store keeps snapshots: one object per cell."""
    import nbformat

    from ..capture.snapshot import put_json

    notebook = json.loads(json.dumps(nbformat.read(str(notebook_file), as_version=4)))  # sources stay strings
    cells = notebook.pop("cells")
    return put_json(objects, notebook), [put_json(objects, cell) for cell in cells]
