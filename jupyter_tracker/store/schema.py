"""The DuckDB schema of a store: internal tables, documented public views, ordered migrations.

Tables live in the ``internal`` schema and use small integer keys (``run_key``, ``key_id``) so a
metric point costs a few bytes. The public views in ``main`` (``runs``, ``params``, ``metrics``,
``latest_metrics``, ``tags``, ``artifacts``, ``experiments``, ``snapshots``, ``console``,
``inputs``, ``environments``) speak in run ids and timestamps; ``jt.sql`` sees only those.
Each migration is a named function recorded in ``internal.migrations``; a store is migrated on
open, and a store written by a newer version is refused, untouched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import DamagedStoreError, NotAStoreError
from .sql import transaction

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

APP_ID = "jupyter_tracker"

_V1_TABLES = """
CREATE SCHEMA IF NOT EXISTS internal;
CREATE TABLE IF NOT EXISTS internal.meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS internal.migrations (version INTEGER, name VARCHAR, applied_time BIGINT);
CREATE TABLE IF NOT EXISTS internal.experiments (experiment_id INTEGER, name VARCHAR, created_time BIGINT);
CREATE TABLE IF NOT EXISTS internal.runs (
    run_key INTEGER, run_id VARCHAR, experiment_id INTEGER, run_name VARCHAR, parent_run_id VARCHAR,
    status VARCHAR, start_time BIGINT, end_time BIGINT, last_seen BIGINT,
    user_name VARCHAR, host VARCHAR, pid INTEGER,
    source_kind VARCHAR, source_code VARCHAR, cell_id VARCHAR, execution_count INTEGER,
    notebook_path VARCHAR, script_path VARCHAR, cell_key VARCHAR,
    env_sha VARCHAR, git_commit VARCHAR, git_branch VARCHAR, git_remote VARCHAR, git_dirty BOOLEAN,
    error_type VARCHAR, error_message VARCHAR, error_traceback VARCHAR,
    deleted BOOLEAN DEFAULT false, origin VARCHAR
);
CREATE TABLE IF NOT EXISTS internal.params (run_key INTEGER, key VARCHAR, value VARCHAR);
CREATE TABLE IF NOT EXISTS internal.tags (run_key INTEGER, key VARCHAR, value VARCHAR);
CREATE TABLE IF NOT EXISTS internal.metric_keys (key_id INTEGER, key VARCHAR);
CREATE TABLE IF NOT EXISTS internal.metrics (
    run_key INTEGER, key_id INTEGER, step BIGINT, timestamp BIGINT, value DOUBLE);
CREATE TABLE IF NOT EXISTS internal.latest_metrics (
    run_key INTEGER, key_id INTEGER, step BIGINT, timestamp BIGINT, value DOUBLE);
CREATE TABLE IF NOT EXISTS internal.artifacts (
    run_key INTEGER, path VARCHAR, size BIGINT, media_type VARCHAR, sha256 VARCHAR, created_time BIGINT);
CREATE TABLE IF NOT EXISTS internal.snapshots (
    run_key INTEGER, kind VARCHAR, notebook_path VARCHAR, meta_sha VARCHAR, cell_shas VARCHAR[],
    created_time BIGINT);
CREATE TABLE IF NOT EXISTS internal.console (
    run_key INTEGER, seq BIGINT, stream VARCHAR, text VARCHAR, timestamp BIGINT);
CREATE TABLE IF NOT EXISTS internal.inputs (
    run_key INTEGER, name VARCHAR, digest VARCHAR, source VARCHAR, context VARCHAR,
    schema_json VARCHAR, profile_json VARCHAR, num_rows BIGINT, created_time BIGINT);
CREATE TABLE IF NOT EXISTS internal.environments (env_sha VARCHAR, python VARCHAR, platform VARCHAR, content VARCHAR);
CREATE TABLE IF NOT EXISTS internal.journals (name VARCHAR, events_offset BIGINT, metrics_offset BIGINT);
CREATE TABLE IF NOT EXISTS internal.journal_runs (journal VARCHAR, slot INTEGER, run_key INTEGER, owned BOOLEAN);
CREATE TABLE IF NOT EXISTS internal.journal_keys (journal VARCHAR, local_id INTEGER, key_id INTEGER);
"""

_TS = "epoch_ms({col})"

_V1_VIEWS = f"""
CREATE OR REPLACE VIEW main.experiments AS
    SELECT name AS experiment, {_TS.format(col='created_time')} AS created_time FROM internal.experiments;
