"""``JupyterTrackerStore``: MLflow's tracking-store interface over a jupyter_tracker store.

Writes go through ``Run`` (this process's journal: no lock per call, SIGKILL-safe), except the
rare edits MLflow makes after the fact (deleting, renaming, moving an end time), which are store
edits like ``manage``'s. Reads go through our query layer: ``search_runs`` compiles MLflow's filter
with ``filter.py``, so the plugin and ``jt.search_runs`` accept and mean the same filters.
"""

from __future__ import annotations

import json
from typing import Any

from mlflow.entities import DatasetInput, Experiment, Metric, Param, RunInfo, RunStatus, RunTag, ViewType
from mlflow.entities import Run as MlflowRun
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import SEARCH_MAX_RESULTS_DEFAULT
from mlflow.store.tracking.abstract_store import AbstractStore
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT, MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
from mlflow.utils.search_utils import SearchExperimentsUtils, SearchUtils

from .. import manage, query, validation
from ..clock import now_ms
from ..config import DEFAULT_EXPERIMENT
from ..errors import MetricNotFoundError
from ..names import generate_run_name
from ..run import Run
from ..store import events
from ..store.database import Store, get_store
from ..store.sql import fetch_one, transaction
from ..store.uri import store_root_of
from . import entities, handles, logged_models
from .errors import as_mlflow_errors, exists, invalid, missing

_END_STATUSES = {"FINISHED", "FAILED", "KILLED"}


