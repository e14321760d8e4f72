"""MLflow 3's logged models (``mlflow.<flavor>.log_model``, autologging) kept in ``internal.logged_models``;
their files are content-addressed objects listed in ``internal.logged_model_files`` (see ``artifact_repository``)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from mlflow.entities import LoggedModel, LoggedModelParameter, LoggedModelStatus, LoggedModelTag
from mlflow.store.entities.paged_list import PagedList
from mlflow.utils.mlflow_tags import MLFLOW_LOGGED_MODELS
from mlflow.utils.search_utils import SearchUtils

from ..clock import now_ms
from ..store.sql import fetch_one
from ..store.uri import model_artifact_uri
from .errors import as_mlflow_errors, missing

_COLUMNS = ("model_id, experiment_id, name, source_run_id, status, model_type, created_time, updated_time, "
            "params_json, tags_json")


class LoggedModelsMixin:
    """The logged-model part of ``JupyterTrackerStore`` (which supplies ``store`` and ``_experiment_key``)."""

    store: Any

    def _experiment_key(self, experiment_id: str) -> int:
        raise NotImplementedError

    def _logged_model(self, row: tuple[Any, ...]) -> LoggedModel:
        model_id, experiment_id, name, run_id, status, model_type, created, updated, params, tags = row
        return LoggedModel(str(experiment_id), model_id, name, model_artifact_uri(self.store.root, model_id), created,
                           updated, model_type=model_type, source_run_id=run_id,
                           status=LoggedModelStatus(status), tags=json.loads(tags or "{}"),
                           params=json.loads(params or "{}"))

    def create_logged_model(self, experiment_id: str, name: str | None = None, source_run_id: str | None = None,
                            tags: list[LoggedModelTag] | None = None,
                            params: list[LoggedModelParameter] | None = None,
                            model_type: str | None = None) -> LoggedModel:
        key = self._experiment_key(experiment_id)
        model_id = f"m-{uuid.uuid4().hex}"
        now = now_ms()
        with as_mlflow_errors(), self.store.session() as con:
            con.execute(f"INSERT INTO internal.logged_models ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [model_id, key, name or model_id, source_run_id, _status_text(LoggedModelStatus.PENDING),
                         model_type, now, now, json.dumps({p.key: p.value for p in params or []}),
                         json.dumps({t.key: t.value for t in tags or []})])
        return self.get_logged_model(model_id)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        with as_mlflow_errors(), self.store.session() as con:
            row = fetch_one(con, f"SELECT {_COLUMNS} FROM internal.logged_models WHERE model_id = ?"
                                 f"{'' if allow_deleted else ' AND NOT deleted'}", [model_id])
        if row is None:
            raise missing(f"Logged model with ID '{model_id}' not found.")
        return self._logged_model(row)

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        self.get_logged_model(model_id)
        with as_mlflow_errors(), self.store.session() as con:
            con.execute("UPDATE internal.logged_models SET status = ?, updated_time = ? WHERE model_id = ?",
                        [_status_text(status), now_ms(), model_id])
        return self.get_logged_model(model_id)

    def _edit_tags(self, model_id: str, change: dict[str, str | None]) -> None:
        model = self.get_logged_model(model_id)
        tags = dict(model.tags)
        for key, value in change.items():
            if value is None:
                tags.pop(key, None)
            else:
                tags[key] = value
        with as_mlflow_errors(), self.store.session() as con:
            con.execute("UPDATE internal.logged_models SET tags_json = ?, updated_time = ? WHERE model_id = ?",
                        [json.dumps(tags), now_ms(), model_id])

    def set_logged_model_tags(self, model_id: str, tags: list[LoggedModelTag]) -> None:
        self._edit_tags(model_id, {tag.key: tag.value for tag in tags})

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self._edit_tags(model_id, {key: None})

    def delete_logged_model(self, model_id: str) -> None:
        self.get_logged_model(model_id)
        with as_mlflow_errors(), self.store.session() as con:
            con.execute("UPDATE internal.logged_models SET deleted = true WHERE model_id = ?", [model_id])

    def search_logged_models(self, experiment_ids: list[str], filter_string: str | None = None,
                             datasets: list[dict[str, Any]] | None = None, max_results: int | None = None,
                             order_by: list[dict[str, Any]] | None = None,
                             page_token: str | None = None) -> PagedList[LoggedModel]:
        """Models of the experiments, newest first. MLflow's logged-model filter (``name = 'x'``,
        ``source_run_id = '...'``) is applied by MLflow's own parser over the models."""
        from mlflow.utils.search_logged_model_utils import parse_filter_string

        keys = [self._experiment_key(experiment_id) for experiment_id in experiment_ids]
        with as_mlflow_errors(), self.store.session() as con:
            rows = con.execute(f"SELECT {_COLUMNS} FROM internal.logged_models WHERE NOT deleted AND experiment_id "
                               f"IN (SELECT unnest(?)) ORDER BY created_time DESC, model_id", [keys]).fetchall()
        models = [self._logged_model(row) for row in rows]
        for comparison in parse_filter_string(filter_string) if filter_string else []:
            models = [m for m in models if _matches(m, comparison)]
        page, token = SearchUtils.paginate(models, page_token, max_results or 100)
        return PagedList(page, token)

    def log_outputs(self, run_id: str, models: list[Any]) -> None:
        """The run's outputs are the logged models whose source run it is; nothing more to keep."""

    def record_logged_model(self, run_id: str, mlflow_model: Any) -> None:
        """MLflow 2's record of a model logged by a run: the ``mlflow.log-model.history`` tag."""
        run = self.get_run(run_id)  # type: ignore[attr-defined]
        history = json.loads(run.data.tags.get(MLFLOW_LOGGED_MODELS, "[]"))
        history.append(mlflow_model.get_tags_dict())
        from mlflow.entities import RunTag

        self.set_tag(run_id, RunTag(MLFLOW_LOGGED_MODELS, json.dumps(history)))  # type: ignore[attr-defined]


def _status_text(status: LoggedModelStatus | int | str) -> str:
    member = LoggedModelStatus.from_int(status) if isinstance(status, int) else LoggedModelStatus(status)
    return str(member.value)


def _matches(model: LoggedModel, comparison: Any) -> bool:
    """``comparison`` (from MLflow's logged-model filter parser) holds for ``model``: attributes, params
    and tags by =, !=, IN and NOT IN (metrics of logged models are not kept)."""
    kind, key = comparison.entity.type.value, comparison.entity.key
    values = {"attributes": None, "params": model.params, "tags": model.tags}.get(kind, {})
    value = getattr(model, key, None) if values is None else values.get(key)
    wanted = comparison.value
    if comparison.op in ("IN", "NOT IN"):
        inside = bool(value in wanted)
        return inside if comparison.op == "IN" else not inside
    if comparison.op == "!=":
        return value is not None and str(value) != str(wanted)
    return value is not None and str(value) == str(wanted)
