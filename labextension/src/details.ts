/**
 * The run details panel (a main-area widget): header, params, tags, latest metrics with
 * sparklines, artifacts, inputs, error, source cell, console and environment of one run.
 * Actions (rename, tag, delete, snapshot) are commands; see commands.ts and runPanels.ts.
 */
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { IRunDetails, IRunTarget, artifactUrl, deleteTag, getMetricHistory, getRun } from './api';
import { formatBytes, formatDuration, formatMetric, formatTime, h, messageOf, statusBadge } from './dom';
import { DEFAULT_SETTINGS } from './settings';
import { sparkline } from './sparkline';

/** At most this many metrics get a sparkline (each is one request). */
const SPARKLINE_LIMIT = 40;
const SPARKLINE_POINTS = 120;

export class RunDetails extends Widget {
  constructor(
    readonly dir: string,
    readonly runId: string,
    refreshInterval = DEFAULT_SETTINGS.refreshInterval
  ) {
    super();
    this.addClass('jp-tracker-details');
    this.node.tabIndex = 0;
    this._body = h('div', { class: 'jp-tracker-details-body' }, h('p', { class: 'jp-tracker-empty' }, 'Loading run…'));
    this.node.append(this._body);
    this.node.addEventListener('click', event => {
      const link = (event.target as HTMLElement).closest<HTMLElement>('a.jp-tracker-run-link');
      if (link?.dataset.runId) {
        event.preventDefault();
        this._openRun.emit(link.dataset.runId);
      }
    });
    this._poll = new Poll({
      factory: () => this._tick(),
      frequency: { interval: refreshInterval * 1000, backoff: false },
      standby: 'when-hidden',
      name: 'jupyter-tracker:run-details'
    });
  }

  /** The run this panel shows. */
  get target(): IRunTarget {
    return { dir: this.dir, runId: this.runId };
  }

  /** The run as last loaded (null before the first load or after an error). */
  get details(): IRunDetails | null {
    return this._details;
  }

  /** Emitted after each (re)load, e.g. so the tab title follows a rename. */
  get loaded(): ISignal<this, IRunDetails | null> {
    return this._loaded;
  }

  /** Emitted when the panel changed the run itself (a tag removed), so lists can refresh. */
  get runChanged(): ISignal<this, void> {
    return this._runChanged;
  }

  /** Emitted with a run id when a parent or child link is clicked. */
  get openRun(): ISignal<this, string> {
    return this._openRun;
  }

  set refreshInterval(seconds: number) {
    this._poll.frequency = { ...this._poll.frequency, interval: seconds * 1000 };
  }

  async refresh(): Promise<void> {
    try {
      this._details = await getRun(this.dir, this.runId);
      this._render(this._details);
    } catch (error) {
      this._details = null;
      this._body.replaceChildren(h('p', { class: 'jp-tracker-error' }, `Could not load run ${this.runId.slice(0, 8)}: ${messageOf(error)}`));
    }
    this._loaded.emit(this._details);
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._poll.dispose();
    super.dispose();
  }

  /** While the run is RUNNING, reload it now and then so metrics and status stay current. */
  private async _tick(): Promise<void> {
    if (this._details?.status === 'RUNNING' && this.isVisible) {
      await this.refresh();
    }
  }

  private _render(run: IRunDetails): void {
    const scroll = this.node.scrollTop;
    const sections: HTMLElement[] = [this._header(run)];
    if (run.error) {
      sections.push(
        section('Error', h('pre', { class: 'jp-tracker-code jp-tracker-traceback' }, run.error.traceback || `${run.error.type ?? ''}: ${run.error.message ?? ''}`))
      );
    }
    sections.push(section('Parameters', keyValueTable(run.params, 'No parameters.'), 'params'));
    sections.push(section('Tags', this._tagsTable(run), 'tags'));
    sections.push(section('Metrics', this._metricsTable(run), 'metrics'));
    sections.push(section('Artifacts', this._artifacts(run), 'artifacts'));
    if (run.inputs.length) {
      sections.push(section('Inputs', this._inputs(run), 'inputs'));
    }
    sections.push(section('Source', this._source(run), 'source'));
    if (run.console) {
      sections.push(
        section(
          'Console output',
          h(
            'details',
            {},
            h('summary', {}, `${run.console.split('\n').length} lines${run.console_truncated ? ' (last 20,000 characters)' : ''}`),
            h('pre', { class: 'jp-tracker-code' }, run.console)
          ),
          'console'
        )
      );
    }
    sections.push(section('Environment', this._environment(run), 'environment'));
    this._body.replaceChildren(...sections);
    this.node.scrollTop = scroll;
  }

