"""``jt.push``: send runs to an MLflow tracking server, idempotent and resumable.

``push(run_ids, tracking_uri)`` sends runs with their params, every metric point (step and
timestamp kept), tags, artifacts, nested-run lineage (``mlflow.parentRunId``), the notebook
snapshot, the console output and the environment (artifacts under ``jt_snapshot/``, see
``mlflow_layout``) and the registry versions made from them, with their stages and aliases.
It is idempotent and resumable without any local bookkeeping: each MLflow run carries the tag
``jt.run_id`` (how a rerun finds it), metric points go in a fixed order in ``log_batch`` calls
of 999 points, every 5th with the tag ``jt.metric_points_sent``, so a push killed half way resumes
after the last batch the server acknowledged with the tag (resending a few it may hold already,
which MLflow recognises); artifacts already on the server with the right size are not sent again; the tag
``jt.push_complete`` marks a finished run, which later pushes skip.

MLflow cannot store ±inf (its SQL store clamps them to ±1.7976931348623157e308): such points
are listed in the tag ``jt.infinite_points`` and put back by ``pull``; ``PushResult.clamped``
reports them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..mlflow_layout import (
    COMPLETE_TAG,
    CONSOLE_ARTIFACT,
    ENVIRONMENT_ARTIFACT,
    INFINITE_ARTIFACT,
    INFINITE_TAG,
    MLFLOW_RUN_TAG,
    PUSHED_TO_TAG,
    RUN_ID_TAG,
    SENT_TAG,
    SNAPSHOT_ARTIFACT,
    STAGE_HISTORY_TAG,
    STAGE_TAG,
    TAG_VALUE_LIMIT,
    VERSION_CREATED_TAG,
    VERSION_TAG,
    VERSION_TAG_VALUE_LIMIT,
    VERSION_USER_TAG,
    is_bookkeeping_tag,
)
from ..store.current import resolve_store
from .bundle import collect_tables
from .mlflow_client import RequestSettings, connect, remote_files, talking_to

METRICS_PER_BATCH = 999  # MLflow: at most 1000 entities per log_batch; one slot is the progress tag
#: The progress tag rides on every 5th batch: a tag costs the server a second transaction (~30% of a
#: batch), and a resumed push resends at most 4 batches, which MLflow recognises as already stored.
PROGRESS_EVERY = 5
PARAMS_TAGS_PER_BATCH = 100

#: ``rows(query, parameters, chunk)``: rows of a query over the pushed runs' Parquet tables.
Rows = Callable[..., Any]


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


def push(run_ids, tracking_uri: str, *, experiment: str | None = None, include_children: bool = True,
         progress: bool = False, store=None, settings: RequestSettings | None = None) -> PushResult:
    """Send runs (ids or a ``search_runs`` DataFrame, with their nested runs) to an MLflow server.

    ``experiment`` names the MLflow experiment (default: each run's own experiment name). Safe to
    rerun: finished runs are skipped and an interrupted push continues where it stopped. Raises
    ``SyncError`` fast when the server is unreachable; the local store is never changed except
    for the tags ``jt.pushed_to`` and ``jt.mlflow_run_id`` set on runs once fully pushed.
    ``settings`` are the MLflow client's request settings for this push (``RequestSettings()``:
    two quick retries, 60 s timeout), in this thread only."""
    with talking_to(tracking_uri, "push", settings or RequestSettings()):
        return _push(run_ids, tracking_uri, experiment, include_children, progress, resolve_store(store))


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


def _push(run_ids, tracking_uri: str, experiment: str | None, include_children: bool, progress: bool,
          store) -> PushResult:
    from ..store.database import connect_duckdb

    client = connect(tracking_uri)
    with tempfile.TemporaryDirectory(prefix="jt-push-") as work:
        work_dir = Path(work)
        collect_tables(run_ids, work_dir, include_children=include_children, store=store)
        tables = work_dir / "tables"
        db = connect_duckdb(":memory:")
        try:
            def rows(query: str, parameters: list | None = None, chunk: int | None = None):
                """The rows of ``query`` over the Parquet tables; with ``chunk``, an iterator of lists of
                that many rows (a million metric points never sit in memory at once)."""
                cursor = db.execute(query.replace("{t}", str(tables)), parameters or [])
                return cursor.fetchall() if chunk is None else iter(lambda: cursor.fetchmany(chunk), [])

            result = _push_runs(client, rows, tracking_uri, experiment, progress, store, work_dir)
        finally:
            db.close()
    _mark_local(result, tracking_uri, store)
    return result


def _push_runs(client, rows: Rows, tracking_uri: str, experiment: str | None, progress: bool, store,
               work_dir: Path) -> PushResult:
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
            client.set_terminated(mlflow_id, status=status if status in ("FINISHED", "RUNNING", "KILLED") else
                                  "FAILED", end_time=end if end is not None else last_seen)
            if status != "RUNNING":
                client.set_tag(mlflow_id, COMPLETE_TAG, "1")
        result.model_versions = _push_registry(client, rows, result.mlflow_run_ids)
    finally:
        if bar is not None:
            bar.close()
    return result


def _push_params_tags(client, mlflow_id: str, rows: Rows, run_id: str) -> None:
    from mlflow.entities import Param, RunTag

    params = [Param(k, v) for k, v in rows("SELECT key, value FROM '{t}/params.parquet' WHERE run_id = ?", [run_id])]
    tags = [RunTag(k, v) for k, v in rows("SELECT key, value FROM '{t}/tags.parquet' WHERE run_id = ?", [run_id])
            if not is_bookkeeping_tag(k)]
    for start in range(0, len(params), PARAMS_TAGS_PER_BATCH):
        client.log_batch(mlflow_id, params=params[start:start + PARAMS_TAGS_PER_BATCH])
    for start in range(0, len(tags), PARAMS_TAGS_PER_BATCH):
        client.log_batch(mlflow_id, tags=tags[start:start + PARAMS_TAGS_PER_BATCH])


def _infinite_points(rows: Rows, run_id: str) -> list[dict]:
    return [{"key": k, "step": s, "timestamp": t, "value": "inf" if v > 0 else "-inf"} for k, s, t, v in rows(
        "SELECT key, step, timestamp, value FROM '{t}/metrics.parquet' WHERE run_id = ? AND isinf(value)", [run_id])]


def _record_infinite_points(client, mlflow_id: str, points: list[dict], directory: Path) -> None:
    """The tag ``jt.infinite_points`` lists the ±inf points MLflow clamps (``pull`` puts them back);
    a list too long for a tag goes to an artifact the tag points at."""
    listed = json.dumps(points)
    if len(listed) > TAG_VALUE_LIMIT:
        file = directory / Path(INFINITE_ARTIFACT).name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(listed)
        client.log_artifact(mlflow_id, str(file), artifact_path=str(Path(INFINITE_ARTIFACT).parent))
        listed = f"artifact:{INFINITE_ARTIFACT}"
    client.set_tag(mlflow_id, INFINITE_TAG, listed)


def _push_metrics(client, mlflow_id: str, rows: Rows, run_id: str, sent: int, result: PushResult, bar) -> None:
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


def _push_artifacts(client, mlflow_id: str, rows: Rows, run_id: str, store, work_dir: Path) -> None:
    """Upload artifacts, the snapshot, the console output and the environment that the server lacks
    or holds with another size."""
    wanted: dict[str, Path] = {path: store.objects.path(sha) for path, sha in rows(
        "SELECT path, sha256 FROM '{t}/artifacts.parquet' WHERE run_id = ?", [run_id])}
    written = work_dir / "jt_files" / run_id
    if rows("SELECT count(*) FROM '{t}/snapshots.parquet' WHERE run_id = ? AND kind = 'executed'", [run_id])[0][0]:
        import nbformat

        from ..query import load_snapshot

        snapshot = written / SNAPSHOT_ARTIFACT
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(load_snapshot(run_id, "executed", store=store), str(snapshot))
        wanted[SNAPSHOT_ARTIFACT] = snapshot
    for path, content in ((CONSOLE_ARTIFACT, _console(rows, run_id)),
                          (ENVIRONMENT_ARTIFACT, _environment(rows, run_id))):
        if content is not None:
            file = written / path
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
            wanted[path] = file
    if not wanted:
        return
    present = remote_files(client, mlflow_id)
    staging = work_dir / "upload" / run_id
    for path, source in sorted(wanted.items()):
        if present.get(path) == source.stat().st_size:
            continue
        local = staging / path   # log_artifact keeps the file's name: give it the artifact's
        local.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, local)
        directory = str(Path(path).parent)
        client.log_artifact(mlflow_id, str(local), artifact_path=None if directory == "." else directory)


def _console(rows: Rows, run_id: str) -> list[dict] | None:
    """The run's console output as it is stored (one entry per stored chunk), or None without any."""
    chunks = [{"seq": seq, "stream": stream, "text": text, "timestamp": timestamp} for seq, stream, text, timestamp
              in rows("SELECT seq, stream, text, timestamp FROM '{t}/console.parquet' WHERE run_id = ? ORDER BY seq",
                      [run_id])]
    return chunks or None


