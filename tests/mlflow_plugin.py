"""MLflow's entry points for ``jupyter-tracker:`` before the package is (re)installed: when the
installed metadata lacks them, a throwaway dist-info naming the same classes as pyproject.toml
goes on sys.path (and PYTHONPATH, for the MLflow subprocesses the tests start)."""

from __future__ import annotations

import importlib.metadata
import os
import sys
from pathlib import Path

import tomllib

GROUPS = ("mlflow.tracking_store", "mlflow.artifact_repository", "mlflow.model_registry_store")
SCHEME = "jupyter-tracker"
ROOT = Path(__file__).resolve().parent.parent


def registered() -> bool:
    return all(SCHEME in {e.name for e in importlib.metadata.entry_points(group=g)} for g in GROUPS)


def ensure_entry_points(folder: Path) -> str | None:
    """Make the entry points visible to this process and its children; the folder added, or None."""
    if registered():
        return None
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    dist = folder / "jupyter_tracker_devplugin-0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: jupyter-tracker-devplugin\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in declared[group].items()) + "\n"
        for group in GROUPS))
    sys.path.append(str(folder))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT), str(folder)]))
    importlib.invalidate_caches()
    return str(folder)
