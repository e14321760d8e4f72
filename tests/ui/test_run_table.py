"""The run table and live card in a real JupyterLab and headless chromium, as a user with a wide sweep
sees them: summary columns beside each metric, a table wider than the notebook scrolls sideways with
the name column frozen, a long name is cut with a tooltip holding it whole, a param logged as
``0.1 * 3`` reads 0.3 (its exact text in the tooltip), the picker shows no empty chart before a run is
ticked, and a short ``%%track`` cell's card is as wide as its content, has a sparkline and the same
duration as the summary line under it."""

from __future__ import annotations

import re

import nbformat
from conftest import change_theme, luminance, open_and_run_all, screenshot
from playwright.sync_api import expect

LONG_NAME = "sweep-lr-0.001-l2-0.0001-optimizer-adam-seed-7-and-a-long-distinguishing-END"

CELLS = [
    "%load_ext jupyter_tracker\nimport jupyter_tracker as jt\n"
    "for index in range(3):\n"
    f"    with jt.start_run({LONG_NAME!r} if index == 0 else f'run-{{index}}', experiment='wide-table',\n"
    "                      snapshot=False) as run:\n"
    "        run.log_params({f'param_{k:02d}': k * index for k in range(30)})\n"
    "        run.log_param('scale', 0.1 * 3)\n"
    "        for step in range(5):\n"
    "            run.log_metric('loss', 1 / (step + 1 + index), step=step)",
    "table = jt.runs('wide-table', summaries=['min', 'max'])\ntable",
    "picker = jt.runs('wide-table', page_size=5)\njt.compare(picker)",
    "%%track -e wide-table -n short-cell\nfor step in range(5):\n    jt.log_metric('quick', step * 0.5, step=step)",
]


def _notebook(notebook_dir) -> str:
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in CELLS],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}})
    nbformat.write(notebook, notebook_dir / "wide-table.ipynb")
    return "wide-table.ipynb"


