"""A colleague who knows MLflow opens MLflow's own UI on our store (``mlflow server --backend-store-uri
jupyter-tracker:///...``) in Chromium: the experiment list, the runs table, a run page with params, metric
charts and artifacts, the compare view, and the Models page with a model registered with ``jt`` and its
versions show our data, without error banners."""

from __future__ import annotations

import json
import os

import pytest
from playwright.sync_api import expect
from sklearn.linear_model import LinearRegression

import jupyter_tracker as jt
from bench.servers import mlflow_server
from jupyter_tracker.mlflow_backend.tracking_store import JupyterTrackerStore
from tests.mlflow_plugin import ensure_entry_points
from tests.ui.conftest import screenshot


@pytest.fixture
def mlflow_ui(tmp_path, store_dir):
    """MLflow's server over a store holding two runs logged with jt; yields (uri, experiment id, run ids)."""
    added = ensure_entry_points(tmp_path / "devplugin")
    run_ids = []
    for name, lr in (("baseline", "0.1"), ("tuned", "0.01")):
        with jt.start_run(name, experiment="churn", tags={"team": "growth"}) as run:
            run.log_params({"lr": lr, "model": "rf"})
            for step in range(5):
                run.log_metric("loss", 1.0 / (step + 1 + float(lr)), step=step)
            run.log_text(f"{name} notes", "notes/readme.txt")
            jt.log_model(LinearRegression().fit([[0.0], [1.0]], [0.0, float(lr)]), "model")
        run_ids.append(run.run_id)
        jt.register_model(f"runs:/{run.run_id}/model", "churn-model", description=f"the {name} run's model")
    jt.set_model_alias("churn-model", "champion", 2)
    jt.transition_model_version_stage("churn-model", 1, "Production")
    experiment = JupyterTrackerStore(f"jupyter-tracker://{store_dir}").get_experiment_by_name("churn").experiment_id
    env = {"PYTHONPATH": os.environ["PYTHONPATH"]} if added else {}
    with mlflow_server(tmp_path / "server", backend_store_uri=f"jupyter-tracker://{store_dir}", extra_env=env) as uri:
        yield uri, experiment, run_ids


def shot(page, name: str) -> None:
    screenshot(page, f"mlflow-ui-{name}")
    expect(page.get_by_text("Something went wrong")).to_have_count(0)
    expect(page.get_by_text("INTERNAL_ERROR")).to_have_count(0)


def test_mlflow_ui_shows_runs_logged_with_jt(page, mlflow_ui):
    uri, experiment, (baseline, tuned) = mlflow_ui
    failures = []
    page.on("response", lambda response: failures.append(f"{response.status} {response.url}")
            if response.status >= 400 and "/ajax-api/" in response.url and "trace" not in response.url
            and "users/current" not in response.url else None)  # MLflow asks for a user; no auth app here
    page.goto(f"{uri}/#/experiments")
    page.get_by_text("Model training").first.click()
    expect(page.get_by_role("link", name="churn")).to_be_visible(timeout=60000)
    shot(page, "experiments")
    page.goto(f"{uri}/#/experiments/{experiment}/runs")
    expect(page.get_by_role("link", name="tuned")).to_be_visible(timeout=90000)
    expect(page.get_by_role("link", name="baseline")).to_be_visible()
    shot(page, "runs")
    page.goto(f"{uri}/#/experiments/{experiment}/runs/{tuned}")
    expect(page.get_by_text("growth").first).to_be_visible(timeout=90000)
    expect(page.get_by_text("0.01").first).to_be_visible()
    shot(page, "run")
    page.goto(f"{uri}/#/experiments/{experiment}/runs/{tuned}/model-metrics")
    expect(page.locator("svg.main-svg").first).to_be_visible(timeout=90000)
    shot(page, "metrics")
    page.goto(f"{uri}/#/experiments/{experiment}/runs/{tuned}/artifacts")
    page.get_by_text("notes").first.click(timeout=90000)
    expect(page.get_by_text("readme.txt")).to_be_visible()
    shot(page, "artifacts")
    page.goto(f"{uri}/#/compare-runs?runs={json.dumps([baseline, tuned])}&experiments={json.dumps([experiment])}")
    expect(page.get_by_text("Comparing 2 Runs")).to_be_visible(timeout=90000)
    shot(page, "compare")
    page.goto(f"{uri}/#/models")
    expect(page.get_by_role("link", name="churn-model")).to_be_visible(timeout=90000)
    promotion = page.get_by_role("dialog")  # MLflow advertises its new registry UI once
    if promotion.count():
        page.keyboard.press("Escape")
        expect(promotion).to_have_count(0)
        expect(page.locator("[class*='modal-mask']").first).to_be_hidden()  # its grey veil fades out after it
    expect(page.get_by_text("champion").first).to_be_visible()
    shot(page, "models")
    page.get_by_role("link", name="churn-model").click()
    expect(page.get_by_role("link", name="Version 2")).to_be_visible(timeout=90000)
    expect(page.get_by_role("link", name="Version 1")).to_be_visible()
    expect(page.get_by_text("champion").first).to_be_visible()
    shot(page, "model-versions")
    page.get_by_role("link", name="Version 1").click()
    expect(page.get_by_text("the baseline run's model").first).to_be_visible(timeout=90000)
    shot(page, "model-version")
    assert failures == []
