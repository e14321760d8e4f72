"""Bundles: runs in one open, self-describing ``.jtrack`` file (format: README, "Sharing runs").

A bundle is a zip archive of Parquet tables (one per kind of record, keyed by run id, never by
store-internal integer keys), the content-addressed files its runs refer to (artifacts, snapshot
cells) under ``objects/<sha256>``, each run's notebook as a plain ``notebooks/<run_id>.ipynb``,
and ``manifest.json`` with the format version and the sha256 and size of every other member.
Anything that reads zip + Parquet + JSON can read it; this module is one such reader.

Import verifies the whole archive before it touches the store (names, sizes, sha256, and the
expansion of the archive as a whole, so no zip bomb unpacks), then checks every row of every
table: a bundle is data, never paths. The manifest only proves the members are the ones it lists;
whoever recomputes it can write any rows, so ids, keys, hashes, paths, statuses and counts are
held to the rules of the store's own write path (``check_tables``). Only then are objects copied
in (they are harmless while unreferenced) and every table inserted in ONE store transaction, so a
failure leaves nothing half imported. Runs already in the store are skipped, so importing twice adds
nothing. Imported runs keep their ids and timestamps; their ``origin`` (a column of the ``runs``
view) says where they came from, so ``search_runs`` of the importing store shows exactly what the
exporting store showed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import BundleError, InvalidValueError, PathExistsError
from ..query import resolve_run, run_ids_of
from ..store.current import resolve_store
from ..store.objects import sha256_file
from ..store.sql import fetch_one
from .bundle_checks import check_tables, column_list

FORMAT = "jupyter_tracker.bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: ``origin`` of an imported run: "bundle:<bundle file name>@<sha256 of the bundle, 16 hex>".
ORIGIN_PREFIX = "bundle:"
DEFAULT_MAX_UNPACKED_BYTES = 32 << 30
DEFAULT_MAX_RATIO = 250  # our exporter deflates at level 1: even a file of zeros stays under 230x

#: The registry's versions made from the exported runs, and the models they are versions of.
_EXPORTED_VERSIONS = "SELECT name, version FROM internal.model_versions WHERE run_id IN (SELECT run_id FROM jt_export)"
_EXPORTED_MODELS = "SELECT name FROM internal.model_versions WHERE run_id IN (SELECT run_id FROM jt_export)"
#: Table name -> SELECT exporting it for the chosen runs (registered as jt_export(run_key, run_id)).
_EXPORT_QUERIES = {
    "runs": """SELECT r.run_id, e.name AS experiment, e.created_time AS experiment_created_time, r.run_name,
                   r.parent_run_id, r.status, r.start_time, r.end_time, r.last_seen, r.user_name, r.host, r.pid,
                   r.source_kind, r.source_code, r.cell_id, r.execution_count, r.notebook_path, r.script_path,
                   r.cell_key, r.env_sha, r.git_commit, r.git_branch, r.git_remote, r.git_dirty, r.error_type,
                   r.error_message, r.error_traceback, r.deleted, r.origin
               FROM internal.runs r JOIN jt_export x USING (run_key) JOIN internal.experiments e USING (experiment_id)
               ORDER BY r.start_time, r.run_id""",
    "params": """SELECT x.run_id, p.key, p.value FROM internal.params p JOIN jt_export x USING (run_key)
                 ORDER BY 1, 2""",
    "tags": """SELECT x.run_id, t.key, t.value FROM internal.tags t JOIN jt_export x USING (run_key) ORDER BY 1, 2""",
    "metrics": """SELECT x.run_id, k.key, m.step, m.timestamp, m.value
                  FROM (SELECT *, rowid AS log_order FROM internal.metrics) m JOIN jt_export x USING (run_key)
                  JOIN internal.metric_keys k USING (key_id) ORDER BY x.run_id, k.key, m.log_order""",
    "latest_metrics": """SELECT x.run_id, k.key, m.step, m.timestamp, m.value FROM internal.latest_metrics m
                         JOIN jt_export x USING (run_key) JOIN internal.metric_keys k USING (key_id) ORDER BY 1, 2""",
    "artifacts": """SELECT x.run_id, a.path, a.size, a.media_type, a.sha256, a.created_time
                    FROM internal.artifacts a JOIN jt_export x USING (run_key)
                    WHERE a.size <= ? ORDER BY 1, 2""",
    "snapshots": """SELECT x.run_id, s.kind, s.notebook_path, s.meta_sha, s.cell_shas, s.created_time
                    FROM internal.snapshots s JOIN jt_export x USING (run_key) ORDER BY 1, 2, s.created_time""",
    "console": """SELECT x.run_id, c.seq, c.stream, c.text, c.timestamp FROM internal.console c
                  JOIN jt_export x USING (run_key) ORDER BY 1, 2""",
    "inputs": """SELECT x.run_id, i.name, i.digest, i.source, i.context, i.schema_json, i.profile_json, i.num_rows,
                        i.created_time FROM internal.inputs i JOIN jt_export x USING (run_key) ORDER BY 1, 2""",
    "environments": """SELECT env_sha, python, platform, content FROM internal.environments
                       WHERE env_sha IN (SELECT r.env_sha FROM internal.runs r JOIN jt_export USING (run_key))
                       ORDER BY 1""",
    "model_versions": """SELECT v.* FROM internal.model_versions v WHERE v.run_id IN (SELECT run_id FROM jt_export)
                         ORDER BY name, version""",
    "registered_models": f"""SELECT m.* FROM internal.registered_models m WHERE m.name IN ({_EXPORTED_MODELS})
                             ORDER BY name""",
    "stage_transitions": f"""SELECT t.* FROM internal.stage_transitions t SEMI JOIN ({_EXPORTED_VERSIONS}) v
                             USING (name, version) ORDER BY name, version, timestamp""",
    "model_aliases": f"""SELECT a.* FROM internal.model_aliases a SEMI JOIN ({_EXPORTED_VERSIONS}) v
                         USING (name, version) ORDER BY name, alias""",
    "registered_model_tags": f"""SELECT t.* FROM internal.registered_model_tags t
                                 WHERE t.name IN ({_EXPORTED_MODELS}) ORDER BY name, key""",
    "model_version_tags": f"""SELECT t.* FROM internal.model_version_tags t SEMI JOIN ({_EXPORTED_VERSIONS}) v
                              USING (name, version) ORDER BY name, version, key""",
    "mlflow_model_versions": f"""SELECT m.* FROM internal.mlflow_model_versions m SEMI JOIN ({_EXPORTED_VERSIONS}) v
                                 USING (name, version) ORDER BY name, version""",
    "deleted_model_versions": f"""SELECT d.* FROM internal.deleted_model_versions d
                                  WHERE d.name IN ({_EXPORTED_MODELS}) ORDER BY name, version""",
}
TABLES = tuple(_EXPORT_QUERIES)
#: Tables a bundle may lack: bundles written before the registry's tags, MLflow's version fields and
#: deleted version numbers were exported have none of them, and import as they always did.
OPTIONAL_TABLES = ("registered_model_tags", "model_version_tags", "mlflow_model_versions", "deleted_model_versions")
#: error_message of an imported run that was RUNNING in the exporting store (it arrives KILLED).
STILL_RUNNING_MESSAGE = ("the run was still running when it was exported; this store holds what it had logged "
                         "by then, and no process here will finish it")


@dataclass
class ExportResult:
    """What ``export_runs`` wrote."""

    path: Path
    run_ids: list[str]
    metric_points: int
    artifacts: int
    omitted_artifacts: list[dict] = field(default_factory=list)
    bytes: int = 0


@dataclass
class ImportResult:
    """What ``import_runs`` did: runs added, runs already present (skipped), registry rows added."""

    imported: list[str]
    skipped: list[str]
    metric_points: int = 0
    model_versions: int = 0


def _run_ids_from(runs) -> list[str]:
    """The run ids of ``runs`` in any form ``query.run_ids_of`` takes; at least one."""
    run_ids = run_ids_of(runs)
    if not run_ids:
        raise InvalidValueError("no runs given to export; pass run ids or a non-empty search_runs DataFrame")
    return run_ids


def collect_tables(run_ids, directory: Path, *, include_children: bool = True,
                   max_artifact_bytes: int | None = None, store=None) -> tuple[list[str], dict]:
    """Write the Parquet tables of ``run_ids`` (and their nested children) into ``directory``.

    Returns (full run ids, facts: metric_points, object shas, omitted artifacts). Shared by
    ``export_runs`` and the MLflow push (which reads the same tables)."""
    import numpy as np

    store = resolve_store(store)
    tables_dir = directory / "tables"
    tables_dir.mkdir(parents=True, exist_ok=True)
    limit = (1 << 62) if max_artifact_bytes is None else int(max_artifact_bytes)
    with store.session() as con:
        keys = dict(resolve_run(con, run_id) for run_id in _run_ids_from(run_ids))
        if include_children:
            frontier = list(keys.values())
            while frontier:
                children = con.execute("""SELECT run_key, run_id FROM internal.runs
                    WHERE parent_run_id IN (SELECT unnest(?::VARCHAR[])) AND NOT deleted""", [frontier]).fetchall()
                frontier = [run_id for run_key, run_id in children if run_key not in keys]
                keys.update((run_key, run_id) for run_key, run_id in children)
        con.register("jt_export", {"run_key": np.array(list(keys), dtype=np.int32),
                                   "run_id": np.array(list(keys.values()), dtype=object)})
        try:
            for table, query in _EXPORT_QUERIES.items():
                target = str(tables_dir / f"{table}.parquet").replace("'", "''")
                parameters = [limit] if table == "artifacts" else []
                con.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)", parameters)
            (points,) = fetch_one(con, "SELECT count(*) FROM internal.metrics JOIN jt_export USING (run_key)")
            shas = {sha for (sha,) in con.execute(f"""
                SELECT sha256 FROM read_parquet('{tables_dir / 'artifacts.parquet'}')
                UNION SELECT meta_sha FROM read_parquet('{tables_dir / 'snapshots.parquet'}')
                UNION SELECT unnest(cell_shas) FROM read_parquet('{tables_dir / 'snapshots.parquet'}')
                UNION SELECT json_extract_string(schema_json, '$.stored_object')
                      FROM read_parquet('{tables_dir / 'inputs.parquet'}')""").fetchall()
                    if sha}
            omitted = [{"run_id": run_id, "path": path, "size": size} for run_id, path, size in con.execute(
                """SELECT x.run_id, a.path, a.size FROM internal.artifacts a JOIN jt_export x USING (run_key)
                   WHERE a.size > ? ORDER BY 1, 2""", [limit]).fetchall()]
        finally:
            con.unregister("jt_export")
    return list(keys.values()), {"metric_points": int(points), "objects": sorted(shas), "omitted": omitted}


def export_runs(runs, path: str | Path, *, include_children: bool = True, max_artifact_bytes: int | None = None,
                include_notebooks: bool = True, overwrite: bool = False, progress: bool = False,
                store=None) -> ExportResult:
    """Write ``runs`` (ids or a ``search_runs`` DataFrame) into ONE bundle file at ``path``.

    The bundle holds run metadata, params, full metric histories, tags, nested-run lineage,
    notebook snapshots, artifacts (files larger than ``max_artifact_bytes`` left out and listed in
    the manifest), environments and the registry entries of the runs' models. ``include_children``
    also exports the nested runs under the given ones. The file is written under a temporary name
    and renamed, so an interrupted export never leaves a half bundle at ``path``.
    """
    from ..errors import SnapshotNotFoundError
    from ..query import load_snapshot

    store = resolve_store(store)
    target = Path(path)
    if target.exists() and not overwrite:
        raise PathExistsError(f"{target} already exists; choose another path or pass overwrite=True")
    if max_artifact_bytes is not None and (not isinstance(max_artifact_bytes, int) or max_artifact_bytes < 0):
        raise InvalidValueError(f"max_artifact_bytes must be a non-negative integer or None, "
                                f"not {max_artifact_bytes!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jt-export-") as work:
        work_dir = Path(work)
        run_ids, facts = collect_tables(runs, work_dir, include_children=include_children,
                                        max_artifact_bytes=max_artifact_bytes, store=store)
        members: dict[str, Path] = {f"tables/{t}.parquet": work_dir / "tables" / f"{t}.parquet" for t in TABLES}
        for sha in facts["objects"]:
            members[f"objects/{sha}"] = store.objects.path(sha)
        if include_notebooks:
            notebooks = work_dir / "notebooks"
            notebooks.mkdir()
            import nbformat
            import pyarrow.parquet as pq

            snapshots = pq.read_table(work_dir / "tables" / "snapshots.parquet", columns=["run_id", "kind"])
            executed = {run_id for run_id, kind in zip(snapshots["run_id"].to_pylist(), snapshots["kind"].to_pylist())
                        if kind == "executed"}
            for run_id in run_ids:
                if run_id not in executed:   # one store session per notebook: ask only for those that exist
                    continue
                try:
                    notebook = load_snapshot(run_id, "executed", store=store)
                except SnapshotNotFoundError:
                    continue
                file = notebooks / f"{run_id}.ipynb"
                nbformat.write(notebook, str(file))
                members[f"notebooks/{run_id}.ipynb"] = file
        missing = [name for name, file in members.items() if not file.exists()]
        if missing:
            raise BundleError(f"the store lacks {len(missing)} file(s) its runs refer to (first: {missing[0]}); "
                              f"run `jupyter-tracker doctor` to see the store's health before exporting")
        iterator = members.items()
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(list(iterator), desc="export", unit="file")
        manifest_members = {}
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
                for name, file in iterator:
                    manifest_members[name] = {"sha256": sha256_file(file), "size": file.stat().st_size}
                    compress = zipfile.ZIP_STORED if name.endswith(".parquet") else zipfile.ZIP_DEFLATED
                    archive.write(file, name, compress_type=compress)
                manifest = {
                    "format": FORMAT, "format_version": FORMAT_VERSION,
                    "created_time": int(time.time() * 1000), "created_by": _creator(),
                    "run_ids": run_ids, "tables": list(TABLES), "metric_points": facts["metric_points"],
                    "omitted_artifacts": facts["omitted"], "members": manifest_members,
                }
                archive.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
    artifact_count = sum(1 for name in members if name.startswith("objects/"))
    return ExportResult(target, run_ids, facts["metric_points"], artifact_count, facts["omitted"],
                        target.stat().st_size)


def _creator() -> str:
    from .. import __version__

    return f"jupyter_tracker {__version__}"


# -- reading and verifying -------------------------------------------------------------------------
def _check_member_name(name: str) -> None:
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise BundleError(f"bundle member {name!r} has an absolute or backslash path; bundles hold only "
                          f"relative '/'-separated names. The file was not made by jupyter_tracker or was "
                          f"tampered with: ask for a fresh export")
    parts = PurePosixPath(name).parts
    if not parts or any(part in ("..", ".", "") for part in parts) or name.endswith("/"):
        raise BundleError(f"bundle member {name!r} points outside the bundle ('..' or empty parts); refusing "
                          f"it. Ask for a fresh export")


def verify_bundle(path: str | Path, destination: Path, *, max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES,
                  max_ratio: int = DEFAULT_MAX_RATIO) -> dict:
    """Check every rule of the format and unpack ``path`` into ``destination``; return the manifest.

    Raises ``BundleError`` naming the member and the fix on: a missing or unreadable manifest, an
    unknown format version, unsafe names ('..', absolute, backslash), symlinks, duplicates,
    members missing from or not listed in the manifest, a size or sha256 that differs, or a total
    size or compression ratio beyond the limits (zip bombs)."""
    source = Path(path)
    if not source.is_file():
        raise BundleError(f"no bundle file at {source}; give the path of a .jtrack file made by export_runs")
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"{source} is not a readable bundle ({exc}); it may be truncated: copy it again") from None
    with archive:
        infos = archive.infolist()
        seen: set[str] = set()
        for info in infos:
            _check_member_name(info.filename)
            if info.filename in seen:
                raise BundleError(f"bundle member {info.filename!r} appears twice; refusing an ambiguous bundle")
            seen.add(info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise BundleError(f"bundle member {info.filename!r} is a symbolic link; bundles hold only files")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & 0x1:
                raise BundleError(f"bundle member {info.filename!r} is encrypted or compressed with method "
                                  f"{info.compress_type}; bundles are stored or deflated, unencrypted. The file was "
                                  f"not made by jupyter_tracker: ask for a fresh export")
        if MANIFEST not in seen:
            raise BundleError(f"{source} has no {MANIFEST}; it is not a jupyter_tracker bundle")
        manifest_info = archive.getinfo(MANIFEST)
        if manifest_info.file_size > 256 << 20:
            raise BundleError(f"{MANIFEST} of {source} declares {manifest_info.file_size} bytes; refusing it")
        try:
            manifest = json.loads(archive.read(MANIFEST))
        except (ValueError, zipfile.BadZipFile) as exc:
            raise BundleError(f"{MANIFEST} of {source} is not valid JSON ({exc}); the bundle is damaged") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BundleError(f"{source} is not a jupyter_tracker bundle (manifest format "
                              f"{manifest.get('format') if isinstance(manifest, dict) else None!r})")
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise BundleError(f"{source} has bundle format version {version!r}; this jupyter_tracker reads version "
                              f"{FORMAT_VERSION}. Upgrade with `pip install -U jupyter_tracker`")
        declared = manifest.get("members")
        if not isinstance(declared, dict):
            raise BundleError(f"{MANIFEST} of {source} has no 'members' table; the bundle is damaged")
        in_zip = seen - {MANIFEST}
        for name in sorted(in_zip - set(declared)):
            raise BundleError(f"bundle member {name!r} is not listed in the manifest; it was added after export. "
                              f"Ask for a fresh export")
        for name in sorted(set(declared) - in_zip):
            raise BundleError(f"bundle member {name!r} is listed in the manifest but missing from the zip; "
                              f"the bundle is incomplete: copy it again")
        total = compressed = 0
        for info in infos:
            if info.filename == MANIFEST:
                continue
            entry = declared[info.filename]
            if not isinstance(entry, dict) or entry.get("size") != info.file_size:
                raise BundleError(f"bundle member {info.filename!r} is {info.file_size} bytes but the manifest "
                                  f"says {entry.get('size') if isinstance(entry, dict) else entry!r}; tampered or "
                                  f"damaged bundle")
            total += info.file_size
            compressed += info.compress_size
            if info.file_size > (1 << 20) and info.file_size > max_ratio * max(info.compress_size, 1):
                ratio = info.file_size // max(info.compress_size, 1)
                raise BundleError(f"bundle member {info.filename!r} expands {ratio}x "
                                  f"(limit {max_ratio}x); refusing it as a possible zip bomb. Pass max_ratio= "
                                  f"higher if you trust the bundle")
        missing_tables = [t for t in TABLES if f"tables/{t}.parquet" not in declared and t not in OPTIONAL_TABLES]
        if missing_tables:
            raise BundleError(f"{source} lacks the table(s) {', '.join(missing_tables)}; the bundle is incomplete")
        _check_expansion(source, total, compressed, max_unpacked_bytes, max_ratio)
        destination.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(destination).free
        if total > free:
            raise BundleError(f"{source} unpacks to {total} bytes but only {free} are free under {destination}; "
                              f"free some disk space (or set TMPDIR to a larger disk) and import again")
        _unpack(archive, source, infos, declared, destination, total, max_unpacked_bytes)
    return manifest


#: Below this many unpacked bytes a bundle is too small to be a bomb, whatever its ratio.
_BOMB_FLOOR_BYTES = 1 << 20


def _check_expansion(source: Path, total: int, compressed: int, max_unpacked_bytes: int, max_ratio: int) -> None:
    """Refuse a bundle whose members together unpack beyond ``max_unpacked_bytes``, or expand more
    than ``max_ratio`` times over the whole archive (many small members add up as well as one big)."""
    if total > max_unpacked_bytes:
        raise BundleError(f"{source} unpacks to {total} bytes, more than {max_unpacked_bytes}; refusing it as a "
                          f"possible zip bomb. Pass max_unpacked_bytes= higher if you trust it")
    if total > _BOMB_FLOOR_BYTES and total > max_ratio * max(compressed, 1):
        raise BundleError(f"{source} expands {total // max(compressed, 1)}x overall ({compressed} bytes to "
                          f"{total}; limit {max_ratio}x); refusing it as a possible zip bomb. Pass max_ratio= "
                          f"higher if you trust the bundle")


def _unpack(archive: zipfile.ZipFile, source: Path, infos: list, declared: dict, destination: Path, total: int,
            max_unpacked_bytes: int) -> None:
    """Extract every member, checking each one's sha256 and counting the bytes actually written
    (declared sizes can lie); on any failure the files and folders written so far are removed."""
    import zlib

    written_files: list[Path] = []
    made_dirs: list[Path] = []
    written_total = 0
    limit = min(total, max_unpacked_bytes)
    try:
        for info in infos:
            if info.filename == MANIFEST:
                continue
            expected = declared[info.filename]
            target = destination / info.filename
            missing_parents = [p for p in reversed(target.relative_to(destination).parents)
                               if p != Path(".") and not (destination / p).exists()]
            target.parent.mkdir(parents=True, exist_ok=True)
            made_dirs.extend(destination / p for p in missing_parents)
            digest = hashlib.sha256()
            written = 0
            written_files.append(target)
            try:
                with archive.open(info) as reader, open(target, "wb") as writer:
                    while chunk := reader.read(1 << 20):
                        written += len(chunk)
                        written_total += len(chunk)
                        if written > info.file_size or written_total > limit:
                            raise BundleError(f"bundle member {info.filename!r} holds more bytes than declared "
                                              f"(its zip entry says {info.file_size}); refusing {source} as a "
                                              f"tampered bundle or zip bomb")
                        digest.update(chunk)
                        writer.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise BundleError(f"bundle member {info.filename!r} of {source} cannot be unpacked ({exc}); the "
                                  f"bundle is damaged or was tampered with: copy it again or ask for a fresh "
                                  f"export") from None
            if digest.hexdigest() != expected.get("sha256"):
                raise BundleError(f"bundle member {info.filename!r} has sha256 {digest.hexdigest()[:16]}… but the "
                                  f"manifest says {str(expected.get('sha256'))[:16]}…; the bundle was altered "
                                  f"or damaged. Ask for a fresh export")
            if info.filename.startswith("objects/") and PurePosixPath(info.filename).name != expected["sha256"]:
                raise BundleError(f"bundle object {info.filename!r} is not named by its sha256; tampered bundle")
    except BaseException:
        for file in written_files:
            file.unlink(missing_ok=True)
        for folder in reversed(made_dirs):
            try:
                folder.rmdir()
            except OSError:
                pass    # not empty: something else was written there, leave it
        raise


def import_runs(path: str | Path, *, max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES,
                max_ratio: int = DEFAULT_MAX_RATIO, progress: bool = False, store=None) -> ImportResult:
    """Import the runs of a bundle into the store, keeping their ids and timestamps.

    Idempotent: runs already in the store are skipped (importing twice adds nothing). Every
    imported run's ``origin`` is ``bundle:<file name>@<bundle sha256, 16 hex>``. The
    bundle is verified completely first (``verify_bundle``, then ``check_tables``); a damaged,
    tampered or crafted bundle is refused with a ``BundleError`` and the store is not changed. A
    run that was RUNNING when exported arrives KILLED (``STILL_RUNNING_MESSAGE``)."""
    store = resolve_store(store)
    source = Path(path)
    with tempfile.TemporaryDirectory(prefix="jt-import-") as work:
        unpacked = Path(work)
        manifest = verify_bundle(source, unpacked, max_unpacked_bytes=max_unpacked_bytes, max_ratio=max_ratio)
        origin = f"{ORIGIN_PREFIX}{source.name}@{sha256_file(source)[:16]}"
        return import_tables(unpacked, origin, store=store, progress=progress, manifest=manifest, label=source.name)


def import_tables(directory: Path, origin: str, *, progress: bool = False, store=None, manifest: dict | None = None,
                  label: str | None = None, replace: list[str] | None = None, keep_running: bool = False
                  ) -> ImportResult:
    """Insert the tables under ``directory/tables`` (bundle layout) and its ``objects/`` into the store.

    Every table is checked first (``check_tables``, against ``manifest`` when given), so rows that
    the store's own write path would never produce are refused before anything is written.
    Objects are copied in next (unreferenced objects are harmless, and ``gc`` removes them); all
    rows go in one transaction. Runs whose id is already stored are skipped; the others get
    ``origin``; a run that was still RUNNING when exported arrives KILLED, since no process here
    will ever end it. Used by ``import_runs`` and by the MLflow pull.

    A followed experiment's live runs (``pull(..., live=True)``) come with ``keep_running`` (a run
    RUNNING on the server stays RUNNING here: its writer is the teammate's process, and no journal of
    this store owns it, so the crash detection never marks it KILLED) and ``replace``: stored runs of
    ``origin`` that are taken out and inserted again as the server has them now, in the same
    transaction (a later pass updates them; runs of another origin are never replaced)."""
    import duckdb

    store = resolve_store(store)
    present = {t for t in TABLES if (directory / "tables" / f"{t}.parquet").exists()}
    check_tables(directory, present, store.objects, manifest, label)
    objects_dir = directory / "objects"
    if objects_dir.is_dir():
        files = sorted(objects_dir.iterdir())
        if progress:
            from tqdm.auto import tqdm

            files = tqdm(files, desc="objects", unit="file")
        for file in files:
            if not store.objects.exists(file.name):
                sha, _ = store.objects.put_file(file)
                if sha != file.name:
                    raise BundleError(f"object {file.name[:16]}… has different content (sha256 {sha[:16]}…); "
                                      f"tampered bundle")
    tables = {t: str(directory / "tables" / f"{t}.parquet").replace("'", "''") for t in TABLES}

    def scan(table: str) -> str:
        return f"read_parquet('{tables[table]}')"

    with store.session() as con:
        con.execute("BEGIN TRANSACTION")
        try:
            if replace:
                _remove_runs(con, replace, origin)
            result = _insert_all(con, scan, present, origin, keep_running)
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise BundleError(f"the tables of {directory.name} do not fit the bundle format ({exc}); nothing was "
                              f"imported. Export the runs again with this version of jupyter_tracker") from None
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return result


#: The tables keyed by ``run_key`` that an imported run has rows in.
_RUN_TABLES = ("params", "tags", "metrics", "latest_metrics", "artifacts", "snapshots", "console", "inputs")


def _remove_runs(con, run_ids: list[str], origin: str) -> None:
    """Take the imported runs ``run_ids`` of ``origin`` out of the store (inside the caller's transaction)."""
    con.execute("""CREATE OR REPLACE TEMP TABLE jt_replaced AS SELECT run_key FROM internal.runs
        WHERE origin = ? AND run_id IN (SELECT unnest(?::VARCHAR[]))""", [origin, run_ids])
    for table in (*_RUN_TABLES, "runs"):
        con.execute(f"DELETE FROM internal.{table} WHERE run_key IN (SELECT run_key FROM jt_replaced)")
    con.execute("DROP TABLE jt_replaced")


def _insert_all(con, scan, present: set[str], origin: str, keep_running: bool = False) -> ImportResult:
    (max_run_key,) = fetch_one(con, "SELECT coalesce(max(run_key), 0) FROM internal.runs")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE jt_import AS
        SELECT b.run_id, b.experiment, b.experiment_created_time,
               {max_run_key} + row_number() OVER (ORDER BY b.start_time, b.run_id) AS run_key,
               (r.run_id IS NOT NULL) AS already
        FROM {scan('runs')} b LEFT JOIN internal.runs r USING (run_id)""")
    con.execute("DELETE FROM jt_import WHERE already")
    imported = [r for (r,) in con.execute("SELECT run_id FROM jt_import ORDER BY run_key").fetchall()]
    skipped = [r for (r,) in con.execute(f"SELECT run_id FROM {scan('runs')} WHERE run_id NOT IN "
                                         f"(SELECT run_id FROM jt_import) ORDER BY run_id").fetchall()]
    points = 0
    if imported:
        con.execute("""INSERT INTO internal.experiments
            SELECT (SELECT coalesce(max(experiment_id), 0) FROM internal.experiments) + row_number() OVER (ORDER BY
                   experiment), experiment, created FROM (
                SELECT experiment, min(experiment_created_time) AS created FROM jt_import
                WHERE experiment NOT IN (SELECT name FROM internal.experiments) GROUP BY experiment)""")
        con.execute(f"""INSERT INTO internal.runs (run_key, run_id, experiment_id, run_name, parent_run_id, status,
                start_time, end_time, last_seen, user_name, host, pid, source_kind, source_code, cell_id,
                execution_count, notebook_path, script_path, cell_key, env_sha, git_commit, git_branch, git_remote,
                git_dirty, error_type, error_message, error_traceback, deleted, origin)
            SELECT i.run_key, b.run_id, e.experiment_id, b.run_name, b.parent_run_id,
                   if(still_running, 'KILLED', b.status), b.start_time,
                   if(still_running, coalesce(b.end_time, b.last_seen, b.start_time), b.end_time),
                   b.last_seen, b.user_name, b.host, b.pid, b.source_kind, b.source_code, b.cell_id,
                   b.execution_count, b.notebook_path, b.script_path, b.cell_key, b.env_sha, b.git_commit,
                   b.git_branch, b.git_remote, b.git_dirty,
                   if(still_running, coalesce(b.error_type, 'ExportedWhileRunning'), b.error_type),
                   if(still_running, ?, b.error_message), b.error_traceback, coalesce(b.deleted, false), ?
            FROM (SELECT *, status = 'RUNNING' AND NOT {keep_running} AS still_running FROM {scan('runs')}) b
            JOIN jt_import i USING (run_id)
            JOIN internal.experiments e ON e.name = b.experiment""", [STILL_RUNNING_MESSAGE, origin])
        for table, columns in (("params", "key, value"), ("tags", "key, value"),
                               ("artifacts", "path, size, media_type, sha256, created_time"),
                               ("snapshots", "kind, notebook_path, meta_sha, cell_shas, created_time"),
                               ("console", "seq, stream, text, timestamp"),
                               ("inputs", "name, digest, source, context, schema_json, profile_json, num_rows, "
                                          "created_time")):
            if table in present:
                selected = ", ".join(f"b.{c.strip()}" for c in columns.split(","))
                con.execute(f"""INSERT INTO internal.{table} (run_key, {columns})
                    SELECT i.run_key, {selected} FROM {scan(table)} b JOIN jt_import i USING (run_id)""")
        for table in ("metrics", "latest_metrics"):
            if table not in present:
                continue
            con.execute(f"""INSERT INTO internal.metric_keys
                SELECT (SELECT coalesce(max(key_id), 0) FROM internal.metric_keys) + row_number() OVER (ORDER BY key),
                       key FROM (SELECT DISTINCT key FROM {scan(table)}
                                 WHERE key NOT IN (SELECT key FROM internal.metric_keys))""")
            count = con.execute(f"""INSERT INTO internal.{table}
                SELECT i.run_key, k.key_id, b.step, b.timestamp, b.value FROM {scan(table)} b
                JOIN jt_import i USING (run_id) JOIN internal.metric_keys k ON k.key = b.key""").fetchall()
            if table == "metrics":
                points = int(count[0][0]) if count else 0
        if "environments" in present:
            con.execute(f"""INSERT INTO internal.environments SELECT b.env_sha, b.python, b.platform, b.content
                FROM {scan('environments')} b WHERE b.env_sha NOT IN (SELECT env_sha FROM internal.environments
                WHERE env_sha IS NOT NULL)""")
    versions = _insert_registry(con, scan, present)
    con.execute("DROP TABLE jt_import")
    return ImportResult(imported, skipped, points, versions)


def _insert_registry(con, scan, present: set[str]) -> int:
    """The registry entries of the bundle's runs: models the store lacks (with their tags), versions
    the store has no version of that name and number for (with their transitions, aliases, tags and
    MLflow's fields), and the numbers of deleted versions, so a number is never given again. A model
    or version the store already has is left as it is."""
    if "model_versions" not in present:
        return 0
    if "registered_models" in present:
        columns = column_list("registered_models")
        con.execute(f"""CREATE OR REPLACE TEMP TABLE jt_new_models AS SELECT {columns}
            FROM {scan('registered_models')} b WHERE b.name NOT IN (SELECT name FROM internal.registered_models)""")
        con.execute(f"INSERT INTO internal.registered_models ({columns}) SELECT {columns} FROM jt_new_models")
        if "registered_model_tags" in present:
            columns = column_list("registered_model_tags")
            con.execute(f"""INSERT INTO internal.registered_model_tags ({columns}) SELECT {columns}
                FROM {scan('registered_model_tags')} b SEMI JOIN jt_new_models m USING (name)""")
        con.execute("DROP TABLE jt_new_models")
    columns = column_list("model_versions")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE jt_new_versions AS SELECT {columns} FROM {scan('model_versions')} b
        ANTI JOIN internal.model_versions v USING (name, version)""")
    (count,) = fetch_one(con, "SELECT count(*) FROM jt_new_versions")
    con.execute(f"INSERT INTO internal.model_versions ({columns}) SELECT {columns} FROM jt_new_versions")
    for table in ("stage_transitions", "model_aliases", "model_version_tags", "mlflow_model_versions"):
        if table in present:
            columns = column_list(table)
            con.execute(f"""INSERT INTO internal.{table} ({columns}) SELECT {columns} FROM {scan(table)} b
                SEMI JOIN jt_new_versions v USING (name, version)""")
    if "deleted_model_versions" in present:
        columns = column_list("deleted_model_versions")
        con.execute(f"""INSERT INTO internal.deleted_model_versions ({columns}) SELECT {columns}
            FROM {scan('deleted_model_versions')} b ANTI JOIN internal.deleted_model_versions d USING (name, version)
            ANTI JOIN internal.model_versions v USING (name, version)""")
    con.execute("""DELETE FROM internal.model_aliases a WHERE EXISTS (SELECT 1 FROM internal.model_aliases o
        WHERE o.name = a.name AND o.alias = a.alias AND o.rowid < a.rowid)""")
    con.execute("DROP TABLE jt_new_versions")
    return int(count)


# -- checking the tables ---------------------------------------------------------------------------
# A bundle's manifest proves only that its members are the ones it lists: whoever recomputes it can
# put anything in the tables. So every row is checked against the rules the store's own write path
# keeps, before anything is written. Bulk rules run as SQL over the Parquet files (a metrics table
# may hold millions of points); rules that live in Python (keys, artifact paths) run on the few
# distinct values they apply to.


def unpack_for_reading(path: str | Path, destination: str | Path) -> dict:
    """Verify and unpack a bundle into ``destination`` without importing it (e.g. to open its
    Parquet tables with pandas); returns the manifest."""
    destination = Path(destination)
    if destination.exists() and any(destination.iterdir()):
        raise PathExistsError(f"{destination} is not empty; unpack into a new directory")
    try:
        return verify_bundle(path, destination)
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        raise
