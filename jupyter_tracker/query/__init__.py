"""Reading the store: the one query layer behind the Python API, the widgets and the server.

Every function opens a short session (journals merged first, so what any process has logged is
visible), queries, and closes. Filters are compiled to parameterised SQL by ``filter.py``.
``search`` finds runs, ``runs`` reads one run, ``windows`` a zoomed range of a metric, ``snapshots``
its notebooks; ``arguments`` holds the argument checks they share.
"""

from .arguments import run_ids_of
from .runs import (
    Artifact,
    RunRecord,
    con_store_hint,
    get_metric_history,
    get_run,
    resolve_run,
    run_values,
    running_run_id,
)
from .search import (
    BASE_COLUMNS,
    DEFAULT_MAX_RESULTS,
    count_runs,
    experiment_summaries,
    list_experiments,
    matching_runs,
    search_runs,
    sql,
    unknown_key_warnings,
)
from .snapshots import load_slice, load_slice_notebook, load_snapshot, restore_snapshot, snapshot_kinds
from .windows import get_metric_window

__all__ = ["BASE_COLUMNS", "DEFAULT_MAX_RESULTS", "Artifact", "RunRecord", "con_store_hint", "count_runs",
           "experiment_summaries", "get_metric_history", "get_metric_window", "get_run", "list_experiments",
           "load_slice", "load_slice_notebook", "load_snapshot", "matching_runs", "resolve_run", "restore_snapshot",
           "run_ids_of", "run_values", "running_run_id", "search_runs", "snapshot_kinds", "sql",
           "unknown_key_warnings"]
