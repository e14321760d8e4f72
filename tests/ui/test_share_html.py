"""A shared run opens in a plain browser with no Jupyter and no network: card, charts, notebook.

Screenshots: test-artifacts/share-report.png (the HTML of share_snapshot) and
test-artifacts/share-diff.png (the inline view of diff_snapshots).
"""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import screenshot
from playwright.sync_api import expect

import jupyter_tracker as jt
from jupyter_tracker.store import get_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sharing_story import run_ids, team_store  # noqa: E402


def test_shared_html_report_renders_offline_in_chromium(page, tmp_path_factory):
    store_path = team_store(tmp_path_factory)
    store = get_store(store_path)
    sweep = run_ids(store_path)["sweep"]
    report = jt.share_snapshot(sweep, tmp_path_factory.mktemp("outbox") / "report.html", store=store)

    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(report.as_uri())
    card = page.locator("#jt-run-card")
    expect(card.locator("h1")).to_contain_text("sweep")
    expect(card.locator("h1")).to_contain_text("FINISHED")
    expect(card.locator("tr", has_text="lr")).to_contain_text("0.1")
    expect(card.locator("tr", has_text="epochs")).to_contain_text("30")
    expect(card.locator("tr", has_text="loss")).to_contain_text("0.1333")
    expect(card.locator("tr", has_text="python")).to_be_visible()
    charts = card.locator(".jt-chart svg")
    expect(charts).to_have_count(2)                      # extreme and loss
    expect(charts.nth(1).locator("polyline")).to_have_count(1)
    assert charts.nth(1).bounding_box()["width"] > 300
    expect(charts.nth(0)).to_contain_text("3 non-finite point(s) not drawn")
    notebook = page.locator(".jt-notebook")
    expect(notebook).to_contain_text("print(sorted(data)[:5])")
    expect(notebook).to_contain_text("In [4]:")             # in execution order, with its prompt
    expect(notebook).to_contain_text("trained")
    screenshot(page, "share-report")
    assert requested == [report.as_uri()], f"the page asked for more than itself: {requested}"


def test_diff_of_two_runs_reads_inline(page, tmp_path_factory):
    store_path = team_store(tmp_path_factory)
    ids = run_ids(store_path)
    diff = jt.diff_snapshots(ids["sweep"], ids["sweep-bob"], store=get_store(store_path))
    page.set_content(f"<html><body style='margin:16px'>{diff._repr_html_()}</body></html>")
    view = page.locator(".jt-diff")
    expect(view).to_contain_text("1 added, 1 removed, 2 changed")
    expect(view.locator("tr", has_text="lr")).to_contain_text("0.05")
    expect(view).to_contain_text("+n = 200  # more data")
    expect(view).to_contain_text("-print(sorted(data)[:5])")
    screenshot(page, "share-diff")
