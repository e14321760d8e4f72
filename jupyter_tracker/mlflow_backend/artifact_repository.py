"""``JupyterTrackerArtifactRepository``: MLflow's artifact interface over our stores' artifacts.

Both kinds of files are content-addressed in the store's object store (``objects/``), so a file
logged twice is kept once and ``gc`` and ``doctor`` know every one of them:

- a run's artifacts (``jupyter-tracker:///<store>/-/runs/<run id>/artifacts/...``) are our run
  artifacts, written through the run's journal like ``jt.log_artifact``;
- an MLflow 3 logged model's files (``.../-/models/<model id>/artifacts/...``) are rows of
  ``internal.logged_model_files`` (a logged model need not belong to a run, so a run's artifacts
  cannot hold them); they are written in a store session, as MLflow writes them once.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from mlflow.entities import FileInfo
from mlflow.store.artifact.artifact_repo import ArtifactRepository

from .. import validation
from ..clock import now_ms
from ..store.database import get_store
from ..store.objects import copy_out
from ..store.sql import transaction
from ..store.uri import parse_artifact_uri
from . import handles
from .errors import as_mlflow_errors, missing


class JupyterTrackerArtifactRepository(ArtifactRepository):
    """The artifact repository MLflow uses for ``jupyter-tracker:`` artifact URIs."""

    def __init__(self, artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        super().__init__(artifact_uri, tracking_uri, registry_uri)
        with as_mlflow_errors():
            root, kind, owner_id, base = parse_artifact_uri(artifact_uri)
        self.store = get_store(root)
        self.is_model = kind == "models"
        self.owner_id = owner_id
        self.base = base

    def _inside(self, artifact_path: str | None) -> str:
        return posixpath.join(self.base, artifact_path) if artifact_path else self.base

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        with as_mlflow_errors():
            if self.is_model:
                source = Path(local_file)
                self._store_model_files([(source, posixpath.join(self._model_prefix(artifact_path),
                                                                 validation.escaped_text(source.name)))])
            else:
                handles.handle(self.store, self.owner_id).log_artifact(local_file, self._inside(artifact_path) or None)

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        with as_mlflow_errors():
            if self.is_model:
                prefix, folder = self._model_prefix(artifact_path), Path(local_dir)
                self._store_model_files([
                    (file, posixpath.join(prefix, validation.escaped_text(file.relative_to(folder).as_posix())))
                    for file in sorted(p for p in folder.rglob("*") if p.is_file())])
            else:
                handles.handle(self.store, self.owner_id).log_artifacts(local_dir,
                                                                        self._inside(artifact_path) or None)

    def _model_prefix(self, artifact_path: str | None) -> str:
        return validation.artifact_path(self._inside(artifact_path))

    def _store_model_files(self, files: list[tuple[Path, str]]) -> None:
        """Put each (local file, path in the model) in the object store, then record them in one
        transaction (a path logged again now names the new content)."""
        stored = [(path, *self.store.objects.put_file(source)) for source, path in files]
        with self.store.session() as con, transaction(con):
            for path, sha256, size in stored:
                con.execute("DELETE FROM internal.logged_model_files WHERE model_id = ? AND path = ?",
                            [self.owner_id, path])
                con.execute("INSERT INTO internal.logged_model_files VALUES (?, ?, ?, ?, ?)",
                            [self.owner_id, path, size, sha256, now_ms()])

    def _files(self) -> list[tuple[str, int, str]]:
        """(path inside this repository, size, sha256) of each of the run's or model's files below ``base``."""
        with as_mlflow_errors(), self.store.session() as con:
            if self.is_model:
                rows = con.execute("SELECT path, size, sha256 FROM internal.logged_model_files WHERE model_id = ? "
                                   "ORDER BY path", [self.owner_id]).fetchall()
            else:
                rows = con.execute("""SELECT a.path, a.size, a.sha256 FROM internal.artifacts a
                    JOIN internal.runs r USING (run_key) WHERE r.run_id = ? ORDER BY a.path""",
                                   [self.owner_id]).fetchall()
        prefix = self.base + "/" if self.base else ""
        return [(path[len(prefix):], size, sha) for path, size, sha in rows if path.startswith(prefix)]

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        folder = (path or "").strip("/")
        prefix = folder + "/" if folder else ""
        children: dict[str, FileInfo] = {}
        for file_path, size, _ in self._files():
            if not file_path.startswith(prefix) or file_path == folder:
                continue
            head, _, rest = file_path[len(prefix):].partition("/")
            child = prefix + head
            children[child] = FileInfo(child, True, None) if rest else FileInfo(child, False, size)
        return sorted(children.values(), key=lambda info: str(info.path))

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        wanted = remote_file_path.strip("/")
        for file_path, _, sha256 in self._files():
            if file_path == wanted:
                Path(local_path).parent.mkdir(parents=True, exist_ok=True)
                copy_out(self.store.objects, sha256, Path(local_path))
                return
        owner = f"logged model {self.owner_id}" if self.is_model else f"run {self.owner_id}"
        raise missing(f"{owner} has no artifact {self._inside(wanted)!r}")

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        if not self.is_model:
            raise NotImplementedError("jupyter_tracker keeps run artifacts until the run is deleted and `gc` runs")
        prefix = self._inside(artifact_path)
        with as_mlflow_errors(), self.store.session() as con:  # the objects go at the next `gc`
            con.execute("DELETE FROM internal.logged_model_files WHERE model_id = ? AND (? = '' OR path = ? OR "
                        "starts_with(path, ? || '/'))", [self.owner_id, prefix, prefix, prefix])
