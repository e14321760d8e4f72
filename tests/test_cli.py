"""The `jupyter-tracker` command lists, shows and checks a store, for people and for scripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jupyter_tracker as jt


def _cli(*args, check=True):
    executable = Path(sys.executable).parent / "jupyter-tracker"   # the venv's console script
    return subprocess.run([executable, *args], capture_output=True, text=True, check=check)


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
