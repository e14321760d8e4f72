/**
 * "Track this cell": put `%%track` on the first line of a code cell, or take it off again —
 * the rule for that line, and the command (cell toolbar, context menu, palette) that toggles it.
 * Only the first line counts, as for every IPython cell magic.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Cell } from '@jupyterlab/cells';
import { INotebookTracker } from '@jupyterlab/notebook';

import { CommandIDs } from './commandIds';
import { trackCellIcon } from './icons';

export const TRACK_LINE = '%%track';

/** Whether the cell source starts with a `%%track` line (with or without options). */
export function hasTrackLine(source: string): boolean {
  const firstLine = source.split('\n', 1)[0];
  return firstLine === TRACK_LINE || firstLine.startsWith(`${TRACK_LINE} `) || firstLine.startsWith(`${TRACK_LINE}\t`);
}

/** The source with its `%%track` line removed, or with one added on top. */
export function toggleTrackLine(source: string): string {
  if (hasTrackLine(source)) {
    const newline = source.indexOf('\n');
    return newline === -1 ? '' : source.slice(newline + 1);
  }
  return `${TRACK_LINE}\n${source}`;
}

/**
 * The Track-this-cell command: enabled on an editable code cell, toggled while that cell has the
 * line. The cell's content is watched so the toolbar button follows edits made by hand.
 */
export function addTrackCellCommand(app: JupyterFrontEnd, notebooks: INotebookTracker): void {
  const { commands } = app;
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
}
