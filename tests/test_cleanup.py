"""Cleaning up: delete runs by filter (dry run first), keep registered ones, restore, retention with
``gc``, and compaction that gives the disk space back, also while another process logs and when it
is killed half way."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import jupyter_tracker as jt
from jupyter_tracker.errors import RunNotFoundError
from jupyter_tracker.store import get_store
from jupyter_tracker.store.compaction import COMPACTING_SUFFIX, database_bytes

CLI = Path(sys.executable).parent / "jupyter-tracker"   # the venv's console script


def _cli(*args, check=True):
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, check=check)


class Doubler(jt.PythonModel):
    def predict(self, model_input):
        return [2 * x for x in model_input]


def _points(run_id: str, key: str = "loss") -> list[float]:
    return jt.get_metric_history(run_id, key)["value"].tolist()


def test_delete_by_filter_says_what_goes_keeps_registered_runs_and_restores(store_dir):
    runs = {}
    for lr in (0.1, 0.01, 0.001):
        with jt.start_run(run_name=f"lr={lr}", experiment="sweep") as run:
            run.log_params({"lr": lr})
            for step in range(50):
                run.log_metric("loss", 1 / (step + 1), step=step)
            run.log_text(f"notes of {lr}", "notes.txt")
            run.log_text("the same text in every run", "shared.txt")
            with jt.start_run(run_name=f"fold of {lr}", nested=True) as fold:
                fold.log_metric("loss", 0.5)
            runs[lr] = (run.run_id, fold.run_id)
    with jt.start_run(run_name="champion", experiment="sweep") as champion:
        champion.log_params({"lr": 0.0001})
        champion.log_model(Doubler(), "model")
    jt.register_model(f"runs:/{champion.run_id}/model", "doubler")
    with jt.start_run(run_name="other experiment", experiment="baseline") as other:
        other.log_params({"lr": 0.5})

    dry = json.loads(_cli("rm", "-e", "sweep", "-f", "params.lr < 0.05", "--dry-run", "--json").stdout)
    assert dry["dry_run"] is True
    assert sorted(dry["run_ids"]) == sorted([*runs[0.01], *runs[0.001]])
    assert sorted(dry["nested_run_ids"]) == sorted([runs[0.01][1], runs[0.001][1]])
    assert dry["kept_registered"] == [champion.run_id]
    assert dry["metric_points"] == 2 * 50 + 2 and dry["artifact_files"] == 2   # shared.txt stays for lr=0.1
    assert dry["artifact_bytes"] == len("notes of 0.01") + len("notes of 0.001")
    assert len(jt.search_runs()) == 8   # nothing deleted by a dry run

    report = jt.delete_runs("sweep", "params.lr < 0.05")
    assert sorted(report.run_ids) == sorted(dry["run_ids"]) and report.kept_registered == [champion.run_id]
    assert "kept 1 run(s) that registered model versions point at" in repr(report)
    assert "<li>" in report._repr_html_()
    assert sorted(jt.search_runs()["run_name"]) == ["champion", "fold of 0.1", "lr=0.1", "other experiment"]
    assert jt.load_model("models:/doubler/1").predict([1, 2]) == [2, 4]

    assert sorted(jt.restore_run(runs[0.01][0][:8])) == sorted(runs[0.01])
    assert _points(runs[0.01][0]) == [1 / (step + 1) for step in range(50)]

    purged = json.loads(_cli("gc", "--grace", "0", "--json").stdout)
    assert sorted(purged["purged_runs"]) == sorted(runs[0.001]) and purged["purged_metric_points"] == 51
    assert purged["reclaimed_bytes"] == len("notes of 0.001")
    refused = _cli("undelete", runs[0.001][0], check=False)
    assert refused.returncode == 1 and "cannot be restored" in refused.stderr

    everything = jt.delete_runs(filter="params.lr > 0", include_registered=True, dry_run=True)
    assert champion.run_id in everything.run_ids and not everything.kept_registered
    # Deleted on purpose, the champion's run is hidden, but its registered version keeps loading, through gc.
    jt.delete_runs(filter="run_name = 'champion'", include_registered=True)
    assert "champion" not in set(jt.search_runs()["run_name"])
    jt.gc(grace_seconds=0)
    assert jt.load_model("models:/doubler/1").predict([3]) == [6]
    with pytest.raises(RunNotFoundError):
        jt.get_run(champion.run_id)
    usage = _cli("rm", check=False)
    assert usage.returncode == 2 and "-e EXPERIMENT and/or -f FILTER" in usage.stderr
    nowhere = _cli("compact", "--store", store_dir.parent / "nowhere", check=False)
    assert nowhere.returncode == 1 and "no store at" in nowhere.stderr
    assert not (store_dir.parent / "nowhere").exists()


def test_retention_rule_deletes_old_runs_except_those_kept(store_dir):
    ids = {}
    for name, keep in (("old", None), ("old but kept", "true"), ("old, keep=false", "false"), ("recent", None)):
        with jt.start_run(run_name=name) as run:
            run.log_metric("loss", 1.0)
            if keep is not None:
                run.set_tag("keep", keep)
        ids[name] = run.run_id
    hundred_days_ms = 100 * 86_400_000
    with get_store(store_dir).session() as con:   # the runs that started 100 days ago
        con.execute("UPDATE internal.runs SET start_time = start_time - ?, end_time = end_time - ? "
                    "WHERE run_name LIKE 'old%'", [hundred_days_ms, hundred_days_ms])

    rule = ("gc", "--older-than", "90d", "--keep", "tags.keep = 'true'", "--grace", "0")
    dry = _cli(*rule, "--dry-run")
    assert "retention: would delete 2 run(s)" in dry.stdout
    assert len(jt.search_runs()) == 4

    done = json.loads(_cli(*rule, "--json").stdout)
    assert sorted(done["retention"]["run_ids"]) == sorted([ids["old"], ids["old, keep=false"]])
    assert sorted(done["purged_runs"]) == sorted([ids["old"], ids["old, keep=false"]])
    assert sorted(jt.search_runs()["run_name"]) == ["old but kept", "recent"]
    assert jt.gc(older_than="90d", keep="tags.keep = 'true'").retention.run_ids == []

    bad = _cli("gc", "--older-than", "ninety days", check=False)
    assert bad.returncode == 1 and "'90d'" in bad.stderr


SEED = """
import sys
import jupyter_tracker as jt
for index in range(int(sys.argv[1])):
    with jt.start_run(run_name=f"seed{index}", experiment="seed") as run:
        run.log_param("index", index)
        log_metric = run.log_metric
        for step in range(int(sys.argv[2])):
            log_metric("loss", index + 1 / (step + 1), step=step)