CREATE OR REPLACE VIEW main.runs AS
    SELECT r.run_id, e.name AS experiment, r.run_name, r.status,
           {_TS.format(col='r.start_time')} AS start_time, {_TS.format(col='r.end_time')} AS end_time,
           (coalesce(r.end_time, r.last_seen) - r.start_time) / 1000.0 AS duration_s,
           r.parent_run_id, r.user_name AS "user", r.host, r.pid,
           r.source_kind, r.notebook_path, r.cell_id, r.execution_count, r.script_path, r.source_code,
           lag(r.run_id) OVER (PARTITION BY r.cell_key ORDER BY r.start_time, r.run_key) AS previous_run_id,
           r.git_commit, r.git_branch, r.git_remote, r.git_dirty,
           r.error_type, r.error_message, r.origin
    FROM internal.runs r JOIN internal.experiments e USING (experiment_id)
    WHERE NOT r.deleted;
CREATE OR REPLACE VIEW main.params AS
    SELECT r.run_id, p.key, p.value FROM internal.params p JOIN internal.runs r USING (run_key) WHERE NOT r.deleted;
CREATE OR REPLACE VIEW main.tags AS
    SELECT r.run_id, t.key, t.value FROM internal.tags t JOIN internal.runs r USING (run_key) WHERE NOT r.deleted;
CREATE OR REPLACE VIEW main.metrics AS
    SELECT r.run_id, k.key, m.step, {_TS.format(col='m.timestamp')} AS timestamp, m.value
    FROM internal.metrics m JOIN internal.runs r USING (run_key) JOIN internal.metric_keys k USING (key_id)
    WHERE NOT r.deleted;
CREATE OR REPLACE VIEW main.latest_metrics AS
    SELECT r.run_id, k.key, m.step, {_TS.format(col='m.timestamp')} AS timestamp, m.value
    FROM internal.latest_metrics m JOIN internal.runs r USING (run_key) JOIN internal.metric_keys k USING (key_id)
    WHERE NOT r.deleted;
CREATE OR REPLACE VIEW main.artifacts AS
    SELECT r.run_id, a.path, a.size, a.media_type, a.sha256, {_TS.format(col='a.created_time')} AS created_time
    FROM internal.artifacts a JOIN internal.runs r USING (run_key) WHERE NOT r.deleted;
CREATE OR REPLACE VIEW main.snapshots AS
    SELECT r.run_id, s.kind, s.notebook_path, len(s.cell_shas) AS cells,
           {_TS.format(col='s.created_time')} AS created_time
    FROM internal.snapshots s JOIN internal.runs r USING (run_key) WHERE NOT r.deleted;
CREATE OR REPLACE VIEW main.console AS
    SELECT r.run_id, c.seq, c.stream, c.text, {_TS.format(col='c.timestamp')} AS timestamp
    FROM internal.console c JOIN internal.runs r USING (run_key) WHERE NOT r.deleted;
CREATE OR REPLACE VIEW main.inputs AS
    SELECT r.run_id, i.name, i.digest, i.source, i.context, i.schema_json, i.profile_json, i.num_rows,
           {_TS.format(col='i.created_time')} AS created_time
    FROM internal.inputs i JOIN internal.runs r USING (run_key) WHERE NOT r.deleted;
CREATE OR REPLACE VIEW main.environments AS
    SELECT env_sha, python, platform, content FROM internal.environments;
"""

PUBLIC_VIEWS = ("experiments", "runs", "params", "tags", "metrics", "latest_metrics", "artifacts",
                "snapshots", "console", "inputs", "environments",
                "registered_models", "model_versions", "stage_transitions", "model_aliases", "registered_model_tags",
                "model_version_tags")


class SqlMigration:
    """A migration made of SQL statements, each safe to run again (``IF NOT EXISTS``, ``OR REPLACE``),
    so a migration cut short outside a transaction (an old version, a crash) is completed by
    running it once more. ``statements`` lists them one by one."""

    def __init__(self, *scripts: str) -> None:
        self.scripts = scripts

    @property
    def statements(self) -> list[str]:
        import duckdb

        return [statement.query for script in self.scripts for statement in duckdb.extract_statements(script)]

    def __call__(self, con: DuckDBPyConnection) -> None:
        for script in self.scripts:
            con.execute(script)


_v1_initial = SqlMigration(_V1_TABLES, _V1_VIEWS,
                           f"INSERT OR REPLACE INTO internal.meta VALUES ('app', '{APP_ID}')")


_V2_REGISTRY = f"""
CREATE TABLE IF NOT EXISTS internal.registered_models (
    name VARCHAR, description VARCHAR, created_time BIGINT, updated_time BIGINT);
