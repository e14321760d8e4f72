"""Run names as the Experiments sidebar and the details panel show them, in a real JupyterLab and
headless chromium: long names keep the end where the runs of a sweep differ (`lr-0.001-batch-…seed-3`),
and a parent run links each of its children by name."""

from __future__ import annotations

import re

from conftest import screenshot
from playwright.sync_api import expect
from test_sidebar import DETAILS, open_sidebar, run_rows, watch_errors

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


def test_run_details_link_the_parent_and_each_child_by_name(page, lab_server):
    base_url, token, _, store_dir = lab_server
    errors = watch_errors(page)
    jt.set_store(store_dir)
    try:
        with jt.start_run("sweep", experiment="nested-e2e") as parent:
            for lr in ("0.1", "0.01", "0.001"):
                with jt.start_run(f"lr-{lr}", nested=True):
                    jt.log_param("lr", lr)
    finally:
        config.set_store_override(None)

    page.goto(f"{base_url}/lab/workspaces/nested-links?token={token}&reset")
    sidebar = open_sidebar(page)
    rows = run_rows(sidebar, "nested-e2e")
    expect(rows).to_have_count(4, timeout=30000)
    sidebar.locator(f".jp-tracker-run[data-run-id='{parent.run_id}']").click()
    details = page.locator(DETAILS)
    children = details.locator(".jp-tracker-child-runs li a")
    expect(children).to_have_count(3, timeout=30000)                  # one link per child, not one run-on id
    expect(children).to_have_text([re.compile(rf"^lr-{lr} \([0-9a-f]{{8}}\)$") for lr in ("0.1", "0.01", "0.001")])
    screenshot(page, "details-child-links")
    children.nth(1).click()
    expect(details.locator(".jp-tracker-details-name")).to_have_text("lr-0.01", timeout=30000)
    expect(details.locator(".jp-tracker-related a")).to_have_text(re.compile(r"^sweep \("))   # back to the parent
    assert errors == []
