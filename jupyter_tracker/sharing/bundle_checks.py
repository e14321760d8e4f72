"""The checks a bundle's tables pass before any row is imported: the format's columns and types,
unique keys, hashes that are sha256 digests present in the bundle or the store, artifact paths by
``log_artifact``'s rules, known statuses, readable timestamps, lineage without cycles, counts that
match the manifest. A bundle is data, never paths: every refusal is a ``BundleError`` naming the
table, the row, its run and the rule."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .. import validation
from ..errors import BundleError, TrackerError
from ..model_uri import STAGES, check_model_name
from ..registry import ALIAS_PATTERN, VERSION_STATUSES, check_tag
from ..store.objects import is_sha256

STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")
SNAPSHOT_KINDS = ("executed", "saved")
CONSOLE_STREAMS = ("stdout", "stderr")
#: Timestamps are epoch milliseconds that pandas can hold (years 1677 to 2262).
_MAX_EPOCH_MS = (2**63 - 1) // 1_000_000
#: Run ids are hex uuids here, MLflow's run ids when pulled; anything else is refused.
_RUN_ID_RULE = ("regexp_full_match({c}, '[0-9A-Za-z][0-9A-Za-z_-]{{0,63}}')",
                "run ids are 1 to 64 letters, digits, '_' or '-' (jupyter_tracker writes 32 hex digits)")
_SHA_RULE = ("regexp_full_match({c}, '[0-9a-f]{{64}}')", "hashes are sha256 digests: 64 lowercase hex digits")
_TIME_RULE = (f"{{c}}::HUGEINT BETWEEN {-_MAX_EPOCH_MS} AND {_MAX_EPOCH_MS}",
              f"timestamps are epoch milliseconds within ±{_MAX_EPOCH_MS} (years 1677 to 2262)")
_INT32_RULE = ("{c}::HUGEINT BETWEEN -2147483648 AND 2147483647", "this column holds 32-bit integers")
_INT64_RULE = ("{c}::HUGEINT BETWEEN -9223372036854775808 AND 9223372036854775807",
               "this column holds 64-bit integers")
_JSON_RULE = ("json_valid({c})", "this column holds JSON text")


def _one_of(values: tuple[str, ...]) -> tuple[str, str]:
    listed = ", ".join(f"'{v}'" for v in values)
    return f"{{c}} IN ({listed})", f"the value must be one of {listed}"


@dataclass(frozen=True)
class _Column:
    """One column of a bundle table: its kind, whether NULL is refused, and a rule on its values."""

    name: str
    kind: str = "text"            # text | int | float | bool | texts (a list of text)
    required: bool = False
    rules: tuple[tuple[str, str], ...] = ()


def _c(name: str, kind: str = "text", *rules: tuple[str, str], required: bool = False) -> _Column:
    if kind == "int" and not rules:
        rules = (_INT64_RULE,)
    return _Column(name, kind, required, rules)


def _time(name: str, required: bool = False) -> _Column:
    return _Column(name, "int", required, (_TIME_RULE,))


def _run_id(name: str = "run_id") -> _Column:
    return _Column(name, "text", True, (_RUN_ID_RULE,))


def _version(name: str = "version") -> _Column:
    return _Column(name, "int", True, (("{c} >= 1", "versions count from 1"), _INT32_RULE))


#: Where MLflow finds a version's files: a URI (``jupyter-tracker:///...``, ``s3://...``) or the local path
#: its source was, so any one line of text; the import never opens it (MLflow does, when asked to load).
_LOCATION_RULE = ("NOT regexp_matches({c}, '[[:cntrl:]]')", "a storage location holds no control characters")
_MODEL_ID_RULE = ("regexp_full_match({c}, '[0-9A-Za-z][0-9A-Za-z_-]{{0,63}}')",
                  "logged model ids are 1 to 64 letters, digits, '_' or '-' (MLflow writes 'm-' and 32 hex digits)")
_REGISTRY_TAG_SPEC = (_c("key", required=True), _c("value", required=True))


_TEXT_SPEC = (_run_id(), _c("key", required=True), _c("value", required=True))
_METRIC_SPEC = (_run_id(), _c("key", required=True), _c("step", "int", required=True), _time("timestamp", True),
                _c("value", "float", required=True))
#: Table -> its columns, exactly: a column more or less is refused rather than guessed at.
_TABLE_SPECS: dict[str, tuple[_Column, ...]] = {
    "runs": (
        _run_id(), _c("experiment", required=True), _time("experiment_created_time"), _c("run_name"),
        _c("parent_run_id", "text", _RUN_ID_RULE, ("{c} <> run_id", "a run cannot be its own parent")),
        _c("status", "text", _one_of(STATUSES), required=True), _time("start_time", True), _time("end_time"),
        _time("last_seen"), _c("user_name"), _c("host"), _c("pid", "int", _INT32_RULE), _c("source_kind"),
        _c("source_code"), _c("cell_id"), _c("execution_count", "int", _INT32_RULE), _c("notebook_path"),
        _c("script_path"), _c("cell_key"), _c("env_sha", "text", _SHA_RULE), _c("git_commit"), _c("git_branch"),
        _c("git_remote"), _c("git_dirty", "bool"), _c("error_type"), _c("error_message"), _c("error_traceback"),
        _c("deleted", "bool"), _c("origin")),
    "params": _TEXT_SPEC,
    "tags": _TEXT_SPEC,
    "metrics": _METRIC_SPEC,
    "latest_metrics": _METRIC_SPEC,
    "artifacts": (
        _run_id(), _c("path", required=True), _c("size", "int", ("{c} >= 0", "sizes are not negative"),
                                                  _INT64_RULE, required=True),
        _c("media_type"), _c("sha256", "text", _SHA_RULE, required=True), _time("created_time")),
    "snapshots": (
        _run_id(), _c("kind", "text", _one_of(SNAPSHOT_KINDS), required=True), _c("notebook_path"),
        _c("meta_sha", "text", _SHA_RULE, required=True),
        _c("cell_shas", "texts", ("list_bool_and(list_transform({c}, lambda s: "
                                  "coalesce(regexp_full_match(s, '[0-9a-f]{{64}}'), false)))",
                                  "every cell hash is a sha256 digest: 64 lowercase hex digits"), required=True),
        _time("created_time")),
    "console": (
        _run_id(), _c("seq", "int", required=True), _c("stream", "text", _one_of(CONSOLE_STREAMS), required=True),
        _c("text", required=True), _time("timestamp")),
    "inputs": (
        _run_id(), _c("name", required=True), _c("digest"), _c("source"), _c("context"),
        _c("schema_json", "text", _JSON_RULE), _c("profile_json", "text", _JSON_RULE),
        _c("num_rows", "int", ("{c} >= 0", "row counts are not negative"), _INT64_RULE), _time("created_time")),
    "environments": (
        _c("env_sha", "text", _SHA_RULE, required=True), _c("python"), _c("platform"),
        _c("content", "text", _JSON_RULE, ("json_type({c}) = 'OBJECT'", "an environment is a JSON object"),
           required=True)),
    "registered_models": (
        _c("name", required=True), _c("description"), _time("created_time"), _time("updated_time")),
    "model_versions": (
        _c("name", required=True), _c("version", "int", ("{c} >= 1", "versions count from 1"), _INT32_RULE,
                                      required=True),
        _run_id(), _c("artifact_path"), _c("source"), _c("stage", "text", _one_of(STAGES), required=True),
        _c("description"), _c("user_name"), _time("created_time"), _time("updated_time")),
    "stage_transitions": (
        _c("name", required=True), _c("version", "int", _INT32_RULE, required=True),
        _c("from_stage", "text", _one_of(STAGES)), _c("to_stage", "text", _one_of(STAGES), required=True),
        _c("user_name"), _c("comment"), _time("timestamp")),
    "model_aliases": (
        _c("name", required=True), _c("alias", required=True), _c("version", "int", _INT32_RULE, required=True)),
    "registered_model_tags": (_c("name", required=True), *_REGISTRY_TAG_SPEC),
    "model_version_tags": (_c("name", required=True), _version(), *_REGISTRY_TAG_SPEC),
    "mlflow_model_versions": (
        _c("name", required=True), _version(), _c("storage_location", "text", _LOCATION_RULE),
        _c("model_id", "text", _MODEL_ID_RULE), _c("run_link"), _c("status", "text", _one_of(VERSION_STATUSES)),
        _c("status_message")),
    "deleted_model_versions": (_c("name", required=True), _version(), _time("deleted_time")),
}
#: Table -> columns whose combination the store keeps unique.
_UNIQUE_KEYS = {
    "runs": ("run_id",), "params": ("run_id", "key"), "tags": ("run_id", "key"),
    "latest_metrics": ("run_id", "key"), "artifacts": ("run_id", "path"), "console": ("run_id", "seq"),
    "inputs": ("run_id", "name", "digest", "context"), "environments": ("env_sha",),
    "registered_models": ("name",), "model_versions": ("name", "version"), "model_aliases": ("name", "alias"),
    "registered_model_tags": ("name", "key"), "model_version_tags": ("name", "version", "key"),
    "mlflow_model_versions": ("name", "version"), "deleted_model_versions": ("name", "version"),
}
#: Tables whose rows belong to a run of the bundle's runs table.
_PER_RUN_TABLES = ("params", "tags", "metrics", "latest_metrics", "artifacts", "snapshots", "console", "inputs",
                   "model_versions")


def _arrow_kind_fits(kind: str, arrow_type) -> bool:
    import pyarrow as pa

    if pa.types.is_null(arrow_type):
        return True
    if kind == "text":
        return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
    if kind == "int":
        return pa.types.is_integer(arrow_type)
    if kind == "float":
        return pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type)
    if kind == "bool":
        return pa.types.is_boolean(arrow_type)
    return ((pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type))
            and _arrow_kind_fits("text", arrow_type.value_type))


class _TableChecker:
    """Checks the tables under ``directory/tables`` (bundle layout); every failure is a BundleError
    naming the table, the row (and its run) and the rule."""

    def __init__(self, directory: Path, label: str, con) -> None:
        self.directory = directory
        self.label = label
        self.con = con

    def open_views(self, present: set[str]) -> None:
        """One view ``b_<table>`` per table, with the row number as ``jt_row`` (after check_columns,
        so no column of the file can collide with it)."""
        for table in present:
            file = str(self.directory / "tables" / f"{table}.parquet").replace("'", "''")
            self.con.execute(f"CREATE VIEW b_{table} AS SELECT *, file_row_number AS jt_row "
                             f"FROM read_parquet('{file}', file_row_number = true)")

    def refuse(self, table: str, row: int | None, run_id, rule: str) -> BundleError:
        where = f"table {table!r}" + (f", row {row}" if row is not None else "")
        if isinstance(run_id, str):
            where += f" (run {run_id[:40]!r})"
        return BundleError(f"{self.label}: {where}: {rule}. The bundle was not made by jupyter_tracker or was "
                           f"changed after export (with its manifest recomputed); nothing was imported. Ask the "
                           f"sender for a fresh export")

    def first(self, table: str, condition: str, *columns: str, parameters: list | None = None) -> tuple | None:
        """The first row of ``table`` where ``condition`` holds: (row, run_id or None, *columns)."""
        run = "run_id" if any(c.name == "run_id" for c in _TABLE_SPECS[table]) else "NULL"
        selected = "".join(f", {c}" for c in columns)
        return self.con.execute(f"SELECT jt_row, {run}{selected} FROM b_{table} WHERE {condition} "
                                f"ORDER BY jt_row LIMIT 1", parameters or []).fetchone()

    def values(self, query: str) -> list:
        return [value for (value,) in self.con.execute(query).fetchall()]

    def check_text_encoding(self, table: str) -> None:
        """Read every text value of ``table`` once, so bytes that are not UTF-8 (a Parquet string
        column holds whatever bytes its writer put there) refuse the bundle here, before any object
        is copied into the store, and not halfway through the import's insert."""
        import duckdb

        for column in _TABLE_SPECS[table]:
            if column.kind != "text":
                continue
            try:
                self.con.execute(f"SELECT max(length({column.name})) FROM b_{table}").fetchall()
            except duckdb.InvalidInputException as exc:
                raise self.refuse(table, None, None, f"column {column.name!r} holds bytes that are not UTF-8 text "
                                                     f"({str(exc).splitlines()[0][:300]})") from None

    def check_columns(self, table: str) -> None:
        import pyarrow.parquet as pq

        try:
            schema = pq.read_schema(self.directory / "tables" / f"{table}.parquet")
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a file that is not Parquet
            raise self.refuse(table, None, None, f"the file is not a readable Parquet table ({exc})") from None
        spec = {column.name: column for column in _TABLE_SPECS[table]}
        found = {name: schema.field(name).type for name in schema.names}
        if len(schema.names) != len(found):
            raise self.refuse(table, None, None, "a column name appears twice")
        unknown = sorted(set(found) - set(spec))
        missing = [name for name in spec if name not in found]
        if unknown or missing:
            raise self.refuse(table, None, None, f"its columns must be exactly {', '.join(spec)}; "
                                                 f"missing: {', '.join(missing) or '-'}, unknown: "
                                                 f"{', '.join(unknown) or '-'}")
        for name, column in spec.items():
            if not _arrow_kind_fits(column.kind, found[name]):
                raise self.refuse(table, None, None, f"column {name!r} is of type {found[name]}; it holds "
                                                     f"{column.kind} values")

    def check_rows(self, table: str) -> None:
        self.check_text_encoding(table)
        for column in _TABLE_SPECS[table]:
            if column.required:
                bad = self.first(table, f"{column.name} IS NULL")
                if bad:
                    raise self.refuse(table, bad[0], bad[1], f"column {column.name!r} is empty (NULL); every row "
                                                             f"has one")
            for condition, rule in column.rules:
                bad = self.first(table, f"NOT coalesce({condition.format(c=column.name)}, true)", column.name)
                if bad:
                    raise self.refuse(table, bad[0], bad[1], f"column {column.name!r} is {_shown(bad[2])}; {rule}")
        unique = _UNIQUE_KEYS.get(table)
        if unique:
            key = ", ".join(unique)
            twice = self.first(table, f"(({key})) IN (SELECT ({key}) FROM b_{table} GROUP BY ALL "
                                      f"HAVING count(*) > 1)", *unique)
            if twice:
                named = ", ".join(f"{c}={_shown(v)}" for c, v in zip(unique, twice[2:]))
                raise self.refuse(table, twice[0], twice[1], f"{named} appears more than once; the store keeps "
                                                             f"one row per {key}")

    def check_runs_exist(self, table: str) -> None:
        orphan = self.first(table, "run_id NOT IN (SELECT run_id FROM b_runs)")
        if orphan:
            raise self.refuse(table, orphan[0], orphan[1], "the row belongs to a run that is not in the bundle's "
                                                           "runs table")


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def check_tables(directory: Path, present: set[str], objects, manifest: dict | None = None,
                 label: str | None = None) -> None:
    """Check every table under ``directory/tables`` before anything is imported.

    Refuses with a ``BundleError`` naming the table, the row and its run, and the rule: columns
    missing, unknown or of the wrong type; NULL where a value is required; values outside their
    kind (statuses, stages, streams, 32-bit integers, timestamps); keys, experiment and model
    names and artifact paths that the logging API would refuse (the same functions decide); a
    duplicated run id or any other key the store keeps unique; rows of runs the bundle lacks;
    hashes that are not sha256 digests or name an object neither the bundle nor ``objects``
    (the store's ``ObjectStore``) holds; objects no row refers to; artifact sizes that differ
    from their file; snapshot objects that are not JSON objects; parent cycles; and a
    ``manifest`` whose run ids or metric point count differ from the tables."""
    import duckdb

    label = label or directory.name
    if "runs" not in present:
        raise BundleError(f"{label} has no runs table; nothing to import")
    checker = _TableChecker(directory, label, duckdb.connect())
    try:
        for table in sorted(present):
            checker.check_columns(table)
        checker.open_views(present)
        for table in sorted(present):
            checker.check_rows(table)
        for table in _PER_RUN_TABLES:
            if table in present:
                checker.check_runs_exist(table)
        _check_names(checker, present)
        _check_artifact_paths(checker, present)
        _check_objects(checker, present, directory / "objects", objects)
        _check_registry(checker, present)
        _check_latest_metrics(checker, present)
        _check_lineage(checker)
        if manifest is not None:
            _check_manifest(checker, present, manifest)
    except duckdb.Error as exc:    # a file pyarrow reads but DuckDB cannot: still the bundle's fault
        raise BundleError(f"{label}: its tables cannot be read ({exc}); nothing was imported. Ask the sender "
                          f"for a fresh export") from None
    finally:
        checker.con.close()


