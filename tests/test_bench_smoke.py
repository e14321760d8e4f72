"""The benchmark never rots: ``python -m bench --quick`` completes and fills every row of ours, and
``python -m bench.scaling --quick`` draws its chart.

No speed is asserted here (speed is what bench/results/latest.md reports, side by side with the
peers); only that every workload ran for every row it applies to and the reports were written. The
suite runs jupyter_tracker alone to stay fast (each peer's fresh processes cost seconds of imports);
`python -m bench --quick` with every peer is the same code path the full run takes.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.rows import ROWS

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(1800)  # a guard only: ~1-2 min on an idle 2-core machine, far more when it is shared
def test_quick_benchmark_fills_every_row_of_ours(tmp_path):
    out = tmp_path / "results"
    process = subprocess.run([sys.executable, "-m", "bench", "--quick", "--tools", "jupyter_tracker",
                              "--out", str(out), "--workdir", str(tmp_path / "work")],
                             cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert process.returncode == 0, process.stderr[-3000:]
    result = json.loads((out / "latest.json").read_text())
    table = result["table"]
    assert not table["tool_notes"], f"workloads failing: {table['tool_notes']}"
    cells = table["cells"]
    errors = {row: by_tool for row, by_tool in cells.items() if row.startswith("error:")}
    assert not errors, errors
    run_writers = {f"writers_{count}{suffix}" for count in result["settings"]["writers"]
                   for suffix in ("", "_visible", "_errors")}
    for spec in ROWS:
        if spec.section == "Concurrency" and "large" not in spec.row_id and spec.row_id not in run_writers:
            continue  # --quick runs fewer writer counts than the full run
        cell = cells.get(spec.row_id, {}).get("jupyter_tracker")
        assert cell is not None, f"row {spec.row_id!r} has no figure for jupyter_tracker"
        assert cell["value"] is not None or cell["text"], (spec.row_id, cell)
    markdown = (out / "latest.md").read_text()
    assert "Logging in a loop" in markdown and "How each tool is driven" in markdown
    # the crash row is the same experiment for every tool: our own run must keep every point
    assert cells["crash_kept"]["jupyter_tracker"]["value"] == 1.0
    assert cells["crash_status"]["jupyter_tracker"]["text"] == "KILLED"
    # errors are counted, never swallowed: the concurrency rows say how many (zero expected here)
    assert cells["writers_1_errors"]["jupyter_tracker"]["value"] == 0.0

    scaling = subprocess.run([sys.executable, "-m", "bench.scaling", "--quick", "--tools", "jupyter_tracker",
                              "--only", "merge", "--out", str(out), "--workdir", str(tmp_path / "scaling")],
                             cwd=REPO, capture_output=True, text=True, timeout=600)
    assert scaling.returncode == 0, scaling.stderr[-3000:]
    series = json.loads((out / "scaling.json").read_text())["series"]
    assert len(series["merge"]["jupyter_tracker"]) == 2
    assert (out / "scaling_merge.png").read_bytes().startswith(b"\x89PNG")
    assert "scaling_merge.png" in (out / "scaling.md").read_text()
