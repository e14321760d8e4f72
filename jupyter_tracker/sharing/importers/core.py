"""What every importer shares: a source run in our vocabulary, and writing many of them into the
store idempotently, in one transaction.

A reader (one module per peer) lists the runs of a source as ``SourceRef``s, each with the
source's own identity and a ``load`` that reads the run completely or raises ``DamagedRunError``
with the reason. ``write_runs`` keys each run by kind + identity (a uuid5, so importing twice adds
nothing), loads only the runs the store does not have yet, writes them as tables in the bundle
layout and inserts them through ``bundle.import_tables``: one transaction for the whole import, so
a failure leaves nothing half imported, and a damaged source run is skipped with its reason before
anything is written.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ... import validation
from ...errors import InvalidValueError, MissingExtraError, TrackerError
from ...store.current import resolve_store
from ..bundle import ImportResult, import_tables

#: The run-id namespace of imported runs: run_id = uuid5(NAMESPACE, "<kind>:<identity>").hex.
NAMESPACE = uuid.UUID("6c1f3b52-8a0e-4d0b-9a57-3e1f0c7d2b11")
#: Tag holding the source's own run id (and ``origin`` says which source).
SOURCE_RUN_TAG = "import.source_run_id"
#: Tag holding the run's ``origin`` ("<kind>:<source>"), so ``search_runs(filter="tags.origin = ...")`` finds it.
ORIGIN_TAG = "origin"
#: Tag saying why an imported run's status is not the one the source shows (e.g. running forever).
STATUS_NOTE_TAG = "import.status_note"
_BAD_KEY_CHARACTERS = re.compile(r"[^A-Za-z0-9_\-./ ]")


class DamagedRunError(TrackerError, ValueError):
    """A source run cannot be read completely; the importer skips it and says why."""


@dataclass
class SourceRun:
    """One run of a peer tracker, in our vocabulary (times in epoch milliseconds).

    Metric points are kept column-wise (four parallel lists) since a run may hold millions."""

    name: str | None
    status: str                      # FINISHED | FAILED | KILLED
    start_time: int
    end_time: int | None = None
    experiment: str | None = None    # the source's project/experiment; the importer's argument wins
    params: dict[str, object] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metric_keys: list[str] = field(default_factory=list)
    metric_steps: list[int] = field(default_factory=list)
    metric_times: list[int] = field(default_factory=list)
    metric_values: list[float] = field(default_factory=list)
    files: list[tuple[str, Path]] = field(default_factory=list)   # (artifact path, local file)
    parent_identity: str | None = None
    status_note: str | None = None   # why the status differs from what the source shows

    def add_point(self, key: str, step: int, timestamp: int, value: float) -> None:
        """One metric point (the readers' hot loop: four appends)."""
        self.metric_keys.append(key)
        self.metric_steps.append(step)
        self.metric_times.append(timestamp)
        self.metric_values.append(value)


@dataclass
class SourceRef:
    """A run the source lists: its identity (unique within the kind) and how to read it."""

    identity: str
    label: str                        # what the summary calls it (a folder, a run name)
    load: Callable[[], SourceRun]


@dataclass
class ImportFromResult(ImportResult):
    """What ``import_from`` did: ``ImportResult``'s runs imported / already here (skipped) and
    points, plus the files copied in and the source runs skipped as damaged, with their reasons."""

    kind: str = ""
    origin: str = ""
    files: int = 0
    damaged: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: runs, points, files, skipped and why."""
        line = (f"{self.kind}: imported {len(self.imported)} run(s), {self.metric_points:,} metric point(s), "
                f"{self.files} file(s); {len(self.skipped)} already in the store")
        if self.damaged:
            reasons = "; ".join(f"{label}: {reason}" for label, reason in self.damaged.items())
            line += f"; skipped {len(self.damaged)} damaged: {reasons}"
        return line

    def __str__(self) -> str:
        return self.summary()


def require(module: str, extra: str, kind: str):
    """Import the peer's library ``module`` or raise ``MissingExtraError`` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(f"importing from {kind} reads its data with the {module!r} library, which is not "
                                f"installed; pip install 'jupyter_tracker[{extra}]'") from None


def run_id_for(kind: str, identity: str) -> str:
    """Our run id of a source run: the same on every import, so a second import finds it."""
    return uuid.uuid5(NAMESPACE, f"{kind}:{identity}").hex


def clean_key(key: str) -> str:
    """A source key as our keys allow (letters, digits, ``_ - . /`` and space, 1 to 250 characters):
    other characters become ``_``."""
    cleaned = _BAD_KEY_CHARACTERS.sub("_", key).strip()[:validation.MAX_KEY_LENGTH] or "_"
    return cleaned


