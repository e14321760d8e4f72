"""Team sync's badges in a real JupyterLab and headless chromium, as a user with a team remote sees a
store the mirror has worked on: in the run table and in the sidebar a synced run reads "✓ synced", a
run with points still to send "pending N", a run whose sync failed "failed" with the reason on hover,
and a run never mirrored has no badge; the status bar says "syncing 1 run" while one is pending."""

from __future__ import annotations

from pathlib import Path

import nbformat
from conftest import open_and_run_all, screenshot
from playwright.sync_api import expect

TESTS = Path(__file__).resolve().parents[1]
EXPERIMENT = "team-sync-badges"
SIDEBAR_TAB = ".jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id='jupyter-tracker-sidebar']"

CELLS = [
    f"import sys\nsys.path.insert(0, {str(TESTS)!r})\nimport jupyter_tracker as jt\n"
    f"from sync_seed import seed_sync_states\nids = seed_sync_states({EXPERIMENT!r})",
    f"jt.runs({EXPERIMENT!r})",
]


def _notebook(notebook_dir: Path) -> str:
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in CELLS],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}})
    nbformat.write(notebook, notebook_dir / "sync-badges.ipynb")
    return "sync-badges.ipynb"


def _expect_badges(rows, name_of_row, badge: str) -> None:
    """The four runs' badges, whichever view ``rows`` are in."""
    from sync_seed import POINTS, REASON, SENT_OF_PENDING

    def badge_of(name: str):
        return name_of_row(name).locator(badge)

    expect(badge_of("synced-run")).to_have_text("✓ synced")
    expect(badge_of("synced-run")).to_have_attribute("title", "synced to http://mlflow.team:5000")
    expect(badge_of("pending-run")).to_have_text(f"pending {POINTS - SENT_OF_PENDING}")
    expect(badge_of("pending-run")).to_have_attribute(
        "title", f"{POINTS - SENT_OF_PENDING} points not yet on http://mlflow.team:5000")
    expect(badge_of("failed-run")).to_have_text("failed")
    expect(badge_of("failed-run")).to_have_attribute("title", f"sync to http://mlflow.team:5000 failed: {REASON}")
    expect(badge_of("local-run")).to_have_count(0)
    expect(rows.locator(badge)).to_have_count(3)


def _mirror_catches_up(store_dir: Path) -> None:
    """What the mirror records once the pending run's last points and its end reached the server."""
    from sync_seed import POINTS

    from jupyter_tracker.store.database import get_store

    with get_store(store_dir).session() as con:
        con.execute("""UPDATE internal.sync_runs SET points_sent = ?, ended = true
                       WHERE run_id IN (SELECT r.run_id FROM internal.runs r JOIN internal.experiments e
                                        USING (experiment_id) WHERE e.name = ? AND r.run_name = 'pending-run')""",
                    [POINTS, EXPERIMENT])


def test_sync_badges_in_the_run_table_the_sidebar_and_the_status_bar(page, lab_server):
    base_url, token, notebook_dir, store_dir = lab_server
    try:
        _badges_and_status(page, base_url, token, notebook_dir, store_dir)
    finally:
        _mirror_catches_up(store_dir)   # the session's other tests share this store and its status bar


def _badges_and_status(page, base_url: str, token: str, notebook_dir: Path, store_dir: Path) -> None:
    panel = open_and_run_all(page, base_url, token, _notebook(notebook_dir))

    table = panel.locator(".jp-CodeCell").nth(1).locator(".jt-table")
    rows = table.locator(".jt-row")
    expect(rows).to_have_count(4, timeout=120000)
    _expect_badges(rows, lambda name: rows.filter(has=table.page.locator(".jt-name", has_text=name)), ".jt-sync")
    table.scroll_into_view_if_needed()
    screenshot(page, "sync-badges-table")

    # The status bar counts the one run with points still to send (the failed one is not "syncing").
    expect(page.locator(".jp-tracker-active-run-syncing")).to_have_text("syncing 1 run", timeout=30000)

    page.click(SIDEBAR_TAB)
    sidebar = page.locator("#jupyter-tracker-sidebar")
    expect(sidebar).to_be_visible()
    runs = sidebar.locator(f"[data-experiment='{EXPERIMENT}'] .jp-tracker-run")
    expect(runs).to_have_count(4, timeout=30000)
    _expect_badges(runs, lambda name: runs.filter(has_text=name), ".jp-tracker-sync")
    runs.filter(has_text="failed-run").locator(".jp-tracker-sync").hover()
    screenshot(page, "sync-badges-sidebar")

    # Once the mirror has sent the rest, the status bar stops saying it is syncing.
    _mirror_catches_up(store_dir)
    expect(page.locator(".jp-tracker-active-run")).to_be_hidden(timeout=30000)
