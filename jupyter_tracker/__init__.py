"""jupyter_tracker: experiment tracking that lives inside the notebook.

``%load_ext jupyter_tracker`` and put ``%%track`` on top of a cell, or use
``with jt.start_run():`` in any Python code. Runs, params, metrics, tags, artifacts, console
output, environment and notebook snapshots go to one local store (DuckDB + files).
Importing this package is cheap: pandas, plotly and IPython load only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import TrackerError, TrackerWarning, UnknownKeyWarning
from .fluent import (
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_input,
    log_metric,
    log_metrics,
    log_model,
    log_param,
    log_params,
    log_table,
    log_text,
    set_tag,
    set_tags,
)
from .run import Run, active_run

#: Public names imported on first use (PEP 562 ``__getattr__``), so that ``import jupyter_tracker`` loads
#: only the logging surface (fluent, Run). ``start_run`` and the queries bring the store, traitlets'
#: configuration and the filter language on their first call; models and the registry load
#: ``importlib.metadata`` and the model flavors, which a training loop never needs.
_EXPORTS = {
    **dict.fromkeys(["current_store", "end_run", "set_experiment", "set_store", "start_run"], "tracking"),
    **dict.fromkeys(["get_metric_history", "get_run", "list_experiments", "load_snapshot", "restore_snapshot",
                     "search_runs", "sql"], "query"),
    **dict.fromkeys(["compact", "delete_runs", "restore_run"], "cleanup"),
    "autolog": "autologging",
    **dict.fromkeys(["PythonModel", "infer_signature", "load_model"], "models"),
    **dict.fromkeys(["delete_model_alias", "get_model_version", "get_stage_history", "list_registered_models",
                     "register_model", "search_model_versions", "set_model_alias",
                     "transition_model_version_stage"], "registry"),
    "sync_status": "sharing.sync",
}

#: Public names whose defining function has another name there.
_RENAMED = {"gc": ("cleanup", "collect_garbage")}

if TYPE_CHECKING:
    from .autologging import autolog
    from .cleanup import collect_garbage as gc
    from .cleanup import compact, delete_runs, restore_run
    from .models import PythonModel, infer_signature, load_model
    from .query import get_metric_history, get_run, list_experiments, load_snapshot, restore_snapshot, search_runs, sql
    from .registry import (
        delete_model_alias,
        get_model_version,
        get_stage_history,
        list_registered_models,
        register_model,
        search_model_versions,
        set_model_alias,
        transition_model_version_stage,
    )


def __getattr__(name: str) -> Any:
    """Import the module that defines public name ``name`` on first use, and keep the name here."""
    module, defined_as = _RENAMED.get(name) or (_EXPORTS.get(name), name)
    if module is None:
        raise AttributeError(f"module 'jupyter_tracker' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), defined_as)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_RENAMED))


__version__ = "0.1.0"

__all__ = [
    "Run", "TrackerError", "TrackerWarning", "UnknownKeyWarning", "active_run", "current_store", "end_run",
    "get_metric_history", "get_run",
    "list_experiments", "load_ipython_extension", "load_snapshot", "log_artifact", "log_artifacts",
    "log_dict", "log_figure", "log_metric", "log_metrics", "log_param", "log_params", "log_table",
    "log_text", "restore_snapshot", "search_runs", "set_experiment", "set_store", "set_tag", "set_tags",
    "sql", "start_run", "unload_ipython_extension",
    "PythonModel", "autolog", "delete_model_alias", "get_model_version", "get_stage_history", "infer_signature",
    "list_registered_models", "load_model", "log_input", "log_model", "register_model", "search_model_versions",
    "set_model_alias", "transition_model_version_stage",
    "compare", "plot_metrics", "runs",
    "compact", "delete_runs", "gc", "restore_run",
    "diff_snapshots", "export_runs", "import_from", "import_runs", "pull", "push", "share_snapshot",
    "reproduce", "sync_status",
]


def runs(experiment=None, filter=None, order_by=None, **options):
    """Interactive run table of ``search_runs(experiment, filter, order_by)``; ``table.selected``
    holds the checked run ids (see ``jupyter_tracker.widgets.table``)."""
    from .widgets import runs as make_table

    return make_table(experiment, filter, order_by, **options)


def plot_metrics(runs, keys=None, *, x="step", **options):
    """Metric curves of ``runs`` (ids, a search_runs DataFrame or ``table.selected``), live while
    they log (see ``jupyter_tracker.widgets.curves``)."""
    from .widgets import plot_metrics as make_curves

    return make_curves(runs, keys, x=x, **options)


def compare(runs, color=None, **options):
    """Parallel coordinates, a diff of what differs and overlaid curves of ``runs``; given a run
    table it follows the table's selection (see ``jupyter_tracker.widgets.compare``)."""
    from .widgets import compare as make_comparison

    return make_comparison(runs, color, **options)


