"""Each run records its environment and git state, never environment variable values."""

from __future__ import annotations

import json
import subprocess
import sys

import jupyter_tracker as jt


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_git_commit_branch_remote_and_dirty_flag(store_dir, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "a@b.c")
    _git(repo, "config", "user.name", "A")
    _git(repo, "remote", "add", "origin", "https://alice:s3cret@example.com/team/churn.git")
    script = repo / "train.py"
    script.write_text("import jupyter_tracker as jt\nwith jt.start_run(run_name='clean'): pass\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "init")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    subprocess.run([sys.executable, str(script)], cwd=repo, check=True)
    script.write_text(script.read_text().replace("clean", "dirty"))
    subprocess.run([sys.executable, str(script)], cwd=repo, check=True)

    runs = jt.search_runs().set_index("run_name")
    clean, dirty = jt.get_run(runs.loc["clean", "run_id"]), jt.get_run(runs.loc["dirty", "run_id"])
    assert clean.git == {"commit": commit, "branch": "main", "remote": "https://example.com/team/churn.git",
                         "dirty": False}
    assert dirty.git["dirty"] is True


def test_environment_lists_packages_but_no_variable_values(store_dir, tmp_path):
    script = tmp_path / "env.py"
    script.write_text("import jupyter_tracker as jt\nwith jt.start_run(): pass\n")
    env = {**__import__("os").environ, "MY_SECRET_VALUE": "do-not-store-42"}
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, check=True, env=env)
    record = jt.get_run(jt.search_runs().run_id.item())
    assert record.environment["packages"]["duckdb"]
    assert record.environment["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    stored = json.dumps(record.environment) + (store_dir / "tracker.duckdb").read_bytes().decode("latin-1")
    assert "do-not-store-42" not in stored


def test_many_runs_share_one_stored_environment(store_dir):
    for _ in range(20):
        with jt.start_run():
            pass
    from jupyter_tracker.capture import background

    background.drain(timeout=10)
    assert jt.sql("select count(*) as n from environments").n[0] == 1
    assert jt.sql("select count(distinct run_id) as n from runs").n[0] == 20
