"""A damaged, half-migrated or foreign database file is refused, untouched, by every way of reading
it, while logging (which only writes journals) goes on; migrations can be run again safely; DuckDB
never goes to the network; a slow query cannot keep the store's lock."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

import jupyter_tracker as jt
from jupyter_tracker.config import get_config
from jupyter_tracker.errors import QueryTimeoutError
from jupyter_tracker.store import schema
from jupyter_tracker.store.database import connect_duckdb
from jupyter_tracker.store.locking import try_lock_exclusive


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _make_store(store_dir) -> str:
    """A store with one merged run (what a user had before the damage); returns its run id."""
    subprocess.run([sys.executable, "-c", (
        "import jupyter_tracker as jt\n"
        "with jt.start_run(run_name='precious') as run:\n"
        "    jt.log_param('lr', 0.1)\n"
        "    for step in range(500): jt.log_metric('loss', 1 / (step + 1))\n"
        "print(len(jt.search_runs()))\n")], check=True, env={**os.environ, "JUPYTER_TRACKER_DIR": str(store_dir)})
    con = connect_duckdb(store_dir / "tracker.duckdb", read_only=True)
    try:
        (run_id,) = con.execute("select run_id from runs").fetchone()
    finally:
        con.close()
    return run_id


def _empty(path) -> None:
    os.truncate(path, 0)


def _truncated(path) -> None:
    os.truncate(path, 12288)  # the headers survive, the catalog does not


def _version_not_a_number(path) -> None:
    con = connect_duckdb(path)
    con.execute("update internal.meta set value = 'two' where key = 'schema_version'")
    con.close()


def _half_migrated(path) -> None:
    con = connect_duckdb(path)
    con.execute("drop view main.model_aliases; drop table internal.model_aliases")
    con.close()


# Every way a user reads a store, in a new process (a new kernel finds the damage when it opens the
# store); each prints what happened to it.
_READERS = """
import json, sys
import jupyter_tracker as jt
outcomes = {}
def attempt(name, action):
    try:
        action()
        outcomes[name] = "ok"
    except jt.errors.TrackerError as exc:
        outcomes[name] = type(exc).__name__ + ": " + str(exc)
attempt("search_runs", lambda: jt.search_runs())
attempt("get_run", lambda: jt.get_run(sys.argv[1]))
attempt("sql", lambda: jt.sql("select count(*) from runs"))
def log_a_run():
    with jt.start_run(run_name="after the damage"):
        jt.log_param("kept", 1)
        jt.log_metric("loss", 0.5)
