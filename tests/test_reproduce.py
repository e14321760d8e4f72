"""A data scientist asks "can this result be had again?": jt.reproduce runs the run's slice, or its saved
notebook, in a fresh kernel and compares the new run with the original (real kernels, nbclient)."""

from __future__ import annotations

import nbformat
from conftest import run_notebook

import jupyter_tracker as jt
from jupyter_tracker import cli

SETUP = "%load_ext jupyter_tracker\nimport jupyter_tracker as jt"
LOAD = "import pandas as pd\nfrom sklearn.linear_model import LogisticRegression\ndata = pd.read_csv('data.csv')"
EXPLORE = "summary = data.describe()\nsummary"
TRAIN = """%%track -q -n train
C = 0.5
model = LogisticRegression(C=C).fit(data[["x"]], data["y"])
jt.log_metric("accuracy", model.score(data[["x"]], data["y"]))
jt.log_dict({"coef": round(float(model.coef_[0][0]), 6)}, "coef.json")"""


def _write_data(folder, flipped: int = 0) -> None:
    rows = ["x,y"] + [f"{x},{int(x >= 10) ^ int(x < flipped)}" for x in range(20)]
    (folder / "data.csv").write_text("\n".join(rows) + "\n")


def test_a_training_notebook_reproduces_from_its_slice_and_from_the_saved_notebook_until_its_data_changes(
        store_dir, tmp_path, capsys):
    _write_data(tmp_path)
    run_notebook([SETUP, LOAD, EXPLORE, TRAIN], tmp_path, store_dir)
    run_id = jt.search_runs(filter="run_name = 'train'").run_id.item()

    minimal = tmp_path / "minimal.ipynb"
    jt.restore_snapshot(run_id, minimal, minimal=True)
    sources = [cell.source for cell in nbformat.read(minimal, as_version=4).cells]
    assert sources == [SETUP, LOAD, TRAIN]                 # the exploration cell is not part of the result

    from_slice = jt.reproduce(run_id, timeout=120)
    assert from_slice.status == "reproduced", from_slice.error
    frame = from_slice.frame
    assert set(frame.key) == {"C", "accuracy", "coef.json"} and frame.same.all()
    assert "reproduced" in from_slice._repr_html_()
    assert jt.get_run(from_slice.new_run_id).tags["jt.reproduces"] == run_id

    from_saved = jt.reproduce(run_id, from_="saved", timeout=120)
    assert from_saved.status == "reproduced", from_saved.error
    detail = jt.get_run(run_id).tags["jt.reproduction.detail"]
    assert detail.startswith("reproduced from saved") and from_saved.new_run_id[:8] in detail

    _write_data(tmp_path, flipped=5)                       # someone overwrote the data file since
    code = cli.main(["reproduce", run_id[:8], "--timeout", "120"])
    printed = capsys.readouterr().out
    assert code == cli.EXIT_DIFFERS
    assert "differs from slice" in printed and "≠ metrics.accuracy: 1.0 → 0.75" in printed, printed
    assert jt.get_run(run_id).tags["jt.reproduction"] == "differs"
    assert list(jt.search_runs(filter="attributes.reproduction = 'differs'").run_id) == [run_id]


def test_a_slice_that_raises_is_failed_with_the_error(store_dir, tmp_path):
    (tmp_path / "rows.txt").write_text("a\nb\n")
    cells = [SETUP, "source_file = 'rows.txt'",
             "%%track -q -n fragile\nlines = open(source_file).read().splitlines()\njt.log_metric('lines', len(lines))"]
    run_notebook(cells, tmp_path, store_dir)
    run_id = jt.search_runs().run_id.item()
    (tmp_path / "rows.txt").unlink()
    result = jt.reproduce(run_id, timeout=120)
    assert result.status == "failed"
    assert result.error.startswith("FileNotFoundError") and "rows.txt" in result.error
    assert jt.get_run(run_id).tags["jt.reproduction"] == "failed"
    assert "FileNotFoundError" in jt.get_run(run_id).tags["jt.reproduction.detail"]