CREATE TABLE IF NOT EXISTS internal.model_versions (
    name VARCHAR, version INTEGER, run_id VARCHAR, artifact_path VARCHAR, source VARCHAR, stage VARCHAR,
    description VARCHAR, user_name VARCHAR, created_time BIGINT, updated_time BIGINT);
CREATE TABLE IF NOT EXISTS internal.stage_transitions (
    name VARCHAR, version INTEGER, from_stage VARCHAR, to_stage VARCHAR, user_name VARCHAR,
    comment VARCHAR, timestamp BIGINT);
CREATE TABLE IF NOT EXISTS internal.model_aliases (name VARCHAR, alias VARCHAR, version INTEGER);
CREATE OR REPLACE VIEW main.registered_models AS
    SELECT name, description, {_TS.format(col='created_time')} AS created_time,
           {_TS.format(col='updated_time')} AS updated_time FROM internal.registered_models;
CREATE OR REPLACE VIEW main.model_versions AS
    SELECT name, version, run_id, artifact_path, source, stage, description, user_name AS "user",
           {_TS.format(col='created_time')} AS created_time, {_TS.format(col='updated_time')} AS updated_time
    FROM internal.model_versions;
CREATE OR REPLACE VIEW main.stage_transitions AS
    SELECT name, version, from_stage, to_stage, user_name AS "user", comment,
           {_TS.format(col='timestamp')} AS timestamp FROM internal.stage_transitions;
CREATE OR REPLACE VIEW main.model_aliases AS SELECT name, alias, version FROM internal.model_aliases;
"""


_v2_registry = SqlMigration(_V2_REGISTRY)


_V3_MLFLOW = """
CREATE TABLE IF NOT EXISTS internal.experiment_tags (experiment_id INTEGER, key VARCHAR, value VARCHAR);
CREATE TABLE IF NOT EXISTS internal.experiment_states (
    experiment_id INTEGER, lifecycle_stage VARCHAR, artifact_location VARCHAR, last_update_time BIGINT);
CREATE TABLE IF NOT EXISTS internal.logged_models (
    model_id VARCHAR, experiment_id INTEGER, name VARCHAR, source_run_id VARCHAR, status VARCHAR,
    model_type VARCHAR, created_time BIGINT, updated_time BIGINT, deleted BOOLEAN DEFAULT false,
    params_json VARCHAR, tags_json VARCHAR);
"""
_v3_mlflow = SqlMigration(_V3_MLFLOW)


# What MLflow's registry has and ours lacked: tags on models and versions; a version's MLflow fields
# (where its files are, the logged model it came from, run link, status); the versions deleted, so a
# number is never given twice; and an MLflow 3 logged model's files, content-addressed like artifacts.
_V4_REGISTRY_TAGS = """
CREATE TABLE IF NOT EXISTS internal.registered_model_tags (name VARCHAR, key VARCHAR, value VARCHAR);
CREATE TABLE IF NOT EXISTS internal.model_version_tags (name VARCHAR, version INTEGER, key VARCHAR, value VARCHAR);
CREATE TABLE IF NOT EXISTS internal.mlflow_model_versions (
    name VARCHAR, version INTEGER, storage_location VARCHAR, model_id VARCHAR, run_link VARCHAR, status VARCHAR,
    status_message VARCHAR);
CREATE TABLE IF NOT EXISTS internal.deleted_model_versions (name VARCHAR, version INTEGER, deleted_time BIGINT);
CREATE TABLE IF NOT EXISTS internal.logged_model_files (
    model_id VARCHAR, path VARCHAR, size BIGINT, sha256 VARCHAR, created_time BIGINT);
