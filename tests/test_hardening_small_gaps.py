"""Small mistakes are refused at the call, naming the fix: a grace period of NaN, a missing MLflow file."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

import jupyter_tracker as jt
from jupyter_tracker.cleanup import collect_garbage
from jupyter_tracker.config import TrackerConfig
from jupyter_tracker.errors import ConfigError, InvalidValueError, SyncError


@pytest.mark.parametrize("grace", [math.nan, math.inf, -1, "3600", None], ids=str)
def test_gc_refuses_a_grace_period_that_is_not_a_finite_number_of_seconds(store_dir, grace):
    with jt.start_run():
        jt.log_metric("loss", 1.0)
    with pytest.raises(InvalidValueError, match="grace_seconds must be a finite number of seconds"):
        collect_garbage(grace_seconds=grace)


@pytest.mark.parametrize("age", [math.nan, math.inf, -5.0])
def test_gc_refuses_a_retention_age_that_is_not_finite(store_dir, age):
    with pytest.raises(InvalidValueError, match="older_than"):
        collect_garbage(older_than=age)


def test_the_gc_command_refuses_nan(store_dir):
    with jt.start_run():
        jt.log_metric("loss", 1.0)
    done = subprocess.run([sys.executable, "-m", "jupyter_tracker.cli", "gc", "--grace", "nan"],
                          capture_output=True, text=True)
    assert done.returncode != 0
    assert "grace_seconds must be a finite number" in done.stdout + done.stderr


@pytest.mark.parametrize("name", ["lock_timeout", "system_metrics_interval", "sync_interval", "follow_interval"])
@pytest.mark.parametrize("seconds", [math.nan, math.inf, -1.0])
def test_settings_in_seconds_refuse_nan_inf_and_negatives(name, seconds):
    with pytest.raises(ConfigError, match=f"TrackerConfig.{name}"):
        TrackerConfig(**{name: seconds})


@pytest.mark.parametrize("how", ["import_from", "pull", "cli"])
def test_importing_from_a_missing_mlflow_sqlite_file_creates_nothing(store_dir, tmp_path, monkeypatch, how):
    pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)
    uri = "sqlite:///missing.db"
    if how == "cli":
        done = subprocess.run([sys.executable, "-m", "jupyter_tracker.cli", "import-from", "mlflow", uri],
                              capture_output=True, text=True)
        assert done.returncode != 0
        assert "no MLflow database at missing.db" in done.stdout + done.stderr
    else:
        with pytest.raises(SyncError, match="no MLflow database at missing.db"):
            if how == "pull":
                jt.pull(uri, "Default")
            else:
                jt.import_from("mlflow", uri)
    assert not (tmp_path / "missing.db").exists()
