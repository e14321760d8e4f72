/**
 * The status bar item: the RUNNING run of the current notebook's kernel, with its elapsed
 * time. The server is asked only while the kernel is busy (and once when it turns idle),
 * so an idle JupyterLab sends no requests; the clock ticks locally. While team sync still has runs
 * to send it also shows "syncing n runs" (and keeps asking until none is left).
 */
import { PathExt } from '@jupyterlab/coreutils';
import { NotebookPanel } from '@jupyterlab/notebook';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { IRunSummary, IRunTarget, getActiveRun } from './api';
import { h } from './dom';
import { DEFAULT_SETTINGS } from './settings';

export class ActiveRunStatus extends Widget {
  constructor(interval = DEFAULT_SETTINGS.activeRunInterval) {
    super();
    this.addClass('jp-tracker-active-run');
    this.node.title = 'Active jupyter_tracker run of this kernel (click for details)';
    this._label = h('span', { class: 'jp-tracker-active-run-label' });
    this._dot = h('span', { class: 'jp-tracker-dot jp-tracker-status-running' });
    this._syncingLabel = h('span', { class: 'jp-tracker-active-run-syncing' });
    this.node.append(this._dot, this._label, this._syncingLabel);
    this.node.addEventListener('click', () => {
      if (this._run && this._panel) {
        this._clicked.emit({ dir: dirOf(this._panel), runId: this._run.run_id });
      }
    });
    this._poll = new Poll({
      factory: () => this._update(),
      frequency: { interval: interval * 1000, backoff: false },
      standby: 'when-hidden',
      name: 'jupyter-tracker:active-run'
    });
  }

  /** The run shown, or null when the kernel runs none. */
  get run(): IRunSummary | null {
    return this._run;
  }

  /** How many runs team sync is still sending (0 when none, or no mirror). */
  get syncing(): number {
    return this._syncing;
  }

  /** Whether the item has something to show: a running run, or runs being synced. */
  get active(): boolean {
    return this._run !== null || this._syncing > 0;
  }

  /** Emitted when whether a run is shown changes (the status bar hides an empty item). */
  get activeChanged(): ISignal<this, void> {
    return this._activeChanged;
  }

  /** Emitted with (dir, run id) when the item is clicked. */
  get clicked(): ISignal<this, IRunTarget> {
    return this._clicked;
  }

  set interval(seconds: number) {
    this._poll.frequency = { ...this._poll.frequency, interval: seconds * 1000 };
  }

  /** Follow this notebook (the current one), or none. */
  set panel(panel: NotebookPanel | null) {
    if (panel === this._panel) {
      return;
    }
    this._panel?.sessionContext.statusChanged.disconnect(this._onStatus);
    this._panel = panel;
    panel?.sessionContext.statusChanged.connect(this._onStatus);
    this._setRun(null);
    void this._poll.refresh();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._poll.dispose();
    window.clearInterval(this._clock);
    super.dispose();
  }

  /** Busy: a cell may have started a run; idle: it may have ended. Ask now either way. */
  private _onStatus = (): void => {
    void this._poll.refresh();
  };

  private async _update(): Promise<void> {
    const panel = this._panel;
    const kernel = panel?.sessionContext.session?.kernel;
    if (!panel || !kernel || panel.context.path.includes(':')) {
      this._setRun(null);
      return;
    }
    const busy = panel.sessionContext.kernelDisplayStatus === 'busy';
    if (!busy && !this._run && !this._checkIdle && !this._syncing) {
      return;
    }
    this._checkIdle = busy; // one more look after the kernel turns idle
    try {
      const { run, syncing } = await getActiveRun(dirOf(panel), kernel.id, panel.context.path);
      if (panel === this._panel) {
        this._setRun(run, syncing ?? 0);
      }
    } catch {
      // A store that is busy or gone: keep what is shown, the next poll tries again.
    }
  }

  private _setRun(run: IRunSummary | null, syncing = 0): void {
    const wasActive = this.active;
    this._run = run;
    this._syncing = syncing;
    this._dot.style.display = run ? '' : 'none';
    this._syncingLabel.textContent = syncing ? `syncing ${syncing} run${syncing === 1 ? '' : 's'}` : '';
    window.clearInterval(this._clock);
    if (run) {
      this._render();
      this._clock = window.setInterval(() => this._render(), 1000);
    } else {
      this._label.textContent = '';
    }
    if (wasActive !== this.active) {
      this._activeChanged.emit();
    }
  }

  private _render(): void {
    const run = this._run;
    if (!run) {
      return;
    }
    const elapsed = run.start_time === null ? null : Math.max(0, (Date.now() - run.start_time) / 1000);
    this._label.textContent = `${run.run_name} · ${clock(elapsed)}`;
  }

  private _panel: NotebookPanel | null = null;
  private _run: IRunSummary | null = null;
  private _syncing = 0;
  private _dot: HTMLElement;
  private _syncingLabel: HTMLElement;
  private _checkIdle = false;
  private _clock = 0;
  private _label: HTMLElement;
  private _poll: Poll;
  private _activeChanged = new Signal<this, void>(this);
  private _clicked = new Signal<this, IRunTarget>(this);
}

function dirOf(panel: NotebookPanel): string {
  return PathExt.dirname(panel.context.path);
}

/** Elapsed seconds as "0:07", "12:34" or "1:02:03". */
function clock(seconds: number | null): string {
  if (seconds === null) {
    return '';
  }
  const whole = Math.floor(seconds);
  const pad = (n: number) => String(n).padStart(2, '0');
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  return hours ? `${hours}:${pad(minutes)}:${pad(whole % 60)}` : `${minutes}:${pad(whole % 60)}`;
}