def _check_names(checker: _TableChecker, present: set[str]) -> None:
    """Experiment names, param/tag/metric keys and values by the rules of the logging API."""
    rules = [("runs", "experiment", lambda value: validation.check_key(value, "experiment"))]
    for table, kind in (("params", "param"), ("tags", "tag"), ("metrics", "metric"), ("latest_metrics", "metric")):
        rules.append((table, "key", lambda value, kind=kind: validation.check_key(value, kind)))
    for table in ("registered_models", "model_versions", "registered_model_tags", "model_version_tags",
                  "mlflow_model_versions", "deleted_model_versions"):
        rules.append((table, "name", check_model_name))
    for table, column, check in rules:
        if table not in present:
            continue
        for value in checker.values(f"SELECT DISTINCT {column} FROM b_{table}"):
            try:
                accepted = check(value)
            except TrackerError as exc:
                accepted = exc
            if accepted != value:
                bad = checker.first(table, f"{column} = $1", parameters=[value])
                reason = str(accepted) if isinstance(accepted, Exception) else "it is not in its normal form"
                raise checker.refuse(table, bad[0], bad[1], f"column {column!r} is {_shown(value)}: {reason}")
    for table, text_of in (("params", validation.param_text), ("tags", validation.tag_text),
                           ("registered_model_tags", check_tag), ("model_version_tags", check_tag)):
        if table not in present:
            continue
        run = "run_id" if table in _PER_RUN_TABLES else "NULL"
        for row, run_id, key, value in checker.con.execute(
                f"SELECT jt_row, {run}, key, value FROM b_{table} ORDER BY jt_row").fetchall():
            try:
                text_of(key, value)
            except TrackerError as exc:
                raise checker.refuse(table, row, run_id, str(exc)) from None


