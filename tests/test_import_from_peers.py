"""Moving in from W&B, Trackio and Aim: runs made with each peer's own library (in child processes,
since each is heavy and global) come into the store with every point, param and status as logged;
a killed W&B run comes in KILLED, a truncated log keeps the points before the damage, a log damaged
in the middle is skipped with its reason, and importing twice adds nothing."""

from __future__ import annotations

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
from jupyter_tracker.errors import MissingExtraError
from jupyter_tracker.query import get_metric_history

PYTHON = sys.executable
STEPS = 6

WANDB_FINISHED = """
import json, sys, wandb
run = wandb.init(project="vision", name="resnet", config={"lr": 0.1, "opt": {"name": "adam"}}, tags=["base"],
                 group="sweep-1", job_type="train", dir=sys.argv[1])
logged = []
for step in range(STEPS):
    values = {"loss": 1.0 / (step + 1), "acc": step * 0.125}
    run.log(values, step=step)
    logged += [[key, step, value] for key, value in values.items()]
run.log({"sample": wandb.Image(__import__("numpy").zeros((4, 4, 3), dtype="uint8"))}, step=STEPS)
run.finish()
print(json.dumps(logged))
"""
WANDB_KILLED = """
import sys, time, wandb
run = wandb.init(project="vision", name="crashed", config={"lr": 0.5}, dir=sys.argv[1])
for step in range(STEPS):
    run.log({"loss": float(step)})
print("logged", flush=True)
time.sleep(600)
"""
TRACKIO = """
import json, trackio
trackio.init(project="speech", name="whisper", config={"lr": 0.3, "layers": 4}, group="g")
logged = []
for step in range(STEPS):
    values = {"loss": 2.0 / (step + 1), "wer": float("inf") if step == 2 else step / 10}
    trackio.log(values, step=step)
    logged += [[key, step, value] for key, value in values.items()]
trackio.finish()
print(json.dumps(logged))
"""
AIM = """
import json, sys, aim
run = aim.Run(repo=sys.argv[1], experiment="nlp", system_tracking_interval=None)
run.name = "bert"
run["hparams"] = {"lr": 0.01, "batch": 32}
run.add_tag("baseline")
logged = []
for step in range(STEPS):
    run.track(1.0 / (step + 1), name="loss", step=step, context={"subset": "train"})
    run.track(step * 0.5, name="acc", step=step)
    logged += [["loss/subset_train", step, 1.0 / (step + 1)], ["acc", step, step * 0.5]]
run.close()
print(json.dumps(logged))
"""


def _start(script: str, *arguments: str, env: dict | None = None, **options) -> subprocess.Popen:
    source = f"STEPS = {STEPS}\n" + textwrap.dedent(script)
    return subprocess.Popen([PYTHON, "-c", source, *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true",
                                            **(env or {})}, **options)


def _finish(process: subprocess.Popen) -> list:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def peers(tmp_path_factory) -> dict:
    """Every peer's source data, made at once (each library takes seconds to start)."""
    root = tmp_path_factory.mktemp("peers")
    wandb_dir, trackio_dir, aim_dir = root / "w", root / "trackio", root / "aim"
    for folder in (wandb_dir, trackio_dir, aim_dir):
        folder.mkdir()
    finished = _start(WANDB_FINISHED, str(wandb_dir))
    killed = _start(WANDB_KILLED, str(wandb_dir), start_new_session=True)
    trackio = _start(TRACKIO, env={"TRACKIO_DIR": str(trackio_dir)}, cwd=root)
    aim = _start(AIM, str(aim_dir))
    try:
        assert killed.stdout is not None and killed.stdout.readline().strip() == "logged"
        _wait_for_history(wandb_dir)
        os.killpg(killed.pid, signal.SIGKILL)          # the script and its wandb-core: no exit record
        killed.communicate()
        return {"wandb": wandb_dir, "wandb_logged": _finish(finished), "trackio": trackio_dir,
                "trackio_logged": _finish(trackio), "aim": aim_dir, "aim_logged": _finish(aim)}
    finally:
        if killed.poll() is None:
            os.killpg(killed.pid, signal.SIGKILL)
        for process in (killed, finished, trackio, aim):
            if process.poll() is None:
                process.kill()
            process.communicate()


