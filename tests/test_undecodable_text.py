"""Text that is not valid Unicode can never brick a store.

The rule: text a caller passes (params, tags, run names, artifact paths, dataset labels) is
refused with an InvalidTextError that names the value and the position; text the library reads
on the caller's behalf (console output, file names on disk) is stored escaped (\\xNN).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import run_notebook

import jupyter_tracker as jt
from jupyter_tracker.errors import InvalidTextError

LATIN1_NAME = b"caf\xe9.txt".decode("utf-8", "surrogateescape")  # what os.listdir gives


@pytest.mark.parametrize("call", [
    lambda run: run.log_param("name", LATIN1_NAME),
    lambda run: run.set_tag("file", LATIN1_NAME),
    lambda run: run.set_tags({"ok": "fine", "file": "\ud800"}),
    lambda run: run.log_text("body " + LATIN1_NAME, "notes.txt"),
    lambda run: run.log_bytes(b"x", LATIN1_NAME),
    lambda run: run.log_input([1, 2, 3], name=LATIN1_NAME),
    lambda run: run.log_input([1, 2, 3], source="/data/" + LATIN1_NAME),
], ids=["param", "tag", "tags", "log_text", "artifact_file", "dataset_name", "dataset_source"])
def test_passing_undecodable_text_is_refused_and_names_the_position(store_dir, call):
    with jt.start_run(run_name="careful") as run:
        with pytest.raises(InvalidTextError, match=r"character \d+ is a lone surrogate"):
            call(run)
        run.log_param("still", "works")
    assert jt.search_runs()["params.still"].item() == "works"
    assert "params.file" not in jt.search_runs()


def test_an_undecodable_run_name_is_refused(store_dir):
    with pytest.raises(InvalidTextError):
        jt.start_run(run_name="run-" + LATIN1_NAME)
    assert jt.active_run() is None


def test_a_file_with_a_latin1_name_is_logged_under_an_escaped_name(store_dir, tmp_path):
    folder = os.fsencode(tmp_path / "data")
    os.mkdir(folder)
    with open(os.path.join(folder, b"caf\xe9.txt"), "wb") as file:
        file.write(b"menu")
    (name,) = os.listdir(os.fsdecode(folder))
    with jt.start_run() as run:
        path = run.log_artifact(os.path.join(os.fsdecode(folder), name))
        paths = run.log_artifacts(os.fsdecode(folder), "all")
    assert path == "caf\\xe9.txt" and paths == ["all/caf\\xe9.txt"]
    record = jt.get_run(run.run_id)
    assert {a.path for a in record.artifacts} == {"caf\\xe9.txt", "all/caf\\xe9.txt"}


def test_a_tracked_cell_that_prints_a_latin1_file_name_keeps_the_store_readable(store_dir, tmp_path):
    os.mkdir(tmp_path / "files")
    with open(os.path.join(os.fsencode(tmp_path / "files"), b"caf\xe9.txt"), "wb"):
        pass
    run_notebook([
        "%load_ext jupyter_tracker",
        f"%%track -q --name listing\nimport os\nfor name in os.listdir({str(tmp_path / 'files')!r}):\n    print(name)",
    ], tmp_path, store_dir)
    runs = jt.search_runs()
    assert runs.run_name.tolist() == ["listing"] and runs.status.item() == "FINISHED"
    console = jt.sql("SELECT text FROM console")["text"].tolist()
    assert any("caf\\xe9.txt" in text for text in console), console


def test_a_journalled_surrogate_is_quarantined_and_everything_else_merges(store_dir, tmp_path):
    """A record with an undecodable string (an old writer, or a hand-made journal) is set aside."""
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent("""
        import json, zlib, jupyter_tracker as jt
        with jt.start_run(run_name="good", experiment="e") as run:
            run.log_metric("loss", 0.5)
            body = json.dumps({"t": "tags", "slot": run._slot, "items": {"bad": "\\udce9"}, "ts": run.start_time})
            line = b"%08x %s\\n" % (zlib.crc32(body.encode(), run._salt), body.encode())
            run._writer._append(run._writer.events_fd, line, "test")
            run.set_tag("after", "yes")
    """))
    subprocess.run([sys.executable, str(script)], check=True, timeout=120)
    with pytest.warns(RuntimeWarning, match="1 damaged or invalid"):
        runs = jt.search_runs(experiment="e")
    assert runs.status.item() == "FINISHED" and runs["tags.after"].item() == "yes"
    assert "tags.bad" not in runs
    assert jt.get_metric_history(runs.run_id.item(), "loss").value.tolist() == [0.5]
    quarantined = [json.loads(line) for path in (store_dir / "quarantine").glob("*.jsonl")
                   for line in path.read_text().splitlines()]
    assert len(quarantined) == 1 and "undecodable" in quarantined[0]["reason"]
    doctor = subprocess.run([sys.executable, "-m", "jupyter_tracker.cli", "doctor", "--json"],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "JUPYTER_TRACKER_DIR": str(store_dir)})
    report = json.loads(doctor.stdout)
    assert report["quarantined_records"] == 1, report
    assert doctor.returncode == 1  # a store with set-aside records is not healthy


# -- every other way text reaches the store: reads, direct edits, the command line ------------------
@pytest.mark.parametrize("call", [
    lambda run_id: jt.get_run(run_id[:8] + LATIN1_NAME),
    lambda run_id: jt.get_metric_history(run_id, "loss" + LATIN1_NAME),
    lambda run_id: jt.register_model(f"runs:/{run_id}/model", "churn", description="from " + LATIN1_NAME),
    lambda run_id: jt.sql("SELECT * FROM runs WHERE run_name = ?", [LATIN1_NAME]),
    lambda run_id: jt.sql(f"SELECT * FROM runs WHERE run_name = '{LATIN1_NAME}'"),
], ids=["get_run", "metric_history", "model_description", "sql_argument", "sql_query"])
def test_undecodable_text_anywhere_else_is_an_invalid_text_error_and_writes_nothing(store_dir, call):
    from sklearn.linear_model import LinearRegression

    with jt.start_run(run_name="kept", experiment="e") as run:
        run.log_metric("loss", 0.5)
        jt.log_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), "model")
    with pytest.raises(InvalidTextError, match="lone surrogate"):
        call(run.run_id)
    assert jt.search_runs().run_name.tolist() == ["kept"]
    assert jt.sql("SELECT count(*) AS n FROM model_versions")["n"].item() == 0


def test_a_command_line_argument_with_a_latin1_byte_is_refused_by_name(store_dir):
    with jt.start_run(run_name="kept") as run:
        run.log_metric("loss", 0.5)
    for arguments in (["show", os.fsencode(run.run_id[:8]) + b"\xe9"], ["diff", run.run_id, b"caf\xe9"]):
        shown = subprocess.run([sys.executable, "-m", "jupyter_tracker.cli", *arguments], capture_output=True,
                               text=True, timeout=120, env={**os.environ, "JUPYTER_TRACKER_DIR": str(store_dir)})
        assert shown.returncode != 0 and "Traceback" not in shown.stderr, shown.stderr
        assert "is a lone surrogate" in shown.stderr, shown.stderr
