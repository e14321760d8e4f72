"""A store named as a URI, ``jupyter-tracker:///abs/path/.jupyter_tracker`` (``jupyter-tracker:`` alone
means the current store), and the URIs of its runs' artifacts, as MLflow's plugin entry points see them.

The bottom layer owns the format because both the filter language (``attributes.artifact_uri``) and
the MLflow plugin (``mlflow_backend``) must spell it the same way.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..config import resolve_store_dir
from ..errors import ConfigError

SCHEME = "jupyter-tracker"
#: Marks where the store path ends inside an artifact URI (a store path never holds ``/-/``).
_RUNS_MARK = "/-/runs/"
_ARTIFACT_URI = re.compile(r"^(?P<root>.*?)/-/(?P<kind>runs|models)/(?P<id>[^/]+)/artifacts(?P<path>/.*)?$")


def store_root_of(uri: str) -> Path:
    """The store directory a ``jupyter-tracker:`` URI names (the current store when it names none)."""
    parsed = urlparse(uri)
    if parsed.scheme != SCHEME:
        raise ConfigError(f"{uri!r} is not a jupyter-tracker URI; write jupyter-tracker:///abs/path/.jupyter_tracker "
                          f"or jupyter-tracker: for the current store")
    if parsed.netloc:
        raise ConfigError(f"{uri!r} names a host ({parsed.netloc!r}); a jupyter-tracker store is a local "
                          f"directory: write jupyter-tracker:///abs/path (three slashes)")
    path = unquote(parsed.path)
    return Path(path).expanduser().absolute() if path.strip("/") else resolve_store_dir()


def store_uri(root: Path) -> str:
    return f"{SCHEME}://{Path(root).absolute().as_posix()}"


def run_artifact_root(root: Path) -> str:
    """What every run's artifact URI in the store at ``root`` starts with; the run id and
    ``/artifacts`` follow."""
    return store_uri(root) + _RUNS_MARK


def run_artifact_uri(root: Path, run_id: str) -> str:
    return f"{run_artifact_root(root)}{run_id}/artifacts"


def model_artifact_uri(root: Path, model_id: str) -> str:
    """Where an MLflow 3 logged model's files live (models need not belong to a run)."""
    return f"{store_uri(root)}/-/models/{model_id}/artifacts"


def parse_artifact_uri(uri: str) -> tuple[Path, str, str, str]:
    """(store root, ``runs`` or ``models``, run or model id, path inside its artifacts) of an artifact URI."""
    parsed = urlparse(uri)
    match = _ARTIFACT_URI.match(unquote(parsed.path)) if parsed.scheme == SCHEME else None
    if match is None:
        raise ConfigError(f"{uri!r} is not a jupyter-tracker artifact URI such as "
                          f"jupyter-tracker:///abs/store/-/runs/<run id>/artifacts")
    return (Path(match["root"]), match["kind"], match["id"], (match["path"] or "").strip("/"))
