"""``JupyterTrackerRegistryStore``: MLflow's model registry interface over our registry.

Every call reads and changes the registry ``jt`` and the lab sidebar show (``jupyter_tracker.registry``):
``mlflow.register_model`` makes the next version that ``jt.get_model_version`` sees, an alias ``jt``
sets is the one ``models:/<name>@<alias>`` loads through MLflow, and so on. MLflow's input rules
(``mlflow.utils.validation``), error codes and search grammar (``SearchModelUtils``,
``SearchModelVersionUtils``, the same code MLflow's file store filters with) are MLflow's own.
A version MLflow registers from a logged model (``models:/m-...``) keeps its storage location and
model id; ``mlflow.pyfunc.load_model("models:/<name>@<alias>")`` reads its files from there.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from mlflow.entities.model_registry import (
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
)
from mlflow.entities.model_registry.model_version_stages import (
    ALL_STAGES,
    DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS,
    get_canonical_stage,
)
from mlflow.entities.model_registry.model_version_status import ModelVersionStatus
from mlflow.exceptions import MlflowException
from mlflow.prompt.registry_utils import add_prompt_filter_string, handle_resource_already_exist_error, has_prompt_tag
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry import (
    SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
    SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD,
    SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
    SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD,
)
from mlflow.store.model_registry.abstract_store import AbstractStore
from mlflow.utils.search_utils import SearchModelUtils, SearchModelVersionUtils, SearchUtils
from mlflow.utils.validation import (
    _REGISTERED_MODEL_ALIAS_LATEST,
    _validate_model_alias_name,
    _validate_model_alias_name_reserved,
    _validate_model_name,
    _validate_model_renaming,
    _validate_model_version,
    _validate_model_version_tag,
    _validate_registered_model_tag,
    _validate_tag_name,
)

from .. import registry
from ..model_uri import METADATA_FILE
from ..store.database import Store, get_store
from ..store.sql import fetch_one
from ..store.uri import store_root_of
from .errors import as_mlflow_errors

_READY = ModelVersionStatus.to_string(ModelVersionStatus.READY)
#: MLflow's newest-first order of search_model_versions when none is given.
_DEFAULT_VERSION_ORDER = ["last_updated_timestamp DESC", "name ASC", "version_number DESC"]


class JupyterTrackerRegistryStore(AbstractStore):
    """The model registry store MLflow uses for ``jupyter-tracker:`` registry URIs."""

    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        super().__init__(store_uri, tracking_uri)  # type: ignore[no-untyped-call]  # MLflow's, unannotated
        self.tracking_uri = tracking_uri
        with as_mlflow_errors():
            self.store: Store = get_store(store_root_of(store_uri or "jupyter-tracker:"))
            self.store.ensure_directory()

    # -- reading ----------------------------------------------------------------------------------------
    def _records(self, name: str | None = None) -> list[dict[str, Any]]:
        with as_mlflow_errors():
            return registry.registered_models_with_versions(name, store=self.store)

    def _record(self, name: str) -> dict[str, Any]:
        _validate_model_name(name)
        found = self._records(name)
        if not found:
            raise MlflowException(f"Registered Model with name={name} not found", RESOURCE_DOES_NOT_EXIST)
        return found[0]

    def _version_record(self, name: str, version: int | str) -> tuple[dict[str, Any], dict[str, Any]]:
        number = _validate_model_version(version)
        model = self._record(name)
        for record in model["versions"]:
            if record["version"] == number:
                return model, record
        raise MlflowException(f"Model Version (name={name}, version={number}) not found", RESOURCE_DOES_NOT_EXIST)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return _registered_model(self._record(name))

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        model, record = self._version_record(name, version)
        return _model_version(model["name"], record)

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        expected = {get_canonical_stage(stage) for stage in (stages or ALL_STAGES)}
        model = self._record(name)
        return [version for version in _latest_per_stage(model) if version.current_stage in expected]

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        _, record = self._version_record(name, version)
        return str(record["storage_location"] or record["source"])

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        _validate_model_name(name)
        _validate_model_alias_name(alias)
        model = self._record(name)
        if alias.lower() == _REGISTERED_MODEL_ALIAS_LATEST:
            if not model["versions"]:
                raise MlflowException(f"Latest version not found for model {name}.", RESOURCE_DOES_NOT_EXIST)
            return _model_version(name, max(model["versions"], key=lambda record: record["version"]))
        for record in model["versions"]:
            if alias in record["aliases"]:
                return _model_version(name, record)
        raise MlflowException(f"Registered model alias {alias} not found.", INVALID_PARAMETER_VALUE)

    def search_registered_models(self, filter_string: str | None = None,
                                 max_results: int = SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
                                 order_by: list[str] | None = None,
                                 page_token: str | None = None) -> PagedList[RegisteredModel]:
        _check_max_results(max_results, SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD)
        models = [_registered_model(record) for record in self._records()]
        found = SearchModelUtils.filter(models, add_prompt_filter_string(filter_string, is_prompt=False))
        return _page(SearchModelUtils.sort(found, order_by), page_token, max_results)

    def search_model_versions(self, filter_string: str | None = None,
                              max_results: int = SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
                              order_by: list[str] | None = None,
                              page_token: str | None = None) -> PagedList[ModelVersion]:
        _check_max_results(max_results, SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD)
        versions = [_model_version(model["name"], record) for model in self._records()
                    for record in model["versions"]]
        found = SearchModelVersionUtils.filter(versions, add_prompt_filter_string(filter_string, is_prompt=False))
        return _page(SearchModelVersionUtils.sort(found, order_by or _DEFAULT_VERSION_ORDER), page_token,
                     max_results)

    # -- registered models ------------------------------------------------------------------------------
    def create_registered_model(self, name: str, tags: list[RegisteredModelTag] | None = None,
                                description: str | None = None,
                                deployment_job_id: str | None = None) -> RegisteredModel:
        _validate_model_name(name)
        for tag in tags or []:
            _validate_registered_model_tag(tag.key, tag.value)
        with as_mlflow_errors():
            existing = registry.registered_models_with_versions(name, store=self.store)
        if existing:
            handle_resource_already_exist_error(name, has_prompt_tag(existing[0]["tags"]), has_prompt_tag(tags))
        with as_mlflow_errors():
            registry.create_registered_model(name, description=description,
                                             tags={tag.key: tag.value for tag in tags or []}, store=self.store)
        return self.get_registered_model(name)

    def update_registered_model(self, name: str, description: str | None,
                                deployment_job_id: str | None = None) -> RegisteredModel:
        self._record(name)
        with as_mlflow_errors():
            registry.update_registered_model(name, description, store=self.store)
        return self.get_registered_model(name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        _validate_model_renaming(new_name)
        self._record(name)
        with as_mlflow_errors():
            registry.rename_registered_model(name, new_name, store=self.store)
        return self.get_registered_model(new_name)

    def delete_registered_model(self, name: str) -> None:
        self._record(name)
        with as_mlflow_errors():
            registry.delete_registered_model(name, store=self.store)

    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None:
        _validate_model_name(name)
        _validate_registered_model_tag(tag.key, tag.value)
        self._record(name)
        with as_mlflow_errors():
            registry.set_registered_model_tag(name, tag.key, str(tag.value), store=self.store)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        _validate_model_name(name)
        _validate_tag_name(key)
        self._record(name)
        with as_mlflow_errors():
            registry.delete_registered_model_tag(name, key, store=self.store)

    # -- model versions ---------------------------------------------------------------------------------
    def create_model_version(self, name: str, source: str, run_id: str | None = None,
                             tags: list[ModelVersionTag] | None = None, run_link: str | None = None,
                             description: str | None = None, local_model_path: str | None = None,
                             model_id: str | None = None) -> ModelVersion:
        """The next version of ``name``. As in MLflow's SQL registry, a ``models:/`` source is looked up
        for where its files are (a logged model's artifact location, another version's download URI)."""
        _validate_model_name(name)
        for tag in tags or []:
            _validate_model_version_tag(tag.key, tag.value)
        storage_location, run_id = self._storage_of(source, run_id, model_id)
        self._record(name)
        with as_mlflow_errors():
            version = registry.create_model_version(
                name, source, run_id=run_id, artifact_path=self._our_model_folder(source),
                description=description, tags={tag.key: tag.value for tag in tags or []},
                mlflow_fields={"storage_location": storage_location if storage_location != source else None,
                               "model_id": model_id, "run_link": run_link, "status": _READY},
                store=self.store)
        return self.get_model_version(name, version)

    def _storage_of(self, source: str, run_id: str | None, model_id: str | None) -> tuple[str, str | None]:
        from mlflow.store.artifact.utils.models import _parse_model_uri
        from mlflow.tracking.client import MlflowClient

        storage_location = source
        if urllib.parse.urlparse(source).scheme == "models":
            parsed = _parse_model_uri(source)
            try:
                if parsed.model_id is not None:
                    model = MlflowClient(self.tracking_uri).get_logged_model(parsed.model_id)
                    storage_location, run_id = model.artifact_location, run_id or model.source_run_id
                elif parsed.name is not None and parsed.version is not None:
                    storage_location = self.get_model_version_download_uri(parsed.name, parsed.version)
                else:  # models:/<name>/<stage> or @<alias>: where the version it names today is
                    storage_location = self._download_uri_of(parsed.name or "", parsed.stage, parsed.alias)
            except MlflowException as exc:
                raise MlflowException(f"Unable to fetch model from model URI source artifact location '{source}'."
                                      f"Error: {exc}") from exc
        if not run_id and model_id:
            run_id = MlflowClient(self.tracking_uri).get_logged_model(model_id).source_run_id
        return storage_location, run_id

    def _download_uri_of(self, name: str, stage: str | None, alias: str | None) -> str:
        if alias is not None:
            version = self.get_model_version_by_alias(name, alias)
        else:
            latest = self.get_latest_versions(name, [stage or ""])
            if not latest:
                raise MlflowException(f"Model {name} has no version in stage {stage}", RESOURCE_DOES_NOT_EXIST)
            version = latest[0]
        return self.get_model_version_download_uri(name, version.version)

    def _our_model_folder(self, source: str) -> str | None:
        """The run folder of a ``runs:/<id>/<folder>`` source holding a model ``jt.load_model`` reads
        (``MLmodel.json``), else None: then ``jt.load_model`` points to MLflow's loader instead."""
        if not source.startswith("runs:/"):
            return None
        run_id, _, folder = source[len("runs:/"):].strip("/").partition("/")
        with as_mlflow_errors(), self.store.session() as con:
            found = fetch_one(con, """SELECT 1 FROM internal.artifacts a JOIN internal.runs r USING (run_key)
                WHERE r.run_id = ? AND a.path = ?""", [run_id, f"{folder}/{METADATA_FILE}"])
        return folder if found and folder else None

    def update_model_version(self, name: str, version: int | str, description: str | None) -> ModelVersion:
        self._version_record(name, version)
        with as_mlflow_errors():
            registry.update_model_version(name, int(version), description, store=self.store)
        return self.get_model_version(name, version)

    def transition_model_version_stage(self, name: str, version: int | str, stage: str,
                                       archive_existing_versions: bool) -> ModelVersion:
        canonical = get_canonical_stage(stage)
        if archive_existing_versions and canonical not in DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS:
            raise MlflowException(f"Model version transition cannot archive existing model versions because "
                                  f"'{stage}' is not an Active stage. Valid stages are "
                                  f"{DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS}")
        self._version_record(name, version)
        with as_mlflow_errors():
            registry.transition_model_version_stage(name, int(version), canonical,
                                                    archive_existing_versions=archive_existing_versions,
                                                    store=self.store)
        return self.get_model_version(name, version)

    def delete_model_version(self, name: str, version: int | str) -> None:
        self._version_record(name, version)
        with as_mlflow_errors():
            registry.delete_model_version(name, int(version), store=self.store)

    def set_model_version_tag(self, name: str, version: int | str, tag: ModelVersionTag) -> None:
        _validate_model_name(name)
        _validate_model_version_tag(tag.key, tag.value)
        self._version_record(name, version)
        with as_mlflow_errors():
            registry.set_model_version_tag(name, int(version), tag.key, str(tag.value), store=self.store)

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        _validate_model_name(name)
        _validate_tag_name(key)
        self._version_record(name, version)
        with as_mlflow_errors():
            registry.delete_model_version_tag(name, int(version), key, store=self.store)

    # -- aliases ----------------------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        _validate_model_name(name)
        _validate_model_alias_name(alias)
        _validate_model_alias_name_reserved(alias)
        self._version_record(name, version)
        with as_mlflow_errors():
            registry.point_alias(name, alias, int(version), store=self.store)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        _validate_model_name(name)
        _validate_model_alias_name(alias)
        self._record(name)
        with as_mlflow_errors():
            registry.delete_model_alias(name, alias, store=self.store)

    def _await_model_version_creation(self, mv: ModelVersion, await_creation_for: int) -> None:
        """A version is READY when it is created: nothing to wait for."""


