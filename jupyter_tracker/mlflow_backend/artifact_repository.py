"""``JupyterTrackerArtifactRepository``: MLflow's artifact interface over our stores' artifacts.

A run's artifacts (``jupyter-tracker:///<store>/-/runs/<run id>/artifacts/...``) are our
content-addressed artifacts, written through the run's journal like ``jt.log_artifact``.
An MLflow 3 logged model's files (``.../-/models/<model id>/artifacts/...``) are plain files in
``<store>/mlflow-models/<model id>/artifacts``, kept by MLflow's own local repository: a logged
model need not belong to a run, so our run artifacts cannot hold them.
"""

from __future__ import annotations

import posixpath
import shutil
from pathlib import Path

from mlflow.entities import FileInfo
from mlflow.store.artifact.artifact_repo import ArtifactRepository
from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

from ..store.database import get_store
from ..store.uri import parse_artifact_uri
from . import handles
from .errors import as_mlflow_errors, missing

MODELS_DIRNAME = "mlflow-models"


class JupyterTrackerArtifactRepository(ArtifactRepository):  # type: ignore[misc]
    """The artifact repository MLflow uses for ``jupyter-tracker:`` artifact URIs."""

    def __init__(self, artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        super().__init__(artifact_uri, tracking_uri, registry_uri)
        with as_mlflow_errors():
            root, kind, owner_id, base = parse_artifact_uri(artifact_uri)
        self.store = get_store(root)
        self.run_id = owner_id
        self.base = base
        self._local: LocalArtifactRepository | None = None
        if kind == "models":
            folder = root / MODELS_DIRNAME / owner_id / "artifacts" / base
            folder.mkdir(parents=True, exist_ok=True)
            self._local = LocalArtifactRepository(folder.as_uri())

    def _inside(self, artifact_path: str | None) -> str:
        return posixpath.join(self.base, artifact_path) if artifact_path else self.base

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        if self._local is not None:
            return self._local.log_artifact(local_file, artifact_path)
        with as_mlflow_errors():
            handles.handle(self.store, self.run_id).log_artifact(local_file, self._inside(artifact_path) or None)
        return None

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        if self._local is not None:
            return self._local.log_artifacts(local_dir, artifact_path)
        with as_mlflow_errors():
            handles.handle(self.store, self.run_id).log_artifacts(local_dir, self._inside(artifact_path) or None)
        return None

    def _files(self) -> list[tuple[str, int, str]]:
        """(path inside this repository, size, sha256) of each of the run's artifacts below ``base``."""
        with as_mlflow_errors(), self.store.session() as con:
            rows = con.execute("""SELECT a.path, a.size, a.sha256 FROM internal.artifacts a
                JOIN internal.runs r USING (run_key) WHERE r.run_id = ? ORDER BY a.path""", [self.run_id]).fetchall()
        prefix = self.base + "/" if self.base else ""
        return [(path[len(prefix):], size, sha) for path, size, sha in rows if path.startswith(prefix)]

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        if self._local is not None:
            return self._local.list_artifacts(path)  # type: ignore[no-any-return]
        folder = (path or "").strip("/")
        prefix = folder + "/" if folder else ""
        children: dict[str, FileInfo] = {}
        for file_path, size, _ in self._files():
            if not file_path.startswith(prefix) or file_path == folder:
                continue
            head, _, rest = file_path[len(prefix):].partition("/")
            child = prefix + head
            children[child] = FileInfo(child, True, None) if rest else FileInfo(child, False, size)
        return sorted(children.values(), key=lambda info: info.path)

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        if self._local is not None:
            return self._local._download_file(remote_file_path, local_path)
        wanted = remote_file_path.strip("/")
        for file_path, _, sha256 in self._files():
            if file_path == wanted:
                Path(local_path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.store.objects.path(sha256), local_path)
                return None
        raise missing(f"run {self.run_id} has no artifact {self._inside(wanted)!r}")

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        if self._local is not None:
            return self._local.delete_artifacts(artifact_path)
        raise NotImplementedError("jupyter_tracker keeps run artifacts until the run is deleted and `gc` runs")