attempt("log", log_a_run)
print(json.dumps(outcomes))
"""


@pytest.mark.parametrize("damage", [_empty, _truncated, _version_not_a_number, _half_migrated],
                         ids=["empty", "truncated", "version-not-a-number", "half-migrated"])
def test_a_damaged_database_is_refused_untouched_and_logging_goes_on(store_dir, damage):
    run_id = _make_store(store_dir)
    database = store_dir / "tracker.duckdb"
    damage(database)
    before = _digest(database)
    env = {**os.environ, "JUPYTER_TRACKER_DIR": str(store_dir)}

    readers = subprocess.run([sys.executable, "-c", _READERS, run_id], env=env, capture_output=True, text=True)
    assert readers.returncode == 0, readers.stderr
    outcomes = json.loads(readers.stdout.splitlines()[-1])
    for entry_point in ("search_runs", "get_run", "sql"):
        message = outcomes[entry_point]
        assert message.startswith("StoreFormatError: "), (entry_point, message)
        assert str(database) in message and "backup" in message and "jupyter-tracker doctor" in message
    assert outcomes["log"] == "ok"  # logging only writes journals

    listing = subprocess.run([sys.executable, "-m", "jupyter_tracker.cli", "ls"], env=env,
                             capture_output=True, text=True)
    assert listing.returncode != 0
    assert str(database) in listing.stderr and "jupyter-tracker doctor" in listing.stderr
    assert "Traceback" not in listing.stderr

    assert _digest(database) == before
    assert any(store_dir.joinpath("journal").glob("*.events"))  # what was logged waits for the repair


def test_a_database_emptied_while_a_kernel_uses_it_is_not_taken_for_a_new_store(store_dir):
    with jt.start_run(run_name="earlier"):
        jt.log_metric("loss", 1.0)
    assert len(jt.search_runs()) == 1
    database = store_dir / "tracker.duckdb"
    _empty(database)
    with pytest.raises(jt.errors.StoreFormatError, match="empty"):
        jt.search_runs()
    assert database.stat().st_size == 0


def _schema_of(con) -> tuple:
    """Everything a migration decides: columns, view definitions, recorded migrations and meta."""
    columns = con.execute("""select table_schema, table_name, column_name, data_type, ordinal_position
                             from information_schema.columns where table_catalog = current_database()
                             order by all""").fetchall()
    views = con.execute("select schema_name, view_name, sql from duckdb_views() where not internal "
                        "and database_name = current_database() order by all").fetchall()
    recorded = con.execute("select version, name from internal.migrations order by version").fetchall()
    meta = con.execute("select key, value from internal.meta order by key").fetchall()
    return columns, views, recorded, meta


def test_migrations_can_run_again_and_finish_one_that_was_cut_short(tmp_path, monkeypatch):
    fresh = connect_duckdb(tmp_path / "fresh.duckdb")
    schema.migrate(fresh, None)
    expected = _schema_of(fresh)
    assert expected[2] == [(version, name) for version, name, _ in schema.MIGRATIONS]

    twice = connect_duckdb(tmp_path / "twice.duckdb")
    schema.migrate(twice, None)
    schema.migrate(twice, None)  # as if the version had not been read
    schema.migrate(twice, schema.read_version(twice))
    assert _schema_of(twice) == expected

    # A crash in the middle of a migration (an older jupyter_tracker that ran statements one by one):
    # only the first statements of migration ``version`` ran; the next open finishes the job.
    for version, _, apply in schema.MIGRATIONS:
        statements = apply.statements
        for cut in sorted({1, len(statements) // 2, len(statements) - 1}):
            con = connect_duckdb(tmp_path / f"cut-{version}-{cut}.duckdb")
            earlier = [m for m in schema.MIGRATIONS if m[0] < version]
            if earlier:
                with monkeypatch.context() as patch:
                    patch.setattr(schema, "MIGRATIONS", earlier)
                    patch.setattr(schema, "SCHEMA_VERSION", earlier[-1][0])
                    schema.migrate(con, None)
            for statement in statements[:cut]:
                con.execute(statement)
            schema.migrate(con, schema.read_version(con) if earlier else None)
            assert _schema_of(con) == expected, (version, cut)
            con.close()
    fresh.close()
    twice.close()


_SQLITE_READER = """
import json, time
import jupyter_tracker as jt
started = time.monotonic()
try:
    jt.search_runs()
    outcome = "read"
except jt.errors.TrackerError as exc:
    outcome = type(exc).__name__ + ": " + str(exc)
