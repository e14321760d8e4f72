/**
 * The panels a run opens in the main area: its details panel (one per run, tracked and restored
 * with the layout, with the run commands in its toolbar) and its notebook snapshot, which opens
 * read-only with a "Restore as new notebook" button.
 */
import { ILayoutRestorer, JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IDocumentWidget } from '@jupyterlab/docregistry';
import { NotebookPanel } from '@jupyterlab/notebook';
import { CommandToolbarButton } from '@jupyterlab/ui-components';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { Widget } from '@lumino/widgets';

import { IRunTarget, getRun } from './api';
import { CommandIDs } from './commandIds';
import { RunDetails } from './details';
import { h } from './dom';
import { trackerIcon } from './icons';
import { ISidebarSettings } from './settings';
import { ExperimentsSidebar } from './sidebar';
import { SNAPSHOT_DRIVE, parseSnapshotPath, snapshotPath } from './snapshot';

/** The run commands in a details panel's toolbar, by toolbar item name, in this order. */
const DETAILS_TOOLBAR: [string, string][] = [
  ['open-snapshot', CommandIDs.openSnapshot],
  ['restore-snapshot', CommandIDs.restoreSnapshot],
  ['rename', CommandIDs.renameRun],
  ['tag', CommandIDs.tagRun],
  ['delete', CommandIDs.deleteRun],
  ['refresh', CommandIDs.refreshRun]
];

/** The open run details panels, and how commands find the run they act on. */
export class RunPanels {
  /**
   * @param sidebar gives the folder of a run named without one, and is refreshed when a run changes.
   * @param settings read when a panel opens (its refresh interval); shared with the settings loader.
   */
  constructor(
    private readonly _app: JupyterFrontEnd,
    private readonly _docManager: IDocumentManager,
    private readonly _sidebar: ExperimentsSidebar,
    private readonly _settings: Readonly<ISidebarSettings>,
    restorer: ILayoutRestorer | null
  ) {
    if (restorer) {
      void restorer.restore(this._tracker, {
        command: CommandIDs.openRun,
        args: widget => ({ ...widget.content.target }),
        name: widget => `${widget.content.dir}:${widget.content.runId}`
      });
    }
  }

  /** Whether the widget is one of the run details panels. */
  has(widget: Widget): boolean {
    return this._tracker.has(widget);
  }

  /**
   * The run a command acts on: the one its args name (`runId`, and `dir`, else the sidebar's
   * folder), else the run of the current details panel, else none.
   */
  targetOf(args: ReadonlyPartialJSONObject): IRunTarget | null {
    if (typeof args.runId === 'string') {
      return { dir: typeof args.dir === 'string' ? args.dir : this._sidebar.dir, runId: args.runId };
    }
    return this._tracker.currentWidget?.content.target ?? null;
  }

  /** The open details panel of the run, if any. */
  panelOf(target: IRunTarget): MainAreaWidget<RunDetails> | undefined {
    return this._tracker.find(widget => widget.content.runId === target.runId && widget.content.dir === target.dir);
  }

  /** Whether the run has a snapshot: as far as its panel knows (true when none is loaded). */
  hasSnapshot(target: IRunTarget): boolean {
    const details = this.panelOf(target)?.content.details;
    return details ? details.has_snapshot : true;
  }

  /** After a change to the run: reload the sidebar and the run's panel. */
  refresh(target: IRunTarget): void {
    void this._sidebar.refresh();
    void this.panelOf(target)?.content.refresh();
  }

  /** The seconds between reloads of open panels of RUNNING runs. */
  set refreshInterval(seconds: number) {
    this._tracker.forEach(widget => {
      widget.content.refreshInterval = seconds;
    });
  }

  /** Show the run's details panel, opening it unless it is open already. */
  open(target: IRunTarget): MainAreaWidget<RunDetails> {
    const existing = this.panelOf(target);
    if (existing) {
      this._app.shell.activateById(existing.id);
      return existing;
    }
    const { commands } = this._app;
    const content = new RunDetails(target.dir, target.runId, this._settings.refreshInterval);
    const widget = new MainAreaWidget({ content });
    widget.id = `jupyter-tracker-run-${target.runId}-${Math.random().toString(36).slice(2, 8)}`;
    widget.addClass('jp-tracker-details-panel');
    widget.title.label = `Run ${target.runId.slice(0, 8)}`;
    widget.title.icon = trackerIcon;
    widget.title.closable = true;
    const args = { ...target };
    for (const [name, id] of DETAILS_TOOLBAR) {
      widget.toolbar.addItem(name, new CommandToolbarButton({ commands, id, args }));
    }
    content.loaded.connect((_, details) => {
      if (details) {
        widget.title.label = details.run_name;
        widget.title.caption = `${details.run_name} (${details.run_id.slice(0, 8)}) · ${details.experiment} · ${details.status}`;
      }
      // whether there is a snapshot is known now
      commands.notifyCommandChanged(CommandIDs.openSnapshot);
      commands.notifyCommandChanged(CommandIDs.restoreSnapshot);
    });
    content.openRun.connect((_, runId) => this.open({ dir: target.dir, runId }));
    content.runChanged.connect(() => void this._sidebar.refresh());
    void this._tracker.add(widget);
    this._app.shell.add(widget, 'main');
    this._app.shell.activateById(widget.id);
    void content.refresh();
    return widget;
  }

  /** Open the run's notebook snapshot (read-only, without a kernel). */
  async openSnapshot(target: IRunTarget): Promise<IDocumentWidget | undefined> {
    const details = this.panelOf(target)?.content.details ?? (await getRun(target.dir, target.runId));
    const path = snapshotPath(target.dir, details.run_id, details.run_name);
    return this._docManager.openOrReveal(path, 'default', undefined, {}, { shouldStart: false, canStart: false });
  }

  private _tracker = new WidgetTracker<MainAreaWidget<RunDetails>>({ namespace: 'jupyter-tracker-run' });
}

/**
 * Mark notebooks opened from the snapshot drive: read-only, labelled so, with a "Restore as new
 * notebook" button for the run they came from.
 */
export function addSnapshotNotebookExtension(app: JupyterFrontEnd): void {
  app.docRegistry.addWidgetExtension('Notebook', {
    createNew: (panel: NotebookPanel, context) => {
      if (!context.path.startsWith(`${SNAPSHOT_DRIVE}:`)) {
        return;
      }
      const where = parseSnapshotPath(context.path.slice(SNAPSHOT_DRIVE.length + 1));
      panel.addClass('jp-tracker-snapshot');
      void context.ready.then(() => {
        context.model.readOnly = true;
      });
      const label = new Widget({ node: h('span', { class: 'jp-tracker-snapshot-label' }, 'Read-only run snapshot') });
      panel.toolbar.insertItem(0, 'jupyter-tracker-snapshot-label', label);
      if (where) {
        panel.toolbar.insertItem(
          1,
          'jupyter-tracker-restore',
          new CommandToolbarButton({ commands: app.commands, id: CommandIDs.restoreSnapshot, args: { ...where } })
        );
      }
    }
  });
}