def _wait_for_history(wandb_dir: Path) -> None:
    """Until the killed run's log holds all its history records (wandb-core writes them asynchronously)."""
    from jupyter_tracker.sharing.importers import wandb_runs

    pb = wandb_runs._protobuf()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for log in wandb_dir.rglob("*.wandb"):
            if b"crashed" not in log.read_bytes():
                continue
            records = []
            try:
                for payload in wandb_runs.read_records(log.read_bytes(), log.name):
                    records.append(pb.Record.FromString(payload).WhichOneof("record_type"))
            except wandb_runs._Truncated:
                pass                     # the record being written: read again
            if records.count("history") == STEPS:
                return
        time.sleep(0.5)
    raise AssertionError(f"the killed W&B run never wrote its {STEPS} points")


def _points(run_id: str) -> list:
    """Every stored point of the run as [key, step, value]."""
    points = []
    for key in jt.get_run(run_id).metrics:
        points += [[key, int(row.step), float(row.value)] for row in get_metric_history(run_id, key).itertuples()]
    return sorted(points)


def _run(frame, name: str):
    rows = frame[frame["run_name"] == name]
    assert len(rows) == 1, frame[["run_name", "status"]]
    return rows.iloc[0]


def test_wandb_runs_come_in_with_every_point_param_status_and_file_and_twice_adds_nothing(peers, store_dir):
    result = jt.import_from("wandb", peers["wandb"], progress=False)
    assert len(result.imported) == 2 and not result.damaged, result.summary()
    runs = jt.search_runs(experiment="vision")
    done = _run(runs, "resnet")
    assert done["status"] == "FINISHED"
    assert (done["params.lr"], done["params.opt.name"]) == ("0.1", "adam")
    assert (done["tags.wandb.tags"], done["tags.wandb.group"], done["tags.wandb.job_type"]) == (
        "base", "sweep-1", "train")
    assert done["tags.origin"] == f"wandb:{peers['wandb'].resolve()}"
    assert _points(done["run_id"]) == sorted(peers["wandb_logged"])   # the image is a file, not points
    history = get_metric_history(done["run_id"], "loss")
    assert len(history) == STEPS and (history["timestamp"] >= history["timestamp"].iloc[0]).all()
    artifacts = {a.path for a in jt.get_run(done["run_id"]).artifacts}
    assert any(path.startswith("media/images/sample_") for path in artifacts), artifacts
    crashed = _run(runs, "crashed")
    assert crashed["status"] == "KILLED"
    assert "no exit record" in crashed["tags.import.status_note"]
    assert _points(crashed["run_id"]) == [["loss", step, float(step)] for step in range(STEPS)]
    points = len(peers["wandb_logged"]) + STEPS
    assert f"imported 2 run(s), {points} metric point(s), {result.files} file(s)" in result.summary()

    again = jt.import_from("wandb", peers["wandb"], progress=False)
    assert (again.imported, sorted(again.skipped)) == ([], sorted(result.imported))
    assert len(jt.search_runs(experiment="vision")) == 2
    assert search_origin_count(peers["wandb"]) == 2


def search_origin_count(source: Path) -> int:
    frame = jt.search_runs(filter=f"tags.origin = 'wandb:{source.resolve()}'")
    return len(frame)


