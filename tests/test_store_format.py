"""Where the store lives, how it is versioned, and what happens with files that are not stores."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

import jupyter_tracker as jt
from jupyter_tracker import config
from jupyter_tracker.errors import StoreError, StoreFormatError, StoreVersionError
from jupyter_tracker.store import get_store
from jupyter_tracker.store.database import connect_duckdb
from jupyter_tracker.store.schema import MIGRATIONS, SCHEMA_VERSION


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_nearest_store_up_the_tree_is_used_else_one_in_cwd(tmp_path, monkeypatch):
    monkeypatch.delenv("JUPYTER_TRACKER_DIR", raising=False)
    config.set_store_override(None)
    project = tmp_path / "project"
    (project / ".jupyter_tracker").mkdir(parents=True)
    deep = project / "notebooks" / "exp"
    deep.mkdir(parents=True)
    assert config.resolve_store_dir(deep) == project / ".jupyter_tracker"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert config.resolve_store_dir(elsewhere) == elsewhere / ".jupyter_tracker"
    monkeypatch.setenv("JUPYTER_TRACKER_DIR", str(tmp_path / "env-store"))
    assert config.resolve_store_dir(deep) == tmp_path / "env-store"


def test_a_script_in_a_subfolder_writes_to_the_projects_store(tmp_path):
    project = tmp_path / "project"
    (project / ".jupyter_tracker").mkdir(parents=True)
    (project / "src").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_TRACKER_DIR"}
    subprocess.run([sys.executable, "-c", "import jupyter_tracker as jt\nwith jt.start_run(run_name='x'): pass"],
                   cwd=project / "src", env=env, check=True)
    assert (project / ".jupyter_tracker" / "journal").exists()
    assert not (project / "src" / ".jupyter_tracker").exists()


def test_set_store_overrides_everything(store_dir, tmp_path):
    other = tmp_path / "other"
    jt.set_store(other)
    try:
        with jt.start_run(run_name="there"):
            pass
        assert list(jt.search_runs().run_name) == ["there"]
    finally:
        config.set_store_override(None)
    assert (other / "tracker.duckdb").exists()


def test_a_fresh_store_records_its_schema_version(store_dir):
    with jt.start_run():
        pass
    assert jt.sql("select 1 as one").one[0] == 1
    with get_store(store_dir).session() as con:
        assert con.execute("select value from internal.meta where key = 'schema_version'").fetchall() == [
            (str(SCHEMA_VERSION),)]
        assert con.execute("select version from internal.migrations order by version").fetchall() == [
            (version,) for version, _, _ in MIGRATIONS]


def test_a_foreign_duckdb_file_is_refused_and_left_untouched(tmp_path):
    import duckdb

    directory = tmp_path / "foreign"
    directory.mkdir()
    path = directory / "tracker.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table sales(x integer); insert into sales values (1)")
    con.close()
    before = _digest(path)
    with pytest.raises(StoreFormatError, match="not a jupyter_tracker store"):
        jt.search_runs(store=get_store(directory))
    assert _digest(path) == before


def test_a_random_file_is_refused_and_left_untouched(tmp_path):
    directory = tmp_path / "random"
    directory.mkdir()
    path = directory / "tracker.duckdb"
    path.write_bytes(os.urandom(4096))
    before = _digest(path)
    with pytest.raises(StoreFormatError, match="left untouched"):
        jt.search_runs(store=get_store(directory))
    assert _digest(path) == before


def test_a_store_from_a_newer_version_is_refused(store_dir):
    with jt.start_run():
        pass
    jt.search_runs()
    import duckdb

    con = duckdb.connect(str(store_dir / "tracker.duckdb"))
    con.execute("update internal.meta set value = '999' where key = 'schema_version'")
    con.close()
    before = _digest(store_dir / "tracker.duckdb")
    fresh = type(get_store(store_dir))(store_dir)  # a new process would check again
    with pytest.raises(StoreVersionError, match="pip install -U"):
        jt.search_runs(store=fresh)
    assert _digest(store_dir / "tracker.duckdb") == before


def test_a_store_path_that_is_a_file_is_explained(tmp_path):
    file_path = tmp_path / "not-a-dir"
    file_path.write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        jt.search_runs(store=get_store(file_path))


def test_a_program_holding_the_database_gets_a_clear_error(store_dir):
    import duckdb

    with jt.start_run():
        pass
    jt.search_runs()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(store_dir / 'tracker.duckdb')!r})\n"
        "print('holding', flush=True)\ntime.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        from jupyter_tracker.errors import StoreLockedError

        with pytest.raises(StoreLockedError, match="holds the file"):
            with get_store(store_dir).session(timeout=1.0):
                pass
    finally:
        holder.kill()
        holder.communicate()
    assert len(jt.search_runs()) == 1
    del duckdb


def test_a_real_version_1_store_is_migrated_to_the_registry_on_open(store_dir, monkeypatch):
    """A store written before the model registry existed (schema 1) opens, keeps its runs, and
    gains the registry tables (the real 1 -> 2 migration, not an invented one)."""
    from jupyter_tracker.store import schema

    with monkeypatch.context() as old_version:  # this process writes schema 1, as a 2026 release did
        old_version.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        old_version.setattr(schema, "SCHEMA_VERSION", 1)
        with jt.start_run(run_name="old") as run:
            run.log_metric("loss", 0.5)
            run.log_text("weights", "model/MLmodel.json")
        assert jt.search_runs().run_name.item() == "old"
    with connect_duckdb(store_dir / "tracker.duckdb", read_only=True) as con:
        assert con.execute("select value from internal.meta where key = 'schema_version'").fetchall() == [("1",)]
        assert not con.execute("select 1 from information_schema.tables where table_name = 'model_versions'"
                               ).fetchall()
    reopened = type(get_store(store_dir))(store_dir)
    assert jt.search_runs(store=reopened).run_name.item() == "old"
    with reopened.session() as con:
        assert [v for (v,) in con.execute("select version from internal.migrations order by version").fetchall()] \
            == [version for version, _, _ in schema.MIGRATIONS]
    version = jt.register_model(f"runs:/{run.run_id}/model", "churn", store=reopened)
    assert version.version == 1


def test_a_deleted_database_is_recreated_by_a_running_process(store_dir):
    with jt.start_run(run_name="before"):
        pass
    assert len(jt.search_runs()) == 1
    (store_dir / "tracker.duckdb").unlink()
    with jt.start_run(run_name="after"):
        pass
    # This process's journal still holds what it logged, so the new database gets it back.
    assert sorted(jt.search_runs().run_name) == ["after", "before"]
