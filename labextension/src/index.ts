/**
 * jupyter_tracker in JupyterLab: the "Experiments" sidebar, run details panels, read-only
 * snapshots, "Track this cell" and the active-run status bar item. Everything a user can do
 * is a command (palette, toolbars); settings live in schema/plugin.json.
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  InputDialog,
  MainAreaWidget,
  Notification,
  WidgetTracker,
  showDialog,
  showErrorMessage
} from '@jupyterlab/apputils';
import { Cell } from '@jupyterlab/cells';
import { PathExt } from '@jupyterlab/coreutils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import {
  CommandToolbarButton,
  deleteIcon,
  editIcon,
  notebookIcon,
  refreshIcon,
  tagIcon
} from '@jupyterlab/ui-components';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { Widget } from '@lumino/widgets';

import { deleteRun, getRun, renameRun, restoreSnapshot, setTag } from './api';
import { RunDetails } from './details';
import { h, messageOf } from './dom';
import { trackCellIcon, trackerIcon } from './icons';
import { DEFAULT_SETTINGS, ExperimentsSidebar, ISidebarSettings } from './sidebar';
import { SNAPSHOT_DRIVE, SnapshotDrive, parseSnapshotPath, snapshotPath } from './snapshot';
import { ActiveRunStatus } from './status';
import { hasTrackLine, toggleTrackLine } from './trackCell';

const PLUGIN_ID = 'jupyter-tracker:plugin';
const CATEGORY = 'Experiment Tracking';

export const CommandIDs = {
  showSidebar: 'jupyter-tracker:show-sidebar',
  refresh: 'jupyter-tracker:refresh',
  openRun: 'jupyter-tracker:open-run',
  refreshRun: 'jupyter-tracker:refresh-run',
  openSnapshot: 'jupyter-tracker:open-snapshot',
  restoreSnapshot: 'jupyter-tracker:restore-snapshot',
  renameRun: 'jupyter-tracker:rename-run',
  tagRun: 'jupyter-tracker:tag-run',
  deleteRun: 'jupyter-tracker:delete-run',
  trackCell: 'jupyter-tracker:track-cell'
} as const;

interface ISettings extends ISidebarSettings {
  activeRunInterval: number;
}

/** A run addressed by commands: the folder whose store holds it, and its id. */
interface IRunTarget {
  dir: string;
  runId: string;
}

