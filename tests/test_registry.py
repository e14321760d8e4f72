"""The model registry: versions, stages with transition history, aliases, models:/ URIs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import jupyter_tracker as jt
from jupyter_tracker.errors import InvalidStageError, InvalidValueError, ModelNotFoundError


def _train_and_log(scale: float) -> str:
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"x": np.arange(10.0)})
    with jt.start_run() as run:
        jt.log_model(LinearRegression().fit(frame, frame.x * scale), "model", input_example=frame.head(2))
    return f"runs:/{run.run_id}/model"


def test_versions_stages_history_and_archiving(store_dir):
    first = jt.register_model(_train_and_log(1.0), "churn")
    second = jt.register_model(_train_and_log(2.0), "churn", description="doubled")
    assert (first.version, second.version, first.stage) == (1, 2, "None")
    assert second.description == "doubled" and second.source == _run_uri(second)

    jt.transition_model_version_stage("churn", 1, "Staging", comment="looks good")
    jt.transition_model_version_stage("churn", 1, "production")
    promoted = jt.transition_model_version_stage("churn", 2, "Production", archive_existing_versions=True,
                                                 comment="better RMSE")
    assert promoted.stage == "Production"
    assert jt.get_model_version("churn", 1).stage == "Archived"

    history = jt.get_stage_history("churn")
    assert list(zip(history.version, history.from_stage, history.to_stage)) == [
        (1, "None", "Staging"), (1, "Staging", "Production"), (2, "None", "Production"), (1, "Production", "Archived")]
    assert history.comment.tolist()[:1] == ["looks good"] and history.comment.tolist()[2] == "better RMSE"
    assert history["user"].notna().all() and history.timestamp.notna().all()

    # models:/name/Production loads the newest version in that stage.
    frame = pd.DataFrame({"x": [3.0]})
    assert jt.load_model("models:/churn/Production").predict(frame) == pytest.approx([6.0])
    assert jt.load_model("models:/churn/1").predict(frame) == pytest.approx([3.0])
    assert jt.load_model("models:/churn/latest").predict(frame) == pytest.approx([6.0])

    listed = jt.list_registered_models()
    assert listed.to_dict("records")[0] | {"updated_time": None} == {
        "name": "churn", "latest_version": 2, "production_version": 2, "description": None, "updated_time": None}
    assert jt.sql("select count(*) as n from model_versions").n[0] == 2
    # The run table shows which runs became registered versions.
    assert jt.get_run(first.run_id).tags["registered_models"] == "churn v1"
    assert set(jt.search_runs()["tags.registered_models"]) == {"churn v1", "churn v2"}


def _run_uri(version) -> str:
    return f"runs:/{version.run_id}/model"


def test_aliases_point_at_one_version(store_dir):
    uri = _train_and_log(1.0)
    jt.register_model(uri, "churn")
    jt.register_model(_train_and_log(3.0), "churn")
    jt.set_model_alias("churn", "champion", 1)
    assert jt.get_model_version("churn", "champion").version == 1
    jt.set_model_alias("churn", "champion", 2)  # moves the alias
    assert jt.get_model_version("churn", "champion").aliases == ["champion"]
    assert jt.get_model_version("churn", 1).aliases == []
    frame = pd.DataFrame({"x": [1.0]})
    assert jt.load_model("models:/churn@champion").predict(frame) == pytest.approx([3.0])
    assert jt.load_model("models:/churn/champion").predict(frame) == pytest.approx([3.0])
    versions = jt.search_model_versions("churn")
    assert versions.set_index("version").aliases.map(list).to_dict() == {
        1: [], 2: ["champion"]}
    assert jt.delete_model_alias("churn", "champion") is True
    with pytest.raises(ModelNotFoundError, match="no version, stage or alias 'champion'"):
        jt.load_model("models:/churn@champion")


def test_registry_errors_name_the_fix(store_dir):
    uri = _train_and_log(1.0)
    with pytest.raises(ModelNotFoundError, match="no registered model 'churn'.*jt.register_model"):
        jt.get_model_version("churn", 1)
    jt.register_model(uri, "churn")
    with pytest.raises(InvalidStageError, match="'Live' is not one of None, Staging, Production, Archived"):
        jt.transition_model_version_stage("churn", 1, "Live")
    with pytest.raises(ModelNotFoundError, match="has no version 5; its versions are 1"):
        jt.transition_model_version_stage("churn", 5, "Staging")
    with pytest.raises(InvalidValueError, match="an alias is a word"):
        jt.set_model_alias("churn", "3", 1)
    with pytest.raises(ModelNotFoundError, match="has no model 'other'"):
        jt.register_model(uri.replace("/model", "/other"), "churn")
    with pytest.raises(ModelNotFoundError, match="no version in stage Production"):
        jt.load_model("models:/churn/Production")