def flatten(values: dict, prefix: str = "") -> dict[str, object]:
    """Nested config ``{"opt": {"lr": 1}}`` as params ``{"opt.lr": 1}``."""
    flat: dict[str, object] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def write_runs(kind: str, origin: str, refs: Iterable[SourceRef], experiment: str | None, *,
               default_experiment: str, progress: bool = True, store=None) -> ImportFromResult:
    """Load the runs of ``refs`` the store lacks and insert them all in one transaction.

    ``experiment`` (when given) receives every run; otherwise each run goes to its source's
    project/experiment, or ``default_experiment``. A ref whose ``load`` raises ``DamagedRunError``
    is skipped and listed with its reason in ``damaged``."""
    store = resolve_store(store)
    if experiment is not None:
        validation.check_key(experiment, "experiment")
    refs = list(refs)
    ids = {ref.identity: run_id_for(kind, ref.identity) for ref in refs}
    with store.session() as con:
        present = {r for (r,) in con.execute("SELECT run_id FROM internal.runs WHERE run_id IN "
                                             "(SELECT unnest(?::VARCHAR[]))", [list(ids.values())]).fetchall()}
    result = ImportFromResult([], sorted(ids[r.identity] for r in refs if ids[r.identity] in present),
                              kind=kind, origin=origin)
    wanted = [ref for ref in refs if ids[ref.identity] not in present]
    iterator: Iterable[SourceRef] = wanted
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(wanted, desc=f"import {kind}", unit="run")
    tables = _Tables()
    for ref in iterator:
        try:
            run = ref.load()
            target = experiment or (clean_key(run.experiment) if run.experiment else default_experiment)
            tables.add(ids[ref.identity], ref.identity, run, ids, origin, target, store)
        except DamagedRunError as exc:
            result.damaged[ref.label] = str(exc)
    if not tables.runs:
        return result
    with tempfile.TemporaryDirectory(prefix=f"jt-import-{kind}-") as work:
        work_dir = Path(work)
        tables.write(work_dir / "tables")
        inserted = import_tables(work_dir, origin, store=store, label=f"{kind} import")
    result.imported = inserted.imported
    result.skipped = sorted(set(result.skipped) | set(inserted.skipped))
    result.metric_points = inserted.metric_points
    result.files = tables.file_count
    return result


_RUN_COLUMNS = ("run_id", "experiment", "experiment_created_time", "run_name", "parent_run_id", "status",
                "start_time", "end_time", "last_seen", "user_name", "host", "pid", "source_kind", "source_code",
                "cell_id", "execution_count", "notebook_path", "script_path", "cell_key", "env_sha", "git_commit",
                "git_branch", "git_remote", "git_dirty", "error_type", "error_message", "error_traceback",
                "deleted", "origin")
_INT_COLUMNS = ("experiment_created_time", "start_time", "end_time", "last_seen", "pid", "execution_count")