class JupyterTrackerStore(logged_models.LoggedModelsMixin, AbstractStore):
    """The tracking store MLflow uses for ``jupyter-tracker:`` URIs."""

    def __init__(self, store_uri: str | None = None, artifact_uri: str | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # MLflow's, unannotated
        with as_mlflow_errors():
            self.store: Store = get_store(store_root_of(store_uri or "jupyter-tracker:"))
            self.store.ensure_directory()

    # -- experiments ------------------------------------------------------------------------------
    def _experiments(self, where: str = "TRUE", args: list[Any] | None = None) -> list[Experiment]:
        with as_mlflow_errors(), self.store.session() as con:
            return entities.experiments(con, self.store, where, args)

    def _experiment_key(self, experiment_id: str) -> int:
        """Our integer id for MLflow's ``experiment_id``; "0" (MLflow's default) is our default experiment."""
        text = str(experiment_id)
        if not text.isdigit():
            raise invalid(f"experiment ids are strings of digits such as '1', not {experiment_id!r}")
        if text != "0":
            return int(text)
        with as_mlflow_errors(), self.store.session() as con:
            row = fetch_one(con, "SELECT experiment_id FROM internal.experiments WHERE name = ? OR experiment_id = 0 "
                                 "ORDER BY experiment_id = 0 DESC", [DEFAULT_EXPERIMENT])
            if row is not None:
                return int(row[0])
            con.execute("INSERT INTO internal.experiments (experiment_id, name, created_time) VALUES (0, ?, ?)",
                        [DEFAULT_EXPERIMENT, now_ms()])
        return 0

    def search_experiments(self, view_type: int = ViewType.ACTIVE_ONLY, max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
                           filter_string: str | None = None, order_by: list[str] | None = None,
                           page_token: str | None = None) -> PagedList[Experiment]:
        self._experiment_key("0")  # MLflow's UI and clients expect the default experiment to exist
        stages = {ViewType.ACTIVE_ONLY: {"active"}, ViewType.DELETED_ONLY: {"deleted"}}.get(view_type,
                                                                                             {"active", "deleted"})
        found = [e for e in self._experiments() if e.lifecycle_stage in stages]
        found = SearchExperimentsUtils.filter(found, filter_string)
        found = SearchExperimentsUtils.sort(found, order_by or ["creation_time DESC", "experiment_id ASC"])
        page, token = SearchUtils.paginate(found, page_token, max_results)
        return PagedList(page, token)

    def create_experiment(self, name: str, artifact_location: str | None = None, tags: list[Any] | None = None) -> str:
        with as_mlflow_errors():
            validation.check_key(name, "experiment")
        now = now_ms()
        with as_mlflow_errors(), self.store.session() as con, transaction(con):
            if fetch_one(con, "SELECT 1 FROM internal.experiments WHERE name = ?", [name]):
                raise exists(f"Experiment '{name}' already exists.")
            (experiment_id,) = fetch_one(con, "SELECT coalesce(max(experiment_id), 0) + 1 FROM internal.experiments"
                                         ) or (1,)
            con.execute("INSERT INTO internal.experiments (experiment_id, name, created_time) VALUES (?, ?, ?)",
                        [experiment_id, name, now])
            con.execute("INSERT INTO internal.experiment_states VALUES (?, 'active', ?, ?)",
                        [experiment_id, artifact_location, now])
            for tag in tags or []:
                con.execute("INSERT INTO internal.experiment_tags VALUES (?, ?, ?)",
                            [experiment_id, tag.key, tag.value])
        return str(experiment_id)

    def get_experiment(self, experiment_id: str) -> Experiment:
        key = self._experiment_key(experiment_id)
        found = self._experiments("e.experiment_id = ?", [key])
        if not found:
            raise missing(f"No Experiment with id={experiment_id} exists")
        return found[0]

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        if experiment_name == DEFAULT_EXPERIMENT:
            self._experiment_key("0")
        found = self._experiments("e.name = ?", [experiment_name])
        return found[0] if found else None

    def _set_experiment_stage(self, experiment_id: str, stage: str) -> None:
        self.get_experiment(experiment_id)  # raises RESOURCE_DOES_NOT_EXIST for an unknown id
        key = self._experiment_key(experiment_id)
        with as_mlflow_errors(), self.store.session() as con, transaction(con):
            self._upsert_state(con, key, stage)
            con.execute("UPDATE internal.runs SET deleted = ? WHERE experiment_id = ?", [stage == "deleted", key])

    @staticmethod
    def _upsert_state(con: Any, key: int, stage: str | None = None) -> None:
        row = fetch_one(con, "SELECT lifecycle_stage FROM internal.experiment_states WHERE experiment_id = ?", [key])
        if row is None:
            con.execute("INSERT INTO internal.experiment_states VALUES (?, ?, NULL, ?)", [key, stage or "active",
                                                                                         now_ms()])
        else:
            con.execute("UPDATE internal.experiment_states SET lifecycle_stage = ?, last_update_time = ? "
                        "WHERE experiment_id = ?", [stage or row[0], now_ms(), key])

    def delete_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, "deleted")

    def restore_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, "active")

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        key = self._experiment_key(experiment_id)
        self.get_experiment(experiment_id)
        with as_mlflow_errors():
            validation.check_key(new_name, "experiment")
        with as_mlflow_errors(), self.store.session() as con, transaction(con):
            if fetch_one(con, "SELECT 1 FROM internal.experiments WHERE name = ?", [new_name]):
                raise exists(f"Experiment '{new_name}' already exists.")
            con.execute("UPDATE internal.experiments SET name = ? WHERE experiment_id = ?", [new_name, key])
            self._upsert_state(con, key)

    def set_experiment_tag(self, experiment_id: str, tag: Any) -> None:
        key = self._experiment_key(experiment_id)
        self.get_experiment(experiment_id)
        with as_mlflow_errors(), self.store.session() as con, transaction(con):
            con.execute("DELETE FROM internal.experiment_tags WHERE experiment_id = ? AND key = ?", [key, tag.key])
            con.execute("INSERT INTO internal.experiment_tags VALUES (?, ?, ?)", [key, tag.key, tag.value])

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        experiment_key = self._experiment_key(experiment_id)
        with as_mlflow_errors(), self.store.session() as con:
            con.execute("DELETE FROM internal.experiment_tags WHERE experiment_id = ? AND key = ?",
                        [experiment_key, key])

    # -- runs --------------------------------------------------------------------------------------
    def create_run(self, experiment_id: str, user_id: str, start_time: int | None, tags: list[RunTag],
                   run_name: str | None) -> MlflowRun:
        experiment = self.get_experiment(experiment_id)
        if experiment.lifecycle_stage != "active":
            raise invalid(f"The experiment {experiment_id} must be in the 'active' state to create a run.")
        if start_time is not None:  # before the run exists: a refused time leaves nothing behind
            with as_mlflow_errors():
                start_time = validation.timestamp_ms(start_time, "the run's start time")
        tag_values = {tag.key: tag.value for tag in tags or []}
        run_name = run_name or tag_values.get(MLFLOW_RUN_NAME) or generate_run_name()
        tag_values[MLFLOW_RUN_NAME] = run_name
        parent = tag_values.get(MLFLOW_PARENT_RUN_ID)
        with as_mlflow_errors():
            run = None if parent else handles.adoptable(self.store)
            if run is not None:  # a %%track cell's run: MLflow logs into it (one run, not two)
                run.set_tags({k: v for k, v in tag_values.items() if k != MLFLOW_RUN_NAME})
                return self.get_run(run.run_id)
            run = Run(self.store, experiment=experiment.name, run_name=validation.run_name(run_name),
                      parent_run_id=parent, source=_source(tag_values))
            handles.remember(run)
            run.set_tags(tag_values)
        if (start_time is not None and start_time != run.start_time) or (user_id and user_id != _user(run)):
            with as_mlflow_errors(), self.store.session() as con:
                con.execute("UPDATE internal.runs SET start_time = coalesce(?, start_time), "
                            "user_name = coalesce(?, user_name) WHERE run_id = ?", [start_time, user_id or None,
                                                                                   run.run_id])
        return self.get_run(run.run_id)

    def get_run(self, run_id: str) -> MlflowRun:
        with as_mlflow_errors(), self.store.session() as con:
            found = entities.runs(con, self.store, [run_id])
        if not found:
            raise missing(f"Run with id={run_id} not found")
        return found[0]

    def update_run_info(self, run_id: str, run_status: int | str, end_time: int | None,
                        run_name: str | None) -> RunInfo:
        status = run_status if isinstance(run_status, str) else RunStatus.to_string(run_status)
        with as_mlflow_errors():
            if end_time is not None:
                end_time = validation.timestamp_ms(end_time, "the run's end time")
            if run_name:
                manage.rename_run(run_id, run_name, store=self.store)
            if status in _END_STATUSES and not handles.release_if_adopted(self.store, run_id):
                run = handles.handle(self.store, run_id)
                run.end(status)
                with self.store.session() as con:  # an end time MLflow chose, or a second end (set_terminated)
                    con.execute("UPDATE internal.runs SET status = ?, end_time = coalesce(?, end_time) "
                                "WHERE run_id = ?", [status, end_time, run_id])
        return self.get_run(run_id).info

    def delete_run(self, run_id: str) -> None:
        self.get_run(run_id)
        with as_mlflow_errors(), self.store.session() as con:
            con.execute("UPDATE internal.runs SET deleted = true WHERE run_id = ?", [run_id])

    def restore_run(self, run_id: str) -> None:
        self.get_run(run_id)
        with as_mlflow_errors(), self.store.session() as con:
            con.execute("UPDATE internal.runs SET deleted = false WHERE run_id = ?", [run_id])

    def _search_runs(self, experiment_ids: list[str], filter_string: str, run_view_type: int, max_results: int,
                     order_by: list[str] | None, page_token: str | None) -> tuple[list[MlflowRun], str | None]:
        offset = SearchUtils.parse_start_offset_from_page_token(page_token)
        keys = {self._experiment_key(experiment_id) for experiment_id in experiment_ids}
        names = [e.name for e in self._experiments() if int(e.experiment_id) in keys]
        if not names or max_results == 0:
            return [], None
        deleted_only = run_view_type == ViewType.DELETED_ONLY
        with as_mlflow_errors():
            frame = query.search_runs(
                names, filter=filter_string or None, order_by=list(order_by) if order_by else None,
                max_results=query.DEFAULT_MAX_RESULTS if deleted_only else max_results + 1,
                offset=0 if deleted_only else offset, include_deleted=run_view_type != ViewType.ACTIVE_ONLY,
                warn_unknown_keys=False, store=self.store)
        run_ids = [str(run_id) for run_id in frame["run_id"]] if len(frame) else []
        with as_mlflow_errors(), self.store.session() as con:
            if deleted_only:
                gone = {r for (r,) in con.execute("SELECT run_id FROM internal.runs WHERE deleted").fetchall()}
                run_ids = [run_id for run_id in run_ids if run_id in gone][offset:offset + max_results + 1]
            found = entities.runs(con, self.store, run_ids[:max_results])
        token = SearchUtils.create_page_token(offset + max_results) if len(run_ids) > max_results else None
        return found, token

    def _search_datasets(self, experiment_ids: list[str]) -> list[Any]:
        """Each (experiment, dataset name, digest, context) the experiments' runs used (the runs table's
        dataset filter in MLflow's UI)."""
        from mlflow.entities.dataset_summary import _DatasetSummary

        keys = [self._experiment_key(experiment_id) for experiment_id in experiment_ids]
        with as_mlflow_errors(), self.store.session() as con:
            rows = con.execute("""SELECT DISTINCT r.experiment_id, i.name, i.digest, i.context FROM internal.inputs i
                JOIN internal.runs r USING (run_key) WHERE NOT r.deleted AND r.experiment_id IN (SELECT unnest(?))
                ORDER BY 1, 2, 3, 4 LIMIT 1000""", [keys]).fetchall()
        return [_DatasetSummary(str(experiment_id), name, digest, context) for experiment_id, name, digest, context
                in rows]

    # -- logging -----------------------------------------------------------------------------------
    def log_batch(self, run_id: str, metrics: list[Metric], params: list[Param], tags: list[RunTag]) -> None:
        with as_mlflow_errors():
            run = handles.handle(self.store, run_id)
            if params:
                self._log_params(run, params)
            tag_values = {tag.key: tag.value for tag in tags}
            new_name = tag_values.get(MLFLOW_RUN_NAME)
            if new_name and new_name != run.run_name:
                manage.rename_run(run_id, new_name, store=self.store)
                run.run_name = new_name
            if tag_values:
                run.set_tags(tag_values)
            for metric in metrics:
                run.log_metric(metric.key, float(metric.value), int(metric.step or 0), int(metric.timestamp))

    @staticmethod
    def _log_params(run: Run, params: list[Param]) -> None:
        values = {param.key: str(param.value) for param in params}
        for key, value in values.items():
            known = run.params.get(key)
            if known is not None and known != value:
                raise invalid(f"Changing param values is not allowed. Param with key='{key}' was already logged "
                              f"with value='{known}' for run ID='{run.run_id}'. Attempted logging new value "
                              f"'{value}'.")
        run.log_params(values)

    def log_metric(self, run_id: str, metric: Metric) -> None:
        self.log_batch(run_id, [metric], [], [])

    def log_param(self, run_id: str, param: Param) -> None:
        self.log_batch(run_id, [], [param], [])

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        self.log_batch(run_id, [], [], [tag])

    def delete_tag(self, run_id: str, key: str) -> None:
        run = self.get_run(run_id)
        if key not in run.data.tags:
            raise invalid(f"No tag with name: {key} in run with id {run_id}")
        with as_mlflow_errors():
            handles.handle(self.store, run_id).delete_tag(key)

    def get_metric_history(self, run_id: str, metric_key: str, max_results: int | None = None,
                           page_token: str | None = None) -> PagedList[Metric]:
        self.get_run(run_id)
        with as_mlflow_errors():
            try:
                frame = query.get_metric_history(run_id, metric_key, store=self.store)
            except MetricNotFoundError:  # MLflow answers a metric the run lacks with no points
                return PagedList([], None)
        timestamps = frame["timestamp"].to_numpy().astype("datetime64[ms]").astype("int64")
        points = [Metric(metric_key, float(value), int(timestamp), int(step))
                  for step, timestamp, value in zip(frame["step"].to_numpy(), timestamps, frame["value"].to_numpy())]
        return PagedList(points, None)

    def log_inputs(self, run_id: str, datasets: list[DatasetInput] | None = None, models: Any = None) -> None:
        with as_mlflow_errors():
            run = handles.handle(self.store, run_id)
            for item in datasets or []:
                tags = {tag.key: tag.value for tag in item.tags or []}
                context = tags.pop(MLFLOW_DATASET_CONTEXT, None)
                dataset = item.dataset
                kept = {"source_type": dataset.source_type, "schema": dataset.schema, "profile": dataset.profile,
                        "tags": tags}
                run.record_input(events.input_used(
                    run.slot, dataset.name, dataset.digest, dataset.source, context,
                    json.dumps({entities.MLFLOW_DATASET_KEY: kept}), dataset.profile or "{}", _num_rows(dataset),
                    now_ms()))


    def link_traces_to_run(self, trace_ids: list[str], run_id: str) -> None:
        raise NotImplementedError("a jupyter-tracker store keeps no MLflow traces, so none can be linked to a run; "
                                  "send traces to an MLflow server (mlflow.set_tracking_uri('http://...'))")


def _num_rows(dataset: Any) -> int | None:
    try:
        rows = json.loads(dataset.profile or "{}").get("num_rows")
    except (ValueError, AttributeError):
        return None
    return rows if isinstance(rows, int) else None


def _source(tags: dict[str, str]) -> dict[str, Any]:
    """The source of a run MLflow starts: the notebook cell inside a kernel, else what MLflow names."""
    from ..capture.source import current_source

    source, shell = current_source()
    if shell is not None:
        return source
    return {"kind": "mlflow", "script_path": tags.get("mlflow.source.name"), "code": None, "cell_key": None}


def _user(run: Run) -> str:
    from ..capture.user import current_user

    return current_user() or ""

