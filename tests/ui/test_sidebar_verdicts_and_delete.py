"""The Experiments sidebar in a real JupyterLab and chromium: each run made in a notebook shows its
reproducibility badge ("linear", or "⚠ hidden state" with the reasons on hover), for ``%%track`` cells
and for ``with jt.start_run():`` alike, and so does the run table (``jt.runs``); Ctrl-click marks
several runs and "Delete" deletes them at once, after a confirmation, while the others stay."""

from __future__ import annotations

from conftest import open_and_run_all, screenshot
from playwright.sync_api import expect
from test_sidebar import open_sidebar, run_rows, watch_errors, write_notebook

import jupyter_tracker as jt
from jupyter_tracker.store import get_store

EXPERIMENT = "verdicts-e2e"


def test_verdict_badges_and_deleting_several_runs_at_once(page, lab_server):
    base_url, token, notebook_dir, store_dir = lab_server
    errors = watch_errors(page)
    write_notebook(notebook_dir / "verdicts.ipynb", [
        "%load_ext jupyter_tracker\nimport jupyter_tracker as jt\nimport random",
        f"%%track -q -e {EXPERIMENT} -n clean\nwidth = 3\njt.log_metric('area', width * width)",
        f"%%track -q -e {EXPERIMENT} -n noisy\nnoise = random.random()\njt.log_metric('noise', noise)",
        f"with jt.start_run(run_name='in-a-with', experiment='{EXPERIMENT}'):\n    jt.log_metric('double', width * 2)",
        f"jt.runs('{EXPERIMENT}')",
    ])
    panel = open_and_run_all(page, base_url, token, "verdicts.ipynb")
    # The run table shows the verdict as the run's own column, with the reasons on hover.
    table = panel.locator(".jp-Cell").nth(4).locator(".jp-OutputArea-output")
    expect(table.locator(".jt-verdict")).to_have_count(3, timeout=60000)
    expect(table.locator(".jt-verdict-warnings")).to_have_text("⚠ hidden state")
    assert "random.random" in table.locator(".jt-verdict-warnings").get_attribute("title")
    expect(table.locator("th", has_text="reproducible")).to_have_count(1)
    table.screenshot(path=str(screenshot(page, "run-table-verdicts")))
    sidebar = open_sidebar(page)
    rows = run_rows(sidebar, EXPERIMENT)
    expect(rows).to_have_count(3, timeout=60000)
    clean, noisy, with_block = (rows.filter(has_text=name) for name in ("clean", "noisy", "in-a-with"))
    expect(clean.locator(".jp-tracker-verdict-linear")).to_have_text("linear", timeout=30000)
    expect(with_block.locator(".jp-tracker-verdict-linear")).to_have_text("linear")
    badge = noisy.locator(".jp-tracker-verdict-warnings")
    expect(badge).to_have_text("⚠ hidden state")
    assert "draws random numbers (random.random) with no visible seed call" in badge.get_attribute("title")
    sidebar.screenshot(path=str(screenshot(page, "sidebar-verdicts")))

    # Ctrl-click marks runs (a plain click still opens one); the bar offers to delete them together.
    expect(sidebar.locator(".jp-tracker-marked-bar")).to_be_hidden()
    clean.click(modifiers=["Control"])
    with_block.click(modifiers=["Control"])
    expect(sidebar.locator(".jp-tracker-run-marked")).to_have_count(2)
    bar = sidebar.locator(".jp-tracker-marked-bar")
    expect(bar).to_contain_text("2 selected")
    sidebar.screenshot(path=str(screenshot(page, "sidebar-marked")))
    bar.locator(".jp-tracker-delete-marked").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Delete 2 runs?")
    expect(dialog).to_contain_text("in-a-with")
    screenshot(page, "sidebar-delete-marked-dialog")
    dialog.locator("button.jp-mod-warn").click()
    expect(rows).to_have_count(1, timeout=30000)
    expect(rows.first).to_contain_text("noisy")
    expect(bar).to_be_hidden()
    store = get_store(store_dir)
    assert list(jt.search_runs(EXPERIMENT, store=store).run_name) == ["noisy"]
    assert sorted(jt.search_runs(EXPERIMENT, store=store, include_deleted=True).run_name) == \
        ["clean", "in-a-with", "noisy"]
    assert not errors, errors
