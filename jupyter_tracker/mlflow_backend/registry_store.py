"""``JupyterTrackerRegistryStore``: MLflow's model registry for ``jupyter-tracker:`` URIs.

MLflow's registry (versions whose source is a logged model ``models:/m-...``, aliases, tags,
stages) is kept by MLflow's own SQL registry in ``<store>/mlflow-registry.db`` beside our database,
so every MLflow registry call keeps MLflow's exact meaning. It is separate from ``jt``'s registry
(``jupyter_tracker.registry``), whose versions point at ``runs:/`` folders in our model format.
"""

from __future__ import annotations

from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

from ..store.uri import store_root_of
from .errors import as_mlflow_errors

REGISTRY_FILENAME = "mlflow-registry.db"


class JupyterTrackerRegistryStore(SqlAlchemyStore):  # type: ignore[misc]
    """The model registry store MLflow uses for ``jupyter-tracker:`` registry URIs."""

    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        with as_mlflow_errors():
            root = store_root_of(store_uri or "jupyter-tracker:")
        root.mkdir(parents=True, exist_ok=True)
        super().__init__(f"sqlite:///{root / REGISTRY_FILENAME}")
