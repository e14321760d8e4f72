"""Alice sends her sweep to Bob as one .jtrack file; Bob's store ends up with exactly her runs.

The bundle is an open format (zip + Parquet + JSON manifest), it round-trips every metric value
bit for bit, and a damaged or tampered file is refused with nothing imported.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from sharing_story import MLFLOW_FIELDS, run_ids, team_store, with_mlflow_registry

import jupyter_tracker as jt
from jupyter_tracker.errors import BundleError
from jupyter_tracker.registry import registered_models_with_versions
from jupyter_tracker.sharing.bundle import OPTIONAL_TABLES


@pytest.fixture(scope="module")
def alice_store(tmp_path_factory) -> Path:
    return with_mlflow_registry(team_store(tmp_path_factory))


@pytest.fixture(scope="module")
def bundle(alice_store, tmp_path_factory) -> Path:
    """Alice's sweep (and its nested runs) exported from her store."""
    from jupyter_tracker.store import get_store

    path = tmp_path_factory.mktemp("outbox") / "churn-best.jtrack"
    sweeps = jt.search_runs(filter="attributes.run_name = 'sweep'", store=get_store(alice_store))
    jt.export_runs(sweeps, path, store=get_store(alice_store))
    return path


def _everything(run_ids_: list[str]) -> dict:
    """What a user can read back about runs: the search table, every metric history, artifacts'
    bytes, notebooks and the registry (with its model and version tags and MLflow's version fields)."""
    runs = jt.search_runs(filter=f"attributes.run_id IN ({', '.join(repr(r) for r in run_ids_)})")
    runs = runs.sort_values("run_id").reset_index(drop=True)
    histories = {}
    artifacts = {}
    notebooks = {}
    for run_id in run_ids_:
        record = jt.get_run(run_id)
        for key in record.metrics:
            histories[run_id, key] = jt.get_metric_history(run_id, key)
        artifacts[run_id] = {a.path: a.local_path.read_bytes() for a in record.artifacts}
        try:
            notebooks[run_id] = jt.load_snapshot(run_id)
        except jt.errors.SnapshotNotFoundError:
            pass
    versions = jt.search_model_versions("doubler").drop(columns=["created_time"])
    return {"runs": runs, "histories": histories, "artifacts": artifacts, "notebooks": notebooks,
            "versions": versions, "registry": registered_models_with_versions("doubler")}


def test_round_trip_into_an_empty_store_is_identical(alice_store, bundle, store_dir):
    jt.set_store(alice_store)
    ids = run_ids(alice_store)
    sweep_family = [ids["sweep"], ids["sweep/depth=2"], ids["sweep/depth=4"]]
    before = _everything(sweep_family)

    jt.set_store(store_dir)                       # Bob's empty store
    result = jt.import_runs(bundle)
    assert sorted(result.imported) == sorted(sweep_family) and result.skipped == []
    after = _everything(sweep_family)

    pd.testing.assert_frame_equal(before["runs"], after["runs"])
    assert before["histories"].keys() == after["histories"].keys()
    for key, history in before["histories"].items():
        pd.testing.assert_frame_equal(history, after["histories"][key], check_exact=True)
    extreme = after["histories"][ids["sweep"], "extreme"]["value"].tolist()
    assert extreme[:2] == [1e-300, 1.7e308] and math.isnan(extreme[2])
    assert extreme[3:] == [math.inf, -math.inf, 5e-324]
    assert after["artifacts"] == before["artifacts"]
    assert after["artifacts"][ids["sweep"]]["model-notes/weights.txt"] == b"w = 0.5"
    assert after["notebooks"] == before["notebooks"] and ids["sweep"] in after["notebooks"]
    pd.testing.assert_frame_equal(before["versions"], after["versions"])
    assert after["registry"] == before["registry"]      # every field, times included
    (doubler,) = after["registry"]
    assert doubler["tags"] == {"owner": "alice"}
    v2, v1 = doubler["versions"]
    assert v1["tags"] == {"validated": "yes"} and v2["tags"] == {"framework": "pyfunc"}
    assert {key: v2[key] for key in MLFLOW_FIELDS} == MLFLOW_FIELDS and v2["description"] == "logged by mlflow.pyfunc"
    # Version 3 was deleted in Alice's store: its number is not given again in Bob's.
    assert jt.register_model(f"runs:/{ids['sweep']}/model", "doubler").version == 4
    assert jt.get_stage_history("doubler", 1)["comment"].tolist()[-1] == "looks good"
    assert jt.load_model("models:/doubler@champion").predict([1, 2]) == [2, 4]
    assert jt.get_run(ids["sweep/depth=2"]).parent_run_id == ids["sweep"]

    origins = jt.sql("SELECT DISTINCT origin FROM runs")["origin"].tolist()
    assert len(origins) == 1 and origins[0].startswith("bundle:churn-best.jtrack@")


def test_importing_twice_adds_nothing(bundle, store_dir):
    first = jt.import_runs(bundle)
    counts = jt.sql("SELECT (SELECT count(*) FROM runs) r, (SELECT count(*) FROM metrics) m, "
                    "(SELECT count(*) FROM artifacts) a, (SELECT count(*) FROM model_versions) v")
    again = jt.import_runs(bundle)
    assert again.imported == [] and sorted(again.skipped) == sorted(first.imported)
    assert again.metric_points == 0 and again.model_versions == 0
    pd.testing.assert_frame_equal(counts, jt.sql(
        "SELECT (SELECT count(*) FROM runs) r, (SELECT count(*) FROM metrics) m, "
        "(SELECT count(*) FROM artifacts) a, (SELECT count(*) FROM model_versions) v"))


