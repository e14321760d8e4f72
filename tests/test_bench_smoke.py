"""The benchmark never rots: ``python -m bench --quick`` completes and fills every row.

No speed is asserted here (speed is what bench/results/latest.md reports, side by side with the
peers); only that every workload ran for every tool it applies to and the report was written.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.rows import ROWS

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(1800)  # every workload for five tools plus two MLflow servers: ~10 min on 2 cores
def test_quick_benchmark_fills_every_row_for_every_tool(tmp_path):
    out = tmp_path / "results"
    process = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out),
                              "--workdir", str(tmp_path / "work")],
                             cwd=REPO, capture_output=True, text=True, timeout=1500)
    assert process.returncode == 0, process.stderr[-3000:]
    result = json.loads((out / "latest.json").read_text())
    table = result["table"]
    assert not table["tool_notes"], f"tools missing or failing: {table['tool_notes']}"
    cells = table["cells"]
    errors = {row: by_tool for row, by_tool in cells.items() if row.startswith("error:")}
    assert not errors, errors
    for spec in ROWS:
        for tool in spec.tools:
            cell = cells.get(spec.row_id, {}).get(tool)
            assert cell is not None, f"row {spec.row_id!r} has no figure for {tool}"
            assert cell["value"] is not None or cell["text"], (spec.row_id, tool, cell)
    markdown = (out / "latest.md").read_text()
    for spec in ROWS:
        assert spec.label in markdown
    # the crash row is the same experiment for every tool: our own run must keep every point
    assert cells["crash_kept"]["jupyter_tracker"]["value"] == 1.0
    assert cells["crash_status"]["jupyter_tracker"]["text"] == "KILLED"