print(json.dumps({"outcome": outcome, "seconds": time.monotonic() - started}))
"""


def test_a_sqlite_file_is_refused_at_once_without_fetching_a_duckdb_extension(tmp_path):
    directory = tmp_path / "store"
    directory.mkdir()
    database = directory / "tracker.duckdb"
    sqlite = sqlite3.connect(database)
    sqlite.execute("create table runs (run_id text)")
    sqlite.execute("insert into runs values ('abc')")
    sqlite.commit()
    sqlite.close()
    before = _digest(database)
    home = tmp_path / "home"  # where DuckDB would install an extension it fetched
    home.mkdir()
    reader = subprocess.run([sys.executable, "-c", _SQLITE_READER], capture_output=True, text=True,
                            env={**os.environ, "JUPYTER_TRACKER_DIR": str(directory), "HOME": str(home)})
    assert reader.returncode == 0, reader.stderr
    result = json.loads(reader.stdout.splitlines()[-1])
    assert result["outcome"].startswith("StoreFormatError: ") and str(database) in result["outcome"]
    assert "download" not in result["outcome"].lower()
    assert result["seconds"] < 5.0
    assert not (home / ".duckdb").exists()  # no extension was installed, or tried to be
    assert _digest(database) == before


def test_a_slow_query_is_stopped_at_the_time_limit_and_frees_the_store(store_dir):
    with jt.start_run(run_name="r"):
        jt.log_metric("loss", 1.0)
    assert len(jt.search_runs()) == 1
    config = get_config()
    previous = config.query_timeout
    config.query_timeout = 0.5
    try:
        started = time.monotonic()
        with pytest.raises(QueryTimeoutError, match=r"0\.5 s.*query_timeout"):
            jt.sql("select sum(a.range * b.range) from range(3000000) a, range(3000000) b")
        assert time.monotonic() - started < 10
    finally:
        config.query_timeout = previous
    lock_fd = try_lock_exclusive(store_dir / "lock")  # no session is left holding the store
    assert lock_fd is not None
    os.close(lock_fd)
    assert jt.sql("select count(*) as n from runs").n.item() == 1


def test_a_malformed_query_timeout_setting_is_explained(monkeypatch):
    from jupyter_tracker.config import TrackerConfig
    from jupyter_tracker.errors import ConfigError

    monkeypatch.setenv("JUPYTER_TRACKER_QUERY_TIMEOUT", "half a minute")
    with pytest.raises(ConfigError, match="'half a minute' is not a number of seconds"):
        _ = TrackerConfig().query_timeout
    monkeypatch.setenv("JUPYTER_TRACKER_QUERY_TIMEOUT", "12.5")
    assert TrackerConfig().query_timeout == 12.5
    with pytest.raises(ConfigError, match="finite number of seconds"):
        TrackerConfig(query_timeout=-1)


def test_doctor_reports_a_damaged_database_and_salvages_what_the_journals_hold(store_dir, tmp_path):
    _make_store(store_dir)
    script = tmp_path / "later.py"  # a run logged after the damage: only in its journal and objects
    script.write_text(
        "import sys, jupyter_tracker as jt\nrun = jt.start_run(run_name='after')\n"
        "run.log_metric('acc', 0.9)\nrun.log_text('notes', 'notes.txt')\n"
        "print('ok', flush=True)\nsys.stdin.readline()\n")
    (store_dir / "tracker.duckdb").write_bytes(b"")  # the database is lost
    env = {**os.environ, "JUPYTER_TRACKER_DIR": str(store_dir)}
    writer = subprocess.Popen([sys.executable, str(script)], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ok"
        doctor = subprocess.run([sys.executable, "-m", "jupyter_tracker.cli", "doctor", "--json"], env=env,
                                capture_output=True, text=True, timeout=120)
        assert doctor.returncode == 1
        report = json.loads(doctor.stdout)
        assert "database_error" in report and report["problems"]
        assert report["journals"] == 2  # the earlier run's journal was not yet removed, and the new one
        rescued = tmp_path / "rescued"
        salvage = subprocess.run([sys.executable, "-m", "jupyter_tracker.cli", "doctor", "--salvage", str(rescued),
                                  "--json"], env=env, capture_output=True, text=True, timeout=120)
        assert salvage.returncode == 0, salvage.stderr
        assert json.loads(salvage.stdout)["runs"] == 2
    finally:
        writer.stdin.close()
        writer.wait(timeout=60)
        writer.stdout.close()
    assert (store_dir / "tracker.duckdb").read_bytes() == b""  # the damaged store is left as it was
    runs = jt.search_runs(store=jt.set_store(rescued))
    assert sorted(runs.run_name) == ["after", "precious"]
    after = runs[runs.run_name == "after"].run_id.item()
    assert jt.get_run(after).artifacts[0].local_path.read_text() == "notes"