function activate(
  app: JupyterFrontEnd,
  docManager: IDocumentManager,
  notebooks: INotebookTracker,
  labShell: ILabShell | null,
  restorer: ILayoutRestorer | null,
  palette: ICommandPalette | null,
  fileBrowser: IDefaultFileBrowser | null,
  settingRegistry: ISettingRegistry | null,
  statusBar: IStatusBar | null
): void {
  const { commands } = app;
  const settings: ISettings = { ...DEFAULT_SETTINGS, activeRunInterval: 2 };

  app.serviceManager.contents.addDrive(new SnapshotDrive());

  // -- sidebar -------------------------------------------------------------------------------
  const sidebar = new ExperimentsSidebar(settings);
  sidebar.title.icon = trackerIcon;
  sidebar.title.caption = 'Experiments';
  app.shell.add(sidebar, 'left', { rank: 650 });
  restorer?.add(sidebar, sidebar.id);
  sidebar.runSelected.connect((_, target) => void commands.execute(CommandIDs.openRun, { ...target }));

  const runs = new WidgetTracker<MainAreaWidget<RunDetails>>({ namespace: 'jupyter-tracker-run' });

  /** The sidebar shows the store of the current document's folder, else the file browser's. */
  const followCurrentFolder = () => {
    const current = app.shell.currentWidget;
    const context = current ? docManager.contextForWidget(current) : undefined;
    if (context) {
      if (!context.path.includes(':')) {
        sidebar.dir = PathExt.dirname(context.path);
      }
      return;
    }
    if (current && runs.has(current)) {
      return; // a run panel: keep the store it came from
    }
    if (fileBrowser && !fileBrowser.model.path.includes(':')) {
      sidebar.dir = fileBrowser.model.path;
    }
  };
  labShell?.currentChanged.connect(followCurrentFolder);
  fileBrowser?.model.pathChanged.connect(followCurrentFolder);
  void app.restored.then(followCurrentFolder);

  // -- run details ---------------------------------------------------------------------------
  const targetOf = (args: ReadonlyPartialJSONObject): IRunTarget | null => {
    if (typeof args.runId === 'string') {
      return { dir: typeof args.dir === 'string' ? args.dir : sidebar.dir, runId: args.runId };
    }
    const current = runs.currentWidget;
    return current ? { dir: current.content.dir, runId: current.content.runId } : null;
  };
  const panelOf = (target: IRunTarget) =>
    runs.find(widget => widget.content.runId === target.runId && widget.content.dir === target.dir);
  const refreshAll = (target: IRunTarget) => {
    void sidebar.refresh();
    void panelOf(target)?.content.refresh();
  };

  const openRun = (target: IRunTarget): MainAreaWidget<RunDetails> => {
    const existing = panelOf(target);
    if (existing) {
      app.shell.activateById(existing.id);
      return existing;
    }
    const content = new RunDetails(target.dir, target.runId, settings.refreshInterval);
    const widget = new MainAreaWidget({ content });
    widget.id = `jupyter-tracker-run-${target.runId}-${Math.random().toString(36).slice(2, 8)}`;
    widget.addClass('jp-tracker-details-panel');
    widget.title.label = `Run ${target.runId.slice(0, 8)}`;
    widget.title.icon = trackerIcon;
    widget.title.closable = true;
    const args = { ...target };
    for (const [name, id] of [
      ['open-snapshot', CommandIDs.openSnapshot],
      ['restore-snapshot', CommandIDs.restoreSnapshot],
      ['rename', CommandIDs.renameRun],
      ['tag', CommandIDs.tagRun],
      ['delete', CommandIDs.deleteRun],
      ['refresh', CommandIDs.refreshRun]
    ]) {
      widget.toolbar.addItem(name, new CommandToolbarButton({ commands, id, args }));
    }
    content.loaded.connect((_, details) => {
      if (details) {
        widget.title.label = details.run_name;
        widget.title.caption = `${details.run_name} (${details.run_id.slice(0, 8)}) · ${details.experiment} · ${details.status}`;
      }
      commands.notifyCommandChanged(CommandIDs.openSnapshot);
      commands.notifyCommandChanged(CommandIDs.restoreSnapshot);
    });
    content.openRun.connect((_, runId) => openRun({ dir: target.dir, runId }));
    content.runChanged.connect(() => void sidebar.refresh());
    void runs.add(widget);
    app.shell.add(widget, 'main');
    app.shell.activateById(widget.id);
    void content.refresh();
    return widget;
  };

  if (restorer) {
    void restorer.restore(runs, {
      command: CommandIDs.openRun,
      args: widget => ({ dir: widget.content.dir, runId: widget.content.runId }),
      name: widget => `${widget.content.dir}:${widget.content.runId}`
    });
  }

  const hasSnapshot = (args: ReadonlyPartialJSONObject) => {
    const target = targetOf(args);
    const details = target ? panelOf(target)?.content.details : null;
    return target !== null && (details ? details.has_snapshot : true);
  };

  const failed = (title: string) => (error: unknown) => void showErrorMessage(title, messageOf(error));

  commands.addCommand(CommandIDs.showSidebar, {
    label: 'Show experiments',
    icon: trackerIcon,
    execute: () => app.shell.activateById(sidebar.id)
  });
  commands.addCommand(CommandIDs.refresh, {
    label: 'Refresh experiments',
    icon: args => (args.toolbar ? refreshIcon : undefined),
    execute: () => sidebar.refresh()
  });
  commands.addCommand(CommandIDs.openRun, {
    label: 'Open run details',
    icon: trackerIcon,
    execute: args => {
      const target = targetOf(args);
      if (target) {
        sidebar.selectedRunId = target.runId;
        return openRun(target);
      }
    }
  });
  commands.addCommand(CommandIDs.refreshRun, {
    label: 'Refresh',
    caption: 'Load the run again',
    icon: refreshIcon,
    isEnabled: args => targetOf(args) !== null,
    execute: args => {
      const target = targetOf(args);
      return target ? panelOf(target)?.content.refresh() : undefined;
    }
  });
  commands.addCommand(CommandIDs.openSnapshot, {
    label: 'Open snapshot',
    caption: "Open the notebook as it was when the run's cell ran (read-only)",
    icon: notebookIcon,
    isEnabled: hasSnapshot,
    execute: async args => {
      const target = targetOf(args);
      if (!target) {
        return;
      }
      try {
        const details = panelOf(target)?.content.details ?? (await getRun(target.dir, target.runId));
        const path = snapshotPath(target.dir, details.run_id, details.run_name);
        return docManager.openOrReveal(path, 'default', undefined, {}, { shouldStart: false, canStart: false });
      } catch (error) {
        failed('Cannot open the snapshot')(error);
      }
    }
  });
  commands.addCommand(CommandIDs.restoreSnapshot, {
    label: 'Restore as new notebook',
    caption: "Write the run's snapshot as a new notebook next to the original (never overwrites) and open it",
    isEnabled: hasSnapshot,
    execute: async args => {
      const target = targetOf(args);
      if (!target) {
        return;
      }
      try {
        const path = await restoreSnapshot(target.dir, target.runId);
        Notification.success(`Restored run ${target.runId.slice(0, 8)} as ${path}`, { autoClose: 5000 });
        return docManager.openOrReveal(path);
      } catch (error) {
        failed('Cannot restore the snapshot')(error);
      }
    }
  });
  commands.addCommand(CommandIDs.renameRun, {
    label: 'Rename…',
    caption: 'Give the run another name',
    icon: editIcon,
    isEnabled: args => targetOf(args) !== null,
    execute: async args => {
      const target = targetOf(args);
      if (!target) {
        return;
      }
      const current = panelOf(target)?.content.details?.run_name ?? '';
      const answer = await InputDialog.getText({ title: 'Rename run', label: 'New name', text: current });
      if (!answer.button.accept || answer.value === null || answer.value === current) {
        return;
      }
      try {
        await renameRun(target.dir, target.runId, answer.value);
        refreshAll(target);
      } catch (error) {
        failed('Cannot rename the run')(error);
      }
    }
  });
  commands.addCommand(CommandIDs.tagRun, {
    label: 'Set tag…',
    caption: 'Set a tag (key=value) on the run',
    icon: tagIcon,
    isEnabled: args => targetOf(args) !== null,
    execute: async args => {
      const target = targetOf(args);
      if (!target) {
        return;
      }
      const answer = await InputDialog.getText({ title: 'Set a tag', label: 'key=value', placeholder: 'stage=candidate' });
      if (!answer.button.accept || !answer.value) {
        return;
      }
      const split = answer.value.indexOf('=');
      if (split <= 0) {
        await showErrorMessage('Cannot set the tag', `Write the tag as key=value (e.g. stage=candidate), not "${answer.value}".`);
        return;
      }
      try {
        await setTag(target.dir, target.runId, answer.value.slice(0, split).trim(), answer.value.slice(split + 1).trim());
        refreshAll(target);
      } catch (error) {
        failed('Cannot set the tag')(error);
      }
    }
  });
  commands.addCommand(CommandIDs.deleteRun, {
    label: 'Delete…',
    caption: 'Delete the run (asks first)',
    icon: deleteIcon,
    isEnabled: args => targetOf(args) !== null,
    execute: async args => {
      const target = targetOf(args);
      if (!target) {
        return;
      }
      const name = panelOf(target)?.content.details?.run_name ?? target.runId.slice(0, 8);
      const choice = await showDialog({
        title: 'Delete run?',
        body: `Delete run "${name}" (${target.runId.slice(0, 8)}) with its params, metrics, tags and artifacts?`,
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
      });
      if (!choice.button.accept) {
        return;
      }
      try {
        await deleteRun(target.dir, target.runId);
      } catch (error) {
        failed('Cannot delete the run')(error);
        return;
      }
      panelOf(target)?.close();
      void sidebar.refresh();
    }
  });

  // -- read-only snapshots -------------------------------------------------------------------
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
          new CommandToolbarButton({ commands, id: CommandIDs.restoreSnapshot, args: { ...where } })
        );
      }
    }
  });

  // -- Track this cell -----------------------------------------------------------------------
  const activeCodeCell = (): Cell | null => {
    const cell = notebooks.activeCell;
    const panel = notebooks.currentWidget;
    if (!cell || !panel || cell.model.type !== 'code' || cell.readOnly || panel.context.model.readOnly) {
      return null;
    }
    return cell;
  };
  commands.addCommand(CommandIDs.trackCell, {
    label: args => (args.toolbar ? '' : 'Track this cell'),
    caption: 'Toggle %%track on top of the active cell: its runs are recorded by jupyter_tracker',
    icon: trackCellIcon,
    isEnabled: () => activeCodeCell() !== null,
    isToggled: () => {
      const cell = activeCodeCell();
      return cell !== null && hasTrackLine(cell.model.sharedModel.getSource());
    },
    execute: () => {
      const cell = activeCodeCell();
      if (!cell) {
        return;
      }
      const shared = cell.model.sharedModel;
      shared.setSource(toggleTrackLine(shared.getSource()));
      commands.notifyCommandChanged(CommandIDs.trackCell);
    }
  });
  let watched: Cell | null = null;
  let tracked = false;
  const onCellContent = () => {
    const now = watched !== null && hasTrackLine(watched.model.sharedModel.getSource());
    if (now !== tracked) {
      tracked = now;
      commands.notifyCommandChanged(CommandIDs.trackCell);
    }
  };
  notebooks.activeCellChanged.connect((_, cell) => {
    watched?.model.contentChanged.disconnect(onCellContent);
    watched = cell;
    cell?.model.contentChanged.connect(onCellContent);
    tracked = cell !== null && hasTrackLine(cell.model.sharedModel.getSource());
    commands.notifyCommandChanged(CommandIDs.trackCell);
  });

  if (palette) {
    for (const command of [CommandIDs.trackCell, CommandIDs.showSidebar, CommandIDs.refresh]) {
      palette.addItem({ command, category: CATEGORY });
    }
  }

  // -- status bar ----------------------------------------------------------------------------
  let status: ActiveRunStatus | null = null;
  if (statusBar) {
    const item = new ActiveRunStatus(settings.activeRunInterval);
    status = item;
    statusBar.registerStatusItem('jupyter-tracker:active-run', {
      item,
      align: 'left',
      rank: 5,
      isActive: () => item.run !== null,
      activeStateChanged: item.activeChanged
    });
    const follow = () => {
      item.panel = notebooks.currentWidget;
    };
    notebooks.currentChanged.connect(follow);
    follow();
    item.clicked.connect((_, target) => void commands.execute(CommandIDs.openRun, { ...target }));
  }

  // -- settings ------------------------------------------------------------------------------
  if (settingRegistry) {
    const apply = (loaded: ISettingRegistry.ISettings) => {
      const composite = loaded.composite as Partial<ISettings>;
      Object.assign(settings, {
        refreshInterval: Number(composite.refreshInterval ?? DEFAULT_SETTINGS.refreshInterval),
        keyMetricCount: Number(composite.keyMetricCount ?? DEFAULT_SETTINGS.keyMetricCount),
        keyMetrics: Array.isArray(composite.keyMetrics) ? composite.keyMetrics.map(String) : [],
        pageSize: Number(composite.pageSize ?? DEFAULT_SETTINGS.pageSize),
        activeRunInterval: Number(composite.activeRunInterval ?? 2)
      });
      sidebar.updateSettings(settings);
      runs.forEach(widget => {
        widget.content.refreshInterval = settings.refreshInterval;
      });
      if (status) {
        status.interval = settings.activeRunInterval;
      }
    };
    void Promise.all([settingRegistry.load(PLUGIN_ID), app.restored])
      .then(([loaded]) => {
        apply(loaded);
        loaded.changed.connect(apply);
      })
      .catch(error => console.error('jupyter-tracker: cannot load settings', error));
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Experiments sidebar, run details, read-only snapshots, Track this cell and the active run of jupyter_tracker.',
  autoStart: true,
  requires: [IDocumentManager, INotebookTracker],
  optional: [ILabShell, ILayoutRestorer, ICommandPalette, IDefaultFileBrowser, ISettingRegistry, IStatusBar],
  activate
};

export default plugin;
