/**
 * The "Experiments" sidebar: the store that belongs to the current notebook's (or file
 * browser's) folder, a filter box in the `search_runs` language, the experiment sections with
 * their runs (experimentList.ts) and the "Models" section (modelList.ts), refreshed live while
 * runs are RUNNING. This widget owns the state (folder, filter, pages, selection) and the fetching.
 */
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { Poll } from '@lumino/polling';
import { Signal, ISignal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import {
  IExperimentSummary,
  IRegisteredModel,
  IRunPage,
  IRunTarget,
  IStoreInfo,
  deleteRuns,
  getStore,
  listExperiments,
  listModels,
  listRuns
} from './api';
import { h, messageOf } from './dom';
import { experimentSection } from './experimentList';
import { modelsSection } from './modelList';
import { TrackerAPIError } from './request';
import { DEFAULT_SETTINGS, ISidebarSettings } from './settings';

export class ExperimentsSidebar extends Widget {
  constructor(settings: ISidebarSettings = DEFAULT_SETTINGS) {
    super();
    this.id = 'jupyter-tracker-sidebar';
    this.addClass('jp-tracker-sidebar');
    this._settings = settings;

    this._filterInput = h('input', {
      class: 'jp-tracker-filter jp-mod-styled',
      type: 'search',
      placeholder: 'Filter, e.g. metrics.acc > 0.9',
      'aria-label': 'Filter runs',
      title: 'Filter runs (search_runs language); press Enter'
    });
    this._filterInput.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        this.setFilter(this._filterInput.value);
      }
    });
    this._filterInput.addEventListener('search', () => this.setFilter(this._filterInput.value));
    this._storeLine = h('div', { class: 'jp-tracker-store' });
    this._errorLine = h('div', { class: 'jp-tracker-error', role: 'alert' });
    this._warningLine = h('div', { class: 'jp-tracker-filter-warning', role: 'status', hidden: '' });
    this._list = h('div', { class: 'jp-tracker-experiments' });
    this._markedBar = h('div', { class: 'jp-tracker-marked-bar', role: 'toolbar', hidden: '' });
    this.node.append(
      h('div', { class: 'jp-tracker-sidebar-header' }, h('h2', {}, 'Experiments')),
      this._storeLine,
      this._filterInput,
      this._errorLine,
      this._warningLine,
      this._markedBar,
      this._list
    );
    this._poll = new Poll({
      factory: () => this._tick(),
      frequency: { interval: settings.refreshInterval * 1000, backoff: false },
      standby: () => !this.isVisible || 'when-hidden',
      name: 'jupyter-tracker:sidebar'
    });
  }

  /** Emitted with (dir, run id) when a run is clicked. */
  get runSelected(): ISignal<this, IRunTarget> {
    return this._runSelected;
  }

  /** The folder (relative to the server root) whose store is shown. */
  get dir(): string {
    return this._dir;
  }

  set dir(dir: string) {
    if (dir === this._dir) {
      return;
    }
    this._dir = dir;
    this._marked.clear();
    this._pages.clear();
    this._extraRows.clear();
    this._lastSummaries = '';
    this._lastModels = '';
    this._models = [];
    void this.refresh();
  }

  get filter(): string {
    return this._filter;
  }

  /** Apply a filter (empty shows all runs); a mistake shows the server's message under the box. */
  setFilter(filter: string): void {
    this._filterInput.value = filter;
    this._filter = filter.trim();
    this._extraRows.clear();
    void this.refresh();
  }

  set selectedRunId(runId: string | null) {
    this._selected = runId;
    for (const row of Array.from(this._list.querySelectorAll<HTMLElement>('.jp-tracker-run, .jp-tracker-model-version'))) {
      row.classList.toggle('jp-mod-selected', row.dataset.runId === runId);
    }
  }

  updateSettings(settings: ISidebarSettings): void {
    this._settings = settings;
    this._poll.frequency = { ...this._poll.frequency, interval: settings.refreshInterval * 1000 };
    void this.refresh();
  }

  /** Fetch everything again now (store, experiments, runs of the expanded experiments). */
  async refresh(): Promise<void> {
    const generation = ++this._generation;
    const dir = this._dir;
    try {
      const [store, experiments, models] = await Promise.all([getStore(dir), listExperiments(dir), listModels(dir)]);
      const pages = await this._fetchPages(dir, experiments);
      if (generation !== this._generation) {
        return; // a newer refresh (another folder or filter) started meanwhile
      }
      this._store = store;
      this._experiments = experiments;
      this._pages = pages;
      this._models = models;
      this._lastSummaries = JSON.stringify(experiments);
      this._lastModels = JSON.stringify(models);
      this._error = '';
    } catch (error) {
      if (generation !== this._generation) {
        return;
      }
      this._error = error instanceof TrackerAPIError ? error.message : `Could not reach the tracker: ${messageOf(error)}`;
      if (error instanceof TrackerAPIError && error.status === 400) {
        this._pages.clear(); // a bad filter: show no stale runs under the message
      }
    }
    this._render();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._poll.dispose();
    super.dispose();
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  /** One poll: a cheap look at the experiment summaries; runs again only when something moved. */
  private async _tick(): Promise<void> {
    if (!this.isVisible) {
      return;
    }
    let summaries: IExperimentSummary[];
    let models: IRegisteredModel[];
    try {
      [summaries, models] = await Promise.all([listExperiments(this._dir), listModels(this._dir)]);
    } catch {
      return; // the next explicit refresh shows the error; polling stays quiet
    }
    const running = summaries.some(e => e.running_count > 0) || [...this._pages.values()].some(p => p.running > 0);
    const changed = JSON.stringify(summaries) !== this._lastSummaries || JSON.stringify(models) !== this._lastModels;
    if (running || changed) {
      await this.refresh();
    }
  }

  private async _fetchPages(dir: string, experiments: IExperimentSummary[]): Promise<Map<string, IRunPage>> {
    const expanded = experiments.filter(e => !this._collapsed.has(e.name) && e.run_count > 0);
    const pages = await Promise.all(
      expanded.map(e =>
        listRuns(dir, {
          experiment: e.name,
          filter: this._filter || undefined,
          limit: this._settings.pageSize + (this._extraRows.get(e.name) ?? 0)
        })
      )
    );
    return new Map(expanded.map((e, index) => [e.name, pages[index]]));
  }

  private _render(): void {
    const store = this._store;
    this._storeLine.textContent = store
      ? `Store: ${store.store_relative ?? store.store}${store.exists ? '' : ' (no runs yet)'}`
      : '';
    this._storeLine.title = store ? `${store.store}\nfor the folder /${this._dir}` : '';
    this._errorLine.textContent = this._error;
    this._errorLine.hidden = !this._error;
    // The same filter warns once per searched experiment: show each distinct text once.
    const warnings = this._error ? [] : [...new Set([...this._pages.values()].flatMap(page => page.warnings ?? []))];
    this._warningLine.replaceChildren(...warnings.map(text => h('div', {}, text)));
    this._warningLine.hidden = !warnings.length;
    if (store && !store.exists) {
      this._keyed.clear();
      this._list.replaceChildren(
        h('p', { class: 'jp-tracker-empty' }, 'No runs here yet. Put %%track on top of a cell (after %load_ext jupyter_tracker) and run it.')
      );
      return;
    }
    // Sections are keyed by what they show: a refresh that changed nothing in a section keeps its
    // nodes, so a poll never replaces the row under the pointer, the focus or the scroll position.
    const children: HTMLElement[] = [];
    const keyed = new Map<string, HTMLElement>();
    const keep = (key: string, build: () => HTMLElement): void => {
      const node = this._keyed.get(key) ?? build();
      keyed.set(key, node);
      children.push(node);
    };
    for (const experiment of this._experiments) {
      const page = this._pages.get(experiment.name);
      if (this._filter && page && page.total === 0) {
        continue; // nothing matches here
      }
      const collapsed = this._collapsed.has(experiment.name);
      const marked = (page?.runs ?? []).filter(run => this._marked.has(run.run_id)).map(run => run.run_id);
      const key = JSON.stringify(['experiment', this._dir, experiment, page ?? null, this._filter, collapsed, this._settings, marked]);
      keep(key, () =>
        experimentSection(experiment, page, {
          filter: this._filter,
          settings: this._settings,
          collapsed,
          selectedRunId: this._selected,
          onToggle: () => this._toggleExperiment(experiment.name),
          onShowMore: () => this._showMore(experiment.name),
          onSelect: runId => this._select(runId),
          markedRunIds: this._marked,
          onMark: runId => this._mark(runId)
        })
      );
    }
    this._renderMarkedBar();
    if (!children.length && this._filter && !this._error) {
      children.push(h('p', { class: 'jp-tracker-empty' }, 'No run matches the filter.'));
    }
    if (this._models.length) {
      keep(JSON.stringify(['models', this._dir, this._models, this._modelsCollapsed]), () =>
        modelsSection(this._models, {
          collapsed: this._modelsCollapsed,
          selectedRunId: this._selected,
          onToggle: () => {
            this._modelsCollapsed = !this._modelsCollapsed;
            this._render();
          },
          onSelect: runId => this._select(runId)
        })
      );
    }
    this._keyed = keyed;
    const current = Array.from(this._list.children);
    if (current.length !== children.length || current.some((node, index) => node !== children[index])) {
      this._list.replaceChildren(...children);
    }
    this.selectedRunId = this._selected; // kept sections may show an older selection
  }

  private _toggleExperiment(name: string): void {
    if (this._collapsed.has(name)) {
      this._collapsed.delete(name);
    } else {
      this._collapsed.add(name);
    }
    void this.refresh();
  }

  /** One more page of the experiment's runs. */
  private _showMore(name: string): void {
    this._extraRows.set(name, (this._extraRows.get(name) ?? 0) + this._settings.pageSize);
    void this.refresh();
  }

  private _select(runId: string): void {
    this.selectedRunId = runId;
    this._runSelected.emit({ dir: this._dir, runId });
  }

  /** Ctrl/Cmd/Shift-click: add the run to (or take it out of) the runs marked for "Delete selected". */
  private _mark(runId: string): void {
    if (this._marked.has(runId)) {
      this._marked.delete(runId);
    } else {
      this._marked.add(runId);
    }
    this._render();
  }

  /** "N selected · Delete · Clear" above the list while runs are marked. */
  private _renderMarkedBar(): void {
    const shown = new Set([...this._pages.values()].flatMap(page => page.runs.map(run => run.run_id)));
    for (const runId of Array.from(this._marked)) {
      if (!shown.has(runId)) {
        this._marked.delete(runId); // deleted elsewhere, or filtered out: never act on what is not shown
      }
    }
    const count = this._marked.size;
    this._markedBar.hidden = count === 0;
    if (!count) {
      this._markedBar.replaceChildren();
      return;
    }
    const remove = h(
      'button',
      { class: 'jp-tracker-delete-marked jp-mod-styled jp-mod-warn', title: `Delete the ${count} marked run${count === 1 ? '' : 's'}` },
      'Delete'
    );
    remove.addEventListener('click', () => void this._deleteMarked());
    const clear = h('button', { class: 'jp-tracker-clear-marked jp-mod-styled' }, 'Clear');
    clear.addEventListener('click', () => {
      this._marked.clear();
      this._render();
    });
    this._markedBar.replaceChildren(h('span', { class: 'jp-tracker-marked-count' }, `${count} selected`), remove, clear);
  }

  private async _deleteMarked(): Promise<void> {
    const runIds = Array.from(this._marked);
    const names = [...this._pages.values()].flatMap(page => page.runs).filter(run => this._marked.has(run.run_id));
    const listed = names.slice(0, 8).map(run => h('li', {}, `${run.run_name} (${run.run_id.slice(0, 8)})`));
    const body = h(
      'div',
      { class: 'jp-tracker-delete-marked-body' },
      h('ul', {}, ...listed, names.length > 8 ? h('li', {}, `… and ${names.length - 8} more`) : null),
      h('p', {}, 'Their nested runs go too. They can be restored (jupyter-tracker undelete) until gc purges them.')
    );
    const choice = await showDialog({
      title: `Delete ${runIds.length} run${runIds.length === 1 ? '' : 's'}?`,
      body: new Widget({ node: body }),
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!choice.button.accept) {
      return;
    }
    try {
      const reply = await deleteRuns(this._dir, runIds);
      this._marked.clear();
      const kept = [
        reply.kept_registered.length ? `${reply.kept_registered.length} kept: registered model versions point at them` : '',
        reply.kept_running.length ? `${reply.kept_running.length} kept: still running` : ''
      ].filter(Boolean);
      Notification.info(`Deleted ${reply.deleted.length} run${reply.deleted.length === 1 ? '' : 's'}${kept.length ? `; ${kept.join('; ')}` : ''}`, {
        autoClose: 5000
      });
    } catch (error) {
      this._error = error instanceof TrackerAPIError ? error.message : `Could not delete the runs: ${messageOf(error)}`;
    }
    await this.refresh();
  }

  private _settings: ISidebarSettings;
  private _dir = '';
  private _filter = '';
  private _error = '';
  private _selected: string | null = null;
  private _store: IStoreInfo | null = null;
  private _experiments: IExperimentSummary[] = [];
  private _pages = new Map<string, IRunPage>();
  private _models: IRegisteredModel[] = [];
  private _keyed = new Map<string, HTMLElement>();
  private _modelsCollapsed = false;
  private _lastModels = '';
  private _collapsed = new Set<string>();
  private _extraRows = new Map<string, number>();
  private _lastSummaries = '';
  private _generation = 0;
  private _poll: Poll;
  private _filterInput: HTMLInputElement;
  private _warningLine: HTMLElement;
  private _storeLine: HTMLElement;
  private _errorLine: HTMLElement;
  private _list: HTMLElement;
  private _markedBar: HTMLElement;
  private _marked = new Set<string>();
  private _runSelected = new Signal<this, IRunTarget>(this);
}