  private _header(run: IRunDetails): HTMLElement {
    const facts: [string, string][] = [
      ['Experiment', run.experiment],
      ['Run id', run.run_id],
      ['Started', formatTime(run.start_time)],
      ['Duration', run.status === 'RUNNING' ? 'running' : formatDuration(run.duration_s)],
      ['User', [run.user, run.host].filter(Boolean).join('@')]
    ];
    const links: HTMLElement[] = [];
    if (run.parent_run_id) {
      links.push(h('span', {}, 'Parent: '), this._runLink(run.parent_run_id, run.run_names));
    }
    if (run.children.length) {
      const children = h('ul', { class: 'jp-tracker-child-runs' }, run.children.map(id => h('li', {}, this._runLink(id, run.run_names))));
      links.push(h('div', {}, `Child runs (${run.children.length}):`, children));
    }
    if (run.tags['jt.reproduces']) {
      links.push(h('span', {}, ' Reproduces: '), this._runLink(run.tags['jt.reproduces']));
    }
    return h(
      'header',
      { class: 'jp-tracker-details-header' },
      h(
        'h1',
        {},
        h('span', { class: 'jp-tracker-details-name' }, run.run_name),
        ' ',
        statusBadge(run.status),
        ' ',
        reproducibilityBadge(run.tags)
      ),
      h('dl', { class: 'jp-tracker-facts' }, facts.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)])),
      links.length ? h('div', { class: 'jp-tracker-related' }, links) : null
    );
  }

  /** A link to a run, by name (its short id in the tooltip), or by short id when the name is unknown. */
  private _runLink(runId: string, names: Record<string, string> = {}): HTMLElement {
    const name = names[runId];
    return h(
      'a',
      { class: 'jp-tracker-run-link', href: '#', 'data-run-id': runId, 'data-dir': this.dir, title: `run ${runId}` },
      name ? `${name} (${runId.slice(0, 8)})` : runId.slice(0, 8)
    );
  }

  private _tagsTable(run: IRunDetails): HTMLElement {
    const keys = Object.keys(run.tags).sort();
    if (!keys.length) {
      return h('p', { class: 'jp-tracker-empty' }, 'No tags.');
    }
    return h(
      'table',
      { class: 'jp-tracker-table' },
      h(
        'tbody',
        {},
        keys.map(key => {
          const remove = h('button', { class: 'jp-tracker-icon-button', title: `Remove tag ${key}`, 'aria-label': `Remove tag ${key}` }, '×');
          remove.addEventListener('click', () => void this._removeTag(key));
          return h('tr', {}, h('th', {}, key), h('td', {}, run.tags[key]), h('td', { class: 'jp-tracker-actions' }, remove));
        })
      )
    );
  }

  private async _removeTag(key: string): Promise<void> {
    try {
      await deleteTag(this.dir, this.runId, key);
    } catch (error) {
      this._body.prepend(h('p', { class: 'jp-tracker-error' }, messageOf(error)));
      return;
    }
    this._runChanged.emit();
    await this.refresh();
  }

  private _metricsTable(run: IRunDetails): HTMLElement {
    const keys = Object.keys(run.metrics).sort();
    if (!keys.length) {
      return h('p', { class: 'jp-tracker-empty' }, 'No metrics.');
    }
    const rows = keys.map((key, index) => {
      const chart = h('td', { class: 'jp-tracker-chart' });
      if (index < SPARKLINE_LIMIT) {
        getMetricHistory(this.dir, this.runId, key, SPARKLINE_POINTS)
          .then(history => chart.append(sparkline(history)))
          .catch(error => (chart.textContent = messageOf(error)));
      }
      return h(
        'tr',
        { 'data-metric': key },
        h('th', {}, key),
        h('td', { class: 'jp-tracker-number' }, formatMetric(run.metrics[key], run.metrics_nonfinite[key])),
        chart
      );
    });
    return h('table', { class: 'jp-tracker-table' }, h('tbody', {}, rows));
  }

  private _artifacts(run: IRunDetails): HTMLElement {
    if (!run.artifacts.length) {
      return h('p', { class: 'jp-tracker-empty' }, 'No artifacts.');
    }
    return h(
      'table',
      { class: 'jp-tracker-table' },
      h(
        'tbody',
        {},
        run.artifacts.map(artifact =>
          h(
            'tr',
            {},
            h(
              'th',
              {},
              h('a', { href: artifactUrl(this.dir, this.runId, artifact.path, false), target: '_blank', rel: 'noopener noreferrer', title: 'Open in a new browser tab' }, artifact.path)
            ),
            h('td', {}, artifact.media_type ?? ''),
            h('td', { class: 'jp-tracker-number' }, formatBytes(artifact.size)),
            h('td', {}, h('a', { href: artifactUrl(this.dir, this.runId, artifact.path, true), download: artifact.path.split('/').pop() ?? '' }, 'Download'))
          )
        )
      )
    );
  }

  private _inputs(run: IRunDetails): HTMLElement {
    return h(
      'table',
      { class: 'jp-tracker-table' },
      h(
        'tbody',
        {},
        run.inputs.map(input =>
          h(
            'tr',
            {},
            h('th', {}, input.name ?? ''),
            h('td', {}, input.context ?? ''),
            h('td', {}, typeof input.num_rows === 'number' ? `${input.num_rows} rows` : ''),
            h('td', { class: 'jp-tracker-mono' }, (input.digest ?? '').slice(0, 12))
          )
        )
      )
    );
  }

  private _source(run: IRunDetails): HTMLElement {
    const source = run.source;
    const where = source.notebook_path ?? source.script_path;
    const facts: [string, string][] = [];
    if (source.kind) {
      facts.push(['Kind', source.kind]);
    }
    if (where) {
      facts.push([source.notebook_path ? 'Notebook' : 'Script', where]);
    }
    if (source.execution_count !== null && source.execution_count !== undefined) {
      facts.push(['Execution count', String(source.execution_count)]);
    }
    if (run.git) {
      const git = run.git;
      facts.push(['Git', `${git.branch ?? ''} ${(git.commit ?? '').slice(0, 10)}${git.dirty ? ' (uncommitted changes)' : ''}`]);
    }
    return h(
      'div',
      {},
      facts.length ? h('dl', { class: 'jp-tracker-facts' }, facts.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)])) : null,
      source.code ? h('pre', { class: 'jp-tracker-code jp-tracker-source-code' }, source.code) : h('p', { class: 'jp-tracker-empty' }, 'No source cell recorded.')
    );
  }

  private _environment(run: IRunDetails): HTMLElement {
    const environment = run.environment;
    if (!environment) {
      return h('p', { class: 'jp-tracker-empty' }, 'Not recorded.');
    }
    const nodes: HTMLElement[] = [];
    const facts: [string, string][] = [];
    for (const [name, value] of Object.entries(environment)) {
      if (name === 'packages' && value && typeof value === 'object') {
        const packages = Object.entries(value as Record<string, unknown>);
        nodes.push(
          h(
            'details',
            {},
            h('summary', {}, `${packages.length} packages`),
            keyValueTable(Object.fromEntries(packages.map(([key, version]) => [key, String(version)])), '')
          )
        );
      } else if (value && typeof value === 'object') {
        for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
          facts.push([`${name}.${key}`, String(inner)]);
        }
      } else {
        facts.push([name, String(value)]);
      }
    }
    return h('div', {}, h('dl', { class: 'jp-tracker-facts' }, facts.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)])), nodes);
  }

  private _body: HTMLElement;
  private _details: IRunDetails | null = null;
  private _poll: Poll;
  private _loaded = new Signal<this, IRunDetails | null>(this);
  private _runChanged = new Signal<this, void>(this);
  private _openRun = new Signal<this, string>(this);
}

