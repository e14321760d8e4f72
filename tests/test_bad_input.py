"""Bad input gets a specific error naming the value and the rule, and never changes stored data."""

from __future__ import annotations

import time

import pytest

import jupyter_tracker as jt
from jupyter_tracker.errors import (
    ArtifactNotFoundError,
    InvalidArtifactPathError,
    InvalidFilterError,
    InvalidKeyError,
    InvalidMetricError,
    InvalidQueryError,
    InvalidValueError,
    ParamConflictError,
)


@pytest.fixture
def run_with_data(store_dir):
    run = jt.start_run(run_name="keeper")
    run.log_params({"lr": 0.1})
    run.log_metric("loss", 0.5)
    run.set_tag("stage", "dev")
    yield run
    run.end()


def _stored(run):
    record = jt.get_run(run.run_id)
    return record.params, record.metrics, record.tags, [a.path for a in record.artifacts]


@pytest.mark.parametrize("key, rule", [
    ("", "1 to 250"), ("x" * 251, "1 to 250"), ("a;b", "may only use"), ("drop'--", "may only use"),
    ("tab\tkey", "may only use"), (" padded", "space"), (42, "must be strings"),
])
def test_bad_keys_are_refused_and_name_the_rule(run_with_data, key, rule):
    before = _stored(run_with_data)
    for call in (lambda: run_with_data.log_metric(key, 1.0), lambda: run_with_data.log_param(key, 1),
                 lambda: run_with_data.set_tag(key, "v")):
        with pytest.raises(InvalidKeyError, match=rule):
            call()
    assert _stored(run_with_data) == before


@pytest.mark.parametrize("value", ["0.5", None, b"1", [1.0], {"a": 1}, object()])
def test_non_numeric_metrics_are_refused(run_with_data, value):
    before = _stored(run_with_data)
    with pytest.raises(InvalidMetricError, match="loss"):
        run_with_data.log_metric("loss", value)
    assert _stored(run_with_data) == before


def test_bad_steps_and_timestamps_are_refused(run_with_data):
    before = _stored(run_with_data)
    with pytest.raises(InvalidMetricError, match="step"):
        run_with_data.log_metric("loss", 1.0, step=1.5)
    with pytest.raises(InvalidMetricError, match="64-bit"):
        run_with_data.log_metric("loss", 1.0, step=2**70)
    with pytest.raises(InvalidMetricError, match="timestamp"):
        run_with_data.log_metric("loss", 1.0, timestamp="yesterday")
    assert _stored(run_with_data) == before


def test_log_metrics_writes_nothing_when_one_value_is_bad(run_with_data):
    before = _stored(run_with_data)
    with pytest.raises(InvalidMetricError, match="acc"):
        run_with_data.log_metrics({"loss": 0.1, "acc": "high"})
    assert _stored(run_with_data) == before


def test_params_are_immutable_and_the_error_names_both_values(run_with_data):
    before = _stored(run_with_data)
    run_with_data.log_param("lr", 0.1)  # the same value again is fine
    with pytest.raises(ParamConflictError, match=r"'0\.1'.*'0\.2'"):
        run_with_data.log_param("lr", 0.2)
    with pytest.raises(ParamConflictError):
        run_with_data.log_params({"new": 1, "lr": 0.3})
    assert _stored(run_with_data) == before


def test_oversized_param_values_are_refused(run_with_data):
    before = _stored(run_with_data)
    with pytest.raises(InvalidValueError, match="at most 6000"):
        run_with_data.log_param("notes", "x" * 6001)
    assert _stored(run_with_data) == before


@pytest.mark.parametrize("path", ["../escape", "a/../../escape", "/etc", "C:/x", "a/../.."])
def test_artifact_paths_cannot_escape_the_run(run_with_data, tmp_path, path):
    source = tmp_path / "f.txt"
    source.write_text("x")
    before = _stored(run_with_data)
    with pytest.raises(InvalidArtifactPathError, match="escapes|absolute"):
        run_with_data.log_artifact(source, artifact_path=path)
    with pytest.raises(InvalidArtifactPathError):
        run_with_data.log_text("x", f"{path}/f.txt")
    assert _stored(run_with_data) == before


def test_a_missing_artifact_file_is_named(run_with_data, tmp_path):
    with pytest.raises(ArtifactNotFoundError, match="nope.png"):
        run_with_data.log_artifact(tmp_path / "nope.png")


def test_filter_injection_is_a_parse_error_and_the_store_is_intact(run_with_data):
    before = jt.search_runs()
    with pytest.raises(InvalidFilterError, match="position 15"):
        jt.search_runs(filter="params.lr = '1'; drop table runs")
    with pytest.raises(InvalidFilterError):
        jt.search_runs(filter="params.lr = '1' or 1=1; --")
    assert jt.search_runs(filter="params.lr = 'x'' or ''1''=''1'").empty
    assert jt.search_runs().drop(columns="duration_s").equals(before.drop(columns="duration_s"))


