"""log_input: which data a run saw, by digest, schema and profile; searchable by digest."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import jupyter_tracker as jt
from jupyter_tracker.errors import InvalidFilterError, InvalidValueError


def _frame():
    return pd.DataFrame({"age": [31, 45, None, 27], "plan": ["a", "b", "b", "c"], "spend": [1.5, 2.0, 0.0, 9.25]})


def test_digest_is_stable_across_processes_and_changes_with_the_data(store_dir, tmp_path):
    with jt.start_run() as first:
        described = jt.log_input(_frame(), "customers")
    code = ("import pandas as pd, jupyter_tracker as jt\n"
            "frame = pd.DataFrame({'age': [31, 45, None, 27], 'plan': ['a', 'b', 'b', 'c'],"
            " 'spend': [1.5, 2.0, 0.0, 9.25]})\n"
            "with jt.start_run(run_name='other-process') as run:\n"
            "    print(jt.log_input(frame, 'customers')['digest'])\n")
    other_digest = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True).stdout.strip()
    assert other_digest == described["digest"]

    changed = _frame()
    changed.loc[3, "spend"] = 9.5
    with jt.start_run() as third:
        assert jt.log_input(changed, "customers")["digest"] != described["digest"]

    matching = jt.search_runs(filter=f"datasets.digest = '{described['digest']}'")
    assert sorted(matching.run_name) == sorted([first.run_name, "other-process"])
    assert list(jt.search_runs(filter=f"inputs.digest != '{described['digest']}'").run_id) == [third.run_id]
    assert len(jt.search_runs(filter="datasets.name = 'customers' and datasets.context = 'training'")) == 3


def test_schema_profile_and_row_count_are_recorded_not_the_data(store_dir):
    with jt.start_run() as run:
        jt.log_input(_frame(), "customers", context="validation", source="s3://bucket/customers.csv")
    (recorded,) = jt.get_run(run.run_id).inputs
    assert recorded["name"] == "customers" and recorded["context"] == "validation"
    assert recorded["source"] == "s3://bucket/customers.csv" and recorded["num_rows"] == 4
    columns = {c["name"]: c["dtype"] for c in json.loads(recorded["schema"])["columns"]}
    assert list(columns) == ["age", "plan", "spend"] and columns["age"] == columns["spend"] == "float64"
    profile = json.loads(recorded["profile"])
    assert profile["age"] == {"nulls": 1, "min": 27.0, "max": 45.0}
    assert profile["plan"] == {"nulls": 0}
    assert jt.get_run(run.run_id).artifacts == []


def test_the_same_data_logged_twice_in_a_run_is_recorded_once(store_dir):
    with jt.start_run() as run:
        jt.log_input(_frame(), "customers")
        jt.log_input(_frame(), "customers")
        jt.log_input(_frame(), "customers", context="test")
    assert [i["context"] for i in jt.get_run(run.run_id).inputs] == ["training", "test"]


def test_stored_data_is_kept_once_for_many_runs(store_dir):
    digests = []
    for _ in range(3):
        with jt.start_run():
            described = jt.log_input(_frame(), "customers", store_data=True)
            digests.append(described["schema"]["stored_object"])
    assert len(set(digests)) == 1
    import duckdb

    stored = jt.current_store().objects.path(digests[0])
    assert duckdb.sql(f"select count(*), count(spend) from read_parquet('{stored}')").fetchall() == [(4, 4)]


def test_arrays_and_files(store_dir, tmp_path):
    array = np.arange(12, dtype="float32").reshape(4, 3)
    path = tmp_path / "customers.csv"
    _frame().to_csv(path, index=False)
    with jt.start_run() as run:
        from_array = jt.log_input(array, "matrix")
        from_file = jt.log_input(path)
    assert from_array["schema"] == {"shape": [4, 3], "dtype": "float32"} and from_array["num_rows"] == 4
    assert from_array["profile"] == {"nulls": 0, "min": 0.0, "max": 11.0}
    assert from_file["name"] == "customers.csv" and from_file["source"] == str(path.resolve())
    assert from_file["num_rows"] == 4 and from_file["profile"]["spend"]["max"] == 9.25
    assert len(jt.get_run(run.run_id).inputs) == 2
    array[0, 0] = 100
    with jt.start_run():
        assert jt.log_input(array, "matrix")["digest"] != from_array["digest"]


def test_arrow_tables(store_dir):
    import pyarrow
    with jt.start_run():
        described = jt.log_input(pyarrow.Table.from_pandas(_frame(), preserve_index=False), "arrow")
    assert described["num_rows"] == 4 and described["profile"]["spend"]["max"] == 9.25


def test_bad_inputs_and_filters_say_what_to_do(store_dir, tmp_path):
    with jt.start_run():
        with pytest.raises(InvalidValueError, match="is not a file"):
            jt.log_input(tmp_path / "missing.csv")
        with pytest.raises(InvalidValueError, match="context is a short label"):
            jt.log_input(_frame(), context="")
    with pytest.raises(InvalidFilterError, match="unknown dataset field 'size'"):
        jt.search_runs(filter="datasets.size = 3")


def test_doctor_and_gc_agree_that_stored_data_is_referenced_and_doctor_names_a_missing_object(store_dir):
    def doctor() -> tuple[int, dict]:
        done = subprocess.run([sys.executable, "-m", "jupyter_tracker.cli", "doctor", "--json"], capture_output=True,
                              text=True, timeout=120, env={**os.environ, "JUPYTER_TRACKER_DIR": str(store_dir)})
        return done.returncode, json.loads(done.stdout)

    with jt.start_run():
        stored = jt.log_input(_frame(), "customers", store_data=True)["schema"]["stored_object"]
    path = jt.current_store().objects.path(stored)
    jt.search_runs()                                       # merged, as any read of the store does
    code, health = doctor()
    assert code == 0 and health["objects"] == 1 and health["unreferenced_objects"] == 0, health
    assert jt.gc(grace_seconds=0).removed_objects == [] and path.exists()   # gc keeps what doctor calls referenced
    path.unlink()
    code, health = doctor()
    assert code == 1 and health["missing_objects"] == 1 and stored in " ".join(health["problems"]), health
