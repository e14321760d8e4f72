"""Bob imports a bundle that someone crafted: its tables are data, never paths.

The attacker rewrites Alice's real bundle and recomputes its manifest, so every tamper check of
the zip passes. Whatever the rows say (a run id four times, a hash that is a path, a run still
RUNNING, a member count that adds up to a zip bomb), Bob's store either gets runs that read back
like any other, or refuses the file with a ``BundleError`` naming the table, the row and the rule,
and is left exactly as it was.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sharing_story import run_ids, team_store, with_mlflow_registry
from tornado.httpclient import HTTPClientError

import jupyter_tracker as jt
from jupyter_tracker import config
from jupyter_tracker.capture import background
from jupyter_tracker.errors import BundleError, StoreFormatError, TrackerError
from jupyter_tracker.sharing.bundle import OPTIONAL_TABLES, STILL_RUNNING_MESSAGE, unpack_for_reading
from jupyter_tracker.store import get_store


@pytest.fixture(scope="module")
def alice_store(tmp_path_factory) -> Path:
    return with_mlflow_registry(team_store(tmp_path_factory))


@pytest.fixture(scope="module")
def bundle(alice_store, tmp_path_factory) -> Path:
    """Every run of Alice's store (two notebooks, nested runs, artifacts, snapshots, a model with tags,
    MLflow's fields of a version and a deleted version)."""
    path = tmp_path_factory.mktemp("outbox") / "team.jtrack"
    store = get_store(alice_store)
    jt.export_runs(jt.search_runs(store=store), path, store=store)
    return path


@pytest.fixture
def bob(store_dir) -> Path:
    """Bob's store, holding one run of his own, so "unchanged" means something."""
    with jt.start_run("bob-baseline", experiment="bob") as run:
        run.log_param("lr", 0.1)
        run.log_metric("loss", 0.5)
        run.log_text("his notes", "notes.txt")
    background.drain(30)    # the environment is recorded in the background; let it land first
    jt.search_runs()
    return store_dir


def store_state(root: Path) -> tuple:
    """Everything the store holds: every internal table's rows (sorted) and every object file."""
    store = get_store(root)
    with store.session() as con:
        tables = [t for (t,) in con.execute("SELECT table_name FROM information_schema.tables "
                                            "WHERE table_schema = 'internal' ORDER BY 1").fetchall()]
        rows = {t: repr(con.execute(f"SELECT * FROM internal.{t} ORDER BY ALL").fetchall()) for t in tables}
    objects = sorted((str(p.relative_to(store.objects.root)), p.stat().st_size)
                     for p in store.objects.root.rglob("*") if p.is_file()) if store.objects.root.is_dir() else []
    return rows, objects


# -- forging, as an attacker would -----------------------------------------------------------------
def parquet_bytes(rows: list[dict], schema: pa.Schema) -> bytes:
    """``rows`` as Parquet: with the original column types where the values fit them, else with
    the types pyarrow infers, else as text (an attacker writes whatever types they like)."""
    relaxed = pa.schema([field.with_nullable(True) for field in schema])
    columns = {}
    for field in relaxed:
        values = [row.get(field.name) for row in rows]
        for attempt in (lambda values=values, field=field: pa.array(values, type=field.type),
                        lambda values=values: pa.array(values),
                        lambda values=values: pa.array([None if v is None else str(v) for v in values],
                                                       type=pa.string())):
            try:
                columns[field.name] = attempt()
                break
            except (pa.ArrowException, OverflowError, TypeError, ValueError):
                continue
    extra = [name for row in rows for name in row if name not in columns]
    for name in dict.fromkeys(extra):
        columns[name] = pa.array([row.get(name) for row in rows])
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


