/**
 * Small DOM and formatting helpers shared by the panels. Text always goes in through
 * `textContent`, never `innerHTML`: run names, params and console output are user data.
 */

type Child = Node | string | null | undefined | false;

/** `h('div', {class: 'x', title: 'y'}, child, ...)`: an element with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | undefined> = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined) {
      element.setAttribute(name, value);
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    element.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return element;
}

/**
 * A section header of the sidebar that folds its section: a caret, then `children`. A click,
 * Enter or Space calls `onToggle`; the header reports its state in `aria-expanded`.
 */
export function collapsibleHeader(
  className: string,
  collapsed: boolean,
  onToggle: () => void,
  ...children: Child[]
): HTMLElement {
  const header = h(
    'div',
    { class: className, role: 'button', tabindex: '0', 'aria-expanded': String(!collapsed) },
    h('span', { class: `jp-tracker-caret${collapsed ? '' : ' jp-mod-expanded'}` }),
    ...children
  );
  header.addEventListener('click', onToggle);
  header.addEventListener('keydown', event => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      onToggle();
    }
  });
  return header;
}

/** Call `action` when the element (a row with role=button) is clicked or Enter is pressed on it. */
export function onClickOrEnter(element: HTMLElement, action: () => void): void {
  element.addEventListener('click', action);
  element.addEventListener('keydown', event => {
    if (event.key === 'Enter') {
      action();
    }
  });
}

/** A metric value the way a table cell shows it: 4 significant digits, NaN/Infinity spelled out. */
export function formatMetric(value: number | null | undefined, nonfinite?: string): string {
  if (value === null || value === undefined) {
    return nonfinite ?? '—';
  }
  if (Number.isInteger(value) && Math.abs(value) < 1e9) {
    return String(value);
  }
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) {
    return value.toExponential(2);
  }
  return String(Number(value.toPrecision(4)));
}

/** Local date and time of an epoch-millisecond instant, e.g. "2026-11-23 09:14:03". */
export function formatTime(epochMs: number | null | undefined): string {
  if (epochMs === null || epochMs === undefined) {
    return '';
  }
  const date = new Date(epochMs);
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** "just now", "5 min ago", "3 h ago", else the date: how the sidebar shows a start time. */
export function formatAgo(epochMs: number | null | undefined, now = Date.now()): string {
  if (epochMs === null || epochMs === undefined) {
    return '';
  }
  const seconds = Math.max(0, (now - epochMs) / 1000);
  if (seconds < 45) {
    return 'just now';
  }
  if (seconds < 3600) {
    return `${Math.round(seconds / 60)} min ago`;
  }
  if (seconds < 86400) {
    return `${Math.round(seconds / 3600)} h ago`;
  }
  return formatTime(epochMs).slice(0, 10);
}

/** A duration in seconds as "0.42 s", "1:05" or "2:03:09". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '';
  }
  if (seconds < 10) {
    return `${seconds.toFixed(2)} s`;
  }
  const whole = Math.floor(seconds);
  const pad = (n: number) => String(n).padStart(2, '0');
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = whole % 60;
  return hours > 0 ? `${hours}:${pad(minutes)}:${pad(rest)}` : `${minutes}:${pad(rest)}`;
}

/** A byte count as "812 B", "14.2 kB", "3.1 MB". */
export function formatBytes(size: number | null | undefined): string {
  if (size === null || size === undefined) {
    return '';
  }
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = size;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** The status as a small coloured badge (colours from theme variables, see style/base.css). */
export function statusBadge(status: string): HTMLElement {
  return h('span', { class: `jp-tracker-status jp-tracker-status-${status.toLowerCase()}`, title: status }, status);
}

/** The error message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** How many trailing characters of a long name stay visible: where names of a sweep differ. */
const KEPT_TAIL = 10;

/**
 * A name that loses its middle, not its end, when it is too long for its row:
 * `lr-0.001-batch-…-seed-3`. The whole name stays the element's text and its tooltip.
 */
export function middleEllipsis(className: string, name: string): HTMLElement {
  const cut = name.length > KEPT_TAIL * 2 ? name.length - KEPT_TAIL : name.length;
  return h(
    'span',
    { class: `${className} jp-tracker-middle-ellipsis`, title: name },
    h('span', { class: 'jp-tracker-name-head' }, name.slice(0, cut)),
    cut < name.length ? h('span', { class: 'jp-tracker-name-tail' }, name.slice(cut)) : null
  );
}
