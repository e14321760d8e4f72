"""The REST API's domain functions: plain Python that turns the query layer into JSON-ready dicts.

Nothing here knows tornado; ``handlers.py`` only translates HTTP to these calls and back. Every
function takes the server's ``root_dir`` and the request's ``dir`` (a notebook folder relative to
it) and finds the store the way a kernel started in that folder would, except that discovery
never looks above ``root_dir`` and refuses a store reached through a symlink out of it: the API
serves only what is under its root (a store the server process was explicitly given, with
``JUPYTER_TRACKER_DIR`` or ``TrackerConfig.store_dir``, is its operator's choice and is used as
is). Functions that only read never create a store: without one they answer empty. Times are epoch milliseconds; NaN and
infinite metric values become ``null`` with their true value kept in a ``*_nonfinite`` map.
"""

from __future__ import annotations

import math
import re
from pathlib import Path, PurePosixPath
from typing import Any, cast

from .. import cleanup, manage, query, registry
from ..config import STORE_DIRNAME, resolve_store_dir
from ..errors import (
    ConfirmationRequiredError,
    InvalidArtifactPathError,
    InvalidValueError,
    PathOutsideRootError,
    RunNotFoundError,
)
from ..query.sync import run_sync_states, syncing_count, syncing_runs
from ..store.database import Store, get_store
from .payloads import (
    ActiveRun,
    ExperimentList,
    IExperimentSummary,
    IInputInfo,
    IMetricHistory,
    IModelVersion,
    IRegisteredModel,
    IRunDetails,
    IRunPage,
    IRunsDeleted,
    IRunSummary,
    IStoreInfo,
    ISyncState,
    ModelList,
    RestoredPath,
    RunDeleted,
    TagDeleted,
    TagSet,
)

CONSOLE_LIMIT = 20_000
MAX_PAGE = 1000
SNAPSHOT_KINDS = ("executed", "saved")


# -- paths and stores -------------------------------------------------------------------------------
def notebook_dir(root_dir: str | Path, relative_dir: str | None) -> Path:
    """``root_dir/relative_dir`` as an absolute path, refusing absolute paths and ``..`` escapes."""
    root = Path(root_dir).resolve()
    text = (relative_dir or "").strip()
    if text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", text) or "\x00" in text:
        raise PathOutsideRootError(f"dir must be a folder relative to the server's root, not {text!r}; "
                                   f"give e.g. dir=projects/mnist or leave it empty for the root")
    folder = _resolved(root / text)
    if folder is None:
        raise PathOutsideRootError(f"dir {text!r} holds a symlink loop; give a folder inside the server's root")
    if folder != root and root not in folder.parents:
        raise PathOutsideRootError(f"dir {text!r} points outside the server's root {root}; "
                                   f"give a folder inside it")
    return folder


def _inside(root: Path, path: Path) -> bool:
    return path == root or root in path.parents


def locate_store(root_dir: str | Path, relative_dir: str | None) -> Store:
    """The store a kernel started in ``root_dir/relative_dir`` would use, found without looking
    above ``root_dir`` (nothing is created). A store discovered above the root is not ours: the
    folder's own (absent) store is answered instead. A discovered store that is, or holds, a
    symlink leading out of the root (the database, the journal folder or a journal, the objects
    folder) is refused with PathOutsideRootError; the objects themselves are checked when served."""
    root = Path(root_dir).resolve()
    folder = notebook_dir(root, relative_dir)
    found = resolve_store_dir(cwd=folder).absolute()
    # Discovery answers ``<folder or an ancestor>/.jupyter_tracker``; anything else was configured.
    discovered = found.name == STORE_DIRNAME and (found.parent == folder or found.parent in folder.parents)
    if not discovered:
        return get_store(found)
    if not _inside(root, found.parent):
        found = folder / STORE_DIRNAME
    store = get_store(found)
    journals = sorted(store.journal_dir.iterdir()) if store.journal_dir.is_dir() else []
    for part in (store.root, store.db_path, store.journal_dir, store.objects.root, *journals):
        if part.is_symlink() or part.exists():
            target = _resolved(part)
            if target is None or not _inside(root, target):
                raise PathOutsideRootError(
                    f"{part.relative_to(root).as_posix()} is a link to {target or 'a link loop'}, outside the "
                    f"server's root {root}; the server only serves stores inside its root. Move the store into "
                    f"the root, or start the server with JUPYTER_TRACKER_DIR set to the store to serve it on purpose")
    return store


