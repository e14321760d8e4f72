"""How a run of ours is laid out in MLflow: the bookkeeping tags and artifacts ``push`` writes and
``pull`` reads back (one vocabulary, so the two cannot drift).

What MLflow has a place for goes there (params, metrics, tags, artifacts, ``mlflow.parentRunId``,
registered model versions and aliases). What it has none for rides along as files under
``jt_snapshot/`` (the executed notebook, the console output, the environment) or as tags named
``jt.*``; ``pull`` treats those as ours and never lists them as the run's tags or artifacts.
"""

from __future__ import annotations

RUN_ID_TAG = "jt.run_id"
SENT_TAG = "jt.metric_points_sent"
COMPLETE_TAG = "jt.push_complete"
INFINITE_TAG = "jt.infinite_points"
PUSHED_TO_TAG = "jt.pushed_to"
MLFLOW_RUN_TAG = "jt.mlflow_run_id"
#: Tags the push itself keeps on an MLflow run; they never come back as tags of the run.
BOOKKEEPING_TAGS = frozenset({RUN_ID_TAG, SENT_TAG, COMPLETE_TAG, INFINITE_TAG})
#: Local bookkeeping of ``push`` about where a run went: not tags of the run to mirror.
LOCAL_ONLY_TAGS = (PUSHED_TO_TAG, MLFLOW_RUN_TAG)
#: ``origin`` of a pulled run: "mlflow:<tracking uri>#<experiment id>".
ORIGIN_PREFIX = "mlflow:"

SNAPSHOT_ARTIFACT = "jt_snapshot/executed.ipynb"
#: The run's console output: a JSON list of {"seq", "stream", "text", "timestamp"}, in order.
CONSOLE_ARTIFACT = "jt_snapshot/console.json"
#: The run's environment as our capture stores it: {"env_sha", "python", "platform", "content", "git"}.
ENVIRONMENT_ARTIFACT = "jt_snapshot/environment.json"
#: Where the list of ±inf points goes when it is too long for a tag value (MLflow: 8,000 characters).
INFINITE_ARTIFACT = "jt_snapshot/infinite_points.json"
#: Artifacts that are bookkeeping of the push, not artifacts of the run.
BOOKKEEPING_ARTIFACTS = frozenset({SNAPSHOT_ARTIFACT, CONSOLE_ARTIFACT, ENVIRONMENT_ARTIFACT, INFINITE_ARTIFACT})
TAG_VALUE_LIMIT = 8000

#: Tags of an MLflow model version made by ``push``: our version number (how a rerun finds it and
#: how ``pull`` numbers it), its stage (MLflow's stages are deprecated), who registered it and when,
#: and its stage history (a JSON list, left out when longer than a model version tag may be).
VERSION_TAG = "jt.version"
STAGE_TAG = "jt.stage"
VERSION_USER_TAG = "jt.user"
VERSION_CREATED_TAG = "jt.created_time"
STAGE_HISTORY_TAG = "jt.stage_history"
VERSION_TAG_VALUE_LIMIT = 5000

#: The largest double; MLflow's SQL store clamps ±inf to it.
MAX_DOUBLE = 1.7976931348623157e308


def is_bookkeeping_tag(key: str) -> bool:
    """Whether the run tag ``key`` is the push's or MLflow's own (``mlflow.*``), not the user's."""
    return key in BOOKKEEPING_TAGS or key.startswith("mlflow.")