def _environment(rows: Rows, run_id: str) -> dict | None:
    """The run's environment as our capture stores it (python, platform, packages; git), or None."""
    (found,) = rows("""SELECT r.env_sha, e.python, e.platform, e.content, r.git_commit, r.git_branch, r.git_remote,
                              r.git_dirty
                       FROM '{t}/runs.parquet' r LEFT JOIN '{t}/environments.parquet' e USING (env_sha)
                       WHERE r.run_id = ?""", [run_id])
    env_sha, python, platform, content, commit, branch, remote, dirty = found
    if env_sha is None and commit is None and branch is None and remote is None and dirty is None:
        return None
    return {"env_sha": env_sha, "python": python, "platform": platform,
            "content": None if content is None else json.loads(content),
            "git": {"commit": commit, "branch": branch, "remote": remote, "dirty": dirty}}


def _push_registry(client, rows: Rows, mlflow_run_ids: dict[str, str]) -> int:
    """Registered models and versions of the pushed runs into MLflow's model registry (idempotent via
    the version tag ``jt.version``), with aliases; stages, who registered a version, when, and its
    stage history as version tags (``mlflow_layout``)."""
    from mlflow.exceptions import MlflowException

    versions = rows("SELECT name, version, run_id, artifact_path, stage, description, user_name, created_time FROM "
                    "'{t}/model_versions.parquet' ORDER BY name, version")
    if not versions:
        return 0
    aliases = rows("SELECT name, alias, version FROM '{t}/model_aliases.parquet'")
    model_descriptions = dict(rows("SELECT name, description FROM '{t}/registered_models.parquet'"))
    histories: dict[tuple[str, int], list[dict]] = {}
    for name, version, from_stage, to_stage, user, comment, timestamp in rows(
            "SELECT name, version, from_stage, to_stage, user_name, comment, timestamp "
            "FROM '{t}/stage_transitions.parquet' ORDER BY name, version, timestamp"):
        histories.setdefault((name, version), []).append(
            {"from_stage": from_stage, "to_stage": to_stage, "user": user, "comment": comment, "timestamp": timestamp})
    created = 0
    remote_numbers: dict[tuple[str, int], str] = {}
    for name, version, run_id, artifact_path, stage, description, user, created_time in versions:
        if run_id not in mlflow_run_ids:
            continue
        try:
            client.create_registered_model(name, description=model_descriptions.get(name))
        except MlflowException as exc:
            if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
                raise
        known = {mv.tags.get(VERSION_TAG): mv.version for mv in client.search_model_versions(f"name = '{name}'")}
        if str(version) in known:
            remote_numbers[(name, version)] = known[str(version)]
            continue
        tags = {VERSION_TAG: str(version), STAGE_TAG: stage or "None"}
        if user is not None:
            tags[VERSION_USER_TAG] = user
        if created_time is not None:
            tags[VERSION_CREATED_TAG] = str(created_time)
        history = json.dumps(histories.get((name, version), []))
        if histories.get((name, version)) and len(history) <= VERSION_TAG_VALUE_LIMIT:
            tags[STAGE_HISTORY_TAG] = history
        mlflow_run = mlflow_run_ids[run_id]
        model_version = client.create_model_version(
            name, source=f"runs:/{mlflow_run}/{artifact_path}", run_id=mlflow_run, tags=tags, description=description)
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