def _resolved(path: Path) -> Path | None:
    """``path`` with every symlink followed; None for a link loop."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # Python 3.11 raises RuntimeError on a loop, 3.13 OSError
        return None


def _existing_store(root_dir: str | Path, relative_dir: str | None) -> Store | None:
    # A store directory whose runs are still only in journals (no reader merged them yet) counts:
    # the first read merges them into tracker.duckdb as any reader would.
    store = locate_store(root_dir, relative_dir)
    return store if store.root.is_dir() else None


def _store_with_run(root_dir: str | Path, relative_dir: str | None, run_id: str) -> Store:
    store = _existing_store(root_dir, relative_dir)
    if store is None:
        raise RunNotFoundError(f"no run with id {run_id!r}: there is no jupyter_tracker store for "
                               f"{relative_dir or 'the root folder'} yet ({locate_store(root_dir, relative_dir).root})")
    return store


def store_info(root_dir: str | Path, relative_dir: str | None) -> IStoreInfo:
    """Where the store of ``relative_dir`` is, relative to the root when inside it, and whether it exists."""
    store = locate_store(root_dir, relative_dir)
    root = Path(root_dir).resolve()
    location = store.root.resolve()
    inside = location == root or root in location.parents
    return {"store": str(location), "store_relative": location.relative_to(root).as_posix() if inside else None,
            "exists": store.root.is_dir()}


# -- JSON shaping ------------------------------------------------------------------------------------
def _finite_metrics(metrics: dict[str, float | None]) -> tuple[dict[str, float | None], dict[str, str]]:
    values: dict[str, float | None] = {}
    nonfinite: dict[str, str] = {}
    for key, value in metrics.items():
        if value is not None and not math.isfinite(value):
            values[key] = None
            nonfinite[key] = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        else:
            values[key] = None if value is None else float(value)
    return values, nonfinite


def _json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as None, so the response is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _ms(value: Any) -> int | None:
    if value is None:
        return None
    if hasattr(value, "timestamp"):
        return int(round(value.timestamp() * 1000))
    number = float(value)
    return None if math.isnan(number) else int(number)


def _summary(base: dict[str, Any], values: dict[str, Any]) -> IRunSummary:
    metrics, nonfinite = _finite_metrics(values["metrics"])
    duration = base["duration_s"]
    return {
        "run_id": base["run_id"], "run_name": base["run_name"], "experiment": base["experiment"],
        "status": base["status"], "start_time": _ms(base["start_time"]), "end_time": _ms(base["end_time"]),
        "duration_s": None if duration is None or not math.isfinite(duration) else float(duration),
        "parent_run_id": base["parent_run_id"] or None,
        "params": dict(values["params"]), "metrics": metrics, "metrics_nonfinite": nonfinite,
        "tags": dict(values["tags"]),
    }


def _record_summary(record: query.RunRecord) -> IRunSummary:
    base = {name: getattr(record, name) for name in query.BASE_COLUMNS}
    return _summary(base, {"params": record.params, "metrics": record.metrics, "tags": record.tags})


def _int_argument(name: str, text: str | int | None, default: int, low: int, high: int) -> int:
    if text is None or text == "":
        return default
    try:
        number = int(text)
    except (TypeError, ValueError):
        raise InvalidValueError(f"{name} must be a whole number between {low} and {high}, not {text!r}") from None
    if not low <= number <= high:
        raise InvalidValueError(f"{name} must be between {low} and {high}, not {number}")
    return number


# -- reading -----------------------------------------------------------------------------------------
def experiments(root_dir: str | Path, relative_dir: str | None) -> ExperimentList:
    """``{"experiments": [{name, run_count, running_count, last_start_time}]}``, newest activity first."""
    store = _existing_store(root_dir, relative_dir)
    return {"experiments": cast(list[IExperimentSummary], query.experiment_summaries(store=store) if store else [])}


def runs(root_dir: str | Path, relative_dir: str | None, *, experiment: str | None = None,
         filter: str | None = None, order_by: str | None = None, limit: str | int | None = None,
         offset: str | int | None = None) -> IRunPage:
    """One page of run summaries (newest first unless ``order_by``), the number of matching runs
    and how many of them are RUNNING."""
    limit = _int_argument("limit", limit, 50, 1, MAX_PAGE)
    offset = _int_argument("offset", offset, 0, 0, 10**12)
    store = _existing_store(root_dir, relative_dir)
    if store is None:
        return {"runs": [], "total": 0, "running": 0}
    experiment = experiment or None
    frame = query.search_runs(experiment, filter or None, order_by or None, max_results=limit, offset=offset,
                              warn_unknown_keys=False, store=store)
    total, running = query.count_runs(experiment, filter or None, store=store)
    bases = frame[query.BASE_COLUMNS].astype(object).where(frame[query.BASE_COLUMNS].notna(), None)
    records = bases.to_dict("records")
    values = query.run_values([r["run_id"] for r in records], store=store)
    summaries = [_summary(r, values[r["run_id"]]) for r in records]
    syncs = run_sync_states([r["run_id"] for r in summaries], store=store)
    for summary in summaries:
        if summary["run_id"] in syncs:
            summary["sync"] = cast(ISyncState, syncs[summary["run_id"]])
    page: IRunPage = {"runs": summaries, "total": total, "running": running}
    if syncs:
        page["syncing"] = syncing_count(syncs)
    # Asked for, not caught: the warnings module is process-wide, so concurrent requests (one per
    # expanded experiment of the sidebar) would get each other's warnings. Asked of the whole store:
    # the sidebar's filter applies to every experiment, so a key one of them has is no typo.
    unknown = query.unknown_key_warnings(None, filter, store=store) if filter else []
    if unknown:
        page["warnings"] = unknown  # the sidebar shows them under its filter box, as a notebook would
    return page


def models(root_dir: str | Path, relative_dir: str | None) -> ModelList:
    """``{"models": [{name, description, tags, created_time, updated_time, versions}]}`` by name;
    ``versions`` newest first, each with its stage, aliases, source run id and run name (the fields
    IModelVersion declares; the registry's MLflow-only fields stay out). MLflow's prompts, which its
    registry keeps as models tagged ``mlflow.prompt.is_prompt``, are not models and are left out."""
    store = _existing_store(root_dir, relative_dir)
    if store is None:
        return {"models": []}
    shown = IModelVersion.__annotations__
    listed = [{**model, "versions": [{key: value for key, value in version.items() if key in shown}
                                     for version in model["versions"]]}
              for model in registry.registered_models_with_versions(store=store)
              if not registry.is_prompt(model["tags"])]
    return {"models": cast(list[IRegisteredModel], listed)}


def run_summary(root_dir: str | Path, relative_dir: str | None, run_id: str) -> IRunSummary:
    """The RunSummary of one run (what a row of ``runs`` holds)."""
    store = _store_with_run(root_dir, relative_dir, run_id)
    return _record_summary(query.get_run(run_id, store=store))


def run_details(root_dir: str | Path, relative_dir: str | None, run_id: str) -> IRunDetails:
    """Everything the run detail panel shows: the summary plus artifacts, inputs, environment, git,
    source, error, the console's last 20,000 characters, children, metric keys and snapshots."""
    store = _store_with_run(root_dir, relative_dir, run_id)
    record = query.get_run(run_id, store=store)
    kinds = query.snapshot_kinds(record.run_id, store=store)
    source = {"kind": None, "code": None, "cell_id": None, "execution_count": None, "notebook_path": None,
              "script_path": None, **record.source}
    return cast(IRunDetails, _json_safe({
        **_record_summary(record),
        "user": record.user, "host": record.host, "pid": record.pid,
        "artifacts": [{"path": a.path, "size": a.size, "media_type": a.media_type} for a in record.artifacts],
        "inputs": [_parsed_input(item) for item in record.inputs],
        "environment": record.environment, "git": record.git, "source": source, "error": record.error,
        "console": record.console[-CONSOLE_LIMIT:], "console_truncated": len(record.console) > CONSOLE_LIMIT,
        "children": record.children, "metric_keys": sorted(record.metrics),
        "has_snapshot": bool(kinds), "snapshot_kinds": kinds,
        "run_names": _run_names([*([record.parent_run_id] if record.parent_run_id else []), *record.children], store),
    }))


def _run_names(run_ids: list[str], store: Store) -> dict[str, str]:
    """Names of the parent and child runs a details panel links to, so links read as names."""
    if not run_ids:
        return {}
    frame = query.sql("SELECT run_id, run_name FROM runs WHERE list_contains(?, run_id)", [run_ids], store=store)
    return {str(run_id): str(name) for run_id, name in zip(frame["run_id"], frame["run_name"])}


def _parsed_input(item: dict[str, Any]) -> IInputInfo:
    import json

    parsed = dict(item)
    for key in ("schema", "profile"):
        if isinstance(parsed.get(key), str):
            try:
                parsed[key] = json.loads(parsed[key])
            except ValueError:
                pass  # not JSON: keep the stored text as it is
    return cast(IInputInfo, parsed)


def metric_history(root_dir: str | Path, relative_dir: str | None, run_id: str, key: str,
                   max_points: str | int | None = None) -> IMetricHistory:
    """A metric's points as parallel lists, downsampled to ``max_points`` with MinMaxLTTB (first,
    last, minimum and maximum kept); ``total_points`` counts them all. Non-finite values are null,
    with their position and true value in ``nonfinite``."""
    from ..downsample import downsample_indices

    max_points = _int_argument("max_points", max_points, 1000, 4, 1_000_000)
    store = _store_with_run(root_dir, relative_dir, run_id)
    # The whole series is read once either way (get_metric_history reads it all before its own
    # downsampling), so downsample here to also learn the total.
    frame = query.get_metric_history(run_id, key, store=store)
    total = len(frame)
    if total > max_points:
        frame = frame.iloc[downsample_indices(frame["step"].to_numpy(), frame["value"].to_numpy(), max_points)]
    values, nonfinite = [], {}
    for index, value in enumerate(frame["value"].tolist()):
        if math.isfinite(value):
            values.append(value)
        else:
            values.append(None)
            nonfinite[str(index)] = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return {"key": key, "steps": [int(s) for s in frame["step"].tolist()],
            "timestamps": _epoch_ms(frame["timestamp"]), "values": values,
            "nonfinite": nonfinite, "downsampled": len(frame) < total, "total_points": total}


def _epoch_ms(column: Any) -> list[int]:
    values = column.to_numpy()
    if values.dtype.kind == "M":  # get_metric_history gives datetimes; the chart wants epoch ms
        values = values.astype("datetime64[ms]").astype("int64")
    return [int(v) for v in values]


def artifact_file(root_dir: str | Path, relative_dir: str | None, run_id: str, path: str) -> tuple[Path, str, str]:
    """(file to send, media type, artifact path) of the run's artifact ``path``. Only paths the run
    logged are served, and only from the store's object directory."""
    pure = PurePosixPath(path or "")
    if not path or pure.is_absolute() or ".." in pure.parts or "\\" in path or "\x00" in path:
        raise InvalidArtifactPathError(f"artifact paths are relative paths inside the run such as "
                                       f"'plots/loss.png', without '..'; not {path!r}")
    store = _store_with_run(root_dir, relative_dir, run_id)
    artifact = query.get_run(run_id, store=store).artifact(path)
    local = Path(artifact.local_path).resolve()
    objects = store.objects.root.resolve()
    if objects not in local.parents:
        raise InvalidArtifactPathError(f"artifact {path!r} of run {run_id} points outside the store's "
                                       f"objects ({local}); the store may be damaged, run jupyter-tracker doctor")
    return local, artifact.media_type or "application/octet-stream", artifact.path


def snapshot(root_dir: str | Path, relative_dir: str | None, run_id: str, kind: str | None = None) -> str:
    """The run's notebook snapshot (``executed`` by default, or ``saved``) as .ipynb JSON text."""
    import nbformat

    store = _store_with_run(root_dir, relative_dir, run_id)
    notebook = query.load_snapshot(run_id, kind or "executed", store=store)
    return str(nbformat.writes(notebook))


# -- changing ----------------------------------------------------------------------------------------
def restore(root_dir: str | Path, relative_dir: str | None, run_id: str, kind: str | None = None) -> RestoredPath:
    """Write the run's snapshot as a NEW notebook next to the run's notebook (or in ``dir`` when the
    notebook is unknown or outside the root), named ``<stem>-<run_id[:8]>.ipynb`` with ``-2``,
    ``-3``... when taken. Never overwrites; returns the root-relative path."""
    kind = kind or "executed"
    if kind not in SNAPSHOT_KINDS:
        raise InvalidValueError(f"snapshot kind must be 'executed' or 'saved', not {kind!r}")
    root = Path(root_dir).resolve()
    folder = notebook_dir(root, relative_dir)
    store = _store_with_run(root, relative_dir, run_id)
    record = query.get_run(run_id, store=store)
    original = record.source.get("notebook_path")
    stem = _slug(record.run_name) or "run"
    if original:
        original_path = Path(original).resolve()
        stem = _slug(original_path.stem) or stem
        if root in original_path.parents and original_path.parent.is_dir():
            folder = original_path.parent
    prefix = f"{stem}-{record.run_id[:8]}"
    for number in range(1, 10_000):
        target = folder / (f"{prefix}.ipynb" if number == 1 else f"{prefix}-{number}.ipynb")
        if not target.exists():
            break
    else:
        raise InvalidValueError(f"{folder} already holds 9,999 restored copies named {prefix}-N.ipynb; "
                                f"delete some of them")
    written = query.restore_snapshot(record.run_id, target, kind, overwrite=False, store=store)
    return {"path": written.resolve().relative_to(root).as_posix()}


def _slug(text: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text or "").strip("-.")[:80]


def set_tag(root_dir: str | Path, relative_dir: str | None, run_id: str, key: str, body: Any) -> TagSet:
    """Set tag ``key`` of the run to ``body["value"]``."""
    if not isinstance(body, dict) or "value" not in body:
        raise InvalidValueError(f'setting a tag needs a JSON body {{"value": "..."}}, not {body!r}')
    manage.set_run_tag(run_id, key, body["value"], store=_store_with_run(root_dir, relative_dir, run_id))
    return {"ok": True}


def delete_tag(root_dir: str | Path, relative_dir: str | None, run_id: str, key: str) -> TagDeleted:
    """Remove tag ``key`` from the run; ``existed`` says whether it was there."""
    existed = manage.delete_run_tag(run_id, key, store=_store_with_run(root_dir, relative_dir, run_id))
    return {"ok": True, "existed": existed}


def rename(root_dir: str | Path, relative_dir: str | None, run_id: str, body: Any) -> IRunSummary:
    """Rename the run to ``body["run_name"]``; returns its updated summary."""
    if not isinstance(body, dict) or "run_name" not in body:
        raise InvalidValueError(f'renaming a run needs a JSON body {{"run_name": "..."}}, not {body!r}')
    store = _store_with_run(root_dir, relative_dir, run_id)
    manage.rename_run(run_id, body["run_name"], store=store)
    return _record_summary(query.get_run(run_id, store=store))


def delete(root_dir: str | Path, relative_dir: str | None, run_id: str, confirm: str | None) -> RunDeleted:
    """Mark the run deleted, but only when ``confirm`` repeats ``run_id`` (the UI asks first)."""
    if confirm != run_id:
        raise ConfirmationRequiredError(
            f"deleting run {run_id!r} needs confirm={run_id} in the query string (the same id as in the "
            f"URL); got confirm={confirm!r}")
    deleted = manage.delete_run(run_id, store=_store_with_run(root_dir, relative_dir, run_id))
    return {"deleted": deleted}


def delete_many(root_dir: str | Path, relative_dir: str | None, body: Any, confirm: str | None) -> IRunsDeleted:
    """Mark the runs ``body["run_ids"]`` names deleted, with their nested runs, all or nothing; only when
    ``confirm`` is how many ids were sent (the UI asks "Delete N runs?" first). Runs registered model
    versions point at, and RUNNING ones, are kept and listed as such."""
    run_ids = body.get("run_ids") if isinstance(body, dict) else None
    if not isinstance(run_ids, list) or not run_ids or not all(isinstance(r, str) for r in run_ids):
        raise InvalidValueError(f'deleting runs needs a JSON body {{"run_ids": ["<run id>", ...]}} with at least one '
                                f'id, not {body!r:.200}')
    if confirm != str(len(run_ids)):
        raise ConfirmationRequiredError(
            f"deleting {len(run_ids)} run(s) needs confirm={len(run_ids)} in the query string (how many ids the "
            f"body names); got confirm={confirm!r}")
    report = cleanup.delete_runs(run_ids=run_ids, store=_store_with_run(root_dir, relative_dir, run_ids[0]))
    return {"deleted": report.run_ids, "nested": report.nested_run_ids, "kept_registered": report.kept_registered,
            "kept_running": report.kept_running}


def active_run(root_dir: str | Path, relative_dir: str | None, pid: int | None,
               notebook_path: str | None = None) -> ActiveRun:
    """``{"run": RunSummary | None}``: the RUNNING run of the kernel process ``pid``, else of the
    notebook at root-relative ``notebook_path``. Cheap when nothing runs (one short session)."""
    store = _existing_store(root_dir, relative_dir)
    if store is None:
        return {"run": None}
    syncing = syncing_runs(store=store)
    answer = _active_run(store, root_dir, pid, notebook_path)
    if syncing:
        answer["syncing"] = syncing
    return answer


def _active_run(store: Store, root_dir: str | Path, pid: int | None, notebook_path: str | None) -> ActiveRun:
    absolute = None
    if notebook_path:
        root = Path(root_dir).resolve()
        candidate = notebook_dir(root, notebook_path)
        absolute = str(candidate)
    run_id = query.running_run_id(pid, absolute, store=store)
    if run_id is None:
        return {"run": None}
    try:
        return {"run": _record_summary(query.get_run(run_id, store=store))}
    except RunNotFoundError:  # deleted between the two sessions
        return {"run": None}