jt.search_runs(max_results=1)
"""

WRITER = """
import os, sys, time
import jupyter_tracker as jt
with jt.start_run(run_name="writer", experiment="live") as run:
    step = 0
    while step < 200 or not os.path.exists(sys.argv[1]):   # logs until told to stop
        run.log_metric("loss", float(step), step=step)
        step += 1
        if step == 100:
            print("LOGGING", flush=True)
        if step % 100 == 0:
            time.sleep(0.02)
print(f"LOGGED {step}", flush=True)
"""


def _python(code: str, *args, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], text=True, **popen)


def _seed(runs: int, points: int) -> None:
    assert _python(SEED, runs, points).wait(timeout=300) == 0


def test_compaction_while_another_process_logs_loses_nothing_and_shrinks_the_file(store_dir):
    _seed(4, 10_000)
    store = get_store(store_dir)
    before = database_bytes(store)
    gone = jt.delete_runs("seed", "params.index != '0'")
    assert len(gone.run_ids) == 3 and gone.metric_points == 30_000
    assert jt.gc().purged_metric_points == 30_000
    assert database_bytes(store) >= before * 0.9   # purged rows free blocks inside the file, not on disk

    stop = store_dir.parent / "stop"
    writer = _python(WRITER, stop, stdout=subprocess.PIPE)
    assert writer.stdout.readline().strip() == "LOGGING"
    first = json.loads(_cli("compact", "--json").stdout)
    second = jt.compact()           # and once more while it goes on logging
    stop.touch()
    logged_steps = int(writer.stdout.readline().split()[1])
    assert writer.wait(timeout=300) == 0
    writer.stdout.close()

    assert first["bytes_after"] < first["bytes_before"] and first["reclaimed_bytes"] > 0
    assert "compacted" in str(second)
    assert database_bytes(store) < before
    logged = jt.search_runs(experiment="live").iloc[0]
    assert logged["status"] == "FINISHED" and _points(logged["run_id"]) == [float(s) for s in range(logged_steps)]
    kept = jt.search_runs(experiment="seed")
    assert kept["run_name"].tolist() == ["seed0"]
    assert _points(kept.iloc[0]["run_id"]) == [1 / (step + 1) for step in range(10_000)]
    assert not (store_dir / ("tracker.duckdb" + COMPACTING_SUFFIX)).exists()
    assert json.loads(_cli("doctor", "--json").stdout)["problems"] == []


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sigkill_during_compaction_leaves_the_old_file_and_every_point(store_dir):
    _seed(2, 30_000)
    database = store_dir / "tracker.duckdb"
    copy = store_dir / ("tracker.duckdb" + COMPACTING_SUFFIX)
    jt.search_runs()                         # merged and checkpointed: the file is what compaction copies
    identity, content = database.stat().st_ino, _sha256(database)

    compacting = subprocess.Popen([CLI, "compact"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not copy.exists() and compacting.poll() is None:
        time.sleep(0.0005)                   # until the copy is being written
    os.kill(compacting.pid, signal.SIGKILL)
    compacting.wait(timeout=60)
    assert compacting.returncode == -signal.SIGKILL, "compaction finished before it could be killed"

    assert database.stat().st_ino == identity and _sha256(database) == content
    runs = jt.search_runs(experiment="seed")
    assert len(runs) == 2
    for _, run in runs.iterrows():
        index = int(run["params.index"])
        assert _points(run["run_id"]) == [index + 1 / (step + 1) for step in range(30_000)]

    report = jt.compact()                     # the next compaction clears the leftover copy and succeeds
    assert not copy.exists() and report.bytes_after < report.bytes_before
    assert len(jt.search_runs(experiment="seed")) == 2
