"""``jt.pull``: bring the runs of an MLflow experiment into the local store.

``pull(tracking_uri, experiment, filter)`` brings runs back through the same one-transaction
importer as bundles (``bundle.import_tables``, every row checked first), keeping our run ids
(``jt.run_id``) or MLflow's 32-hex run ids for runs made elsewhere, so pulling twice adds nothing.
It brings back what ``push`` sends: params, full metric histories (±inf put back from
``jt.infinite_points``), tags, artifacts, nesting, the notebook snapshot, the console output and
the environment, and the registered model versions of the pulled runs with their stages, aliases
and stage history (numbered as ``push`` numbered them: the version tag ``jt.version``, or MLflow's
own number for versions registered elsewhere).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ExperimentNotFoundError, SyncError
from ..mlflow_layout import (
    BOOKKEEPING_ARTIFACTS,
    CONSOLE_ARTIFACT,
    ENVIRONMENT_ARTIFACT,
    INFINITE_ARTIFACT,
    INFINITE_TAG,
    MAX_DOUBLE,
    MLFLOW_RUN_TAG,
    ORIGIN_PREFIX,
    RUN_ID_TAG,
    SNAPSHOT_ARTIFACT,
    STAGE_HISTORY_TAG,
    STAGE_TAG,
    VERSION_CREATED_TAG,
    VERSION_TAG,
    VERSION_USER_TAG,
    is_bookkeeping_tag,
)
from ..store.current import resolve_store
from .bundle import ImportResult, import_tables
from .mlflow_client import RequestSettings, connect, refuse_missing_sqlite, remote_files, talking_to

#: What ``pull`` did has the shape of what ``import_runs`` did (pull imports through a bundle).
PullResult = ImportResult


def pull(tracking_uri: str, experiment: str, filter: str | None = None, *, max_results: int = 10_000,
         progress: bool = False, store=None, settings: RequestSettings | None = None, live: bool = False
         ) -> PullResult:
    """Bring the runs of an MLflow ``experiment`` (optionally an MLflow ``filter`` string such as
    ``"metrics.acc > 0.9"``) into the local store: params, full metric histories, tags, artifacts,
    nesting, snapshot, console output, environment and registered versions. Runs the store already
    has are skipped; everything goes in one transaction. ``settings`` as for ``push``.

    ``live`` (team sync's follow): a run still RUNNING on the server comes RUNNING, with its points so
    far, and the runs pulled so while RUNNING are pulled again on the next call (replaced as the server
    has them now) until they have ended."""
    with talking_to(tracking_uri, "pull", settings or RequestSettings()):
        return _pull(tracking_uri, experiment, filter, max_results, progress, resolve_store(store), live)


def _pull(tracking_uri: str, experiment: str, filter: str | None, max_results: int, progress: bool,
          store, live: bool = False) -> PullResult:
    refuse_missing_sqlite(tracking_uri)
    client = connect(tracking_uri)
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
    origin = f"{ORIGIN_PREFIX}{tracking_uri}#{found.experiment_id}"
    with store.session() as con:
        stored = dict(con.execute("SELECT run_id, status = 'RUNNING' AND origin = ? FROM internal.runs WHERE run_id IN "
                                  "(SELECT unnest(?::VARCHAR[]))", [origin, list(ours.values())]).fetchall())
    # a live pull takes again the runs it brought while they ran (only those: never a run of ours)
    replace = sorted(run_id for run_id, pulled_live in stored.items() if live and pulled_live)
    wanted = [r for r in mlflow_runs if ours[r.info.run_id] not in stored or ours[r.info.run_id] in replace]
    with tempfile.TemporaryDirectory(prefix="jt-pull-") as work:
        work_dir = Path(work)
        iterator = wanted
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(wanted, desc="pull", unit="run")
        tables = _Tables()
        for mlflow_run in iterator:
            _collect_run(client, mlflow_run, ours, tables, work_dir, experiment, live)
            _collect_versions(client, mlflow_run.info.run_id, ours, tables)
        _collect_aliases(tables)
        tables.write(work_dir / "tables")
        imported = import_tables(work_dir, origin, store=store, label=f"pull from {tracking_uri}",
                                 replace=replace, keep_running=live)
    skipped = sorted(set(ours.values()) - set(imported.imported))
    return ImportResult(imported.imported, skipped, imported.metric_points, imported.model_versions)


_RUN_COLUMNS = ["run_id", "experiment", "experiment_created_time", "run_name", "parent_run_id", "status",
                "start_time", "end_time", "last_seen", "user_name", "host", "pid", "source_kind", "source_code",
                "cell_id", "execution_count", "notebook_path", "script_path", "cell_key", "env_sha", "git_commit",
                "git_branch", "git_remote", "git_dirty", "error_type", "error_message", "error_traceback",
                "deleted", "origin"]


@dataclass
class _Tables:
    """The bundle-layout tables of the pulled runs, as rows, until ``write`` makes them Parquet."""

    runs: list[dict] = field(default_factory=list)
    params: list[tuple] = field(default_factory=list)
    tags: list[tuple] = field(default_factory=list)
    metrics: list[tuple] = field(default_factory=list)
    latest_metrics: list[tuple] = field(default_factory=list)
    artifacts: list[tuple] = field(default_factory=list)
    snapshots: list[tuple] = field(default_factory=list)
    console: list[tuple] = field(default_factory=list)
    environments: dict[str, tuple] = field(default_factory=dict)
    registered_models: dict[str, tuple] = field(default_factory=dict)
    model_versions: list[tuple] = field(default_factory=list)
    stage_transitions: list[tuple] = field(default_factory=list)
    model_aliases: list[tuple] = field(default_factory=list)
    #: (model name, MLflow's version number) -> our number, and each model's aliases on the server.
    version_numbers: dict[tuple[str, str], int] = field(default_factory=dict)
    remote_aliases: dict[str, dict[str, str]] = field(default_factory=dict)

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
            "console": (self.console, [("run_id", string), ("seq", int64), ("stream", string), ("text", string),
                                       ("timestamp", int64)]),
            "environments": (list(self.environments.values()), [("env_sha", string), ("python", string),
                                                                ("platform", string), ("content", string)]),
            "registered_models": (list(self.registered_models.values()), [
                ("name", string), ("description", string), ("created_time", int64), ("updated_time", int64)]),
            "model_versions": (self.model_versions, [
                ("name", string), ("version", int64), ("run_id", string), ("artifact_path", string),
                ("source", string), ("stage", string), ("description", string), ("user_name", string),
                ("created_time", int64), ("updated_time", int64)]),
            "stage_transitions": (self.stage_transitions, [
                ("name", string), ("version", int64), ("from_stage", string), ("to_stage", string),
                ("user_name", string), ("comment", string), ("timestamp", int64)]),
            "model_aliases": (self.model_aliases, [("name", string), ("alias", string), ("version", int64)]),
        }
        for name, (rows, fields) in layouts.items():
            columns = list(zip(*rows)) if rows else [[] for _ in fields]
            table = pa.table({f: pa.array(list(col), type=t) for (f, t), col in zip(fields, columns)})
            pq.write_table(table, directory / f"{name}.parquet")


def _not_what_push_wrote(what: str, mlflow_run_id: str, consequence: str) -> SyncError:
    return SyncError(f"the {what} of MLflow run {mlflow_run_id} is not what push writes; {consequence}. Fix or "
                     f"delete it on the server, then pull again")


def _collect_run(client, mlflow_run, ours: dict[str, str], tables: _Tables, work_dir: Path, experiment: str,
                 live: bool = False) -> None:
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
            raise _not_what_push_wrote(f"tag {INFINITE_TAG}", info.run_id,
                                       "its ±inf points would come back as ±1.8e308") from None
    ended = {"FINISHED": "FINISHED", "FAILED": "FAILED", "KILLED": "KILLED"}
    status = ended.get(info.status, "RUNNING" if live and info.status == "RUNNING" else "KILLED")
    run_row = {
        "run_id": run_id, "experiment": experiment, "experiment_created_time": info.start_time,
        "run_name": data.tags.get("mlflow.runName") or info.run_name or run_id[:8], "parent_run_id": parent,
        "status": status, "start_time": info.start_time,
        "end_time": None if status == "RUNNING" else info.end_time or info.start_time,
        "last_seen": info.end_time or info.start_time, "user_name": data.tags.get("mlflow.user"),
        "source_kind": "mlflow", "origin": "mlflow", "deleted": False}
    tables.runs.append(run_row)
    tables.params.extend((run_id, k, v) for k, v in data.params.items())
    tables.tags.extend((run_id, k, v) for k, v in data.tags.items() if not is_bookkeeping_tag(k))
    if info.run_id != run_id:
        tables.tags.append((run_id, MLFLOW_RUN_TAG, info.run_id))
    for key in sorted(data.metrics):
        history = client.get_metric_history(info.run_id, key)
        best = None
        for metric in history:
            value = metric.value
            if abs(value) == MAX_DOUBLE:
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

    for path, _ in sorted(remote_files(client, info.run_id).items()):
        if path == INFINITE_ARTIFACT:
            continue
        local = Path(client.download_artifacts(info.run_id, path, str(download_dir)))
        if path == SNAPSHOT_ARTIFACT:
            meta_sha, cell_shas = _snapshot_objects(objects, local)
            for sha in {meta_sha, *cell_shas}:
                stage(sha)
            tables.snapshots.append((run_id, "executed", None, meta_sha, cell_shas, created))
        elif path == CONSOLE_ARTIFACT:
            tables.console.extend(_console_rows(local, run_id, info.run_id))
        elif path == ENVIRONMENT_ARTIFACT:
            _restore_environment(local, run_row, tables, info.run_id)
        elif path not in BOOKKEEPING_ARTIFACTS:
            sha, size = objects.put_file(local)
            stage(sha)
            media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
            tables.artifacts.append((run_id, path, size, media_type, sha, created))


def _read_json(file: Path, what: str, mlflow_run_id: str) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise _not_what_push_wrote(what, mlflow_run_id, "it is not readable JSON") from None


def _console_rows(file: Path, run_id: str, mlflow_run_id: str) -> list[tuple]:
    """The console rows of ``console.json`` (push's layout); each row is checked again on import."""
    chunks = _read_json(file, f"artifact {CONSOLE_ARTIFACT}", mlflow_run_id)
    try:
        return [(run_id, chunk["seq"], chunk["stream"], chunk["text"], chunk["timestamp"]) for chunk in chunks]
    except (KeyError, TypeError):
        raise _not_what_push_wrote(f"artifact {CONSOLE_ARTIFACT}", mlflow_run_id,
                                   "it is not a list of {seq, stream, text, timestamp}") from None


def _restore_environment(file: Path, run_row: dict, tables: _Tables, mlflow_run_id: str) -> None:
    """The run's env_sha and git fields, and its environment row, from ``environment.json``."""
    environment = _read_json(file, f"artifact {ENVIRONMENT_ARTIFACT}", mlflow_run_id)
    git = environment.get("git") if isinstance(environment, dict) else None
    if not isinstance(git, dict):
        raise _not_what_push_wrote(f"artifact {ENVIRONMENT_ARTIFACT}", mlflow_run_id,
                                   "it lacks the fields env_sha, python, platform, content and git")
    run_row.update({"env_sha": environment.get("env_sha"), "git_commit": git.get("commit"),
                    "git_branch": git.get("branch"), "git_remote": git.get("remote"), "git_dirty": git.get("dirty")})
    content = environment.get("content")
    if run_row["env_sha"] is not None and content is not None:
        tables.environments[run_row["env_sha"]] = (run_row["env_sha"], environment.get("python"),
                                                   environment.get("platform"), json.dumps(content))


def _collect_versions(client, mlflow_run_id: str, ours: dict[str, str], tables: _Tables) -> None:
    """The registered versions made from one pulled run, numbered as ``push`` numbered them (the
    tag ``jt.version``) or as MLflow did; with stage, stage history and the model's row."""
    run_id = ours[mlflow_run_id]
    for version in client.search_model_versions(f"run_id = '{mlflow_run_id}'"):
        tags = version.tags or {}
        try:
            number = int(tags.get(VERSION_TAG) or version.version)
            created = int(tags.get(VERSION_CREATED_TAG) or version.creation_timestamp)
            history = json.loads(tags.get(STAGE_HISTORY_TAG) or "[]")
            transitions = [(version.name, number, h["from_stage"], h["to_stage"], h["user"], h["comment"],
                            h["timestamp"]) for h in history]
        except (ValueError, KeyError, TypeError):
            raise _not_what_push_wrote(f"tags of model version {version.name} v{version.version}", mlflow_run_id,
                                       "its number, time or stage history cannot be read") from None
        prefix = f"runs:/{mlflow_run_id}/"
        source = version.source or ""
        artifact_path = source[len(prefix):] if source.startswith(prefix) else None
        stage = tags.get(STAGE_TAG) or version.current_stage or "None"
        tables.model_versions.append((
            version.name, number, run_id, artifact_path,
            f"runs:/{run_id}/{artifact_path}" if artifact_path is not None else source, stage,
            version.description or None, tags.get(VERSION_USER_TAG) or version.user_id or None, created,
            version.last_updated_timestamp or created))
        tables.stage_transitions.extend(transitions)
        tables.version_numbers[(version.name, str(version.version))] = number
        if version.name not in tables.registered_models:
            model = client.get_registered_model(version.name)
            tables.registered_models[version.name] = (version.name, model.description or None,
                                                      model.creation_timestamp, model.last_updated_timestamp)
            tables.remote_aliases[version.name] = dict(model.aliases or {})


def _collect_aliases(tables: _Tables) -> None:
    """The aliases (MLflow keeps them on the registered model) that point at a pulled version."""
    for name, aliases in tables.remote_aliases.items():
        tables.model_aliases.extend((name, alias, tables.version_numbers[(name, str(mlflow_version))])
                                    for alias, mlflow_version in sorted(aliases.items())
                                    if (name, str(mlflow_version)) in tables.version_numbers)


def _snapshot_objects(objects, notebook_file: Path) -> tuple[str, list[str]]:
    """Store a pushed snapshot notebook the way the store keeps snapshots: one object per cell."""
    import nbformat

    from ..capture.snapshot import put_json

    notebook = json.loads(json.dumps(nbformat.read(str(notebook_file), as_version=4)))  # sources stay strings
    cells = notebook.pop("cells")
    return put_json(objects, notebook), [put_json(objects, cell) for cell in cells]