def _check_artifact_paths(checker: _TableChecker, present: set[str]) -> None:
    """Artifact paths by the rule of ``log_artifact``: relative, normalised, never leaving the run."""
    for table, column in (("artifacts", "path"), ("model_versions", "artifact_path")):
        if table not in present:
            continue
        for row, run_id, path in checker.con.execute(
                f"SELECT jt_row, run_id, {column} FROM b_{table} WHERE {column} IS NOT NULL ORDER BY jt_row"
        ).fetchall():
            try:
                normal = validation.artifact_path(path, column)
            except TrackerError as exc:
                raise checker.refuse(table, row, run_id, str(exc)) from None
            if normal != path or not normal:
                raise checker.refuse(table, row, run_id, f"column {column!r} is {_shown(path)}, which is not a "
                                                         f"normalised artifact path (log_artifact stores "
                                                         f"{normal!r})")


_MAX_SNAPSHOT_OBJECT_BYTES = 256 << 20


def _check_objects(checker: _TableChecker, present: set[str], bundle_objects: Path, objects) -> None:
    """Every hash a row holds names an object of the bundle or of the store (``objects``); an
    artifact's size is its file's; a snapshot's objects are JSON objects."""
    in_bundle = {file.name: file for file in bundle_objects.iterdir()} if bundle_objects.is_dir() else {}

    def file_of(sha: str) -> Path | None:
        if sha in in_bundle:
            return in_bundle[sha]
        return objects.path(sha) if objects.exists(sha) else None

    references = []    # (table, what, hash query); the query yields (row, run_id, sha)
    if "artifacts" in present:
        references.append(("artifacts", "sha256", "SELECT jt_row, run_id, sha256 FROM b_artifacts"))
    if "snapshots" in present:
        references.append(("snapshots", "meta_sha", "SELECT jt_row, run_id, meta_sha FROM b_snapshots"))
        references.append(("snapshots", "cell_shas", "SELECT jt_row, run_id, unnest(cell_shas) FROM b_snapshots"))
    if "inputs" in present:
        references.append(("inputs", "schema_json.stored_object", """SELECT * FROM (SELECT jt_row, run_id,
            json_extract_string(schema_json, '$.stored_object') AS sha FROM b_inputs) WHERE sha IS NOT NULL"""))
    snapshot_objects: dict[str, tuple] = {}
    referenced: set[str] = set()
    for table, what, query in references:
        for row, run_id, sha in checker.con.execute(f"{query} ORDER BY 1").fetchall():
            referenced.add(sha)
            if not is_sha256(sha):
                raise checker.refuse(table, row, run_id, f"{what} {_shown(sha)} is not a sha256 digest "
                                                         f"(64 lowercase hex digits)")
            if file_of(sha) is None:
                raise checker.refuse(table, row, run_id, f"{what} {sha[:16]}... names a file that neither the "
                                                         f"bundle nor this store holds")
            if table == "snapshots":
                snapshot_objects.setdefault(sha, (row, run_id))
    unreferenced = sorted(set(in_bundle) - referenced)
    if unreferenced:
        raise BundleError(f"{checker.label}: the bundle carries {len(unreferenced)} file(s) that no row refers to "
                          f"(first: objects/{unreferenced[0][:16]}...); a bundle holds only the files of its runs, "
                          f"and these would only take room in the store. Nothing was imported; ask the sender "
                          f"for a fresh export")
    if "artifacts" in present:
        for row, run_id, sha, size in checker.con.execute(
                "SELECT jt_row, run_id, sha256, size FROM b_artifacts ORDER BY jt_row").fetchall():
            actual = file_of(sha).stat().st_size
            if actual != size:
                raise checker.refuse("artifacts", row, run_id, f"size {size} differs from the {actual} bytes of "
                                                               f"its file {sha[:16]}...")
    for sha, (row, run_id) in snapshot_objects.items():
        if sha not in in_bundle:
            continue    # the store's own objects were checked when they were written
        file = in_bundle[sha]
        parsed = None
        if file.stat().st_size <= _MAX_SNAPSHOT_OBJECT_BYTES:
            try:
                parsed = json.loads(file.read_bytes())
            except ValueError:
                parsed = None
        if not isinstance(parsed, dict):
            raise checker.refuse("snapshots", row, run_id, f"the notebook part {sha[:16]}... is not a JSON object "
                                                           f"as snapshots store them")


