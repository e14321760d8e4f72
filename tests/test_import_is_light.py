"""`import jupyter_tracker` stays cheap: no pandas, plotly, pyarrow, ipywidgets or DuckDB until used."""

from __future__ import annotations

import subprocess
import sys


def test_import_loads_no_heavy_library():
    code = ("import sys, jupyter_tracker\n"
            "heavy = ['pandas', 'plotly', 'pyarrow', 'ipywidgets', 'anywidget', 'duckdb', 'IPython', 'numpy']\n"
            "print(','.join(m for m in heavy if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""


def test_logging_in_a_loop_opens_no_database_and_imports_nothing(store_dir):
    code = ("import sys, jupyter_tracker as jt\n"
            "from jupyter_tracker.capture import background\n"
            "run = jt.start_run()\n"
            "run.log_metric('warm-up', 0.0)\n"
            "background.drain(10)  # environment capture runs on its own thread\n"
            "before = set(sys.modules)\n"
            "for i in range(1000): run.log_metric('loss', i * 0.1)\n"
            "print(sorted(set(sys.modules) - before), 'duckdb' in sys.modules)\n")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[] False"
