/**
 * The "Experiments" sidebar: the experiments of the store that belongs to the current notebook's
 * (or file browser's) folder, each with its runs (status, name, start, key metrics), a filter
 * box in the `search_runs` language, and live refresh while runs are RUNNING. Under them, a
 * collapsible "Models" section lists the store's registered models with their versions.
 */
import { Poll } from '@lumino/polling';
import { Signal, ISignal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import {
  IExperimentSummary,
  IModelVersion,
  IRegisteredModel,
  IRunPage,
  IRunSummary,
  IStoreInfo,
  getStore,
  listExperiments,
  listModels,
  listRuns
} from './api';
import { formatAgo, formatMetric, formatTime, h, messageOf } from './dom';
import { TrackerAPIError } from './request';

export interface ISidebarSettings {
  /** Seconds between refreshes while the sidebar is visible. */
  refreshInterval: number;
  /** How many metrics each run row shows. */
  keyMetricCount: number;
  /** Metric names shown first when a run has them. */
  keyMetrics: string[];
  /** Runs fetched per experiment (and per "Show more"). */
  pageSize: number;
}

export const DEFAULT_SETTINGS: ISidebarSettings = { refreshInterval: 3, keyMetricCount: 2, keyMetrics: [], pageSize: 50 };

/** A run's metrics in display order: the configured key metrics first, then the rest by name. */
export function keyMetricNames(run: IRunSummary, settings: ISidebarSettings): string[] {
  const names = Object.keys(run.metrics);
  const preferred = settings.keyMetrics.filter(name => names.includes(name));
  const others = names.filter(name => !preferred.includes(name) && !name.startsWith('system/')).sort();
  return [...preferred, ...others].slice(0, Math.max(0, settings.keyMetricCount));
}

/** Runs in list order, each child right after its parent (when the parent is on the page). */
function nested(runs: IRunSummary[]): { run: IRunSummary; depth: number }[] {
  const ids = new Set(runs.map(run => run.run_id));
  const children = new Map<string, IRunSummary[]>();
  for (const run of runs) {
    if (run.parent_run_id && ids.has(run.parent_run_id)) {
      children.set(run.parent_run_id, [...(children.get(run.parent_run_id) ?? []), run]);
    }
  }
  const ordered: { run: IRunSummary; depth: number }[] = [];
  const visit = (run: IRunSummary, depth: number) => {
    ordered.push({ run, depth });
    for (const child of children.get(run.run_id) ?? []) {
      visit(child, depth + 1);
    }
  };
  for (const run of runs) {
    if (!(run.parent_run_id && ids.has(run.parent_run_id))) {
      visit(run, 0);
    }
  }
  return ordered;
}

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
    this._list = h('div', { class: 'jp-tracker-experiments' });
    this.node.append(
      h('div', { class: 'jp-tracker-sidebar-header' }, h('h2', {}, 'Experiments')),
      this._storeLine,
      this._filterInput,
      this._errorLine,
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
  get runSelected(): ISignal<this, { dir: string; runId: string }> {
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
    this._list.replaceChildren();
    if (store && !store.exists) {
      this._list.append(
        h('p', { class: 'jp-tracker-empty' }, 'No runs here yet. Put %%track on top of a cell (after %load_ext jupyter_tracker) and run it.')
      );
      return;
    }
    for (const experiment of this._experiments) {
      const page = this._pages.get(experiment.name);
      if (this._filter && page && page.total === 0) {
        continue; // nothing matches here
      }
      this._list.append(this._experimentNode(experiment, page));
    }
    if (!this._list.childElementCount && this._filter && !this._error) {
      this._list.append(h('p', { class: 'jp-tracker-empty' }, 'No run matches the filter.'));
    }
    if (this._models.length) {
      this._list.append(this._modelsNode());
    }
  }

  /** The "Models" section: each registered model with its versions; a version opens its run. */
  private _modelsNode(): HTMLElement {
    const collapsed = this._modelsCollapsed;
    const count = this._models.length;
    const header = h(
      'div',
      { class: 'jp-tracker-experiment-header jp-tracker-models-header', role: 'button', tabindex: '0', 'aria-expanded': String(!collapsed) },
      h('span', { class: `jp-tracker-caret${collapsed ? '' : ' jp-mod-expanded'}` }),
      h('span', { class: 'jp-tracker-experiment-name' }, 'Models'),
      h('span', { class: 'jp-tracker-experiment-counts' }, `${count} registered`)
    );
    const toggle = () => {
      this._modelsCollapsed = !this._modelsCollapsed;
      this._render();
    };
    header.addEventListener('click', toggle);
    header.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        toggle();
      }
    });
    const section = h('section', { class: 'jp-tracker-models' }, header);
    if (collapsed) {
      return section;
    }
    const list = h('ul', { class: 'jp-tracker-model-list' });
    for (const model of this._models) {
      const versions = h('ul', { class: 'jp-tracker-model-versions' });
      for (const version of model.versions) {
        versions.append(this._versionNode(model, version));
      }
      list.append(
        h(
          'li',
          { class: 'jp-tracker-model', 'data-model': model.name },
          h('div', { class: 'jp-tracker-model-name', title: model.description ?? model.name }, model.name),
          versions
        )
      );
    }
    section.append(list);
    return section;
  }

  private _versionNode(model: IRegisteredModel, version: IModelVersion): HTMLElement {
    const runLabel = version.run_name ?? version.run_id.slice(0, 8);
    const stage = version.stage && version.stage !== 'None' ? version.stage : null;
    const row = h(
      'li',
      {
        class: `jp-tracker-model-version${version.run_id === this._selected ? ' jp-mod-selected' : ''}`,
        'data-version': String(version.version),
        'data-run-id': version.run_id,
        role: 'button',
        tabindex: '0',
        title:
          `${model.name} version ${version.version}${stage ? ` (${stage})` : ''}, registered ${formatTime(version.created_time)}` +
          `\nfrom run ${runLabel} (${version.run_id.slice(0, 8)}): click for its details` +
          (version.description ? `\n${version.description}` : '')
      },
      h('span', { class: 'jp-tracker-version-number' }, `v${version.version}`),
      stage ? h('span', { class: `jp-tracker-stage jp-tracker-stage-${stage.toLowerCase()}` }, stage) : null,
      version.aliases.map(alias => h('span', { class: 'jp-tracker-alias' }, `@${alias}`)),
      h('span', { class: 'jp-tracker-version-run' }, runLabel)
    );
    const select = () => {
      this.selectedRunId = version.run_id;
      this._runSelected.emit({ dir: this._dir, runId: version.run_id });
    };
    row.addEventListener('click', select);
    row.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        select();
      }
    });
    return row;
  }

  private _experimentNode(experiment: IExperimentSummary, page: IRunPage | undefined): HTMLElement {
    const collapsed = this._collapsed.has(experiment.name);
    const counts =
      page && this._filter
        ? `${page.total} of ${experiment.run_count}`
        : `${experiment.run_count} run${experiment.run_count === 1 ? '' : 's'}`;
    const header = h(
      'div',
      { class: 'jp-tracker-experiment-header', role: 'button', tabindex: '0', 'aria-expanded': String(!collapsed) },
      h('span', { class: `jp-tracker-caret${collapsed ? '' : ' jp-mod-expanded'}` }),
      h('span', { class: 'jp-tracker-experiment-name' }, experiment.name),
      h('span', { class: 'jp-tracker-experiment-counts' }, counts),
      experiment.running_count > 0 ? h('span', { class: 'jp-tracker-running-count' }, `${experiment.running_count} running`) : null
    );
    const toggle = () => {
      if (this._collapsed.has(experiment.name)) {
        this._collapsed.delete(experiment.name);
      } else {
        this._collapsed.add(experiment.name);
      }
      void this.refresh();
    };
    header.addEventListener('click', toggle);
    header.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        toggle();
      }
    });
    const section = h('section', { class: 'jp-tracker-experiment', 'data-experiment': experiment.name }, header);
    if (collapsed || !page) {
      return section;
    }
    const rows = h('ul', { class: 'jp-tracker-runs' });
    for (const { run, depth } of nested(page.runs)) {
      rows.append(this._runNode(run, depth));
    }
    section.append(rows);
    if (page.total > page.runs.length) {
      const more = h('button', { class: 'jp-tracker-more jp-mod-styled' }, `Show more (${page.runs.length} of ${page.total})`);
      more.addEventListener('click', () => {
        this._extraRows.set(experiment.name, (this._extraRows.get(experiment.name) ?? 0) + this._settings.pageSize);
        void this.refresh();
      });
      section.append(more);
    }
    return section;
  }

  private _runNode(run: IRunSummary, depth: number): HTMLElement {
    const metrics = keyMetricNames(run, this._settings).map(name =>
      h(
        'span',
        { class: 'jp-tracker-metric', title: name },
        `${name}=${formatMetric(run.metrics[name], run.metrics_nonfinite[name])}`
      )
    );
    const row = h(
      'li',
      {
        class: `jp-tracker-run${depth ? ' jp-tracker-run-child' : ''}${run.run_id === this._selected ? ' jp-mod-selected' : ''}`,
        'data-run-id': run.run_id,
        'data-status': run.status,
        role: 'button',
        tabindex: '0',
        title: `${run.run_name} (${run.run_id.slice(0, 8)}) ${run.status}\nstarted ${formatTime(run.start_time)}`,
        style: depth ? `padding-left: ${8 + depth * 14}px` : undefined
      },
      h('span', { class: `jp-tracker-dot jp-tracker-status-${run.status.toLowerCase()}`, 'aria-label': run.status }),
      h(
        'div',
        { class: 'jp-tracker-run-main' },
        h(
          'div',
          { class: 'jp-tracker-run-line' },
          h('span', { class: 'jp-tracker-run-name' }, run.run_name),
          h('span', { class: 'jp-tracker-run-time' }, run.status === 'RUNNING' ? 'running' : formatAgo(run.start_time))
        ),
        metrics.length ? h('div', { class: 'jp-tracker-run-metrics' }, metrics) : null
      )
    );
    const select = () => {
      this.selectedRunId = run.run_id;
      this._runSelected.emit({ dir: this._dir, runId: run.run_id });
    };
    row.addEventListener('click', select);
    row.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        select();
      }
    });
    return row;
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
  private _modelsCollapsed = false;
  private _lastModels = '';
  private _collapsed = new Set<string>();
  private _extraRows = new Map<string, number>();
  private _lastSummaries = '';
  private _generation = 0;
  private _poll: Poll;
  private _filterInput: HTMLInputElement;
  private _storeLine: HTMLElement;
  private _errorLine: HTMLElement;
  private _list: HTMLElement;
  private _runSelected = new Signal<this, { dir: string; runId: string }>(this);
}
