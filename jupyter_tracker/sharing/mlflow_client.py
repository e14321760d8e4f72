"""Talking to an MLflow tracking URI: the client, its request settings, and its failures as ``SyncError``.

MLflow's client reads its HTTP settings (retries, backoff, timeout) and whether it prints a "View
run at" line from environment variables at every request, and has no per-client way to set them.
Setting ``os.environ`` during a push would change them for every thread of the process (a training
loop logging to MLflow in another thread would suddenly give up after two retries). So
``talking_to`` scopes them instead: while it is active, MLflow's lookups of those four variables
answer our ``RequestSettings`` in this thread (and the context it runs in) only; other threads,
and any variable the user set in the environment, see exactly what they saw before. The process
environment is never written.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import MissingExtraError, SyncError, TrackerError


@dataclass(frozen=True)
class RequestSettings:
    """MLflow client settings for a push or pull: a few quick retries instead of MLflow's minutes of
    backoff, a shorter timeout, and no "View run at" line printed per run."""

    max_retries: int = 2
    backoff_factor: int = 1
    timeout_s: int = 60
    print_run_urls: bool = False

    def value_of(self, variable: str) -> Any:
        """The value MLflow's environment variable ``variable`` takes under these settings."""
        return {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": self.max_retries,
                "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": self.backoff_factor,
                "MLFLOW_HTTP_REQUEST_TIMEOUT": self.timeout_s,
                "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": not self.print_run_urls}[variable]


DEFAULT_SETTINGS = RequestSettings()
#: The MLflow environment variables (``mlflow.environment_variables`` names) the settings cover.
SCOPED_VARIABLES = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
                    "MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT")

_active: contextvars.ContextVar[RequestSettings | None] = contextvars.ContextVar("jt_mlflow_settings", default=None)
_install_lock = threading.Lock()


def _scope_mlflow_lookups() -> None:
    """Make MLflow's lookups of ``SCOPED_VARIABLES`` consult the settings active in the calling
    context first (once per process). Outside ``talking_to``, and for a variable set in the
    environment, the lookup is MLflow's own, unchanged."""
    import mlflow.environment_variables as variables

    with _install_lock:
        for name in SCOPED_VARIABLES:
            variable = getattr(variables, name)
            if getattr(variable, "_jt_scoped", False):
                continue
            variable.get = _scoped_get(variable, variable.get)
            variable._jt_scoped = True


def _scoped_get(variable: Any, mlflow_get: Callable[[], Any]) -> Callable[[], Any]:
    def get() -> Any:
        settings = _active.get()
        if settings is None or variable.is_set():
            return mlflow_get()
        return settings.value_of(variable.name)

    return get


@contextmanager
def talking_to(tracking_uri: str, action: str, settings: RequestSettings = DEFAULT_SETTINGS) -> Iterator[None]:
    """MLflow client ``settings`` for the calls made inside (in this thread only), and any failure of
    the client or the network (not our own errors, not the user's interrupt) turned into one
    ``SyncError`` naming ``action`` and ``tracking_uri``."""
    token = None
    try:
        _scope_mlflow_lookups()
        token = _active.set(settings)
        yield
    except TrackerError:
        raise
    except Exception as exc:
        from mlflow.exceptions import MlflowException

        if isinstance(exc, (MlflowException, OSError)) or "requests" in type(exc).__module__:
            raise mlflow_error(action, tracking_uri, exc) from exc
        raise
    finally:
        if token is not None:
            _active.reset(token)


def active_settings() -> RequestSettings | None:
    """The settings ``talking_to`` made active in this context, if any."""
    return _active.get()


def refuse_missing_sqlite(tracking_uri: str) -> None:
    """Refuse to read from a ``sqlite:///`` URI whose file does not exist: MLflow would create an
    empty database there, and an import from a mistyped path would report nothing to import."""
    if not tracking_uri.startswith("sqlite:"):
        return
    from pathlib import Path
    from urllib.parse import unquote, urlsplit

    path = unquote(urlsplit(tracking_uri).path)[1:]  # sqlite:///rel.db -> rel.db, sqlite:////abs.db -> /abs.db
    if path in ("", ":memory:") or Path(path).is_file():
        return
    raise SyncError(f"there is no MLflow database at {path} (from {tracking_uri}); nothing was created or "
                    f"imported. Check the path: sqlite:///relative/path.db, or sqlite:////absolute/path.db")


def connect(tracking_uri: str) -> Any:
    """An ``MlflowClient`` for ``tracking_uri``, after checking that a server answers there (so an
    unreachable one fails fast instead of after the client's retries)."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise MissingExtraError("push/pull need MLflow's client: `pip install mlflow` (or `pip install "
                                "mlflow-skinny`)") from None
    if tracking_uri.startswith(("http://", "https://")):
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(tracking_uri.rstrip("/") + "/health", timeout=5) as response:
                response.read()
        except (urllib.error.URLError, OSError) as exc:
            raise SyncError(f"cannot reach the MLflow server at {tracking_uri} ({getattr(exc, 'reason', exc)}); "
                            f"nothing was sent and nothing local changed. Start the server or fix the URI, then "
                            f"run the same push again") from None
    return MlflowClient(tracking_uri=tracking_uri)


def mlflow_error(action: str, tracking_uri: str, exc: Exception) -> SyncError:
    """The ``SyncError`` for a failed MLflow call: what failed, and that rerunning is safe."""
    return SyncError(f"{action} on {tracking_uri} failed: {exc}. Nothing local was lost; what reached the server "
                     f"is kept, and running the same command again sends only the rest")


def remote_files(client: Any, mlflow_run_id: str, path: str = "") -> dict[str, int]:
    """Every artifact file of an MLflow run below ``path`` (recursively): path → size in bytes."""
    files: dict[str, int] = {}
    for info in client.list_artifacts(mlflow_run_id, path or None):
        if info.is_dir:
            files.update(remote_files(client, mlflow_run_id, info.path))
        else:
            files[info.path] = info.file_size
    return files
