"""Fixtures shared by the whole suite: a fresh store per test, and a real kernel to run cells in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ("pytest_jupyter.jupyter_server",)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def jp_server_config(jp_server_config):
    return {"ServerApp": {"jpserver_extensions": {"jupyter_tracker": True}}}


@pytest.fixture
def store_dir(tmp_path, monkeypatch) -> Path:
    """An empty store directory that this test's runs (in-process and in child processes) use."""
    import jupyter_tracker as jt
    from jupyter_tracker import config

    directory = tmp_path / "store"
    monkeypatch.setenv("JUPYTER_TRACKER_DIR", str(directory))
    config.set_store_override(None)
    yield directory
    if jt.active_run() is not None:
        from jupyter_tracker.run import active_runs

        for run in reversed(active_runs()):
            run.end("KILLED")
    config.set_store_override(None)


def run_notebook(cells: list[str], workdir: Path, store: Path, name: str = "analysis.ipynb",
                 allow_errors: bool = False, env: dict | None = None, timeout: int = 120):
    """Write ``cells`` as a notebook in ``workdir`` and execute it in a real kernel (nbclient).

    The kernel gets JUPYTER_TRACKER_DIR=store and JPY_SESSION_NAME=<notebook path>, as Jupyter
    would give it. Returns the executed notebook.
    """
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = workdir / name
    nbformat.write(notebook, str(path))
    kernel_env = {**os.environ, "JUPYTER_TRACKER_DIR": str(store), "JPY_SESSION_NAME": str(path),
                  **(env or {})}
    client = NotebookClient(notebook, kernel_name="python3", timeout=timeout, allow_errors=allow_errors,
                            resources={"metadata": {"path": str(workdir)}})
    client.execute(env=kernel_env)
    return notebook
