/**
 * The commands of the sidebar and of runs. Every run command has the same shape, written once
 * in `addRunCommand`: find the run it acts on, ask the user (optional), call the API, then
 * refresh what shows the run; a failure is reported in a dialog titled for the command.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, InputDialog, Notification, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { LabIcon, deleteIcon, editIcon, notebookIcon, refreshIcon, tagIcon } from '@jupyterlab/ui-components';

import { IRunTarget, deleteRun, renameRun, restoreSnapshot, setTag } from './api';
import { CommandIDs } from './commandIds';
import { messageOf } from './dom';
import { trackerIcon } from './icons';
import { RunPanels } from './runPanels';
import { ExperimentsSidebar } from './sidebar';

/** How one run command differs from the others. */
export interface IRunCommandOptions<TAnswer, TResult> {
  label: string;
  caption?: string;
  icon?: LabIcon;
  /**
   * When the command is enabled: 'always', or for a run this accepts. By default, whenever
   * there is a run to act on.
   */
  isEnabled?: 'always' | ((target: IRunTarget) => boolean);
  /** Ask the user first (a prompt or a confirmation); null means they declined: nothing happens. */
  ask?: (target: IRunTarget) => Promise<TAnswer | null>;
  /** The work itself (usually one API call); its result is the command's, unless `after` is given. */
  act: (target: IRunTarget, answer: TAnswer) => TResult | Promise<TResult>;
  /** After `act` succeeded: refresh what shows the run; returns the command's result. */
  after?: (target: IRunTarget, result: TResult) => unknown;
  /**
   * Title of the error dialog when `act` fails (the message is the server's); without it the
   * error goes to the caller of the command.
   */
  failure?: string;
}

/** Add a command that acts on one run: the run its args name, else the current panel's. */
export function addRunCommand<TAnswer = void, TResult = unknown>(
  app: JupyterFrontEnd,
  panels: RunPanels,
  id: string,
  options: IRunCommandOptions<TAnswer, TResult>
): void {
  const { isEnabled, ask, act, after, failure } = options;
  app.commands.addCommand(id, {
    label: options.label,
    caption: options.caption,
    icon: options.icon,
    isEnabled:
      isEnabled === 'always'
        ? undefined
        : args => {
            const target = panels.targetOf(args);
            return target !== null && (isEnabled ? isEnabled(target) : true);
          },
    execute: async args => {
      const target = panels.targetOf(args);
      if (!target) {
        return;
      }
      // Without `ask` nothing is awaited before `act`, so e.g. a panel opens synchronously.
      const answer = ask ? await ask(target) : (undefined as TAnswer);
      if (answer === null) {
        return;
      }
      let result: TResult;
      try {
        result = await act(target, answer);
      } catch (error) {
        if (failure === undefined) {
          throw error;
        }
        void showErrorMessage(failure, messageOf(error));
        return;
      }
      return after ? after(target, result) : result;
    }
  });
}

/** The sidebar's commands and the run commands (open, refresh, snapshot, rename, tag, delete). */
export function addCommands(
  app: JupyterFrontEnd,
  docManager: IDocumentManager,
  sidebar: ExperimentsSidebar,
  panels: RunPanels
): void {
  const { commands } = app;
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

  addRunCommand(app, panels, CommandIDs.openRun, {
    label: 'Open run details',
    icon: trackerIcon,
    isEnabled: 'always',
    act: target => {
      sidebar.selectedRunId = target.runId;
      return panels.open(target);
    }
  });
  addRunCommand(app, panels, CommandIDs.refreshRun, {
    label: 'Refresh',
    caption: 'Load the run again',
    icon: refreshIcon,
    act: target => panels.panelOf(target)?.content.refresh()
  });
  addRunCommand(app, panels, CommandIDs.openSnapshot, {
    label: 'Open snapshot',
    caption: "Open the notebook as it was when the run's cell ran (read-only)",
    icon: notebookIcon,
    isEnabled: target => panels.hasSnapshot(target),
    act: target => panels.openSnapshot(target),
    failure: 'Cannot open the snapshot'
  });
  addRunCommand(app, panels, CommandIDs.restoreSnapshot, {
    label: 'Restore as new notebook',
    caption: "Write the run's snapshot as a new notebook next to the original (never overwrites) and open it",
    isEnabled: target => panels.hasSnapshot(target),
    act: async target => {
      const path = await restoreSnapshot(target.dir, target.runId);
      Notification.success(`Restored run ${target.runId.slice(0, 8)} as ${path}`, { autoClose: 5000 });
      return docManager.openOrReveal(path);
    },
    failure: 'Cannot restore the snapshot'
  });
  addRunCommand<string>(app, panels, CommandIDs.renameRun, {
    label: 'Rename…',
    caption: 'Give the run another name',
    icon: editIcon,
    ask: async target => {
      const current = panels.panelOf(target)?.content.details?.run_name ?? '';
      const answer = await InputDialog.getText({ title: 'Rename run', label: 'New name', text: current });
      return answer.button.accept && answer.value !== null && answer.value !== current ? answer.value : null;
    },
    act: (target, runName) => renameRun(target.dir, target.runId, runName),
    after: target => panels.refresh(target),
    failure: 'Cannot rename the run'
  });
  addRunCommand<{ key: string; value: string }>(app, panels, CommandIDs.tagRun, {
    label: 'Set tag…',
    caption: 'Set a tag (key=value) on the run',
    icon: tagIcon,
    ask: async () => {
      const answer = await InputDialog.getText({ title: 'Set a tag', label: 'key=value', placeholder: 'stage=candidate' });
      if (!answer.button.accept || !answer.value) {
        return null;
      }
      const split = answer.value.indexOf('=');
      if (split <= 0) {
        await showErrorMessage('Cannot set the tag', `Write the tag as key=value (e.g. stage=candidate), not "${answer.value}".`);
        return null;
      }
      return { key: answer.value.slice(0, split).trim(), value: answer.value.slice(split + 1).trim() };
    },
    act: (target, tag) => setTag(target.dir, target.runId, tag.key, tag.value),
    after: target => panels.refresh(target),
    failure: 'Cannot set the tag'
  });
  addRunCommand<true>(app, panels, CommandIDs.deleteRun, {
    label: 'Delete…',
    caption: 'Delete the run (asks first)',
    icon: deleteIcon,
    ask: async target => {
      const name = panels.panelOf(target)?.content.details?.run_name ?? target.runId.slice(0, 8);
      const choice = await showDialog({
        title: 'Delete run?',
        body: `Delete run "${name}" (${target.runId.slice(0, 8)}) with its params, metrics, tags and artifacts?`,
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
      });
      return choice.button.accept ? true : null;
    },
    act: target => deleteRun(target.dir, target.runId),
    after: target => {
      panels.panelOf(target)?.close();
      void sidebar.refresh();
    },
    failure: 'Cannot delete the run'
  });
}