def _check_registry(checker: _TableChecker, present: set[str]) -> None:
    """Versions, model tags and deleted version numbers of registered models of the bundle;
    transitions, aliases, version tags and MLflow's fields of versions of it; no version both live
    and deleted."""
    models = "SELECT name FROM b_registered_models" if "registered_models" in present else "SELECT NULL WHERE false"
    if "model_versions" in present:
        orphan = checker.first("model_versions", f"name NOT IN ({models})", "name")
        if orphan:
            raise checker.refuse("model_versions", orphan[0], orphan[1], f"the version belongs to model "
                                                                         f"{_shown(orphan[2])}, which is not in the "
                                                                         f"bundle's registered_models table")
    for table in ("registered_model_tags", "deleted_model_versions"):
        if table not in present:
            continue
        orphan = checker.first(table, f"name NOT IN ({models})", "name")
        if orphan:
            raise checker.refuse(table, orphan[0], None, f"model {_shown(orphan[2])} is not in the bundle's "
                                                         f"registered_models table")
    versions = ("SELECT name, version FROM b_model_versions" if "model_versions" in present
                else "SELECT NULL, NULL WHERE false")
    for table in ("stage_transitions", "model_aliases", "model_version_tags", "mlflow_model_versions"):
        if table not in present:
            continue
        orphan = checker.first(table, f"(name, version) NOT IN ({versions})", "name", "version")
        if orphan:
            raise checker.refuse(table, orphan[0], None, f"version {orphan[3]} of model {_shown(orphan[2])} is not "
                                                         f"in the bundle's model_versions table")
    if "deleted_model_versions" in present and "model_versions" in present:
        both = checker.first("deleted_model_versions", f"(name, version) IN ({versions})", "name", "version")
        if both:
            raise checker.refuse("deleted_model_versions", both[0], None, f"version {both[3]} of model "
                                                                          f"{_shown(both[2])} is also in the "
                                                                          f"model_versions table; a deleted version "
                                                                          f"is not a live one")
    if "model_aliases" in present:
        stages = {stage.lower() for stage in STAGES}
        for row, alias in checker.con.execute("SELECT jt_row, alias FROM b_model_aliases ORDER BY jt_row").fetchall():
            if (not ALIAS_PATTERN.match(alias) or alias.lower() == "latest" or alias.lower() in stages
                    or alias.isdigit()):
                raise checker.refuse("model_aliases", row, None, f"alias {_shown(alias)} is not a word of letters, "
                                                                 f"digits, '_' or '-' (nor a number, a stage or "
                                                                 f"'latest'), as set_model_alias requires")


