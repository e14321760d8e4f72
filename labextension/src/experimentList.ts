/**
 * The experiment sections of the Experiments sidebar: a header per experiment (caret, name,
 * run counts, how many are RUNNING) and its runs (status dot, name, start, key metrics),
 * nested runs right under their parent, and a "Show more" button when the page is partial.
 */
import { IExperimentSummary, IRunPage, IRunSummary } from './api';
import { collapsibleHeader, formatAgo, formatMetric, formatTime, h, middleEllipsis } from './dom';
import { ISidebarSettings } from './settings';

/** What an experiment section shows and where its clicks go (the sidebar owns the state). */
export interface IExperimentSectionOptions {
  /** The filter in force ('' for none): the counts then read "<matches> of <runs>". */
  filter: string;
  settings: ISidebarSettings;
  collapsed: boolean;
  selectedRunId: string | null;
  /** The header was clicked (or Enter/Space pressed on it). */
  onToggle: () => void;
  /** "Show more" was clicked. */
  onShowMore: () => void;
  /** A run row was clicked (or Enter pressed on it). */
  onSelect: (runId: string) => void;
  /** Runs marked for an action on several at once (Ctrl/Cmd/Shift-click). */
  markedRunIds: ReadonlySet<string>;
  /** A run row was Ctrl/Cmd/Shift-clicked: mark or unmark it. */
  onMark: (runId: string) => void;
}

/** The verdict tag `%%track` and `jt.start_run()` in a notebook store (capture/reproducibility.py). */
const VERDICT_TAG = 'jt.reproducibility';
const REASONS_TAG = 'jt.reproducibility.reasons';

/** The reproducibility badge of a run that has a verdict: "linear", or "⚠ hidden state" with its reasons. */
export function verdictBadge(run: IRunSummary): HTMLElement | null {
  const verdict = run.tags[VERDICT_TAG];
  if (!verdict) {
    return null;
  }
  const linear = verdict === 'linear';
  const reasons = run.tags[REASONS_TAG] ?? '';
  return h(
    'span',
    {
      class: `jp-tracker-verdict jp-tracker-verdict-${linear ? 'linear' : 'warnings'}`,
      'data-verdict': verdict,
      title: linear
        ? 'Reproducible as saved: the cells it depends on run top to bottom in the saved notebook'
        : `Not reproducible as saved:\n${reasons}`
    },
    linear ? 'linear' : '⚠ hidden state'
  );
}

/** Team sync's badge of a mirrored run: "✓ synced", "pending N" (points still to send) or "failed" with the
 * reason in its tooltip; null for a run no mirror has seen. */
export function syncBadge(run: IRunSummary): HTMLElement | null {
  const sync = run.sync;
  if (!sync) {
    return null;
  }
  const points = sync.pending_points;
  const text = sync.state === 'synced' ? '✓ synced' : sync.state === 'pending' ? (points ? `pending ${points}` : 'pending') : 'failed';
  const title =
    sync.state === 'failed'
      ? `sync to ${sync.remote} failed: ${sync.error ?? 'unknown error'}`
      : sync.state === 'pending'
        ? points
          ? `${points} points not yet on ${sync.remote}`
          : `its end or edits not yet on ${sync.remote}`
        : `synced to ${sync.remote}`;
  return h('span', { class: `jp-tracker-sync jp-tracker-sync-${sync.state}`, 'data-sync': sync.state, title }, text);
}

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

/** One experiment: its header and, unless collapsed or not fetched, its page of runs. */
export function experimentSection(
  experiment: IExperimentSummary,
  page: IRunPage | undefined,
  options: IExperimentSectionOptions
): HTMLElement {
  const counts =
    page && options.filter
      ? `${page.total} of ${experiment.run_count}`
      : `${experiment.run_count} run${experiment.run_count === 1 ? '' : 's'}`;
  const header = collapsibleHeader(
    'jp-tracker-experiment-header',
    options.collapsed,
    options.onToggle,
    h('span', { class: 'jp-tracker-experiment-name' }, experiment.name),
    h('span', { class: 'jp-tracker-experiment-counts' }, counts),
    experiment.running_count > 0 ? h('span', { class: 'jp-tracker-running-count' }, `${experiment.running_count} running`) : null
  );
  const section = h('section', { class: 'jp-tracker-experiment', 'data-experiment': experiment.name }, header);
  if (options.collapsed || !page) {
    return section;
  }
  const rows = h('ul', { class: 'jp-tracker-runs' });
  for (const { run, depth } of nested(page.runs)) {
    rows.append(runRow(run, depth, options));
  }
  section.append(rows);
  if (page.total > page.runs.length) {
    const more = h('button', { class: 'jp-tracker-more jp-mod-styled' }, `Show more (${page.runs.length} of ${page.total})`);
    more.addEventListener('click', options.onShowMore);
    section.append(more);
  }
  return section;
}

function runRow(run: IRunSummary, depth: number, options: IExperimentSectionOptions): HTMLElement {
  const metrics = keyMetricNames(run, options.settings).map(name =>
    h('span', { class: 'jp-tracker-metric', title: name }, `${name}=${formatMetric(run.metrics[name], run.metrics_nonfinite[name])}`)
  );
  const row = h(
    'li',
    {
      class: `jp-tracker-run${depth ? ' jp-tracker-run-child' : ''}${run.run_id === options.selectedRunId ? ' jp-mod-selected' : ''}${
        options.markedRunIds.has(run.run_id) ? ' jp-tracker-run-marked' : ''
      }`,
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
        middleEllipsis('jp-tracker-run-name', run.run_name),
        syncBadge(run),
        verdictBadge(run),
        h('span', { class: 'jp-tracker-run-time' }, run.status === 'RUNNING' ? 'running' : formatAgo(run.start_time))
      ),
      metrics.length ? h('div', { class: 'jp-tracker-run-metrics' }, metrics) : null
    )
  );
  row.addEventListener('click', event => {
    if (event.ctrlKey || event.metaKey || event.shiftKey) {
      event.preventDefault();
      options.onMark(run.run_id);
    } else {
      options.onSelect(run.run_id);
    }
  });
  row.addEventListener('keydown', event => {
    if (event.key === 'Enter') {
      options.onSelect(run.run_id);
    }
  });
  return row;
}
