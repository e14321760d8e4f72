"""A sidebar filter naming a key no run has (a typo such as ``metrics.acuracy``) is not silently empty:
the server passes search_runs' UnknownKeyWarning on and the sidebar shows it under the filter box,
naming the keys there are; a filter on a real key shows no warning."""

from __future__ import annotations

from conftest import screenshot
from playwright.sync_api import expect
from test_sidebar import open_sidebar, run_rows, watch_errors

import jupyter_tracker as jt
from jupyter_tracker import config

EXPERIMENT = "filter-warning-e2e"


def test_a_misspelled_filter_key_shows_the_keys_there_are(page, lab_server):
    base_url, token, _, store_dir = lab_server
    errors = watch_errors(page)
    jt.set_store(store_dir)
    try:
        for acc in (0.7, 0.9):
            with jt.start_run(f"acc-{acc}", experiment=EXPERIMENT):
                jt.log_metric("accuracy", acc)
    finally:
        config.set_store_override(None)

    page.goto(f"{base_url}/lab/workspaces/filter-warning?token={token}&reset")
    sidebar = open_sidebar(page)
    expect(run_rows(sidebar, EXPERIMENT)).to_have_count(2, timeout=30000)
    warning = sidebar.locator(".jp-tracker-filter-warning")
    expect(warning).to_be_hidden()

    box = sidebar.locator(".jp-tracker-filter")
    box.fill("metrics.acuracy > 0.8")
    box.press("Enter")
    expect(warning).to_be_visible(timeout=20000)
    expect(warning).to_contain_text("metrics.acuracy")
    expect(warning).to_contain_text("metrics.accuracy")      # the key there is, closest first
    # The warning sits right under the filter box.
    box_bottom = box.bounding_box()["y"] + box.bounding_box()["height"]
    assert 0 <= warning.bounding_box()["y"] - box_bottom < 30
    screenshot(page, "sidebar-filter-warning")

    box.fill("metrics.accuracy > 0.8")
    box.press("Enter")
    expect(run_rows(sidebar, EXPERIMENT)).to_have_count(1, timeout=20000)
    expect(warning).to_be_hidden()
    assert errors == []