def test_a_truncated_wandb_log_keeps_the_points_before_the_damage_and_says_so(peers, store_dir, tmp_path):
    log = next(p for p in peers["wandb"].rglob("*.wandb") if b"resnet" in p.read_bytes())
    copy = tmp_path / "cut" / log.parent.name
    copy.mkdir(parents=True)
    data = log.read_bytes()
    from jupyter_tracker.sharing.importers import wandb_runs

    pb = wandb_runs._protobuf()
    histories = [payload for payload in wandb_runs.read_records(data, log.name)
                 if pb.Record.FromString(payload).WhichOneof("record_type") == "history"]
    fourth = data.index(histories[3])
    (copy / log.name).write_bytes(data[:fourth + len(histories[3]) // 2])      # cut inside the 4th history record
    result = jt.import_from("wandb", copy.parent, experiment="cut", progress=False)
    run = _run(jt.search_runs(experiment="cut"), "resnet")
    assert run["status"] == "KILLED" and "ends inside a record" in run["tags.import.status_note"], result
    kept = _points(run["run_id"])
    logged = sorted(peers["wandb_logged"])
    assert kept == sorted(point for point in logged if point[1] < 3)   # the three whole steps before the cut


def test_a_wandb_log_damaged_in_the_middle_is_skipped_with_its_reason(peers, store_dir, tmp_path):
    log = next(p for p in peers["wandb"].rglob("*.wandb") if b"resnet" in p.read_bytes())
    data = bytearray(log.read_bytes())
    middle = data.index(b"loss", len(data) // 3)
    data[middle] ^= 0xFF
    copy = tmp_path / "bad" / log.parent.name
    copy.mkdir(parents=True)
    (copy / log.name).write_bytes(bytes(data))
    result = jt.import_from("wandb", copy.parent, progress=False)
    assert result.imported == [] and len(result.damaged) == 1
    (reason,) = result.damaged.values()
    assert "checksum mismatch" in reason and "skipped 1 damaged" in result.summary()
    assert jt.search_runs().empty


def test_trackio_project_comes_in_with_every_point_and_param(peers, store_dir):
    result = jt.import_from("trackio", peers["trackio"], progress=False)
    assert len(result.imported) == 1, result.summary()
    run = _run(jt.search_runs(experiment="speech"), "whisper")
    assert run["status"] == "FINISHED" and "no run status" in run["tags.import.status_note"]
    assert (run["params.lr"], run["params.layers"], run["tags.trackio.group"]) == ("0.3", "4", "g")
    assert _points(run["run_id"]) == sorted(peers["trackio_logged"])     # +inf kept as +inf
    assert jt.import_from("trackio", peers["trackio"], progress=False).imported == []


def test_aim_repository_comes_in_with_every_point_and_param(peers, store_dir):
    result = jt.import_from("aim", peers["aim"], progress=False)
    assert len(result.imported) == 1, result.summary()
    run = _run(jt.search_runs(experiment="nlp"), "bert")
    assert run["status"] == "FINISHED"
    assert (run["params.lr"], run["params.batch"], run["tags.aim.tags"]) == ("0.01", "32", "baseline")
    assert _points(run["run_id"]) == sorted(peers["aim_logged"])
    assert jt.import_from("aim", peers["aim"], progress=False).imported == []


def test_cli_import_from_prints_the_summary_and_a_missing_library_names_its_extra(peers, store_dir, tmp_path):
    from jupyter_tracker.cli import main

    assert main(["import-from", "trackio", str(peers["trackio"]), "-e", "moved", "-q"]) == 0
    assert len(jt.search_runs(experiment="moved")) == 1
    hidden = subprocess.run([PYTHON, "-c", textwrap.dedent(f"""
        import sys
        sys.modules["wandb"] = None
        import jupyter_tracker as jt
        from jupyter_tracker.errors import MissingExtraError
        try:
            jt.import_from("wandb", {str(peers['wandb'])!r})
        except MissingExtraError as exc:
            print(exc)
        """)], capture_output=True, text=True, env={**os.environ, "JUPYTER_TRACKER_DIR": str(tmp_path / "s")})
    assert "jupyter_tracker[wandb]" in hidden.stdout, hidden.stderr[-2000:]
    assert issubclass(MissingExtraError, ImportError)


def test_import_from_an_mlflow_source_that_is_no_tracking_store_says_so_without_a_traceback(store_dir, tmp_path):
    missing = tmp_path / "no-such-mlruns"
    done = subprocess.run([sys.executable, "-m", "jupyter_tracker.cli", "import-from", "mlflow", str(missing)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "JUPYTER_TRACKER_DIR": str(store_dir), "PYTHONWARNINGS": "ignore"})
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "listing the experiments to import" in done.stderr and str(missing) in done.stderr
    assert jt.search_runs().empty
