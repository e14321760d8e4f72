"""The JupyterLab extension in a real JupyterLab and headless chromium: runs made by executing a
notebook appear in the Experiments sidebar, a run's details panel shows its params, metrics and
source, the filter box explains a bad filter inline, "Open snapshot" opens the notebook that ran
(read-only), "Restore as new notebook" writes a copy next to it, rename/tag/delete work, "Track
this cell" toggles %%track, the status bar shows the running run, and the dark theme renders."""

from __future__ import annotations

import re

import nbformat
from conftest import change_theme, luminance, open_and_run_all, screenshot
from playwright.sync_api import expect

EXPERIMENT = "sidebar-e2e"
SIDEBAR_TAB = ".jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id='jupyter-tracker-sidebar']"
SIDEBAR = "#jupyter-tracker-sidebar"
DETAILS = ".jp-tracker-details-panel:not(.lm-mod-hidden)"
PRESSED = re.compile(r"\blm-mod-toggled\b")


def write_notebook(path, cells: list[str]) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, str(path))


def watch_errors(page) -> list[str]:
    """Collect browser errors that come from this extension (uncaught or logged). Others' are
    left out: jupyterlab-manager throws on any notebook without a kernel, as a snapshot is."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"{error}\n{error.stack}")
            if "jupyter-tracker" in (error.stack or "") else None)
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" and "tracker" in message.text.lower() else None)
    return errors


def open_sidebar(page):
    page.click(SIDEBAR_TAB)
    sidebar = page.locator(SIDEBAR)
    expect(sidebar).to_be_visible()
    return sidebar


def run_rows(sidebar, experiment: str = EXPERIMENT):
    return sidebar.locator(f"[data-experiment='{experiment}'] .jp-tracker-run")


def test_sidebar_details_snapshot_and_run_actions(page, lab_server):
    base_url, token, notebook_dir, store_dir = lab_server
    errors = watch_errors(page)
    write_notebook(notebook_dir / "sidebar-demo.ipynb", [
        "%load_ext jupyter_tracker\nimport jupyter_tracker as jt",
        f"%%track -e {EXPERIMENT} -n small-lr -t team=vision\nlr = 0.05\nbatch_size = 32\n"
        "for epoch in range(12):\n    jt.log_metric('loss', 1 / (epoch + 1))\njt.log_metric('acc', 0.81)\n"
        "jt.log_text('epoch,loss\\n0,1.0\\n', 'tables/loss.csv')\nprint('trained small')",
        f"%%track -e {EXPERIMENT} -n big-lr\nlr = 0.5\nbatch_size = 64\n"
        "for epoch in range(12):\n    jt.log_metric('loss', 2 / (epoch + 1))\njt.log_metric('acc', 0.62)",
    ])
    panel = open_and_run_all(page, base_url, token, "sidebar-demo.ipynb")
    expect(panel.locator(".jp-Cell").nth(2).locator(".jp-Cell-outputArea")).to_contain_text(
        "FINISHED", timeout=60000)

    # The sidebar lists both runs (newest first) with status and key metrics.
    sidebar = open_sidebar(page)
    rows = run_rows(sidebar)
    expect(rows).to_have_count(2, timeout=30000)
    expect(rows.nth(0)).to_contain_text("big-lr")
    expect(rows.nth(1)).to_contain_text("small-lr")
    expect(rows.nth(1)).to_contain_text("acc=0.81")
    assert rows.nth(1).get_attribute("data-status") == "FINISHED"
    screenshot(page, "sidebar-runs")

    # A bad filter shows the server's message inline; a good one narrows the list.
    filter_box = sidebar.locator(".jp-tracker-filter")
    filter_box.fill("metrics.acc >>> 1")
    filter_box.press("Enter")
    error = sidebar.locator(".jp-tracker-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("metrics.acc")
    screenshot(page, "sidebar-filter-error")
    filter_box.fill("params.lr = '0.05'")
    filter_box.press("Enter")
    expect(error).to_be_hidden()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("small-lr")
    filter_box.fill("")
    filter_box.press("Enter")
    expect(rows).to_have_count(2)

    # Clicking a run opens its details: params, tags, metrics with sparklines, artifacts, source.
    rows.filter(has_text="small-lr").click()
    details = page.locator(DETAILS)
    expect(details.locator(".jp-tracker-details-name")).to_have_text("small-lr", timeout=30000)
    params = details.locator("[data-section='params']")
    expect(params.locator("tr", has_text="lr")).to_contain_text("0.05")
    expect(params.locator("tr", has_text="batch_size")).to_contain_text("32")
    expect(details.locator("[data-section='tags']")).to_contain_text("vision")
    expect(details.locator("[data-metric='loss'] .jp-tracker-sparkline path")).to_have_count(1)
    expect(details.locator("[data-section='artifacts'] a", has_text="tables/loss.csv")).to_be_visible()
    expect(details.locator("[data-section='source'] .jp-tracker-source-code")).to_contain_text("batch_size = 32")
    expect(details.locator("[data-section='console']")).to_contain_text("lines")
    screenshot(page, "run-details")

    # The artifact link serves the file (through the browser's authenticated session).
    href = details.locator("[data-section='artifacts'] a", has_text="tables/loss.csv").get_attribute("href")
    response = page.request.get(href if href.startswith("http") else base_url + href)
    assert response.ok and response.text() == "epoch,loss\n0,1.0\n"

    # Tag and rename through the toolbar's dialogs; the sidebar follows.
    details.locator(".jp-Toolbar [data-command='jupyter-tracker:tag-run']").click()
    page.locator(".jp-Dialog input").fill("stage=candidate")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    expect(details.locator("[data-section='tags']")).to_contain_text("candidate")
    details.locator(".jp-Toolbar [data-command='jupyter-tracker:rename-run']").click()
    page.locator(".jp-Dialog input").fill("small-lr-renamed")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    expect(details.locator(".jp-tracker-details-name")).to_have_text("small-lr-renamed")
    expect(rows.filter(has_text="small-lr-renamed")).to_have_count(1)

    # "Open snapshot": the notebook as it ran, read-only, ending with the tracked cell.
    details.locator(".jp-Toolbar [data-command='jupyter-tracker:open-snapshot']").click()
    snapshot = page.locator(".jp-NotebookPanel.jp-tracker-snapshot:not(.lm-mod-hidden)")
    expect(snapshot).to_be_visible(timeout=30000)
    expect(snapshot.locator(".jp-Cell").last).to_contain_text("batch_size = 32")
    expect(snapshot.locator(".jp-Cell").last).to_contain_text("trained small")
    expect(snapshot.locator(".jp-tracker-snapshot-label")).to_have_text("Read-only run snapshot")
    screenshot(page, "snapshot-read-only")

    # "Restore as new notebook" writes a new file next to the original and opens it.
    before = set(notebook_dir.glob("sidebar-demo-*.ipynb"))
    snapshot.locator(".jp-Toolbar [data-command='jupyter-tracker:restore-snapshot']").click()
    restored_tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="sidebar-demo-")
    expect(restored_tab).to_be_visible(timeout=30000)
    created = set(notebook_dir.glob("sidebar-demo-*.ipynb")) - before
    assert len(created) == 1
    restored = nbformat.read(created.pop(), as_version=4)
    assert "batch_size = 32" in restored.cells[-1].source
    assert nbformat.read(notebook_dir / "sidebar-demo.ipynb", as_version=4).cells[1].source.startswith("%%track")

    # Delete asks first; cancelling keeps the run, confirming removes it from the sidebar.
    rows.filter(has_text="big-lr").click()
    details = page.locator(DETAILS)
    expect(details.locator(".jp-tracker-details-name")).to_have_text("big-lr", timeout=30000)
    details.locator(".jp-Toolbar [data-command='jupyter-tracker:delete-run']").click()
    expect(page.locator(".jp-Dialog")).to_contain_text("big-lr")
    page.locator(".jp-Dialog .jp-mod-reject").click()
    expect(rows).to_have_count(2)
    details.locator(".jp-Toolbar [data-command='jupyter-tracker:delete-run']").click()
    page.locator(".jp-Dialog .jp-mod-accept").click()
    expect(rows).to_have_count(1)
    expect(page.locator(DETAILS)).to_have_count(0)

    # The dark theme renders the sidebar and the details panel with the theme's colours.
    rows.first.click()
    expect(page.locator(DETAILS).locator(".jp-tracker-details-name")).to_have_text("small-lr-renamed")
    change_theme(page, "JupyterLab Dark")
    try:
        background = page.evaluate(
            "getComputedStyle(document.querySelector('.jp-tracker-details')).backgroundColor")
        text = page.evaluate("getComputedStyle(document.querySelector('.jp-tracker-details-name')).color")
        assert background != "rgba(0, 0, 0, 0)" and luminance(background) < 0.3 < luminance(text)
        screenshot(page, "dark-theme")
    finally:
        change_theme(page, "JupyterLab Light")
    assert not errors, errors



def test_track_this_cell_and_the_active_run_in_the_status_bar(page, lab_server):
    base_url, token, notebook_dir, store_dir = lab_server
    errors = watch_errors(page)
    release = notebook_dir / "release-slow-run"
    write_notebook(notebook_dir / "status-demo.ipynb", [
        "%load_ext jupyter_tracker\nimport jupyter_tracker as jt\nimport os, time",
        "%%track -e status-e2e -n slow-run\nwaited = 0\n"
        f"while not os.path.exists({str(release)!r}) and waited < 1200:\n    time.sleep(0.05)\n    waited += 1",
        "x = 1",
    ])
    panel = open_and_run_all(page, base_url, token, "status-demo.ipynb")

    # While the tracked cell runs, the status bar names its run (and counts its time), and the
    # sidebar lists it as RUNNING; when it ends, both follow without a reload.
    item = page.locator(".jp-tracker-active-run")
    slow_row = run_rows(open_sidebar(page), "status-e2e").filter(has_text="slow-run")
    try:
        expect(item).to_contain_text("slow-run", timeout=30000)
        expect(item).to_be_visible()
        expect(slow_row).to_have_attribute("data-status", "RUNNING", timeout=30000)
        screenshot(page, "status-bar-active-run")
    finally:
        release.write_text("go")
    expect(panel.locator(".jp-Cell").nth(1).locator(".jp-Cell-outputArea")).to_contain_text(
        "FINISHED", timeout=60000)
    expect(item).to_be_hidden(timeout=30000)
    expect(slow_row).to_have_attribute("data-status", "FINISHED", timeout=30000)

    # "Track this cell" from the command palette puts %%track on top of the active cell...
    last = panel.locator(".jp-Cell").nth(2)
    last.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".lm-CommandPalette-input")
    palette.fill("Track this cell")
    page.locator(".lm-CommandPalette-item[data-command='jupyter-tracker:track-cell']").click()
    expect(last.locator(".jp-InputArea-editor")).to_contain_text("%%track")
    expect(last.locator(".jp-InputArea-editor .cm-line").first).to_have_text("%%track")
    expect(last.locator(".jp-InputArea-editor")).to_contain_text("x = 1")

    # ... and the cell toolbar's button (shown pressed) takes it off again.
    button = last.locator(".jp-cell-toolbar [data-command='jupyter-tracker:track-cell']")
    expect(button).to_be_visible()
    expect(button).to_have_class(PRESSED)
    screenshot(page, "track-this-cell")
    button.click()
    expect(last.locator(".jp-InputArea-editor .cm-line").first).to_have_text("x = 1")
    expect(last.locator(".jp-InputArea-editor")).not_to_contain_text("%%track")
    expect(button).not_to_have_class(PRESSED)
    assert not errors, errors
