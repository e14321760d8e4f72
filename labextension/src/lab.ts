/**
 * jupyter_tracker in JupyterLab and Notebook 7: the "Experiments" sidebar, run details panels,
 * read-only snapshots, "Track this cell" and the active-run status bar item. Everything a user
 * can do is a command (palette, toolbars); settings live in schema/plugin.json. This module only
 * wires the parts together: runPanels.ts, commands.ts, trackCell.ts, settings.ts, status.ts.
 *
 * index.ts imports it only where the front end shares every package it needs (see there).
 */
import { ILabShell, ILayoutRestorer, JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';

import { CommandIDs } from './commandIds';
import { addCommands } from './commands';
import { trackerIcon } from './icons';
import { RunPanels, addSnapshotNotebookExtension } from './runPanels';
import { DEFAULT_SETTINGS, ITrackerSettings, watchSettings } from './settings';
import { ExperimentsSidebar } from './sidebar';
import { SnapshotDrive } from './snapshot';
import { ActiveRunStatus } from './status';
import { addTrackCellCommand } from './trackCell';

const CATEGORY = 'Experiment Tracking';

/**
 * Add everything to `app` (the plugin `pluginId`'s activation). The document manager and the
 * notebook tracker are required, as a plugin's `requires` would make them; the rest is optional.
 */
export async function activateInLab(app: JupyterFrontEnd, pluginId: string): Promise<void> {
  const docManager = await app.resolveRequiredService(IDocumentManager);
  const notebooks = await app.resolveRequiredService(INotebookTracker);
  const [labShell, restorer, palette, fileBrowser, settingRegistry, statusBar] = await Promise.all([
    app.resolveOptionalService(ILabShell),
    app.resolveOptionalService(ILayoutRestorer),
    app.resolveOptionalService(ICommandPalette),
    app.resolveOptionalService(IDefaultFileBrowser),
    app.resolveOptionalService(ISettingRegistry),
    app.resolveOptionalService(IStatusBar)
  ]);
  const { commands } = app;
  /** One object, read by the sidebar and the panels; the settings loader updates it in place. */
  const settings: ITrackerSettings = { ...DEFAULT_SETTINGS };

  app.serviceManager.contents.addDrive(new SnapshotDrive());

  const sidebar = new ExperimentsSidebar(settings);
  sidebar.title.icon = trackerIcon;
  sidebar.title.caption = 'Experiments';
  app.shell.add(sidebar, 'left', { rank: 650 });
  restorer?.add(sidebar, sidebar.id);
  sidebar.runSelected.connect((_, target) => void commands.execute(CommandIDs.openRun, { ...target }));

  const panels = new RunPanels(app, docManager, sidebar, settings, restorer);
  followCurrentFolder(app, docManager, sidebar, panels, labShell, fileBrowser);

  addCommands(app, docManager, sidebar, panels);
  addSnapshotNotebookExtension(app);
  addTrackCellCommand(app, notebooks);
  if (palette) {
    for (const command of [CommandIDs.trackCell, CommandIDs.showSidebar, CommandIDs.refresh]) {
      palette.addItem({ command, category: CATEGORY });
    }
  }

  const status = statusBar ? addActiveRunStatus(app, statusBar, notebooks, settings.activeRunInterval) : null;

  if (settingRegistry) {
    watchSettings(settingRegistry, pluginId, app.restored, loaded => {
      Object.assign(settings, loaded);
      sidebar.updateSettings(settings);
      panels.refreshInterval = settings.refreshInterval;
      if (status) {
        status.interval = settings.activeRunInterval;
      }
    });
  }
}

/** The sidebar shows the store of the current document's folder, else the file browser's. */
function followCurrentFolder(
  app: JupyterFrontEnd,
  docManager: IDocumentManager,
  sidebar: ExperimentsSidebar,
  panels: RunPanels,
  labShell: ILabShell | null,
  fileBrowser: IDefaultFileBrowser | null
): void {
  const follow = () => {
    const current = app.shell.currentWidget;
    const context = current ? docManager.contextForWidget(current) : undefined;
    if (context) {
      if (!context.path.includes(':')) {
        sidebar.dir = PathExt.dirname(context.path);
      }
      return;
    }
    if (current && panels.has(current)) {
      return; // a run panel: keep the store it came from
    }
    if (fileBrowser && !fileBrowser.model.path.includes(':')) {
      sidebar.dir = fileBrowser.model.path;
    }
  };
  labShell?.currentChanged.connect(follow);
  fileBrowser?.model.pathChanged.connect(follow);
  void app.restored.then(follow);
}

/** The status bar item of the current notebook's active run; a click opens the run's details. */
function addActiveRunStatus(
  app: JupyterFrontEnd,
  statusBar: IStatusBar,
  notebooks: INotebookTracker,
  interval: number
): ActiveRunStatus {
  const item = new ActiveRunStatus(interval);
  statusBar.registerStatusItem('jupyter-tracker:active-run', {
    item,
    align: 'left',
    rank: 5,
    isActive: () => item.active,
    activeStateChanged: item.activeChanged
  });
  const follow = () => {
    item.panel = notebooks.currentWidget;
  };
  notebooks.currentChanged.connect(follow);
  follow();
  item.clicked.connect((_, target) => void app.commands.execute(CommandIDs.openRun, { ...target }));
  return item;
}