def test_a_bundle_made_before_the_registry_tags_were_exported_still_imports(bundle, store_dir, tmp_path):
    with zipfile.ZipFile(bundle) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(members.pop("manifest.json"))
    for table in OPTIONAL_TABLES:
        del members[f"tables/{table}.parquet"], manifest["members"][f"tables/{table}.parquet"]
        manifest["tables"].remove(table)
    old = tmp_path / "old.jtrack"
    with zipfile.ZipFile(old, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
        archive.writestr("manifest.json", json.dumps(manifest))

    result = jt.import_runs(old)
    assert len(result.imported) == 3 and result.model_versions == 2
    (doubler,) = registered_models_with_versions("doubler")
    assert [v["version"] for v in doubler["versions"]] == [2, 1] and doubler["tags"] == {}
    assert doubler["versions"][0]["status"] is None      # MLflow's fields were not in the old format


def test_anyone_can_read_a_bundle_without_jupyter_tracker(bundle):
    import pyarrow.parquet as pq

    with zipfile.ZipFile(bundle) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        metrics = pq.read_table(io.BytesIO(archive.read("tables/metrics.parquet"))).to_pandas()
        notebook = json.loads(archive.read(f"notebooks/{manifest['run_ids'][0]}.ipynb"))
    assert manifest["format"] == "jupyter_tracker.bundle" and manifest["format_version"] == 1
    assert set(manifest["members"]) >= {"tables/runs.parquet", "tables/metrics.parquet"}
    assert list(metrics.columns) == ["run_id", "key", "step", "timestamp", "value"]
    assert len(metrics) == manifest["metric_points"] == 30 + 6 + 2
    assert "".join(notebook["cells"][-1]["source"]).startswith("%%track -e sharing -n sweep")


def test_large_artifacts_can_be_left_out(alice_store, store_dir, tmp_path):
    jt.set_store(alice_store)
    sweep = run_ids(alice_store)["sweep"]
    result = jt.export_runs(sweep, tmp_path / "small.jtrack", max_artifact_bytes=10)
    omitted = {item["path"] for item in result.omitted_artifacts}
    assert "config.json" in omitted and "model-notes/weights.txt" not in omitted
    jt.set_store(store_dir)
    jt.import_runs(tmp_path / "small.jtrack")
    assert [a.path for a in jt.get_run(sweep).artifacts] == ["model-notes/weights.txt"]
    assert jt.export_runs(sweep, tmp_path / "again.jtrack").run_ids[0] == sweep
    with pytest.raises(jt.errors.PathExistsError, match="overwrite=True"):
        jt.export_runs(sweep, tmp_path / "again.jtrack")


# -- damaged and tampered bundles ---------------------------------------------------------------
def _rewrite(source: Path, target: Path, change) -> Path:
    """Copy the bundle's members into a new zip after ``change(members, manifest)`` edits them."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(members.pop("manifest.json"))
    change(members, manifest)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
        archive.writestr("manifest.json", json.dumps(manifest))
    return target


def _listed(members, manifest, name, content):
    import hashlib

    members[name] = content
    manifest["members"][name] = {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}


def _flip_a_byte(members, manifest):
    name = next(n for n in members if n.startswith("notebooks/"))
    content = bytearray(members[name])
    content[len(content) // 2] ^= 1
    members[name] = bytes(content)


def _zip_bomb(members, manifest):
    import hashlib

    zeros = bytes(64 << 20)
    _listed(members, manifest, f"objects/{hashlib.sha256(zeros).hexdigest()}", zeros)


def _bad_table(members, manifest):
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.table({"run_id": [manifest["run_ids"][0]], "key": ["loss"], "step": ["not a number"],
                             "timestamp": [0], "value": [0.5]}), sink)
    _listed(members, manifest, "tables/metrics.parquet", sink.getvalue())


TAMPERINGS = {
    "hash mismatch": (_flip_a_byte, "sha256"),
    "dot-dot path": (lambda m, mf: _listed(m, mf, "objects/../../evil.py", b"print('owned')"), "outside the bundle"),
    "absolute path": (lambda m, mf: _listed(m, mf, "/tmp/evil.py", b"print('owned')"), "absolute"),
    "unlisted member": (lambda m, mf: m.update({"extra.txt": b"sneaked in"}), "not listed in the manifest"),
    "missing member": (lambda m, mf: m.pop("tables/params.parquet"), "missing from the zip"),
    "zip bomb": (_zip_bomb, "zip bomb"),
    "table that does not fit": (_bad_table, "nothing was imported"),
    "newer format": (lambda m, mf: mf.update(format_version=99), "pip install -U jupyter_tracker"),
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_damaged_or_tampered_bundles_are_refused_with_nothing_imported(tampering, bundle, store_dir, tmp_path):
    change, message = TAMPERINGS[tampering]
    bad = _rewrite(bundle, tmp_path / "bad.jtrack", change)
    with pytest.raises(BundleError, match=message):
        jt.import_runs(bad)
    assert jt.search_runs().empty
    assert jt.sql("SELECT count(*) AS n FROM metrics")["n"][0] == 0
    assert not (tmp_path.parent / "evil.py").exists() and not Path("/tmp/evil.py").exists()


def test_a_truncated_bundle_is_refused(bundle, store_dir, tmp_path):
    truncated = tmp_path / "truncated.jtrack"
    truncated.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
    with pytest.raises(BundleError, match="copy it again"):
        jt.import_runs(truncated)
    assert jt.search_runs().empty