def _check_latest_metrics(checker: _TableChecker, present: set[str]) -> None:
    """Each run's latest metric values and its metric histories name the same keys (the store
    derives one from the other; a latest value without a history would be a metric that cannot
    be plotted, a history without one a metric that search_runs cannot see)."""
    if "metrics" not in present or "latest_metrics" not in present:
        return
    for table, other in (("latest_metrics", "metrics"), ("metrics", "latest_metrics")):
        lone = checker.first(table, f"(run_id, key) NOT IN (SELECT (run_id, key) FROM b_{other})", "key")
        if lone:
            raise checker.refuse(table, lone[0], lone[1], f"metric {_shown(lone[2])} has no row in the {other} "
                                                          f"table; the two tables name the same metrics")


def _check_lineage(checker: _TableChecker) -> None:
    """No run is its own ancestor: a parent cycle would make every tree of nested runs endless."""
    parents = dict(checker.con.execute(
        "SELECT run_id, parent_run_id FROM b_runs WHERE parent_run_id IS NOT NULL").fetchall())
    settled: set[str] = set()       # runs whose chain of parents is known to end
    for start in parents:
        chain: set[str] = set()
        current = start
        while current in parents and current not in settled:
            if current in chain:
                row = checker.first("runs", "run_id = $1", parameters=[current])
                raise checker.refuse("runs", row[0], current, "its parent_run_id chain comes back to itself; "
                                                              "nested runs form a tree")
            chain.add(current)
            current = parents[current]
        settled.update(chain)