def forge(source: Path, target: Path, tables: dict | None = None, objects: dict[str, bytes] | None = None,
          manifest_change=None, compresslevel: int = 1, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """Rewrite ``source`` with ``tables[name](rows) -> rows`` applied and ``objects`` added, then
    recompute the manifest (run ids, metric point count, the sha256 and size of every member) so
    the zip checks all pass; ``manifest_change`` edits it last."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(members.pop("manifest.json"))
    for table, change in (tables or {}).items():
        name = f"tables/{table}.parquet"
        original = pq.read_table(io.BytesIO(members[name]))
        members[name] = parquet_bytes(change(original.to_pylist()), original.schema)
    for sha, content in (objects or {}).items():
        members[f"objects/{sha}"] = content
    runs = pq.read_table(io.BytesIO(members["tables/runs.parquet"])).to_pylist()
    manifest["run_ids"] = [run.get("run_id") for run in runs]
    manifest["metric_points"] = pq.read_metadata(io.BytesIO(members["tables/metrics.parquet"])).num_rows
    if manifest_change:
        manifest_change(manifest)
    manifest["members"] = {name: {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
                           for name, content in members.items()}
    with zipfile.ZipFile(target, "w", compression=compression, compresslevel=compresslevel) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
        archive.writestr("manifest.json", json.dumps(manifest))
    return target


def rows_of(bundle: Path, table: str) -> list[dict]:
    with zipfile.ZipFile(bundle) as archive:
        return pq.read_table(io.BytesIO(archive.read(f"tables/{table}.parquet"))).to_pylist()


def edit(index: int, **changes):
    """A table change: set ``changes`` on row ``index``."""
    def change(rows):
        rows[index].update(changes)
        return rows
    return change


def refused(bad: Path, store: Path, match: str) -> BundleError:
    """Import ``bad``: it must be refused with ``match`` in the message and ``store`` unchanged."""
    before = store_state(store)
    with pytest.raises(BundleError, match=match) as caught:
        jt.import_runs(bad)
    assert store_state(store) == before
    return caught.value


# -- the attacks reproduced ------------------------------------------------------------------------
def test_one_run_four_times_is_refused_and_the_store_is_unchanged(bundle, bob, tmp_path):
    sweep = next(r for r in rows_of(bundle, "runs") if r["run_name"] == "sweep")

    def four_times(rows):
        return rows + [dict(sweep) for _ in range(3)]

    bad = forge(bundle, tmp_path / "four.jtrack", {"runs": four_times})
    error = refused(bad, bob, "run_id")
    message = str(error)
    assert "table 'runs'" in message and sweep["run_id"] in message and "more than once" in message
    assert jt.search_runs()["run_name"].tolist() == ["bob-baseline"]


def test_an_artifact_hash_that_is_a_path_never_becomes_a_file(bundle, bob, tmp_path):
    bad = forge(bundle, tmp_path / "passwd.jtrack", {"artifacts": edit(0, sha256="ab/etc/passwd")})
    error = refused(bad, bob, "64 lowercase hex")
    assert "table 'artifacts', row 0" in str(error) and "'ab/etc/passwd'" in str(error)


def test_a_store_already_holding_a_path_as_hash_does_not_serve_or_export_it(bob, tmp_path):
    """A row written by an older version's import: reading or re-exporting the run is refused,
    and /etc/passwd is never packed into a bundle."""
    run_id = jt.search_runs()["run_id"][0]
    with get_store(bob).session() as con:
        con.execute("UPDATE internal.artifacts SET sha256 = 'ab/etc/passwd'")
    with pytest.raises(StoreFormatError, match="ab/etc/passwd"):
        jt.get_run(run_id)
    with pytest.raises(TrackerError):
        jt.export_runs(run_id, tmp_path / "leak.jtrack")
    assert not (tmp_path / "leak.jtrack").exists()
    with pytest.raises(StoreFormatError, match="64 lowercase hex"):
        get_store(bob).objects.path("../" + "a" * 62)


def test_a_run_still_running_when_exported_arrives_killed(bundle, bob, tmp_path):
    index = next(i for i, r in enumerate(rows_of(bundle, "runs")) if r["run_name"] == "sweep")
    running = forge(bundle, tmp_path / "running.jtrack", {"runs": edit(index, status="RUNNING", end_time=None)})
    jt.import_runs(running)
    sweep = jt.get_run(run_ids(bob)["sweep"])
    assert sweep.status == "KILLED" and sweep.end_time is not None
    assert jt.sql("SELECT error_message FROM runs WHERE run_name = 'sweep'")["error_message"][0] == \
        STILL_RUNNING_MESSAGE
    assert "RUNNING" not in jt.search_runs()["status"].tolist()


NOT_JSON = b"this is not a notebook"


def _parent_cycle(rows):
    rows[0]["parent_run_id"], rows[1]["parent_run_id"] = rows[1]["run_id"], rows[0]["run_id"]
    return rows


#: name -> (forge() arguments, what the refusal says)
FORGERIES = {
    "unknown status": (dict(tables={"runs": edit(0, status="PAUSED")}), "'status' is 'PAUSED'"),
    "artifact path leaving the run": (dict(tables={"artifacts": edit(0, path="../../outside.txt")}), "escapes"),
    "absolute artifact path": (dict(tables={"artifacts": edit(0, path="/etc/passwd")}), "is absolute"),
    "hash of no file": (dict(tables={"artifacts": edit(0, sha256="0" * 64)}), "neither the bundle nor this store"),
    "artifact size that lies": (dict(tables={"artifacts": edit(0, size=10**9)}), "differs from the"),
    "param logged twice": (dict(tables={"params": lambda rows: rows + [dict(rows[0], value="other")]}),
                           "more than once"),
    "param key made to break SQL": (dict(tables={"params": edit(0, key='lr"; --')}), "keys may only use"),
    "metric step as text": (dict(tables={"metrics": edit(0, step="one")}), "'step' is of type string"),
    "timestamp past 2262": (dict(tables={"metrics": edit(0, timestamp=2**62)}), "years 1677 to 2262"),
    "pid beyond 32 bits": (dict(tables={"runs": edit(0, pid=2**40)}), "32-bit"),
    "row of a run not in the bundle": (dict(tables={"tags": edit(0, run_id="f" * 32)}),
                                       "not in the bundle's runs table"),
    "cell hash that is a path": (dict(tables={"snapshots": edit(0, cell_shas=["../../x"])}), "cell hash"),
    "snapshot part that is not JSON": (dict(tables={"snapshots": edit(
        0, meta_sha=hashlib.sha256(NOT_JSON).hexdigest())},
                                            objects={hashlib.sha256(NOT_JSON).hexdigest(): NOT_JSON}),
                                       "not a JSON object"),
    "parent cycle": (dict(tables={"runs": _parent_cycle}), "comes back to itself"),
    "experiment name made to break SQL": (dict(tables={"runs": edit(0, experiment="x' OR 1=1")}), "experiment key"),
    "environment that is not JSON": (dict(tables={"environments": edit(0, content="{oops")}), "JSON"),
    "unknown column": (dict(tables={"runs": lambda rows: [dict(r, evil="x") for r in rows]}), "unknown: evil"),
    "model version of a run not in the bundle": (dict(tables={"model_versions": edit(0, run_id="e" * 32)}),
                                                 "not in the bundle's runs table"),
    "alias of a missing version": (dict(tables={"model_aliases": edit(0, version=7)}), "version 7 of model"),
    "model tag of a model not in the bundle": (dict(tables={"registered_model_tags": edit(0, name="ghost")}),
                                                "model 'ghost' is not in the bundle's registered_models"),
    "model tag of a name no model URI can hold": (dict(tables={"registered_model_tags": edit(0, name="a/b")}),
                                                  "without '/'"),
    "version tag with an empty key": (dict(tables={"model_version_tags": edit(0, key="")}), "non-empty text keys"),
    "version tag twice": (dict(tables={"model_version_tags": lambda rows: rows + [dict(rows[0], value="no")]}),
                          "more than once"),
    "version tag of a missing version": (dict(tables={"model_version_tags": edit(0, version=9)}),
                                         "version 9 of model"),
    "MLflow fields of a missing version": (dict(tables={"mlflow_model_versions": edit(0, version=9)}),
                                           "version 9 of model"),
    "unknown version status": (dict(tables={"mlflow_model_versions": edit(0, status="DONE")}),
                               "'status' is 'DONE'"),
    "storage location with a control character": (dict(tables={"mlflow_model_versions": edit(
        0, storage_location="s3://b/m\x07")}), "no control characters"),
    "logged model id that is a path": (dict(tables={"mlflow_model_versions": edit(0, model_id="../m-1")}),
                                       "logged model ids"),
    "a deleted version that is also live": (dict(tables={"deleted_model_versions": edit(0, version=1)}),
                                            "also in the model_versions table"),
    "a deleted version of no model": (dict(tables={"deleted_model_versions": edit(0, name="ghost")}),
                                      "model 'ghost' is not in the bundle's registered_models"),
    "a deleted version numbered 0": (dict(tables={"deleted_model_versions": edit(0, version=0)}),
                                     "versions count from 1"),
    "latest value without a history": (dict(tables={"latest_metrics": edit(0, key="ghost")}),
                                       "no row in the metrics table"),
    "manifest run ids": (dict(manifest_change=lambda m: m.update(run_ids=m["run_ids"][1:])), "run_ids"),
    "manifest metric points": (dict(manifest_change=lambda m: m.update(metric_points=m["metric_points"] + 1)),
                               "metric points"),
    "a file no row refers to": (dict(objects={hashlib.sha256(b"filler").hexdigest(): b"filler"}),
                                "no row refers to"),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_table_is_refused_naming_the_rule(forgery, bundle, bob, tmp_path):
    arguments, message = FORGERIES[forgery]
    bad = forge(bundle, tmp_path / "forged.jtrack", **arguments)
    error = refused(bad, bob, message)
    assert "nothing was imported" in str(error).lower()


async def test_a_snapshot_hash_cannot_make_the_server_send_a_file_outside_its_root(
        jp_fetch, jp_root_dir, bundle, tmp_path_factory, monkeypatch):
    secret = tmp_path_factory.mktemp("outside-the-root") / "secret.json"
    secret.write_text(json.dumps({"cells": [], "metadata": {"secret": "s3cr3t"}, "nbformat": 4,
                                  "nbformat_minor": 5}))
    monkeypatch.delenv("JUPYTER_TRACKER_DIR", raising=False)
    inbox = jp_root_dir / "inbox"
    inbox.mkdir()
    store = get_store(inbox / ".jupyter_tracker")
    index, snapshot = next((i, s) for i, s in enumerate(rows_of(bundle, "snapshots")) if s["kind"] == "executed")
    bad = forge(bundle, tmp_path_factory.mktemp("mail") / "snap.jtrack",
                {"snapshots": edit(index, meta_sha=f"ab{secret}")})
    with pytest.raises(BundleError, match="64 lowercase hex"):
        jt.import_runs(bad, store=store)
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("jupyter-tracker", "api", "runs", snapshot["run_id"], "snapshot", params={"dir": "inbox"})
    assert caught.value.code == 404

    # A store that already holds such a row (an older version imported it) answers with an error.
    jt.import_runs(bundle, store=store)
    with store.session() as con:
        con.execute("UPDATE internal.snapshots SET meta_sha = ?", [f"ab{secret}"])
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("jupyter-tracker", "api", "runs", snapshot["run_id"], "snapshot", params={"dir": "inbox"})
    assert caught.value.code == 500 and b"s3cr3t" not in caught.value.response.body
    assert "64 lowercase hex" in json.loads(caught.value.response.body)["message"]


# -- zip bombs -------------------------------------------------------------------------------------
def test_many_small_members_that_add_up_are_a_zip_bomb(bundle, bob, tmp_path, monkeypatch):
    """200 members of 1 MiB each (none above the old 1 MiB per-member floor) in a ~250 KB file."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    zeros = {}
    for index in range(200):
        content = bytes((1 << 20) - 8) + struct.pack(">Q", index)
        zeros[hashlib.sha256(content).hexdigest()] = content
    bomb = forge(bundle, tmp_path / "bomb.jtrack", objects=zeros, compresslevel=9)
    assert bomb.stat().st_size < 400_000
    error = refused(bomb, bob, "zip bomb")
    assert "overall" in str(error)
    assert list(scratch.iterdir()) == []                     # the import's unpacking left nothing behind
    with pytest.raises(BundleError, match="zip bomb"):
        unpack_for_reading(bomb, tmp_path / "unpacked")
    assert not (tmp_path / "unpacked").exists() or list((tmp_path / "unpacked").rglob("*")) == []


def test_a_bundle_compressed_some_other_way_is_refused_before_unpacking(bundle, bob, tmp_path):
    """Only stored and deflated members are read: other methods have other ways to fail."""
    bzipped = forge(bundle, tmp_path / "bzip2.jtrack", compression=zipfile.ZIP_BZIP2, compresslevel=9)
    refused(bzipped, bob, "compressed with method 12")


def test_a_member_bigger_than_its_zip_entry_says_is_refused_with_nothing_left(bundle, bob, tmp_path):
    """Declared sizes can lie: the zip and the manifest say 1,000 bytes, the stream inflates to 2 MiB."""
    content = bytes(2 << 20)
    name = f"objects/{hashlib.sha256(content).hexdigest()}"
    with zipfile.ZipFile(bundle) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    manifest = json.loads(members.pop("manifest.json"))
    members[name] = content
    manifest["members"][name] = {"sha256": hashlib.sha256(content[:1000]).hexdigest(), "size": 1000}
    liar = tmp_path / "liar.jtrack"
    with zipfile.ZipFile(liar, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
        archive.writestr("manifest.json", json.dumps(manifest))
    raw = bytearray(liar.read_bytes())
    # the uncompressed size field of the member's local header (offset 22) and central entry (24)
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        start = raw.find(signature)
        while start != -1:
            if raw[start + name_at:start + name_at + len(name)] == name.encode():
                raw[start + size_at:start + size_at + 4] = struct.pack("<I", 1000)
            start = raw.find(signature, start + 4)
    liar.write_bytes(bytes(raw))
    with zipfile.ZipFile(liar) as archive:
        assert archive.getinfo(name).file_size == 1000          # the lie is in place

    with pytest.raises(BundleError, match="cannot be unpacked|more bytes than declared"):
        unpack_for_reading(liar, tmp_path / "out")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").rglob("*")) == []
    refused(liar, bob, "cannot be unpacked|more bytes than declared")


# -- any single change -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template_store(tmp_path_factory) -> Path:
    """A store with one run of its own, copied for every example (making one costs a migration)."""
    root = tmp_path_factory.mktemp("template") / "store"
    jt.set_store(root)
    try:
        with jt.start_run("own", experiment="home") as run:
            run.log_metric("loss", 0.25)
        background.drain(30)
        jt.search_runs()
    finally:
        config.set_store_override(None)
    return root


def _values(bundle: Path):
    """Values an attacker would try: random text, numbers, None, and the dangerous ones."""
    runs, artifacts = rows_of(bundle, "runs"), rows_of(bundle, "artifacts")
    dangerous = [*(r["run_id"] for r in runs), *(a["sha256"] for a in artifacts), "ab/etc/passwd", "../../x",
                 "/etc/passwd", "", " ", "RUNNING", "KILLED", "saved", "stderr", "Production", "latest", 2**31, -1,
                 0, 2**62, 2**63 - 1, float("nan"), float("inf"), True, "x'; DROP TABLE runs; --", '{"a": 1}',
                 "[1]", ["0" * 64], [artifacts[0]["sha256"]], "\x00", "é" * 300]
    return st.one_of(st.none(), st.text(max_size=40), st.integers(-(2**70), 2**70),
                     st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.sampled_from(dangerous))


def _reads_back(store, bad: Path) -> None:
    """Every imported run reads back through the public API; no artifact lies outside the store."""
    shown = set(jt.search_runs(store=store, max_results=10_000)["run_id"])
    objects_root = store.objects.root.resolve()
    alive = {run["run_id"] for run in rows_of(bad, "runs") if not run["deleted"]}
    for run_id in alive:
        assert run_id in shown
        record = jt.get_run(run_id, store=store)
        assert record.status in ("FINISHED", "FAILED", "KILLED")
        for artifact in record.artifacts:
            assert objects_root in Path(artifact.local_path).resolve().parents
            assert len(artifact.local_path.read_bytes()) == artifact.size
        for key in record.metrics:
            jt.get_metric_history(run_id, key, store=store)
    for snapshot in rows_of(bad, "snapshots"):
        if snapshot["run_id"] in alive:
            jt.load_snapshot(snapshot["run_id"], snapshot["kind"], store=store)


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_single_change_imports_cleanly_or_is_refused_with_the_store_unchanged(
        data, bundle, template_store, tmp_path_factory):
    tables = {t: rows_of(bundle, t) for t in ("runs", "params", "tags", "metrics", "latest_metrics", "artifacts",
                                              "snapshots", "console", "environments", "registered_models",
                                              "model_versions", "stage_transitions", "model_aliases",
                                              *OPTIONAL_TABLES)}
    table = data.draw(st.sampled_from(sorted(t for t, rows in tables.items() if rows)), label="table")
    rows = tables[table]
    index = data.draw(st.integers(0, len(rows) - 1), label="row")
    if data.draw(st.integers(0, 5), label="kind of change") == 0:
        change = lambda rows: rows + [dict(rows[index])]   # noqa: E731 - the row, duplicated
    else:
        column = data.draw(st.sampled_from(sorted(rows[0])), label="column")
        change = edit(index, **{column: data.draw(_values(bundle), label="value")})
    work = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp()))
    bad = forge(bundle, work / "forged.jtrack", {table: change})
    root = work / "store"
    shutil.copytree(template_store, root, ignore=shutil.ignore_patterns("lock"))
    store = get_store(root)
    before = store_state(root)
    try:
        jt.import_runs(bad, store=store)
    except BundleError as refusal:
        event(f"refused: {str(refusal).split(': ', 2)[1][:40]}")
        assert store_state(root) == before
    else:
        event("imported")
        _reads_back(store, bad)
    shutil.rmtree(work)


