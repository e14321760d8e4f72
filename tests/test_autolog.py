"""Autolog scoped to a cell or a with block: fits inside are logged, nothing is patched afterwards."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_notebook

import jupyter_tracker as jt
from jupyter_tracker.autologging import AutologWarning


def _data():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(60, 3))
    return X, (X[:, 0] > 0.5).astype(int)


def test_track_autolog_records_the_fit_and_leaves_no_patch_behind(store_dir, tmp_path):
    notebook = run_notebook([
        "%load_ext jupyter_tracker",
        "import numpy as np\nfrom sklearn.linear_model import LogisticRegression\n"
        "X = np.random.default_rng(0).uniform(size=(60, 3)); y = (X[:, 0] > 0.5).astype(int)\n"
        "original_fit = LogisticRegression.fit",
        "%%track --autolog -n trained\nmodel = LogisticRegression(C=0.5).fit(X, y)",
        "print(LogisticRegression.fit is original_fit)",
        "%%track -n later\nLogisticRegression(C=2.0).fit(X, y)",
    ], tmp_path, store_dir)
    assert notebook.cells[3].outputs[0]["text"].strip() == "True"
    runs = jt.search_runs().set_index("run_name")
    trained = jt.get_run(runs.loc["trained", "run_id"])
    assert trained.params["C"] == "0.5" and trained.tags["estimator_name"] == "LogisticRegression"
    assert trained.metrics["training_accuracy_score"] > 0.8
    assert "model/model.skops" in {a.path for a in trained.artifacts}
    later = jt.get_run(runs.loc["later", "run_id"])
    assert later.params == {} and later.metrics == {}
    assert [a.path for a in later.artifacts] == ["jupyter_tracker/slice.json"]   # the run's slice only
    loaded = jt.load_model(f"runs:/{trained.run_id}/model")
    assert loaded.predict(np.array([[0.9, 0.1, 0.1]])).tolist() == [1]


def test_autolog_context_manager_restores_and_logs_one_run_per_fit(store_dir):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _data()
    original = RandomForestClassifier.fit
    with jt.autolog(log_models=False):
        assert RandomForestClassifier.fit is not original
        RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
        make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3)).fit(X, y)
    assert RandomForestClassifier.fit is original
    RandomForestClassifier(n_estimators=7).fit(X, y)  # after the block: nothing is logged
    runs = jt.search_runs(order_by="start_time")
    # One run per outer fit; the forest's trees and the pipeline's steps are not separate runs.
    assert list(runs["tags.estimator_name"]) == ["RandomForestClassifier", "Pipeline"]
    assert list(runs["params.n_estimators"].fillna("-")) == ["5", "-"]
    assert (runs.status == "FINISHED").all()


def test_two_fits_in_one_run_keep_their_params_apart(store_dir):
    from sklearn.linear_model import Ridge

    X, y = _data()
    with jt.start_run() as run, jt.autolog(log_models=False):
        Ridge(alpha=1.0).fit(X, y)
        Ridge(alpha=2.0).fit(X, y)
    record = jt.get_run(run.run_id)
    assert record.params["alpha"] == "1.0" and "training_r2_score" in record.metrics
    (child,) = record.children
    assert jt.get_run(child).params["alpha"] == "2.0"


def test_xgboost_rounds_are_logged_per_step(store_dir):
    import xgboost
    X, y = _data()
    data = xgboost.DMatrix(X, label=y)
    with jt.start_run() as run, jt.autolog():
        xgboost.train({"objective": "binary:logistic"}, data, 4, evals=[(data, "train")], verbose_eval=False)
    history = jt.get_metric_history(run.run_id, "train-logloss")
    assert history.step.tolist() == [0, 1, 2, 3] and history.value.is_monotonic_decreasing
    assert jt.get_run(run.run_id).params["xgb.objective"] == "binary:logistic"


def test_an_autolog_failure_is_a_warning_and_training_goes_on(store_dir, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    import jupyter_tracker.autologging.sklearn as integration

    def broken(*args, **kwargs):
        raise RuntimeError("metrics backend down")

    monkeypatch.setattr(integration, "_training_metrics", broken)
    X, y = _data()
    with jt.start_run(), jt.autolog(log_models=False):
        with pytest.warns(AutologWarning, match="metrics backend down; training was not affected"):
            model = LogisticRegression().fit(X, y)
    assert model.predict(X[:2]).shape == (2,)


def test_the_users_own_error_passes_through_unchanged(store_dir):
    from sklearn.linear_model import LogisticRegression

    with jt.autolog(), pytest.raises(ValueError, match="Found input variables with inconsistent numbers"):
        LogisticRegression().fit(np.zeros((3, 2)), [0, 1])
    assert jt.search_runs().status.tolist() == ["FAILED"]
    assert jt.active_run() is None


def test_a_nested_scope_does_not_log_twice(store_dir):
    from sklearn.linear_model import LogisticRegression

    X, y = _data()
    original = LogisticRegression.fit
    with jt.autolog(log_models=False):
        with jt.autolog(log_models=False):
            LogisticRegression().fit(X, y)
        assert LogisticRegression.fit is not original  # the outer scope still patches
    assert LogisticRegression.fit is original
    assert len(jt.search_runs()) == 1
