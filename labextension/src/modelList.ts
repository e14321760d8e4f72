/**
 * The "Models" section of the Experiments sidebar: the store's registered models, each with its
 * versions (newest first, stage badge, aliases, the run it came from); a version opens its run.
 */
import { IModelVersion, IRegisteredModel } from './api';
import { collapsibleHeader, formatTime, h, middleEllipsis, onClickOrEnter } from './dom';

/** What the section shows and where its clicks go (the sidebar owns the state). */
export interface IModelsSectionOptions {
  collapsed: boolean;
  selectedRunId: string | null;
  /** The header was clicked (or Enter/Space pressed on it). */
  onToggle: () => void;
  /** A version was clicked (or Enter pressed on it): the id of the run it was registered from. */
  onSelect: (runId: string) => void;
}

/** The "Models" section: a header with the count, then (unless collapsed) each model and its versions. */
export function modelsSection(models: IRegisteredModel[], options: IModelsSectionOptions): HTMLElement {
  const header = collapsibleHeader(
    'jp-tracker-experiment-header jp-tracker-models-header',
    options.collapsed,
    options.onToggle,
    h('span', { class: 'jp-tracker-experiment-name' }, 'Models'),
    h('span', { class: 'jp-tracker-experiment-counts' }, `${models.length} registered`)
  );
  const section = h('section', { class: 'jp-tracker-models' }, header);
  if (options.collapsed) {
    return section;
  }
  const list = h('ul', { class: 'jp-tracker-model-list' });
  for (const model of models) {
    const versions = h('ul', { class: 'jp-tracker-model-versions' });
    for (const version of model.versions) {
      versions.append(versionRow(model, version, options));
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

function versionRow(model: IRegisteredModel, version: IModelVersion, options: IModelsSectionOptions): HTMLElement {
  const runLabel = version.run_name ?? version.run_id.slice(0, 8);
  const stage = version.stage && version.stage !== 'None' ? version.stage : null;
  const row = h(
    'li',
    {
      class: `jp-tracker-model-version${version.run_id === options.selectedRunId ? ' jp-mod-selected' : ''}`,
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
    middleEllipsis('jp-tracker-version-run', runLabel)
  );
  onClickOrEnter(row, () => options.onSelect(version.run_id));
  return row;
}
