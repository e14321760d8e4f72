"""Sharing from a terminal: `jupyter-tracker export/import/share/diff/gc` run as real subprocesses.

(push and pull against a real MLflow server are in test_sharing_mlflow.py.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sharing_story import run_ids, team_store

import jupyter_tracker as jt


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> Path:
    return team_store(tmp_path_factory)


def _cli(*args, check=True):
    executable = Path(sys.executable).parent / "jupyter-tracker"   # the venv's console script
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.run([executable, *map(str, args)], capture_output=True, text=True, check=check, env=env)


def test_export_then_import_into_another_store(story, store_dir, tmp_path):
    ids = run_ids(story)
    bundle = tmp_path / "sweep.jtrack"
    exported = json.loads(_cli("export", "--store", story, "-f", "attributes.run_name = 'sweep'", "-o", bundle,
                               "--json").stdout)
    assert sorted(exported["run_ids"]) == sorted([ids["sweep"], ids["sweep/depth=2"], ids["sweep/depth=4"]])
    assert exported["metric_points"] == 38 and Path(exported["path"]) == bundle

    refused = _cli("export", "--store", story, ids["sweep"], "-o", bundle, check=False)
    assert refused.returncode == 1 and "overwrite" in refused.stderr
    nothing = _cli("export", "--store", story, "-o", tmp_path / "none.jtrack", check=False)
    assert nothing.returncode == 2 and "give run ids, or select runs with -e" in nothing.stderr

    imported = _cli("import", bundle)                              # into $JUPYTER_TRACKER_DIR
    assert imported.stdout.startswith("imported 3 run(s) (38 metric points, 1 model version(s)); 0 already")
    again = json.loads(_cli("import", bundle, "--json").stdout)
    assert again["imported"] == [] and len(again["skipped"]) == 3
    assert jt.get_run(ids["sweep"]).params == {"epochs": "30", "lr": "0.1"}

    damaged = tmp_path / "damaged.jtrack"
    damaged.write_bytes(bundle.read_bytes()[:1000])
    failed = _cli("import", damaged, check=False)
    assert failed.returncode == 1 and "copy it again" in failed.stderr


def test_share_and_diff(story, tmp_path):
    ids = run_ids(story)
    page = Path(_cli("share", "--store", story, ids["sweep"][:8], tmp_path / "sweep.html").stdout.strip())
    assert page == tmp_path / "sweep.html" and "<svg" in page.read_text()
    diff = _cli("diff", "--store", story, ids["sweep"], ids["sweep-bob"])
    assert "1 added, 1 removed, 2 changed" in diff.stdout and "param lr: '0.1' -> '0.05'" in diff.stdout
    data = json.loads(_cli("diff", "--store", story, ids["sweep"], ids["sweep-bob"], "--json").stdout)
    assert [c["change"] for c in data["cells"]] == ["changed", "added", "removed", "changed"]
    unknown = _cli("diff", "--store", story, ids["sweep"], "ffffffff", check=False)
    assert unknown.returncode == 1 and "no run with id 'ffffffff'" in unknown.stderr


def test_gc_removes_only_what_no_run_refers_to(store_dir):
    with jt.start_run(run_name="kept") as kept:
        kept.log_text("still needed", "kept.txt")
    with jt.start_run(run_name="thrown away") as gone:
        gone.log_text("nobody needs this any more", "gone.txt")
        gone.log_text("still needed", "shared.txt")              # same content as kept.txt: one object
    from jupyter_tracker.manage import delete_run

    delete_run(gone.run_id)
    stray = store_dir / "objects" / "ab" / ("c" * 62)              # e.g. left by an import that failed
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"orphan")
    old = 1_000_000_000
    for path in (store_dir / "objects").glob("??/*"):
        os.utime(path, (old, old))

    dry = json.loads(_cli("gc", "--dry-run", "--json").stdout)
    assert dry["dry_run"] and dry["purged_runs"] == [gone.run_id] and len(dry["removed_objects"]) == 2
    assert stray.exists() and len(jt.sql("SELECT * FROM artifacts")) == 1   # the deleted run's are hidden

    done = _cli("gc")
    assert done.stdout.startswith("removed 2 file(s) (32 bytes) and 1 deleted run(s)")
    assert not stray.exists()
    assert jt.get_run(kept.run_id).artifact("kept.txt").local_path.read_text() == "still needed"
    assert _cli("gc", "--json").stdout and json.loads(_cli("gc", "--json").stdout)["removed_objects"] == []
    assert json.loads(_cli("doctor", "--json").stdout)["unreferenced_objects"] == 0

    fresh = store_dir / "objects" / "cd" / ("e" * 62)
    fresh.parent.mkdir(exist_ok=True)
    fresh.write_bytes(b"a run may be about to refer to me")
    assert json.loads(_cli("gc", "--json").stdout)["kept_recent"] == 1 and fresh.exists()


def test_every_command_is_documented_in_help():
    usage = _cli("--help").stdout
    for command in ("ls", "show", "doctor", "restore", "export", "import", "share", "diff", "push", "pull", "gc",
                    "rm", "undelete", "compact", "reproduce", "import-from"):
        assert command in usage
    jupyter = Path(sys.executable).parent / "jupyter"              # `jupyter tracker` runs `jupyter-tracker`
    dispatched = subprocess.run([jupyter, "tracker", "gc", "--help"], capture_output=True, text=True, check=True)
    assert "--dry-run" in dispatched.stdout
    push_without_server = _cli("push", "abcd", check=False)
    assert push_without_server.returncode == 2 and "MLFLOW_TRACKING_URI" in push_without_server.stderr
