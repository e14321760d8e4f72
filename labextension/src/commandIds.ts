/**
 * The id of every command the extension adds. The palette, toolbars, menus and
 * schema/plugin.json refer to them, and the browser tests click them: they never change.
 */
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