# -- bytes that are not text -----------------------------------------------------------------------
def _not_utf8(table: str, column: str):
    """A member change: row 0's ``column`` of ``table`` gets bytes that are not UTF-8 (Parquet string
    columns hold whatever bytes their writer put there; pyarrow's ``view`` does not check them)."""
    def change(members: dict[str, bytes]) -> None:
        name = f"tables/{table}.parquet"
        original = pq.read_table(io.BytesIO(members[name]))
        values = original.column(column).to_pylist()
        values[0] = (values[0] or "x").encode() + b"\xe9\xff"
        raw = pa.array(values, pa.binary()).view(pa.string())
        sink = io.BytesIO()
        pq.write_table(original.set_column(original.schema.get_field_index(column), column, raw), sink)
        members[name] = sink.getvalue()
    return change


@pytest.mark.parametrize("table, column", [("runs", "run_name"), ("runs", "source_code"), ("console", "text"),
                                           ("registered_models", "description"), ("params", "value")])
def test_bytes_that_are_not_utf8_in_any_text_column_are_refused_before_any_file_is_copied(
        bundle, bob, tmp_path, table, column):
    with zipfile.ZipFile(bundle) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    _not_utf8(table, column)(members)
    manifest = json.loads(members.pop("manifest.json"))
    manifest["members"] = {name: {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
                           for name, content in members.items()}
    bad = tmp_path / "latin1.jtrack"
    with zipfile.ZipFile(bad, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
        archive.writestr("manifest.json", json.dumps(manifest))
    error = refused(bad, bob, f"column '{column}' holds bytes that are not UTF-8")   # objects included
    assert f"table '{table}'" in str(error)
