"""The `jupyter-tracker` command lists, shows and checks a store, for people and for scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jupyter_tracker as jt


def _cli(*args, check=True, columns=160):
    """The venv's console script, in a terminal ``columns`` wide."""
    executable = Path(sys.executable).parent / "jupyter-tracker"
    return subprocess.run([executable, *args], capture_output=True, text=True, check=check,
                          env={**os.environ, "COLUMNS": str(columns)})


def test_ls_show_doctor_and_restore(store_dir, tmp_path):
    with jt.start_run(run_name="cli-run", experiment="cli") as run:
        run.log_params({"lr": 0.1})
        run.log_metric("acc", 0.9)
        run.log_text("hi", "notes.txt")
    listing = _cli("ls", "-e", "cli")
    assert "cli-run" in listing.stdout and run.run_id[:8] in listing.stdout
    records = [json.loads(line) for line in _cli("ls", "--json", "-f", "metrics.acc > 0.5").stdout.splitlines()]
    assert [r["run_name"] for r in records] == ["cli-run"] and records[0]["params.lr"] == "0.1"
    shown = _cli("show", run.run_id[:8])
    assert "lr = 0.1" in shown.stdout and "notes.txt" in shown.stdout
    assert json.loads(_cli("show", run.run_id, "--json").stdout)["params"] == {"lr": "0.1"}
    health = json.loads(_cli("doctor", "--json").stdout)
    assert health["runs"] == 1 and health["journal_backlog_bytes"] == 0 and health["unreferenced_objects"] == 0
    jupyter = Path(sys.executable).parent / "jupyter"
    assert "cli-run" in subprocess.run([jupyter, "tracker", "ls"], capture_output=True, text=True).stdout


def test_errors_name_the_fix_and_exit_1(store_dir):
    with jt.start_run():
        pass
    bad_filter = _cli("ls", "-f", "metrics.acc >", check=False)
    assert bad_filter.returncode == 1 and "expected a value" in bad_filter.stderr
    missing = _cli("show", "ffffffff", check=False)
    assert missing.returncode == 1 and "no run with id" in missing.stderr
    usage = _cli("frobnicate", check=False)
    assert usage.returncode == 2


def test_reading_a_store_that_is_not_there_says_so_and_creates_nothing(store_dir, tmp_path):
    typo = tmp_path / "no-such-store"
    for command in (["ls"], ["show", "abc"], ["restore", "abc", str(tmp_path / "x.ipynb")], ["doctor"],
                    ["reproduce", "abc"], ["gc"], ["gc", "--dry-run"], ["compact"], ["rm", "-f", "params.x = '1'"],
                    ["export", "-o", str(tmp_path / "x.jtrack")], ["diff", "a", "b"]):
        result = _cli(*command, "--store", str(typo), check=False)
        assert result.returncode == 1 and f"no store at {typo}" in result.stderr, result.stderr
    assert not typo.exists()
    nowhere = _cli("ls", check=False)                       # $JUPYTER_TRACKER_DIR points at an empty folder
    assert nowhere.returncode == 1 and "nothing has been logged there" in nowhere.stderr
    assert not store_dir.exists()


def test_errors_give_the_cli_fix_not_the_python_one(store_dir, tmp_path):
    with jt.start_run(run_name="snap") as run:
        pass
    from jupyter_tracker.store import get_store

    get_store(store_dir)  # the run has no snapshot: restore says so; an existing target is the case here
    target = tmp_path / "taken.ipynb"
    target.write_text("{}")
    missing = _cli("show", "ffffffff", check=False)
    assert "`jupyter-tracker ls`" in missing.stderr and "jt.search_runs" not in missing.stderr
    share = _cli("share", run.run_id, str(target), check=False)
    assert share.returncode == 1 and "--overwrite" in share.stderr and "overwrite=True" not in share.stderr


def test_ls_fits_the_terminal_and_shows_what_the_runs_have(store_dir):
    with jt.start_run(run_name="vision", experiment="images") as run:
        run.log_params({"lr": 0.1 * 3, "depth": 4})
        run.log_metric("acc", 0.1 * 3)
    for index in range(30):
        with jt.start_run(run_name=f"text-{index}", experiment="words") as run:
            run.log_metric(f"only_here_{index}", index)
    listing = _cli("ls", "-e", "images").stdout
    header = listing.splitlines()[0]
    assert "metrics.acc" in header and "params.lr" in header and "only_here" not in header   # no empty columns
    assert "0.3" in listing and "0.30000000000000004" not in listing   # shown readable; --json keeps it exact
    assert json.loads(_cli("ls", "-e", "images", "--json").stdout)["params.lr"] == "0.30000000000000004"
    narrow = _cli("ls", "-n", "100", columns=100).stdout.splitlines()
    assert max(len(line) for line in narrow[:-1]) <= 100
    assert "more column(s)" in narrow[-1]
    shown = _cli("show", jt.search_runs(experiment="images").run_id.item()).stdout
    assert "acc = 0.3\n" in shown