CREATE OR REPLACE VIEW main.registered_model_tags AS SELECT name, key, value FROM internal.registered_model_tags;
CREATE OR REPLACE VIEW main.model_version_tags AS SELECT name, version, key, value FROM internal.model_version_tags;
"""
_v4_registry_tags = SqlMigration(_V4_REGISTRY_TAGS)


_V5_SYNC = """
CREATE TABLE IF NOT EXISTS internal.sync_runs (
    remote VARCHAR, run_id VARCHAR, mlflow_run_id VARCHAR, points_sent BIGINT, fingerprint VARCHAR,
    tag_keys VARCHAR[], ended BOOLEAN, last_sent BIGINT, last_error VARCHAR);
"""
#: Team sync's durable high-water mark per (remote, run): which MLflow run mirrors it, how many of its
#: metric points (in the order they were merged) the server has acknowledged, the name/tags/params/deleted
#: state last sent, whether its end was sent, and the last failure. Never a credential.
_v5_sync = SqlMigration(_V5_SYNC)


_V6_SYNC_VERSIONS = """
CREATE TABLE IF NOT EXISTS internal.sync_versions (
    remote VARCHAR, name VARCHAR, version INTEGER, run_id VARCHAR, sent_time BIGINT);
"""
#: Team sync's record of the registered model versions (ours, by name and number) each remote has been
#: sent, so a version registered after its run's end was mirrored is sent once, and only once.
_v6_sync_versions = SqlMigration(_V6_SYNC_VERSIONS)


#: Ordered migrations: (version, name, function). Append; never change what a released one creates
#: (making its statements safe to run twice, as ``IF NOT EXISTS`` does, changes nothing it creates).
MIGRATIONS: list[tuple[int, str, Callable[[DuckDBPyConnection], None]]] = [
    (1, "initial schema: runs, params, metrics, tags, artifacts, snapshots, journals", _v1_initial),
    (2, "model registry: registered models, versions, stage transitions, aliases", _v2_registry),
    (3, "MLflow's concepts: experiment tags and lifecycle, MLflow 3 logged models", _v3_mlflow),
    (4, "MLflow's registry on ours: model and version tags, version fields, deletions, logged-model files",
     _v4_registry_tags),
    (5, "team sync: what each run has sent to its remote MLflow server", _v5_sync),
    (6, "team sync: the registered model versions each remote has been sent", _v6_sync_versions),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def read_version(con: DuckDBPyConnection) -> int | None:
    """The store's schema version, or None when the database has none of our tables.

    Raises ``NotAStoreError`` when the database holds tables but is not a jupyter_tracker store, and
    ``DamagedStoreError`` when it is one whose recorded version is not a number.
    """
    tables = database_objects(con)
    if not tables:
        return None
    if ("internal", "meta") not in tables:
        raise NotAStoreError("no internal.meta table")
    rows = dict(con.execute("SELECT key, value FROM internal.meta").fetchall())
    if rows.get("app") != APP_ID:
        raise NotAStoreError(f"internal.meta says app={rows.get('app')!r}")
    text = rows.get("schema_version", "0")
    if not (text or "").strip().isdigit():
        raise DamagedStoreError(f"its schema_version in internal.meta is {text!r}, not a whole number")
    return int(text)


def database_objects(con: DuckDBPyConnection) -> set[tuple[str, str]]:
    """(schema, name) of every table and view in the current database of ``con``."""
    return set(con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                           "WHERE table_catalog = current_database()").fetchall())


def missing_objects(con: DuckDBPyConnection, version: int, reference: DuckDBPyConnection) -> list[str]:
    """Tables and views that schema ``version`` has and the database of ``con`` lacks (a store half
    migrated, or damaged). ``reference`` is an empty database to build that schema in; deriving it
    from the migrations themselves keeps it from drifting from them."""
    for number, _, apply in MIGRATIONS:
        if number <= version:
            apply(reference)
    expected = database_objects(reference)
    return sorted(f"{schema}.{name}" for schema, name in expected - database_objects(con))


def migrate(con: DuckDBPyConnection, current: int | None) -> None:
    """Apply every migration newer than ``current`` in one transaction. Running it again, or after
    a migration was cut short, ends in the same schema: every statement may run twice, and a
    migration already recorded in internal.migrations is not recorded again."""
    with transaction(con):
        for version, name, apply in MIGRATIONS:
            if current is None or version > current:
                apply(con)
                con.execute("INSERT INTO internal.migrations SELECT ?, ?, ? WHERE NOT EXISTS "
                            "(SELECT 1 FROM internal.migrations WHERE version = ?)",
                            [version, name, int(time.time() * 1000), version])
        con.execute("INSERT OR REPLACE INTO internal.meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