def test_wide_table_summaries_frozen_names_and_a_tight_live_card(page, lab_server):
    base_url, token, notebook_dir, _ = lab_server
    panel = open_and_run_all(page, base_url, token, _notebook(notebook_dir))
    cells = panel.locator(".jp-CodeCell")
    live_cell = cells.nth(3)
    expect(live_cell.locator(".jt-card-static", has_text="FINISHED")).to_be_attached(timeout=120000)

    # Summary columns sit right after the metric's latest value.
    table = cells.nth(1).locator(".jt-table")
    expect(table.locator(".jt-row")).to_have_count(3, timeout=60000)
    keys = table.locator("th.jt-sortable").evaluate_all("ths => ths.map(th => th.dataset.key)")
    assert keys[0] == "run_name"
    at = keys.index("metrics.loss")
    assert keys[at:at + 3] == ["metrics.loss", "metrics.loss.min", "metrics.loss.max"]

    # 0.1 * 3 reads 0.3; the tooltip keeps the stored text exactly.
    scale = table.locator("td[title='0.30000000000000004']").first
    expect(scale).to_have_text("0.3")

    # The long name is cut with an ellipsis and its tooltip has it whole.
    name = table.locator(".jt-name", has_text="sweep-lr").first
    assert LONG_NAME in name.get_attribute("title")
    assert name.evaluate("td => td.scrollWidth > td.clientWidth"), "the long name was not truncated"

    # Scrolling sideways: the name column stays where it was, on top of the cells scrolling under it.
    scroller = table.locator(".jt-scroll")
    scroller.scroll_into_view_if_needed()
    assert scroller.evaluate("s => s.scrollWidth > s.clientWidth + 200"), "the table is not wider than its box"
    before = name.bounding_box()
    group_label = table.locator("th.jt-group-run")
    expect(group_label).to_have_text("run")
    label_before = group_label.bounding_box()
    screenshot(page, "run-table-wide")
    scroller.evaluate("s => { s.scrollLeft = s.scrollWidth; }")
    expect(table.locator("th[data-key='metrics.loss.max']")).to_be_in_viewport()
    after = name.bounding_box()
    assert abs(after["x"] - before["x"]) < 1 and after["x"] >= scroller.bounding_box()["x"]
    on_top = name.evaluate("""td => { const r = td.getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return td === hit || td.contains(hit); }""")
    assert on_top, "a scrolled cell paints over the frozen name column"
    # The "run" group label over the name column stays frozen with it and is not painted over.
    label_after = group_label.bounding_box()
    assert abs(label_after["x"] - label_before["x"]) < 1, "the run group label scrolled away"
    assert group_label.evaluate("""th => { const r = th.getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return th === hit || th.contains(hit); }"""), "a scrolled group header paints over the run label"
    screenshot(page, "run-table-scrolled")

    # The picker: a prompt and no chart at all until a run is ticked.
    picker_cell = cells.nth(2)
    picker_cell.scroll_into_view_if_needed()
    expect(picker_cell).to_contain_text("Select runs in the table", timeout=30000)
    expect(picker_cell.locator(".jt-row")).to_have_count(3)
    assert picker_cell.locator(".js-plotly-plot").count() == 0
    screenshot(page, "run-table-picker-empty")
    picker_cell.locator(".jt-select").nth(0).check()
    picker_cell.locator(".jt-select").nth(1).check()
    expect(picker_cell.locator(".js-plotly-plot .parcoords")).to_have_count(1, timeout=30000)
    assert picker_cell.locator(".js-plotly-plot").first.bounding_box()["height"] >= 200

    # The short cell's card: as wide as its content, a sparkline, and the summary line's duration.
    live_cell.scroll_into_view_if_needed()
    card = live_cell.locator(".jt-card-static")
    widths = card.evaluate("""card => { const range = document.createRange(); range.selectNodeContents(card);
        return [card.getBoundingClientRect().width, range.getBoundingClientRect().width]; }""")
    assert widths[0] <= widths[1] + 40, f"the card is {widths[0]:.0f} px wide for {widths[1]:.0f} px of content"
    assert card.locator("svg polyline").count() == 1, "the short cell's card has no sparkline"
    summary = live_cell.locator(".jp-OutputArea-output", has_text="short-cell (").last.inner_text()
    duration = re.search(r"FINISHED in (.+?) ·", summary).group(1)
    assert duration in card.inner_text(), f"summary says {duration!r}, card says {card.inner_text()!r}"
    _assert_card_fits_its_output(live_cell)
    screenshot(page, "live-card-short-cell")

    # The dark theme: the table and the card keep readable text on the theme's background.
    change_theme(page, "JupyterLab Dark")
    try:
        table.scroll_into_view_if_needed()
        header = table.locator("th[data-key='run_name']")
        assert luminance(header.evaluate("th => getComputedStyle(th).backgroundColor")) < 0.3
        assert luminance(header.evaluate("th => getComputedStyle(th).color")) > 0.6
        assert luminance(name.evaluate("td => getComputedStyle(td).color")) > 0.6
        selected_name = picker_cell.locator(".jt-row.jt-selected .jt-name").first
        assert luminance(selected_name.evaluate("td => getComputedStyle(td).backgroundColor")) < 0.4, \
            "a selected row turns light behind the dark theme's light text"
        screenshot(page, "run-table-dark")
        live_cell.scroll_into_view_if_needed()
        _assert_card_fits_its_output(live_cell)
        screenshot(page, "live-card-dark")
    finally:
        change_theme(page, "JupyterLab Light")


def _assert_card_fits_its_output(cell) -> None:
    """The card ends where its last row ends, and its output area where the card ends: no empty band."""
    slack = cell.locator(".jp-OutputArea-output:has(.jt-card-static)").evaluate(
        """output => { const card = output.querySelector('.jt-card-static');
            return output.getBoundingClientRect().bottom - card.getBoundingClientRect().bottom; }""")
    assert slack <= 8, f"{slack:.0f} px of empty space under the live card"
    inner = cell.locator(".jt-card-static").evaluate(
        """card => { const last = card.lastElementChild.getBoundingClientRect();
            const style = getComputedStyle(card);
            return card.getBoundingClientRect().bottom - parseFloat(style.paddingBottom)
                - parseFloat(style.borderBottomWidth) - last.bottom; }""")
    assert inner <= 2, f"{inner:.0f} px of empty space inside the card under its last row"