def _check_manifest(checker: _TableChecker, present: set[str], manifest: dict) -> None:
    """The manifest's run ids and metric point count are those of the tables."""
    listed = manifest.get("run_ids")
    in_table = checker.values("SELECT run_id FROM b_runs")
    if (not isinstance(listed, list) or not all(isinstance(r, str) for r in listed)
            or len(set(listed)) != len(listed) or set(listed) != set(in_table)):
        raise BundleError(f"{checker.label}: the manifest's run_ids ({_shown(listed)}) are not the "
                          f"{len(in_table)} run ids of the runs table; the bundle was changed after export. "
                          f"Nothing was imported; ask the sender for a fresh export")
    points = manifest.get("metric_points")
    (counted,) = checker.con.execute("SELECT count(*) FROM b_metrics").fetchone() if "metrics" in present else (0,)
    if isinstance(points, bool) or not isinstance(points, int) or points != counted:
        raise BundleError(f"{checker.label}: the manifest says {_shown(points)} metric points but the metrics "
                          f"table holds {counted}; the bundle was changed after export. Nothing was imported; "
                          f"ask the sender for a fresh export")


def column_list(table: str) -> str:
    """The columns of a bundle table by name, so an insert never depends on their order in the file."""
    return ", ".join(column.name for column in _TABLE_SPECS[table])