def _model_version(name: str, record: dict[str, Any]) -> ModelVersion:
    return ModelVersion(
        name, record["version"], record["created_time"], record["updated_time"], record["description"],
        record["user"], record["stage"], record["source"], record["run_id"], record["status"] or _READY,
        record["status_message"], [ModelVersionTag(key, value) for key, value in record["tags"].items()],
        record["run_link"], list(record["aliases"]), model_id=record["model_id"])


def _latest_per_stage(model: dict[str, Any]) -> list[ModelVersion]:
    """The newest version in each stage (MLflow's ``latest_versions``); versions come newest first."""
    newest: dict[str, dict[str, Any]] = {}
    for record in model["versions"]:
        newest.setdefault(record["stage"], record)
    return [_model_version(model["name"], record) for record in newest.values()]


def _registered_model(model: dict[str, Any]) -> RegisteredModel:
    aliases = [RegisteredModelAlias(alias, record["version"]) for record in model["versions"]
               for alias in record["aliases"]]
    return RegisteredModel(model["name"], model["created_time"], model["updated_time"], model["description"],
                           _latest_per_stage(model), [RegisteredModelTag(k, v) for k, v in model["tags"].items()],
                           sorted(aliases, key=lambda alias: alias.alias))


def _check_max_results(max_results: int, threshold: int) -> None:
    if not isinstance(max_results, int) or max_results < 1:
        raise MlflowException(f"Invalid value for max_results. It must be a positive integer, but got {max_results}",
                              INVALID_PARAMETER_VALUE)
    if max_results > threshold:
        raise MlflowException(f"Invalid value for request parameter max_results. It must be at most {threshold}, "
                              f"but got value {max_results}", INVALID_PARAMETER_VALUE)


def _page(items: list[Any], page_token: str | None, max_results: int) -> PagedList[Any]:
    offset = SearchUtils.parse_start_offset_from_page_token(page_token)
    end = offset + max_results
    return PagedList(items[offset:end], SearchUtils.create_page_token(end) if end < len(items) else None)