function section(title: string, content: HTMLElement, name?: string): HTMLElement {
  return h('section', { class: 'jp-tracker-section', 'data-section': name }, h('h2', {}, title), content);
}

function keyValueTable(values: Record<string, string>, empty: string): HTMLElement {
  const keys = Object.keys(values).sort();
  if (!keys.length) {
    return h('p', { class: 'jp-tracker-empty' }, empty);
  }
  return h('table', { class: 'jp-tracker-table' }, h('tbody', {}, keys.map(key => h('tr', {}, h('th', {}, key), h('td', {}, values[key])))));
}

/** The run's reproducibility verdict and latest reproduction (tags the tracker sets), reasons as tooltip. */
function reproducibilityBadge(tags: Record<string, string>): HTMLElement | null {
  const verdict = tags['jt.reproducibility'];
  const reproduction = tags['jt.reproduction'];
  if (!verdict && !reproduction) {
    return null;
  }
  const label = [verdict === 'linear' ? 'linear' : verdict ? '⚠ hidden state' : '', reproduction ?? ''].filter(Boolean);
  const title = [tags['jt.reproducibility.reasons'], tags['jt.reproduction.detail']].filter(Boolean).join('\n');
  const state = verdict && verdict !== 'linear' ? 'warnings' : reproduction ?? 'linear';
  return h('span', { class: `jp-tracker-status jp-tracker-repro jp-tracker-repro-${state}`, title: title || verdict }, label.join(' · '));
}
