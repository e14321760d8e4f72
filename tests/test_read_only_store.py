"""Reading never writes: a store on read-only media (a share, a read-only mount, a colleague's folder)
can be read, and a read with nothing new to merge leaves the database file exactly as it was."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

import jupyter_tracker as jt
from jupyter_tracker import config
from jupyter_tracker.capture import background
from jupyter_tracker.errors import StoreReadOnlyError
from jupyter_tracker.manage import set_run_tag


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _log_in_a_process(store: Path, run_name: str, merge: bool) -> None:
    """A colleague's script: logs one run and exits (``merge``: and reads the store once before)."""
    subprocess.run([sys.executable, "-c", (
        "import sys, jupyter_tracker as jt\n"
        "with jt.start_run(run_name=sys.argv[1]):\n"
        "    jt.log_param('lr', 0.01)\n"
        "    for step in range(100): jt.log_metric('loss', 1 / (step + 1))\n"
        "if sys.argv[2] == 'merge': jt.search_runs()\n"), run_name, "merge" if merge else "keep"],
        check=True, env={**os.environ, "JUPYTER_TRACKER_DIR": str(store)})


@pytest.fixture
def read_only_mount(tmp_path):
    """``(source, mounted)``: a folder and a read-only bind mount of it (root ignores permission
    bits, so only a real read-only mount shows what a share or a colleague's folder does)."""
    source, mounted = tmp_path / "colleague", tmp_path / "mounted"
    source.mkdir()
    mounted.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root (CI runs as root)")
    bound = subprocess.run(["mount", "--bind", str(source), str(mounted)], capture_output=True, text=True)
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bound.stderr.strip()}")
    try:
        sealed = subprocess.run(["mount", "-o", "remount,bind,ro", str(mounted)], capture_output=True, text=True)
        if sealed.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {sealed.stderr.strip()}")
        yield source, mounted
    finally:
        subprocess.run(["umount", "-l", str(mounted)], capture_output=True)


def _store_snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): _digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("lock_file", ["with a lock file", "without a lock file"])
def test_a_colleagues_store_on_read_only_media_can_be_read_not_written(read_only_mount, lock_file):
    source, mounted = read_only_mount
    colleague_store = source / "store"
    _log_in_a_process(colleague_store, "baseline", merge=True)
    _log_in_a_process(colleague_store, "tuned", merge=True)
    _log_in_a_process(colleague_store, "unmerged", merge=False)  # its journal was never merged
    if lock_file == "without a lock file":
        (colleague_store / "lock").unlink()
    before = _store_snapshot(colleague_store)
    store = mounted / "store"
    jt.set_store(store)
    try:
        with pytest.warns(UserWarning, match=r"1 journal\(s\) in .*mounted/store/journal were not merged"):
            runs = jt.search_runs()
        assert sorted(runs.run_name) == ["baseline", "tuned"]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # said once per process and store, not on every read
            tuned = runs[runs.run_name == "tuned"].run_id.item()
            assert jt.get_run(tuned).params == {"lr": "0.01"}
            assert jt.sql("select count(*) as n from metrics").n.item() == 200
        with pytest.raises(StoreReadOnlyError, match=rf"{store}.*jt\.set_store"):
            jt.start_run(run_name="mine")
        with pytest.raises(StoreReadOnlyError, match=str(store)):
            set_run_tag(tuned, "reviewed", "yes")
        assert jt.active_run() is None
    finally:
        config.set_store_override(None)
    listing = subprocess.run([sys.executable, "-m", "jupyter_tracker.cli", "ls"], capture_output=True, text=True,
                             env={**os.environ, "JUPYTER_TRACKER_DIR": str(store)})
    assert listing.returncode == 0, listing.stderr
    assert "baseline" in listing.stdout and "tuned" in listing.stdout
    assert _store_snapshot(colleague_store) == before


def test_a_read_with_nothing_new_to_merge_leaves_the_database_file_alone(store_dir):
    with jt.start_run(run_name="in this kernel"):
        jt.log_metric("loss", 0.25)
    background.drain(10)  # the run's environment is recorded in the background; a user reads a moment later
    database = store_dir / "tracker.duckdb"
    assert len(jt.search_runs()) == 1  # merges what was logged
    before = (_digest(database), database.stat().st_mtime_ns)
    time.sleep(0.05)
    assert len(jt.search_runs()) == 1  # nothing logged since: nothing to write
    assert jt.sql("select count(*) as n from runs").n.item() == 1
    assert (_digest(database), database.stat().st_mtime_ns) == before
    assert not database.with_name("tracker.duckdb.wal").exists()

    # a run logged afterwards is merged as usual
    with jt.start_run(run_name="next"):
        jt.log_metric("loss", 0.125)
    assert sorted(jt.search_runs().run_name) == ["in this kernel", "next"]


def test_a_read_only_store_nobody_has_read_yet_shows_no_runs_and_says_why(read_only_mount):
    source, mounted = read_only_mount
    _log_in_a_process(source / "store", "logged, never merged", merge=False)
    assert not (source / "store" / "tracker.duckdb").exists()
    before = _store_snapshot(source / "store")
    jt.set_store(mounted / "store")
    try:
        with pytest.warns(UserWarning, match=r"1 journal\(s\) .* were not merged"):
            assert jt.search_runs().empty
        assert jt.sql("select count(*) as n from runs").n.item() == 0
    finally:
        config.set_store_override(None)
    assert _store_snapshot(source / "store") == before
