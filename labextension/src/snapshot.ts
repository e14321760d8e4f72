/**
 * Run snapshots opened read-only in JupyterLab: a contents drive ("TrackerSnapshot:") whose
 * files are the runs' notebook snapshots, fetched from the REST API. Nothing is written to
 * disk; saving is refused with a hint to "Restore as new notebook" instead.
 */
import { PathExt } from '@jupyterlab/coreutils';
import { Contents, ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { IRunTarget, getSnapshot } from './api';
import { apiUrl } from './request';

export const SNAPSHOT_DRIVE = 'TrackerSnapshot';

const WIDGET_VIEW = 'application/vnd.jupyter.widget-view+json';

const READ_ONLY = 'A run snapshot is read-only; use "Restore as new notebook" to get an editable copy.';

interface ISnapshotCell {
  metadata?: Record<string, unknown>;
  outputs?: { data?: Record<string, unknown> }[];
}

/**
 * A widget view needs its model in a running kernel; a snapshot has none (and the widget
 * manager fails on a notebook without a session). Keep the output's other representations
 * (our panels carry a static HTML version), or say what was there.
 */
function withoutWidgetView(output: { data?: Record<string, unknown> }): void {
  const data = output.data;
  if (!data || !(WIDGET_VIEW in data)) {
    return;
  }
  delete data[WIDGET_VIEW];
  if (!Object.keys(data).length) {
    data['text/plain'] = '(an interactive widget: it needs the kernel of the run, restore the snapshot and run it)';
  }
}

/** File-name friendly form of a run name. */
function slug(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, 60) || 'run';
}

/** The drive-local path of a run's snapshot: `<dir>/<run id>/<name>-<id8>.ipynb`. */
export function snapshotPath(dir: string, runId: string, runName: string): string {
  const file = `${slug(runName)}-${runId.slice(0, 8)}.ipynb`;
  return `${SNAPSHOT_DRIVE}:${dir ? `${dir}/` : ''}${runId}/${file}`;
}

/** (dir, run id) of a drive-local snapshot path, or null for anything else. */
export function parseSnapshotPath(localPath: string): IRunTarget | null {
  const parts = localPath.replace(/^\/+/, '').split('/');
  if (parts.length < 2 || !parts[parts.length - 1].endsWith('.ipynb')) {
    return null;
  }
  return { runId: parts[parts.length - 2], dir: parts.slice(0, -2).join('/') };
}

export class SnapshotDrive implements Contents.IDrive {
  readonly name = SNAPSHOT_DRIVE;
  readonly serverSettings = ServerConnection.makeSettings();

  get fileChanged(): ISignal<this, Contents.IChangedArgs> {
    return this._fileChanged;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    this._isDisposed = true;
    Signal.clearData(this);
  }

  async get(localPath: string, options?: Contents.IFetchOptions): Promise<Contents.IModel> {
    const now = new Date().toISOString();
    const where = parseSnapshotPath(localPath);
    if (!where || options?.type === 'directory') {
      return {
        name: PathExt.basename(localPath),
        path: localPath,
        type: 'directory',
        format: 'json',
        content: [],
        writable: false,
        created: now,
        last_modified: now,
        mimetype: ''
      };
    }
    let content: Record<string, unknown> | null = null;
    if (options?.content !== false) {
      content = JSON.parse(await getSnapshot(where.dir, where.runId)) as Record<string, unknown>;
      for (const cell of (content.cells as ISnapshotCell[] | undefined) ?? []) {
        // Cells that cannot be edited or deleted: the notebook shows what ran, as it ran.
        cell.metadata = { ...(cell.metadata ?? {}), editable: false, deletable: false };
        cell.outputs?.forEach(withoutWidgetView);
      }
    }
    return {
      name: PathExt.basename(localPath),
      path: localPath,
      type: 'notebook',
      format: 'json',
      content,
      writable: false,
      created: now,
      last_modified: now,
      mimetype: 'application/x-ipynb+json'
    };
  }

  getDownloadUrl(localPath: string): Promise<string> {
    const where = parseSnapshotPath(localPath);
    if (!where) {
      return Promise.reject(new Error(`${localPath} is not a run snapshot`));
    }
    return Promise.resolve(apiUrl(['runs', where.runId, 'snapshot'], { dir: where.dir }));
  }

  newUntitled(): Promise<Contents.IModel> {
    return Promise.reject(new Error(READ_ONLY));
  }

  delete(): Promise<void> {
    return Promise.reject(new Error(READ_ONLY));
  }

  rename(): Promise<Contents.IModel> {
    return Promise.reject(new Error(READ_ONLY));
  }

  save(): Promise<Contents.IModel> {
    return Promise.reject(new Error(READ_ONLY));
  }

  copy(): Promise<Contents.IModel> {
    return Promise.reject(new Error(READ_ONLY));
  }

  createCheckpoint(): Promise<Contents.ICheckpointModel> {
    return Promise.reject(new Error(READ_ONLY));
  }

  listCheckpoints(): Promise<Contents.ICheckpointModel[]> {
    return Promise.resolve([]);
  }

  restoreCheckpoint(): Promise<void> {
    return Promise.reject(new Error(READ_ONLY));
  }

  deleteCheckpoint(): Promise<void> {
    return Promise.resolve();
  }

  private _isDisposed = false;
  private _fileChanged = new Signal<this, Contents.IChangedArgs>(this);
}
