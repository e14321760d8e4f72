"""The Experiments sidebar's "Models" section in a real JupyterLab and headless chromium: a model
registered from a run shows under the experiments with its versions, stage and aliases, the
section collapses, and clicking a version opens the details panel of the run it came from."""

from __future__ import annotations

from pathlib import Path

from conftest import screenshot
from playwright.sync_api import expect
from test_sidebar import DETAILS, open_sidebar, watch_errors

import jupyter_tracker as jt
from jupyter_tracker import config
from jupyter_tracker.store import get_store

EXPERIMENT = "models-e2e"
MODEL = "churn-e2e"


def log_model_run(store_dir: Path, run_name: str, scale: float) -> str:
    """A finished run of EXPERIMENT with a scikit-learn model, written from this process into the
    store the lab server reads; its ``runs:/`` URI."""
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    jt.set_store(store_dir)
    try:
        with jt.start_run(run_name, experiment=EXPERIMENT) as run:
            jt.log_model(LinearRegression().fit(frame, frame.x * scale), "model", input_example=frame.head(2))
    finally:
        config.set_store_override(None)
    return f"runs:/{run.run_id}/model"


def test_models_section_lists_versions_and_opens_the_source_run(page, lab_server):
    base_url, token, _, store_dir = lab_server
    errors = watch_errors(page)
    store = get_store(store_dir)
    first_uri = log_model_run(store_dir, "forest-shallow", 1.0)
    second_uri = log_model_run(store_dir, "forest-deep", 2.0)
    jt.register_model(first_uri, MODEL, store=store)
    jt.register_model(second_uri, MODEL, description="deeper trees", store=store)
    jt.transition_model_version_stage(MODEL, 2, "Production", store=store)
    jt.set_model_alias(MODEL, "champion", 2, store=store)

    page.goto(f"{base_url}/lab/workspaces/models-e2e?token={token}&reset")
    sidebar = open_sidebar(page)
    models = sidebar.locator(".jp-tracker-models")
    expect(models).to_be_visible(timeout=30000)
    expect(models.locator(".jp-tracker-models-header")).to_contain_text("Models")
    model = models.locator(f".jp-tracker-model[data-model='{MODEL}']")
    expect(model.locator(".jp-tracker-model-name")).to_have_text(MODEL)
    versions = model.locator(".jp-tracker-model-version")
    expect(versions).to_have_count(2)
    newest, oldest = versions.nth(0), versions.nth(1)
    expect(newest.locator(".jp-tracker-version-number")).to_have_text("v2")
    expect(newest.locator(".jp-tracker-stage")).to_have_text("Production")
    expect(newest.locator(".jp-tracker-alias")).to_have_text("@champion")
    expect(newest.locator(".jp-tracker-version-run")).to_have_text("forest-deep")
    expect(oldest.locator(".jp-tracker-version-number")).to_have_text("v1")
    expect(oldest.locator(".jp-tracker-stage")).to_have_count(0)   # stage None: no badge
    expect(oldest.locator(".jp-tracker-version-run")).to_have_text("forest-shallow")
    # The section sits under the experiments, after the runs of this test's experiment.
    assert sidebar.locator(".jp-tracker-experiments > *").last.get_attribute("class") == "jp-tracker-models"
    expect(sidebar.locator(f"[data-experiment='{EXPERIMENT}'] .jp-tracker-run")).to_have_count(2)
    model.scroll_into_view_if_needed()
    screenshot(page, "sidebar-models")

    # A new alias shows without a reload: the sidebar's poll notices the registry changed.
    jt.set_model_alias(MODEL, "baseline", 1, store=store)
    expect(oldest.locator(".jp-tracker-alias")).to_have_text("@baseline", timeout=30000)

    # Clicking a version opens the details panel of the run it was registered from.
    oldest.click()
    details = page.locator(DETAILS)
    expect(details.locator(".jp-tracker-details-name")).to_have_text("forest-shallow", timeout=30000)
    expect(details.locator("[data-section='tags']")).to_contain_text(f"{MODEL} v1")
    expect(oldest).to_have_class("jp-tracker-model-version jp-mod-selected")
    screenshot(page, "sidebar-models-details")

    # The header collapses the section and opens it again.
    header = models.locator(".jp-tracker-models-header")
    header.click()
    expect(model).to_have_count(0)
    expect(header).to_have_attribute("aria-expanded", "false")
    header.click()
    expect(versions).to_have_count(2)
    assert errors == []
