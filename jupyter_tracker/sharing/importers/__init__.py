"""Move in from another tracker: ``import_from("wandb" | "trackio" | "aim" | "mlflow", source)``.

One reader module per peer lists and reads its runs with the peer's own library; ``core`` writes
them into the store, idempotently, in one transaction per import (README: "Coming from W&B,
Trackio, Aim or MLflow")."""

from __future__ import annotations

from pathlib import Path

from ...errors import InvalidValueError, MissingExtraError
from ...store.current import resolve_store
from . import aim_repo, trackio_projects, wandb_runs
from .core import ImportFromResult, write_runs

KINDS = ("wandb", "trackio", "aim", "mlflow")

__all__ = ["KINDS", "ImportFromResult", "import_from"]


def import_from(kind: str, source: str | Path, experiment: str | None = None, *, progress: bool = True,
                store=None) -> ImportFromResult:
    """Import every run of a W&B folder, a Trackio folder, an Aim repository or an MLflow tracking URI.

    Params/config, every metric point with its step and timestamp, tags, run name, status, start
    and end times, groups and the files the source keeps locally come along; each run's
    ``origin`` is ``"<kind>:<source>"``. ``experiment`` puts every run into that experiment (for
    ``mlflow``: the MLflow experiment to pull; all of them when None); otherwise each run goes to
    its source project. Importing twice adds nothing; a damaged source run is skipped, with its
    reason, in ``result.damaged``; ``result.summary()`` is one line for people."""
    if kind not in KINDS:
        raise InvalidValueError(f"cannot import from {kind!r}; the sources are {', '.join(KINDS)}")
    store = resolve_store(store)
    if kind == "mlflow":
        return _from_mlflow(str(source), experiment, progress, store)
    path = Path(source).expanduser()
    if not path.exists():
        raise InvalidValueError(f"{kind} source {str(source)!r} does not exist; pass the folder the {kind} "
                                f"runs are in")
    readers = {"wandb": wandb_runs.list_runs, "trackio": trackio_projects.list_runs, "aim": aim_repo.list_runs}
    origin = f"{kind}:{path.resolve()}"
    return write_runs(kind, origin, readers[kind](path), experiment, default_experiment=kind,
                      progress=progress, store=store)


def _from_mlflow(tracking_uri: str, experiment: str | None, progress: bool, store) -> ImportFromResult:
    """``jt.pull`` of one MLflow experiment, or of every experiment when ``experiment`` is None."""
    from ..mlflow_client import refuse_missing_sqlite, talking_to
    from ..mlflow_pull import pull

    refuse_missing_sqlite(tracking_uri)
    if experiment is None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise MissingExtraError("importing from mlflow reads it with MLflow's client, which is not installed: "
                                    "pip install 'jupyter_tracker[mlflow]' (or `pip install mlflow`)") from None
        with talking_to(tracking_uri, "listing the experiments to import"):  # its failures are a SyncError
            names = [e.name for e in MlflowClient(tracking_uri).search_experiments(max_results=10_000)]
    else:
        names = [experiment]
    result = ImportFromResult([], [], kind="mlflow", origin=f"mlflow:{tracking_uri}")
    for name in names:
        pulled = pull(tracking_uri, name, progress=progress, store=store)
        result.imported += pulled.imported
        result.skipped += pulled.skipped
        result.metric_points += pulled.metric_points
        result.model_versions += pulled.model_versions
    return result
