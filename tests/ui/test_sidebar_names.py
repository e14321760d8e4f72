"""Long run names in the Experiments sidebar keep the end where the runs of a sweep differ
(`lr-0.001-batch-256-…seed-3`), in a real JupyterLab and headless chromium."""

from __future__ import annotations

from conftest import screenshot
from playwright.sync_api import expect
from test_sidebar import open_sidebar, run_rows, watch_errors

import jupyter_tracker as jt
from jupyter_tracker import config

EXPERIMENT = "long-names-e2e"
PREFIX = "resnet50-imagenet-lr-0.001-batch-256-warmup-5-cosine-"


def test_long_run_names_lose_their_middle_not_their_end(page, lab_server):
    base_url, token, _, store_dir = lab_server
    errors = watch_errors(page)
    jt.set_store(store_dir)
    try:
        for seed in (1, 2, 3):
            with jt.start_run(f"{PREFIX}seed-{seed}", experiment=EXPERIMENT):
                jt.log_metric("acc", 0.9 + seed / 100)
    finally:
        config.set_store_override(None)

    page.goto(f"{base_url}/lab/workspaces/long-names?token={token}&reset")
    sidebar = open_sidebar(page)
    rows = run_rows(sidebar, EXPERIMENT)
    expect(rows).to_have_count(3, timeout=30000)
    for index, seed in enumerate((3, 2, 1)):                          # newest first
        name = rows.nth(index).locator(".jp-tracker-run-name")
        expect(name).to_have_text(f"{PREFIX}seed-{seed}")             # the whole name is still the text
        expect(name).to_have_attribute("title", f"{PREFIX}seed-{seed}")
        head, tail = name.locator(".jp-tracker-name-head"), name.locator(".jp-tracker-name-tail")
        expect(tail).to_have_text(f"cosine-seed-{seed}"[-10:])
        # The name is wider than the sidebar: the head is cut, the tail is drawn whole inside the row.
        assert head.evaluate("e => e.scrollWidth > e.clientWidth")
        row_box, tail_box = rows.nth(index).bounding_box(), tail.bounding_box()
        assert tail_box["width"] > 0
        assert row_box["x"] <= tail_box["x"] and tail_box["x"] + tail_box["width"] <= row_box["x"] + row_box["width"]
    screenshot(page, "sidebar-long-names")
    assert errors == []
