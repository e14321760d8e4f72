/**
 * The jupyter_tracker plugin. In JupyterLab and Notebook 7 it adds the Experiments sidebar, run
 * panels, snapshots, "Track this cell" and the status bar item (lab.ts); in any other front end
 * that loads lab extensions, such as Voilà, it does nothing, and our panels (anywidgets, which
 * need no extension) render there all the same.
 *
 * Why this module imports nothing at its top: webpack's module federation resolves a module's
 * shared packages when the module loads, and fails the whole module when the page does not share
 * one of them. Voilà shares a short fixed list (application, apputils, notebook, rendermime, ...;
 * not docmanager, filebrowser or statusbar), so lab.ts, which needs those, is a separate
 * chunk loaded only once the page is seen to share them all.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';

export { CommandIDs } from './commandIds';

const PLUGIN_ID = 'jupyter-tracker:plugin';

/**
 * The packages lab.ts's chunk takes from the page (its "consume shared module"s in the build's
 * output) that Voilà does not share; the others (application, apputils, notebook, ...) it does.
 */
const LAB_PACKAGES = ['@jupyterlab/docmanager', '@jupyterlab/filebrowser', '@jupyterlab/statusbar'];

/** The share scope webpack handed this extension (`__webpack_require__.S`): package name → versions. */
declare const __webpack_share_scopes__: Record<string, Record<string, unknown> | undefined> | undefined;

/** Whether the page shares every package lab.ts needs, i.e. it is JupyterLab or Notebook 7. */
function pageSharesLabPackages(): boolean {
  const shared = typeof __webpack_share_scopes__ === 'undefined' ? undefined : __webpack_share_scopes__.default;
  return shared !== undefined && LAB_PACKAGES.every(name => name in shared);
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Experiments sidebar, run details, read-only snapshots, Track this cell and the active run of jupyter_tracker.',
  autoStart: true,
  activate: async (app: JupyterFrontEnd): Promise<void> => {
    if (!pageSharesLabPackages()) {
      return;
    }
    const { activateInLab } = await import('./lab');
    await activateInLab(app, PLUGIN_ID);
  }
};

export default plugin;