def export_runs(runs, path, *, max_artifact_bytes=None, **options):
    """Write ``runs`` (ids or a search_runs DataFrame, with their nested runs) into one ``.jtrack``
    bundle file: a zip of Parquet tables, notebooks and artifact files with a sha256 manifest
    (see ``jupyter_tracker.sharing.bundle``)."""
    from .sharing.bundle import export_runs as export

    return export(runs, path, max_artifact_bytes=max_artifact_bytes, **options)


def import_runs(path, **options):
    """Import the runs of a ``.jtrack`` bundle, keeping their ids and timestamps; importing twice
    adds nothing, and a damaged or tampered bundle is refused with nothing imported."""
    from .sharing.bundle import import_runs as load

    return load(path, **options)


def share_snapshot(run_id, path, **options):
    """Write a run's notebook with a header card and static metric charts as one self-contained
    ``.html`` page (or an ``.ipynb``) to send to a colleague (see ``jupyter_tracker.sharing.report``)."""
    from .sharing.report import share_snapshot as share

    return share(run_id, path, **options)


def diff_snapshots(run_a, run_b, kind="executed", **options):
    """Cells added, removed and changed between the notebooks of two runs, and the params that
    differ: data (``.to_dict()``) that displays as an inline diff (see ``jupyter_tracker.sharing.diff``)."""
    from .sharing.diff import diff_snapshots as diff

    return diff(run_a, run_b, kind, **options)


def reproduce(run_id, from_="slice", *, timeout=600.0, rtol=1e-6, **options):
    """Run a run's slice (``from_="slice"``) or its saved notebook (``from_="saved"``) again in a fresh
    kernel, track the new run, link the two and compare params, final metrics (within ``rtol``) and
    artifact hashes: a ``Reproduction`` (status reproduced/differs/failed, ``.frame``, HTML view; see
    ``jupyter_tracker.sharing.reproduce``)."""
    from .sharing.reproduce import reproduce as run_again

    return run_again(run_id, from_, timeout=timeout, rtol=rtol, **options)


def push(run_ids, tracking_uri, **options):
    """Send runs (params, metric histories, tags, artifacts, nesting, snapshot, console output, environment,
    registered versions with stages and aliases) to an MLflow tracking server; idempotent and resumable (see
    ``jupyter_tracker.sharing.mlflow_push``)."""
    from .sharing.mlflow_push import push as send

    return send(run_ids, tracking_uri, **options)


def pull(tracking_uri, experiment, filter=None, **options):
    """Bring the runs of an MLflow experiment (optionally filtered) into the local store; pulling
    twice adds nothing."""
    from .sharing.mlflow_pull import pull as fetch

    return fetch(tracking_uri, experiment, filter, **options)


def import_from(kind, source, experiment=None, **options):
    """Import the runs of W&B (a wandb folder), Trackio (its folder), Aim (a repository) or MLflow (a
    tracking URI) with their params, metric histories, tags, status and files; importing twice adds
    nothing (see ``jupyter_tracker.sharing.importers``)."""
    from .sharing.importers import import_from as bring

    return bring(kind, source, experiment, **options)


def load_ipython_extension(shell) -> None:
    """``%load_ext jupyter_tracker``: registers %%track, %track and %tracker."""
    from .magic import load_ipython_extension as load

    load(shell)


def unload_ipython_extension(shell) -> None:
    """``%unload_ext jupyter_tracker``."""
    from .magic import unload_ipython_extension as unload

    unload(shell)


def _jupyter_labextension_paths() -> list[dict]:
    """JupyterLab finds the prebuilt front end (sidebar, run panels, Track this cell) here."""
    return [{"src": "labextension", "dest": "jupyter-tracker"}]


def _jupyter_server_extension_points() -> list[dict]:
    """jupyter_server finds the REST API of the lab sidebar here."""
    return [{"module": "jupyter_tracker"}]


def _load_jupyter_server_extension(server_app) -> None:
    """Register the REST API (``jupyter_tracker.server``, imported only inside the server)."""
    from .server import load

    load(server_app)
