"""The typed core (store/, run, fluent, query/, filter, server/, mlflow_backend/) passes ``mypy --strict``
as pyproject sets it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_mypy_strict_finds_nothing(tmp_path: Path) -> None:
    # No arguments: mypy reads its modules and strictness from pyproject.toml, as a developer's run does.
    # The cache goes to a temporary directory so the test leaves nothing in the work tree.
    environment = {**os.environ, "MYPY_CACHE_DIR": str(tmp_path / "mypy_cache"),
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    checked = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, env=environment,
                             capture_output=True, text=True, timeout=600)
    assert checked.returncode == 0, checked.stdout + checked.stderr