class _Tables:
    """The bundle-layout tables of the runs being imported, checked run by run as they are added
    (so one bad run is skipped, not the whole import refused by ``check_tables``)."""

    def __init__(self) -> None:
        self.runs: list[dict] = []
        self.text_rows: dict[str, tuple[list, list, list]] = {"params": ([], [], []), "tags": ([], [], [])}
        self.metric_columns: tuple[list, list, list, list, list] = ([], [], [], [], [])
        self.artifacts: list[tuple] = []
        self.file_count = 0

    def add(self, run_id: str, identity: str, run: SourceRun, ids: dict[str, str], origin: str, experiment: str,
            store) -> None:
        import mimetypes

        if run.status not in ("FINISHED", "FAILED", "KILLED"):
            raise DamagedRunError(f"its status {run.status!r} is not one the store knows")
        name = validation.escaped_text(run.name.strip()[:validation.MAX_RUN_NAME_LENGTH]) if run.name else None
        params = self._texts("param", {clean_key(k): v for k, v in run.params.items()})
        tags = self._texts("tag", {clean_key(k): v for k, v in run.tags.items()})
        tags[ORIGIN_TAG] = validation.escaped_text(origin)[:validation.MAX_TAG_VALUE_LENGTH]
        tags[SOURCE_RUN_TAG] = validation.tag_text(SOURCE_RUN_TAG, validation.escaped_text(identity))
        if run.status_note:
            tags[STATUS_NOTE_TAG] = run.status_note[:validation.MAX_TAG_VALUE_LENGTH]
        artifacts = []
        for path, file in run.files:
            try:
                normal = validation.artifact_path(path)
            except TrackerError as exc:
                raise DamagedRunError(f"its file {path!r} cannot be an artifact path: {exc}") from None
            if not normal or not file.is_file():
                continue
            sha, size = store.objects.put_file(file)   # unreferenced objects are harmless; gc removes them
            media_type = mimetypes.guess_type(normal)[0] or "application/octet-stream"
            artifacts.append((run_id, normal, size, media_type, sha, run.end_time or run.start_time))
        keys = {key: clean_key(key) for key in set(run.metric_keys)}
        end = run.end_time if run.end_time is not None else max(run.metric_times, default=run.start_time)
        parent = ids.get(run.parent_identity) if run.parent_identity else None
        self.runs.append({
            "run_id": run_id, "experiment": experiment, "experiment_created_time": run.start_time,
            "run_name": name, "parent_run_id": parent, "status": run.status, "start_time": run.start_time,
            "end_time": end, "last_seen": end, "source_kind": origin.split(":", 1)[0], "deleted": False,
            "error_message": run.status_note if run.status != "FINISHED" else None})
        for table, values in (("params", params), ("tags", tags)):
            run_ids, names, texts = self.text_rows[table]
            run_ids.extend([run_id] * len(values))
            names.extend(values)
            texts.extend(values.values())
        run_column, key_column, step_column, time_column, value_column = self.metric_columns
        run_column.extend([run_id] * len(run.metric_keys))
        key_column.extend(keys[key] for key in run.metric_keys)
        step_column.extend(run.metric_steps)
        time_column.extend(run.metric_times)
        value_column.extend(run.metric_values)
        self.artifacts.extend(artifacts)
        self.file_count += len(artifacts)

    @staticmethod
    def _texts(kind: str, values: dict[str, object]) -> dict[str, str]:
        text_of = validation.param_text if kind == "param" else validation.tag_text
        limit = validation.MAX_PARAM_VALUE_LENGTH if kind == "param" else validation.MAX_TAG_VALUE_LENGTH
        texts = {}
        for key, value in values.items():
            shown = value if isinstance(value, str) else _json_text(value)
            if len(shown) > limit:
                shown = shown[:limit - 1] + "…"
            try:
                texts[key] = text_of(key, validation.escaped_text(shown))
            except InvalidValueError as exc:
                raise DamagedRunError(f"its {kind} {key!r} cannot be stored: {exc}") from None
        return texts

    def write(self, directory: Path) -> None:
        """The tables as Parquet files in the bundle layout ``import_tables`` reads."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        directory.mkdir(parents=True, exist_ok=True)
        string, int64 = pa.string(), pa.int64()
        run_types = {c: int64 if c in _INT_COLUMNS else pa.bool_() if c in ("git_dirty", "deleted") else string
                     for c in _RUN_COLUMNS}
        schema = pa.schema([(c, run_types[c]) for c in _RUN_COLUMNS])
        pq.write_table(pa.Table.from_pylist(self.runs, schema=schema), directory / "runs.parquet")
        for table, (run_ids, keys, texts) in self.text_rows.items():
            pq.write_table(pa.table({"run_id": pa.array(run_ids, string), "key": pa.array(keys, string),
                                     "value": pa.array(texts, string)}), directory / f"{table}.parquet")
        run_ids, keys, steps, times, values = self.metric_columns
        metrics = pa.table({"run_id": pa.array(run_ids, string), "key": pa.array(keys, string),
                            "step": pa.array(steps, int64), "timestamp": pa.array(times, int64),
                            "value": pa.array(values, pa.float64())})
        pq.write_table(metrics, directory / "metrics.parquet")
        # latest value per (run, key): the point with the highest (step, timestamp), last logged on ties
        order = pa.array(range(len(run_ids)), int64)
        ranked = metrics.append_column("jt_order", order).sort_by(
            [("run_id", "ascending"), ("key", "ascending"), ("step", "descending"), ("timestamp", "descending"),
             ("jt_order", "descending")])
        if ranked.num_rows:
            run_col, key_col = ranked["run_id"], ranked["key"]
            first = pc.or_(pc.not_equal(run_col[1:], run_col[:-1]), pc.not_equal(key_col[1:], key_col[:-1]))
            keep = pa.concat_arrays([pa.array([True]), first.combine_chunks()])
            latest = ranked.filter(keep).drop_columns(["jt_order"])
        else:
            latest = metrics
        pq.write_table(latest, directory / "latest_metrics.parquet")
        columns = list(zip(*self.artifacts)) if self.artifacts else [[] for _ in range(6)]
        artifact_types = [("run_id", string), ("path", string), ("size", int64), ("media_type", string),
                          ("sha256", string), ("created_time", int64)]
        pq.write_table(pa.table({name: pa.array(list(column), kind)
                                 for (name, kind), column in zip(artifact_types, columns)}),
                       directory / "artifacts.parquet")


def _json_text(value: object) -> str:
    import json

    try:
        return json.dumps(value, sort_keys=True, default=str, allow_nan=True)
    except (TypeError, ValueError):
        return str(value)
