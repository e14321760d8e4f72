"""The wheel's build step for the JupyterLab extension: hatch-jupyter-builder's npm builder, with one
clear line instead of a hatchling traceback when a checkout is installed on a machine without npm.

Named in pyproject.toml (``[tool.hatch.build.hooks.jupyter-builder] build-function``); not shipped in
the wheel. A wheel built elsewhere already contains the built extension and never runs this.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

NEEDS_NODE = ("jupyter_tracker: installing from a checkout builds the JupyterLab extension with npm, "
              "and {missing} not on the PATH. Fix: install Node.js 20 with npm (e.g. `apt-get install "
              "nodejs npm`) and run the install again, or install a built wheel (`pip install jupyter_tracker`), "
              "which needs no Node.js.")


def npm_builder(target_name: str, version: str, **kwargs: Any) -> None:
    """Build the extension with npm (see hatch_jupyter_builder.npm_builder); stop with one line naming
    the fix when node or npm is missing."""
    skipped = "--skip-npm" in sys.argv or os.environ.get("HATCH_JUPYTER_BUILDER_SKIP_NPM") == "1"
    if not skipped:
        missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
        if missing:
            raise SystemExit(NEEDS_NODE.format(missing=" and ".join(missing) + (" are" if len(missing) > 1 else " is")))
    from hatch_jupyter_builder import npm_builder as build

    build(target_name, version, **kwargs)
