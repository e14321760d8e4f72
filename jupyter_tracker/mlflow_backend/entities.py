"""Our rows as MLflow's entities: experiments, runs (info, data, inputs) and logged models.

Ids: an MLflow experiment id is our experiment's integer id as digits (stable: it never changes
once the experiment exists); run ids are ours. What MLflow shows of our own concepts is added as
tags when the run does not set them itself: ``mlflow.runName``, ``mlflow.user``, ``mlflow.source.*``,
``mlflow.parentRunId`` and, under ``jupyter_tracker.*``, the notebook, cell and error of the run.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mlflow.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    ExperimentTag,
    InputTag,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunTag,
)
from mlflow.utils.mlflow_tags import (
    MLFLOW_DATASET_CONTEXT,
    MLFLOW_PARENT_RUN_ID,
    MLFLOW_RUN_NAME,
    MLFLOW_SOURCE_NAME,
    MLFLOW_SOURCE_TYPE,
    MLFLOW_USER,
)

from ..store.uri import run_artifact_uri, store_uri

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

    from ..store.database import Store

#: Where MLflow's dataset fields that our inputs table has no column for are kept (in schema_json).
MLFLOW_DATASET_KEY = "mlflow"


def experiments(con: DuckDBPyConnection, store: Store, where: str = "TRUE", args: list[Any] | None = None
                ) -> list[Experiment]:
    rows = con.execute(f"""
        SELECT e.experiment_id, e.name, e.created_time, coalesce(s.lifecycle_stage, 'active'), s.artifact_location,
               coalesce(s.last_update_time, e.created_time)
        FROM internal.experiments e LEFT JOIN internal.experiment_states s USING (experiment_id)
        WHERE {where} ORDER BY e.experiment_id""", args or []).fetchall()
    tags: dict[int, list[ExperimentTag]] = {}
    for experiment_id, key, value in con.execute(
            "SELECT experiment_id, key, value FROM internal.experiment_tags ORDER BY key").fetchall():
        tags.setdefault(experiment_id, []).append(ExperimentTag(key, value))
    return [Experiment(str(experiment_id), name, location or f"{store_uri(store.root)}/-/experiments/{experiment_id}",
                       stage, tags=tags.get(experiment_id, []), creation_time=created, last_update_time=updated)
            for experiment_id, name, created, stage, location, updated in rows]


def runs(con: DuckDBPyConnection, store: Store, run_ids: list[str]) -> list[Run]:
    """The MLflow ``Run`` of each id (in the order given; unknown ids are left out)."""
    if not run_ids:
        return []
    chosen = "IN (SELECT run_key FROM internal.runs WHERE run_id IN (SELECT unnest(?)))"
    rows = con.execute(f"""
        SELECT run_key, run_id, experiment_id, user_name, status, start_time, end_time, deleted, run_name,
               parent_run_id, source_kind, notebook_path, script_path, cell_id, error_type, error_message
        FROM internal.runs WHERE run_key {chosen}""", [run_ids]).fetchall()
    params: dict[int, list[Param]] = {}
    for run_key, key, value in con.execute(
            f"SELECT run_key, key, value FROM internal.params WHERE run_key {chosen} ORDER BY key",
            [run_ids]).fetchall():
        params.setdefault(run_key, []).append(Param(key, value))
    tags: dict[int, dict[str, str]] = {}
    for run_key, key, value in con.execute(
            f"SELECT run_key, key, value FROM internal.tags WHERE run_key {chosen}", [run_ids]).fetchall():
        tags.setdefault(run_key, {})[key] = value
    metrics: dict[int, list[Metric]] = {}
    for run_key, key, value, timestamp, step in con.execute(f"""
            SELECT m.run_key, k.key, m.value, m.timestamp, m.step FROM internal.latest_metrics m
            JOIN internal.metric_keys k USING (key_id) WHERE m.run_key {chosen} ORDER BY k.key""",
            [run_ids]).fetchall():
        metrics.setdefault(run_key, []).append(Metric(key, value, timestamp, step))
    inputs: dict[int, list[DatasetInput]] = {}
    for run_key, name, digest, source, context, schema_json, profile_json in con.execute(f"""
            SELECT run_key, name, digest, source, context, schema_json, profile_json FROM internal.inputs
            WHERE run_key {chosen} ORDER BY created_time""", [run_ids]).fetchall():
        inputs.setdefault(run_key, []).append(dataset_input(name, digest, source, context, schema_json, profile_json))
    by_id = {}
    for (run_key, run_id, experiment_id, user, status, start, end, deleted, name, parent, kind, notebook, script,
         cell_id, error_type, error_message) in rows:
        run_tags = dict(tags.get(run_key, {}))
        shown = {MLFLOW_RUN_NAME: name, MLFLOW_USER: user, MLFLOW_PARENT_RUN_ID: parent,
                 MLFLOW_SOURCE_NAME: notebook or script, MLFLOW_SOURCE_TYPE: "NOTEBOOK" if notebook else None,
                 "jupyter_tracker.cell_id": cell_id, "jupyter_tracker.source_kind": kind,
                 "jupyter_tracker.error": f"{error_type}: {error_message}" if error_type else None}
        for key, value in shown.items():
            if value is not None and key not in run_tags:
                run_tags[key] = str(value)
        info = RunInfo(run_id=run_id, experiment_id=str(experiment_id), user_id=user or "", status=status,
                       start_time=start, end_time=end,
                       lifecycle_stage=LifecycleStage.DELETED if deleted else LifecycleStage.ACTIVE,
                       artifact_uri=run_artifact_uri(store.root, run_id), run_name=name)
        data = RunData(metrics=metrics.get(run_key, []), params=params.get(run_key, []),
                       tags=[RunTag(key, value) for key, value in sorted(run_tags.items())])
        by_id[run_id] = Run(info, data, RunInputs(dataset_inputs=inputs.get(run_key, [])))
    return [by_id[run_id] for run_id in run_ids if run_id in by_id]


def dataset_input(name: str, digest: str, source: str | None, context: str, schema_json: str | None,
                  profile_json: str | None) -> DatasetInput:
    """An input row as MLflow's DatasetInput: datasets MLflow logged keep their own source type, schema
    and profile (kept under ``schema_json``'s "mlflow" key); ours show our schema and profile JSON."""
    schema = json.loads(schema_json) if schema_json else {}
    kept = schema.get(MLFLOW_DATASET_KEY) if isinstance(schema, dict) else None
    if isinstance(kept, dict):
        dataset = Dataset(name, digest, kept.get("source_type") or "", source or "", kept.get("schema"),
                          kept.get("profile"))
        extra = [InputTag(key, value) for key, value in (kept.get("tags") or {}).items()]
    else:
        dataset = Dataset(name, digest, "jupyter_tracker", source or "", schema_json, profile_json)
        extra = []
    return DatasetInput(dataset, [InputTag(MLFLOW_DATASET_CONTEXT, context), *extra])
