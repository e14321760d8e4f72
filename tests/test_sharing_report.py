"""Alice shares one run as a page anyone can open, and asks what Bob changed in his copy.

(The page as a browser shows it is tested in tests/ui/test_share_html.py.)
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import nbformat
import pytest
from sharing_story import run_ids, team_store

import jupyter_tracker as jt
from jupyter_tracker.errors import InvalidValueError, PathExistsError, SnapshotNotFoundError


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> Path:
    return team_store(tmp_path_factory)


@pytest.fixture
def ids(story, store_dir) -> dict[str, str]:
    jt.set_store(story)
    return run_ids(story)


def test_html_report_is_one_self_contained_file(ids, tmp_path):
    page = jt.share_snapshot(ids["sweep"], tmp_path / "report.html").read_text()
    assert "<script" not in page                                   # nothing runs, nothing is fetched
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "default-src 'none'" in page
    assert page.count("<svg") == 2 and "<polyline" in page        # loss and extreme, drawn inline
    assert ">lr</th><td>0.1<" in page and ">loss</th><td>0.1333<" in page
    assert "FINISHED" in page and "python" in page and "git commit" in page
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "print(sorted(data)[:5])" in text and "trained" in text
    with pytest.raises(PathExistsError, match="overwrite=True"):
        jt.share_snapshot(ids["sweep"], tmp_path / "report.html")
    with pytest.raises(InvalidValueError, match=r"\.html or \.ipynb"):
        jt.share_snapshot(ids["sweep"], tmp_path / "report.pdf")


def test_ipynb_share_is_the_notebook_with_the_card_first(ids, tmp_path):
    path = jt.share_snapshot(ids["sweep"], tmp_path / "sweep.ipynb")
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    card = notebook.cells[0]
    assert card.cell_type == "markdown" and card.source.startswith("# sweep — FINISHED")
    assert "| lr | 0.1 |" in card.source
    assert {name: list(kinds) for name, kinds in card.attachments.items()} == {
        "metric-0.svg": ["image/svg+xml"], "metric-1.svg": ["image/svg+xml"]}
    ran = jt.load_snapshot(ids["sweep"])
    assert [c.source for c in notebook.cells[1:]] == [c.source for c in ran.cells]
    from nbconvert import HTMLExporter

    rendered, _ = HTMLExporter(template_name="basic").from_notebook_node(notebook)   # as Jupyter shows it
    charts = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', rendered)
    assert len(charts) == 2 and all(base64.b64decode(chart).startswith(b"<svg") for chart in charts)


def test_a_run_without_a_notebook_still_shares_its_card(store_dir, tmp_path):
    with jt.start_run(run_name="script-run") as run:
        run.log_param("lr", 0.3)
        run.log_metric("loss", 0.25)
    page = jt.share_snapshot(run.run_id, tmp_path / "script.html").read_text()
    assert "This run has no notebook snapshot" in page and ">lr</th><td>0.3<" in page


def test_diff_of_two_runs_as_data_and_text(ids):
    diff = jt.diff_snapshots(ids["sweep"], ids["sweep-bob"])
    assert diff.params == {"lr": ("0.1", "0.05")}
    assert [(c.change, c.index_a, c.index_b) for c in diff.cells] == [
        ("changed", 1, 1), ("added", None, 2), ("removed", 2, None), ("changed", 3, 3)]
    assert diff.unchanged_cells == 1
    data = diff.to_dict()
    assert data["params"] == {"lr": {"a": "0.1", "b": "0.05"}}
    assert "-n = 100\n+n = 200  # more data\n" in data["cells"][0]["diff"]
    assert data["cells"][1]["source_b"].startswith("import statistics")
    assert data["cells"][2]["source_a"] == "print(sorted(data)[:5])"
    text = str(diff)
    assert "1 added, 1 removed, 2 changed, 1 unchanged" in text and "param lr: '0.1' -> '0.05'" in text
    assert "+lr = 0.05" in diff._repr_html_()
    same = jt.diff_snapshots(ids["sweep"], ids["sweep"])
    assert same.cells == [] and same.params == {} and same.unchanged_cells == 4


def test_diff_needs_a_snapshot_on_both_sides(ids):
    with jt.start_run(run_name="no-notebook") as run:
        pass
    with pytest.raises(SnapshotNotFoundError, match="ran outside a notebook"):
        jt.diff_snapshots(ids["sweep"], run.run_id)
