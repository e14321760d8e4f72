"""The JSON every REST route answers, declared once: TypedDicts named like (and with the fields of)
the interfaces of ``labextension/src/api.ts``.

``api.py``'s functions are annotated with them; ``tests/test_server_payloads.py`` checks a real
answer of every route against the annotation, and every TypedDict here against ``api.ts`` (names,
fields, optional fields and types), so the Python and TypeScript sides cannot drift apart.
Replies that ``api.ts`` declares inline (``requestAPI<{ experiments: ... }>``) or ignores (a tag
write's ``{"ok": true}``) are declared here too, with the api.ts function that reads them in
``INLINE_IN_API_TS`` and ``IGNORED_BY_API_TS``.
"""

# No ``from __future__ import annotations``: with string annotations, Python 3.11 counts NotRequired
# fields as required (``__optional_keys__`` stays empty).
from typing import Any, NotRequired, TypedDict

__all__ = [
    "ActiveRun", "ExperimentList", "IArtifact", "IExperimentSummary", "IGitInfo", "IInputInfo", "IMetricHistory",
    "IModelVersion", "IRegisteredModel", "IRunDetails", "IRunError", "IRunPage", "IRunsDeleted", "IRunSummary",
    "ISource", "ISyncState", "IStoreInfo", "IGNORED_BY_API_TS", "INLINE_IN_API_TS", "ModelList", "RestoredPath",
    "RunDeleted", "TagDeleted", "TagSet",
]


class IStoreInfo(TypedDict):
    store: str
    store_relative: str | None
    exists: bool


class IExperimentSummary(TypedDict):
    name: str
    run_count: int
    running_count: int
    last_start_time: int | None


class ISyncState(TypedDict):
    state: str
    pending_points: int
    error: str | None
    remote: str


class IRunSummary(TypedDict):
    run_id: str
    run_name: str
    experiment: str
    status: str
    start_time: int | None
    end_time: int | None
    duration_s: float | None
    parent_run_id: str | None
    params: dict[str, str]
    metrics: dict[str, float | None]
    metrics_nonfinite: dict[str, str]
    tags: dict[str, str]
    #: team sync's badge (synced / pending N points / failed with the reason); absent for a run no mirror has seen
    sync: NotRequired[ISyncState]


class IRunPage(TypedDict):
    runs: list[IRunSummary]
    total: int
    running: int
    #: how many runs of the page team sync still has to send something of
    syncing: NotRequired[int]
    #: search_runs' UnknownKeyWarning texts (a filter key no run has, with the keys there are); absent if none
    warnings: NotRequired[list[str]]


class IArtifact(TypedDict):
    path: str
    size: int | None
    media_type: str | None


class ISource(TypedDict):
    kind: str | None
    code: str | None
    cell_id: str | None
    execution_count: int | None
    notebook_path: str | None
    script_path: str | None
    previous_run_id: NotRequired[str | None]


class IInputInfo(TypedDict):
    name: str | None
    digest: str | None
    source: NotRequired[str | None]
    context: str | None
    num_rows: int | None
    #: The dataset's schema and profile (parsed JSON, or the stored text when it is not JSON).
    schema: Any
    profile: Any


class IGitInfo(TypedDict):
    commit: NotRequired[str | None]
    branch: NotRequired[str | None]
    remote: NotRequired[str | None]
    dirty: NotRequired[bool | None]


class IRunError(TypedDict):
    type: NotRequired[str]
    message: NotRequired[str]
    traceback: NotRequired[str]


class IRunDetails(IRunSummary):
    user: str | None
    host: str | None
    pid: int | None
    artifacts: list[IArtifact]
    inputs: list[IInputInfo]
    environment: dict[str, Any] | None
    git: IGitInfo | None
    source: ISource
    error: IRunError | None
    console: str
    console_truncated: bool
    children: list[str]
    #: Names of the parent and child runs by run id, so the details panel links them by name.
    run_names: dict[str, str]
    metric_keys: list[str]
    has_snapshot: bool
    snapshot_kinds: list[str]


class IMetricHistory(TypedDict):
    key: str
    steps: list[int]
    timestamps: list[int]
    values: list[float | None]
    nonfinite: dict[str, str]
    downsampled: bool
    total_points: int


class IModelVersion(TypedDict):
    version: int
    stage: str
    aliases: list[str]
    run_id: str
    run_name: str | None
    source: str
    description: str | None
    user: str | None
    created_time: int


class IRegisteredModel(TypedDict):
    name: str
    description: str | None
    tags: dict[str, str]
    created_time: int
    updated_time: int
    versions: list[IModelVersion]


# -- replies api.ts declares inline, or ignores ---------------------------------------------------------
class ExperimentList(TypedDict):
    experiments: list[IExperimentSummary]


class ModelList(TypedDict):
    models: list[IRegisteredModel]


class RestoredPath(TypedDict):
    path: str


class ActiveRun(TypedDict):
    run: IRunSummary | None
    #: how many runs of the store team sync still has to send something of (the status bar's "syncing n runs")
    syncing: NotRequired[int]


class TagSet(TypedDict):
    ok: bool


class TagDeleted(TypedDict):
    ok: bool
    existed: bool


class RunDeleted(TypedDict):
    #: The full id of the run now marked deleted.
    deleted: str


class IRunsDeleted(TypedDict):
    #: Every run now marked deleted: those asked for and their nested runs.
    deleted: list[str]
    #: Of those, the ones that went as another's nested run.
    nested: list[str]
    #: Asked for but kept: registered model versions point at them.
    kept_registered: list[str]
    #: Asked for but kept: still RUNNING.
    kept_running: list[str]


#: TypedDict name -> the api.ts function whose ``requestAPI<{ ... }>`` declares that reply inline.
INLINE_IN_API_TS = {"ExperimentList": "listExperiments", "ModelList": "listModels", "RestoredPath": "restoreSnapshot",
                    "ActiveRun": "getActiveRun"}
#: TypedDict name -> the api.ts function that calls the route and ignores its reply.
IGNORED_BY_API_TS = {"TagSet": "setTag", "TagDeleted": "deleteTag", "RunDeleted": "deleteRun"}
