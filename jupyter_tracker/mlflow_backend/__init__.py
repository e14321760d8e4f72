"""A jupyter_tracker store as an MLflow backend: unchanged MLflow code writes into our store.

MLflow finds these classes through the entry points our package declares for the URI scheme
``jupyter-tracker`` (``MLFLOW_TRACKING_URI=jupyter-tracker:`` or ``jupyter-tracker:///abs/path``):

- ``tracking_store.JupyterTrackerStore``: experiments, runs, metrics, params, tags, datasets,
  searches and MLflow 3 logged models. Writes go through our journal (``Run``), reads through our
  query layer and filter language.
- ``artifact_repository.JupyterTrackerArtifactRepository``: run artifacts, content-addressed.
- ``registry_store.JupyterTrackerRegistryStore``: the model registry.

MLflow is imported only here; ``import jupyter_tracker`` never imports this package.
"""