def test_sql_is_read_only(run_with_data):
    assert jt.sql("select count(*) as n from runs").n[0] == 1
    for statement in ("drop table internal.runs", "delete from internal.params",
                      "select 1; drop view runs", "update internal.runs set status = 'X'",
                      "attach 'x.db' as x", "copy internal.runs to 'out.csv'"):
        with pytest.raises(InvalidQueryError):
            jt.sql(statement)
    assert _stored(run_with_data)[0] == {"lr": "0.1"}


def test_secret_looking_params_are_redacted_with_a_warning(run_with_data):
    with pytest.warns(UserWarning, match="looks like a secret"):
        run_with_data.log_params({"api_key": "sk-123", "db_password": "hunter2"})
    with pytest.warns(UserWarning, match="REDACTED"):
        run_with_data.set_tag("github_token", "ghp_x")
    record = jt.get_run(run_with_data.run_id)
    assert record.params["api_key"] == "***REDACTED***"
    assert record.params["db_password"] == "***REDACTED***"
    assert record.tags["github_token"] == "***REDACTED***"


def test_secrets_can_be_stored_on_purpose(run_with_data):
    from jupyter_tracker.config import get_config

    config = get_config()
    config.redact_secrets = False
    try:
        run_with_data.log_param("token_budget", 4096)
    finally:
        config.redact_secrets = True
    assert jt.get_run(run_with_data.run_id).params["token_budget"] == "4096"


def test_the_package_never_raises_a_bare_builtin_on_purpose():
    """Every ``raise SomeError(...)`` in the package names a TrackerError subclass (re-raising the
    user's own exception with a bare ``raise`` is fine; so is AssertionError for "cannot happen")."""
    import ast
    import builtins
    from pathlib import Path

    allowed = {"AssertionError", "NotImplementedError", "StopIteration", "SystemExit", "KeyboardInterrupt"}
    builtin_errors = {name for name, value in vars(builtins).items()
                      if isinstance(value, type) and issubclass(value, BaseException)} - allowed
    found = []
    for path in Path(jt.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text())
        protocol = {id(node) for function in ast.walk(tree) if isinstance(function, ast.FunctionDef)
                    and function.name == "__getattr__" for node in ast.walk(function)}  # AttributeError is its API
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and id(node) not in protocol:
                name = getattr(node.exc.func, "id", None)
                if name in builtin_errors:
                    found.append(f"{path.name}:{node.lineno} raises {name}")
    assert found == []


@pytest.mark.parametrize("call, error, words", [
    (lambda run: run.log_metric("loss", 10**400), InvalidMetricError, "float64 range"),
    (lambda run: run.log_metric("loss", 1.0, timestamp=time.time_ns()), InvalidMetricError, "nanoseconds"),
    (lambda run: run.log_metric("loss", 1.0, timestamp=time.time_ns() // 1000), InvalidMetricError,
     "microseconds"),
    (lambda run: run.log_metric("loss", 1.0, timestamp=-5), InvalidMetricError, "milliseconds"),
    (lambda run: run.log_metric("loss", 1.0, timestamp=1_700_000_000), InvalidMetricError,
     r"looks like seconds .*pass timestamp=1700000000000"),
    (lambda run: run.log_metrics({"loss": 1.0}, timestamp=1_700_000_000.5), InvalidMetricError,
     r"looks like seconds .*pass timestamp=1700000000500"),
    (lambda run: run.log_metrics({"loss": 1.0}, timestamp=time.time_ns()), InvalidMetricError, "nanoseconds"),
    (lambda run: run.log_text("x", "folder/"), InvalidArtifactPathError, "names a folder"),
    (lambda run: run.log_bytes(b"x", "dir/"), InvalidArtifactPathError, "names a folder"),
], ids=["huge-int", "ns-timestamp", "us-timestamp", "negative-timestamp", "s-timestamp", "s-timestamp-batch",
        "ns-timestamp-batch", "text-dir",
        "bytes-dir"])
def test_values_that_would_break_later_queries_are_refused_at_the_call(run_with_data, call, error, words):
    before = _stored(run_with_data)
    with pytest.raises(error, match=words):
        call(run_with_data)
    assert _stored(run_with_data) == before
    assert jt.sql("SELECT count(*) AS n FROM metrics")["n"].item() == 1  # every query still works


def test_run_names_follow_one_rule_when_started_and_when_renamed(store_dir):
    from jupyter_tracker.manage import rename_run

    with pytest.raises(InvalidValueError, match="1 to 250"):
        jt.start_run(run_name="x" * 100_000)
    with jt.start_run(run_name="y" * 250) as run:
        pass
    with pytest.raises(InvalidValueError, match="1 to 250"):
        rename_run(run.run_id, "z" * 251)
    rename_run(run.run_id, "short")
    assert jt.get_run(run.run_id).run_name == "short"


def test_a_secret_looking_tag_is_redacted_on_every_write_path(store_dir):
    from jupyter_tracker.manage import set_run_tag

    with jt.start_run() as run:
        with pytest.warns(UserWarning, match="looks like a secret"):
            run.set_tag("api_key", "sk-live-1")
    with pytest.warns(UserWarning, match="looks like a secret"):
        set_run_tag(run.run_id, "db_password", "hunter2")  # the lab's tag editor goes through here
    tags = jt.get_run(run.run_id).tags
    assert tags["api_key"] == tags["db_password"] == "***REDACTED***"
