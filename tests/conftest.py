"""Fixtures shared by the whole suite: a fresh store per test, and a real kernel to run cells and notebook files in."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from nbclient import NotebookClient
    from nbformat import NotebookNode

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


def kernel_env(store: Path, notebook_path: Path | None = None, env: dict | None = None) -> dict:
    """The environment Jupyter gives a notebook's kernel: JUPYTER_TRACKER_DIR=store and, for a notebook
    file, JPY_SESSION_NAME=its path (how the tracker finds the saved notebook); ``env`` on top."""
    session = {"JPY_SESSION_NAME": str(notebook_path)} if notebook_path is not None else {}
    return {**os.environ, "JUPYTER_TRACKER_DIR": str(store), **session, **(env or {})}


def notebook_client(notebook: NotebookNode, workdir: Path, timeout: int = 120, allow_errors: bool = False,
                    store_widget_state: bool = True) -> NotebookClient:
    """An nbclient NotebookClient for ``notebook`` whose python3 kernel starts in ``workdir``; for a test
    that drives the kernel cell by cell (``setup_kernel(env=kernel_env(...))``, ``execute_cell``)."""
    from nbclient import NotebookClient

    return NotebookClient(notebook, kernel_name="python3", timeout=timeout, allow_errors=allow_errors,
                          store_widget_state=store_widget_state, resources={"metadata": {"path": str(workdir)}})


def execute_notebook(path: Path, store: Path, env: dict | None = None, timeout: int = 120,
                     allow_errors: bool = False, store_widget_state: bool = True) -> NotebookNode:
    """Execute the notebook file at ``path`` in a real kernel (nbclient) as Jupyter would: in the
    notebook's folder, with the environment of ``kernel_env``. Returns the executed notebook; the file
    itself is left as it was."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    client = notebook_client(notebook, path.parent, timeout=timeout, allow_errors=allow_errors,
                             store_widget_state=store_widget_state)
    client.execute(env=kernel_env(store, path, env))
    return notebook


def copy_example(name: str, workdir: Path) -> Path:
    """Copy ``notebooks/NAME`` into ``workdir`` and return the copy, so that running an example notebook
    writes nothing next to the original."""
    path = workdir / name
    shutil.copy(REPO / "notebooks" / name, path)
    return path


def run_notebook(cells: list[str], workdir: Path, store: Path, name: str = "analysis.ipynb",
                 allow_errors: bool = False, env: dict | None = None, timeout: int = 120) -> NotebookNode:
    """Write ``cells`` as a notebook ``workdir/name`` and execute it (``execute_notebook``).

    The kernel gets JUPYTER_TRACKER_DIR=store and JPY_SESSION_NAME=<notebook path>, as Jupyter
    would give it. Returns the executed notebook.
    """
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = workdir / name
    nbformat.write(notebook, str(path))
    return execute_notebook(path, store, env=env, timeout=timeout, allow_errors=allow_errors)
