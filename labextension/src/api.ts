/**
 * Typed models of the REST API under /jupyter-tracker/api/ (jupyter_tracker/server/api.py) and
 * one function per endpoint. Every call takes `dir`: the notebook folder, relative to the
 * server's root, whose store is meant (the store a kernel started there would use).
 */
import { apiUrl, requestAPI } from './request';

/**
 * A run as the front end addresses it: the folder (relative to the server root) whose store
 * holds it, and its id. Commands take it as their args; panels and lists emit it.
 */
export interface IRunTarget {
  dir: string;
  runId: string;
}

/** RUNNING, FINISHED, FAILED or KILLED (kept open to statuses of newer stores). */
export type RunStatus = string;

export interface IStoreInfo {
  store: string;
  store_relative: string | null;
  exists: boolean;
}

export interface IExperimentSummary {
  name: string;
  run_count: number;
  running_count: number;
  last_start_time: number | null;
}

export interface IRunSummary {
  run_id: string;
  run_name: string;
  experiment: string;
  status: RunStatus;
  /** Epoch milliseconds. */
  start_time: number | null;
  end_time: number | null;
  duration_s: number | null;
  parent_run_id: string | null;
  params: Record<string, string>;
  /** Latest value of each metric; null for NaN/±Infinity (see metrics_nonfinite). */
  metrics: Record<string, number | null>;
  metrics_nonfinite: Record<string, string>;
  tags: Record<string, string>;
  /** Team sync's badge; absent for a run no mirror has seen. */
  sync?: ISyncState;
}

/** A mirrored run's team sync state: synced, pending (points still to send) or failed (why). */
export interface ISyncState {
  state: string;
  pending_points: number;
  error: string | null;
  remote: string;
}

export interface IRunPage {
  runs: IRunSummary[];
  total: number;
  running: number;
  /** How many runs of the page team sync still has to send something of. */
  syncing?: number;
  /** search_runs' UnknownKeyWarning texts: a filter key no run has, naming the keys there are. */
  warnings?: string[];
}

export interface IArtifact {
  path: string;
  size: number | null;
  media_type: string | null;
}

export interface ISource {
  kind: string | null;
  code: string | null;
  cell_id: string | null;
  execution_count: number | null;
  notebook_path: string | null;
  script_path: string | null;
  previous_run_id?: string | null;
}

export interface IInputInfo {
  name: string | null;
  digest: string | null;
  source?: string | null;
  context: string | null;
  num_rows: number | null;
  /** The dataset's schema and profile (parsed JSON, or the stored text when it is not JSON). */
  schema: unknown;
  profile: unknown;
}

export interface IGitInfo {
  commit?: string | null;
  branch?: string | null;
  remote?: string | null;
  dirty?: boolean | null;
}

export interface IRunError {
  type?: string;
  message?: string;
  traceback?: string;
}

export interface IRunDetails extends IRunSummary {
  user: string | null;
  host: string | null;
  pid: number | null;
  artifacts: IArtifact[];
  inputs: IInputInfo[];
  environment: Record<string, unknown> | null;
  git: IGitInfo | null;
  source: ISource;
  error: IRunError | null;
  console: string;
  console_truncated: boolean;
  children: string[];
  /** Names of the parent and child runs, by run id: links show names. */
  run_names: Record<string, string>;
  metric_keys: string[];
  has_snapshot: boolean;
  snapshot_kinds: string[];
}

export interface IMetricHistory {
  key: string;
  steps: number[];
  timestamps: number[];
  values: (number | null)[];
  nonfinite: Record<string, string>;
  downsampled: boolean;
  total_points: number;
}

/** One version of a registered model, as the sidebar's "Models" section lists it. */
export interface IModelVersion {
  version: number;
  /** None, Staging, Production or Archived. */
  stage: string;
  aliases: string[];
  /** The run the version was registered from, and its name (null when the run is gone). */
  run_id: string;
  run_name: string | null;
  source: string;
  description: string | null;
  user: string | null;
  /** Epoch milliseconds. */
  created_time: number;
}

export interface IRegisteredModel {
  name: string;
  description: string | null;
  tags: Record<string, string>;
  created_time: number;
  updated_time: number;
  /** Newest first. */
  versions: IModelVersion[];
}

