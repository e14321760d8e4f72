"""Bad input gets a specific error naming the value and the rule, and never changes stored data."""

from __future__ import annotations

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
    TrackerError,
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


def test_every_error_is_a_tracker_error():
    import jupyter_tracker.errors as errors

    assert all(issubclass(getattr(errors, name), TrackerError) for name in errors.__all__)
