"""The three callables our package registers with MLflow for the ``jupyter-tracker`` URI scheme.

MLflow loads every installed plugin's entry points whenever it builds a store or an artifact
repository, for any URI. So the entry points are these small factories, and the backend itself
(our tracking store, and MLflow's SQL registry under it with SQLAlchemy) is imported only when a
``jupyter-tracker:`` URI is actually used: an MLflow user with our package installed who talks to
another server pays nothing for it.
"""

from __future__ import annotations

from typing import Any


def tracking_store(store_uri: str | None = None, artifact_uri: str | None = None) -> Any:
    """MLflow's tracking store for a ``jupyter-tracker:`` URI (``MLFLOW_TRACKING_URI``)."""
    from .tracking_store import JupyterTrackerStore

    return JupyterTrackerStore(store_uri, artifact_uri)


def registry_store(store_uri: str | None = None, tracking_uri: str | None = None) -> Any:
    """MLflow's model registry store for a ``jupyter-tracker:`` registry URI."""
    from .registry_store import JupyterTrackerRegistryStore

    return JupyterTrackerRegistryStore(store_uri, tracking_uri)


def artifact_repository(artifact_uri: str, *args: Any, **kwargs: Any) -> Any:
    """MLflow's artifact repository for our ``jupyter-tracker:`` artifact URIs."""
    from .artifact_repository import JupyterTrackerArtifactRepository

    return JupyterTrackerArtifactRepository(artifact_uri, *args, **kwargs)