export interface IRunQuery {
  experiment?: string;
  filter?: string;
  order_by?: string;
  limit?: number;
  offset?: number;
}

const json = (body: unknown): RequestInit => ({ body: JSON.stringify(body) });

export function getStore(dir: string): Promise<IStoreInfo> {
  return requestAPI<IStoreInfo>(['stores'], { dir });
}

export async function listExperiments(dir: string): Promise<IExperimentSummary[]> {
  return (await requestAPI<{ experiments: IExperimentSummary[] }>(['experiments'], { dir })).experiments;
}

/** The registered models of the store, by name, each with its versions (newest first). */
export async function listModels(dir: string): Promise<IRegisteredModel[]> {
  return (await requestAPI<{ models: IRegisteredModel[] }>(['models'], { dir })).models;
}

export function listRuns(dir: string, query: IRunQuery): Promise<IRunPage> {
  return requestAPI<IRunPage>(['runs'], { dir, ...query });
}

export function getRun(dir: string, runId: string): Promise<IRunDetails> {
  return requestAPI<IRunDetails>(['runs', runId], { dir });
}

export function getMetricHistory(dir: string, runId: string, key: string, maxPoints: number): Promise<IMetricHistory> {
  return requestAPI<IMetricHistory>(['runs', runId, 'metrics', key], { dir, max_points: maxPoints });
}

/** The .ipynb text of the run's snapshot (`executed` by default, or `saved`). */
export function getSnapshot(dir: string, runId: string, kind = 'executed'): Promise<string> {
  return requestAPI<string>(['runs', runId, 'snapshot'], { dir, kind }, {}, true);
}

/** Writes the snapshot as a new notebook next to the run's notebook; the root-relative path. */
export async function restoreSnapshot(dir: string, runId: string, kind = 'executed'): Promise<string> {
  const reply = await requestAPI<{ path: string }>(['runs', runId, 'restore'], { dir }, { method: 'POST', ...json({ kind }) });
  return reply.path;
}

export function renameRun(dir: string, runId: string, runName: string): Promise<IRunSummary> {
  return requestAPI<IRunSummary>(['runs', runId], { dir }, { method: 'PATCH', ...json({ run_name: runName }) });
}

export async function setTag(dir: string, runId: string, key: string, value: string): Promise<void> {
  await requestAPI(['runs', runId, 'tags', key], { dir }, { method: 'PUT', ...json({ value }) });
}

export async function deleteTag(dir: string, runId: string, key: string): Promise<void> {
  await requestAPI(['runs', runId, 'tags', key], { dir }, { method: 'DELETE' });
}

/** Deletes the run; the server insists on `confirm` repeating the id (asked in a dialog first). */
export async function deleteRun(dir: string, runId: string): Promise<void> {
  await requestAPI(['runs', runId], { dir, confirm: runId }, { method: 'DELETE' });
}

export interface IRunsDeleted {
  /** Every run now marked deleted: those asked for and their nested runs. */
  deleted: string[];
  /** Of those, the ones that went as another's nested run. */
  nested: string[];
  /** Asked for but kept: registered model versions point at them. */
  kept_registered: string[];
  /** Asked for but kept: still RUNNING. */
  kept_running: string[];
}

/** Deletes several runs at once (with their nested runs), all or nothing; the server insists on
 * `confirm` being how many ids are sent (asked in a dialog first). */
export function deleteRuns(dir: string, runIds: string[]): Promise<IRunsDeleted> {
  return requestAPI<IRunsDeleted>(['runs'], { dir, confirm: runIds.length }, { method: 'DELETE', ...json({ run_ids: runIds }) });
}

/** The RUNNING run of a kernel (by its id), or else of the notebook at `path`. */
/** The kernel's RUNNING run (or null) and how many runs of the store team sync is still sending. */
export async function getActiveRun(
  dir: string,
  kernelId?: string,
  path?: string
): Promise<{ run: IRunSummary | null; syncing?: number }> {
  return await requestAPI<{ run: IRunSummary | null; syncing?: number }>(['active'], {
    dir,
    kernel_id: kernelId,
    path
  });
}

/** URL of an artifact, served by the server with its content type (and inert when opened). */
export function artifactUrl(dir: string, runId: string, path: string, download: boolean): string {
  return apiUrl(['runs', runId, 'artifacts', path], { dir, download: download ? 1 : undefined });
}
