/**
 * The extension's settings (Settings Editor → Experiment tracking): their defaults, which
 * mirror schema/plugin.json, and how the loaded values reach the sidebar, panels and status bar.
 */
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

/** What the Experiments sidebar reads. */
export interface ISidebarSettings {
  /** Seconds between refreshes while the sidebar is visible (also open RUNNING run panels). */
  refreshInterval: number;
  /** How many metrics each run row shows. */
  keyMetricCount: number;
  /** Metric names shown first when a run has them. */
  keyMetrics: string[];
  /** Runs fetched per experiment (and per "Show more"). */
  pageSize: number;
}

export interface ITrackerSettings extends ISidebarSettings {
  /** Seconds between asks for the active run while the current kernel is busy. */
  activeRunInterval: number;
}

/**
 * The one home of the defaults, used until the setting registry answers and for any value it
 * leaves out. They must equal the `default`s of schema/plugin.json.
 */
export const DEFAULT_SETTINGS: Readonly<ITrackerSettings> = {
  refreshInterval: 3,
  keyMetricCount: 2,
  keyMetrics: [],
  pageSize: 50,
  activeRunInterval: 2
};

/** The settings in a loaded composite (JSON as the user wrote it), with the defaults for what it lacks. */
export function settingsFrom(composite: ReadonlyPartialJSONObject): ITrackerSettings {
  return {
    refreshInterval: Number(composite.refreshInterval ?? DEFAULT_SETTINGS.refreshInterval),
    keyMetricCount: Number(composite.keyMetricCount ?? DEFAULT_SETTINGS.keyMetricCount),
    keyMetrics: Array.isArray(composite.keyMetrics) ? composite.keyMetrics.map(String) : [],
    pageSize: Number(composite.pageSize ?? DEFAULT_SETTINGS.pageSize),
    activeRunInterval: Number(composite.activeRunInterval ?? DEFAULT_SETTINGS.activeRunInterval)
  };
}

/**
 * Load the plugin's settings once the layout is restored, call `apply` with them and again on
 * every change. A registry that fails is logged: the defaults stay in force.
 */
export function watchSettings(
  registry: ISettingRegistry,
  pluginId: string,
  restored: Promise<void>,
  apply: (settings: ITrackerSettings) => void
): void {
  const onLoaded = (loaded: ISettingRegistry.ISettings) => apply(settingsFrom(loaded.composite));
  void Promise.all([registry.load(pluginId), restored])
    .then(([loaded]) => {
      onLoaded(loaded);
      loaded.changed.connect(onLoaded);
    })
    .catch(error => console.error('jupyter-tracker: cannot load settings', error));
}
