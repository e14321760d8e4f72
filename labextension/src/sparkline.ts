/**
 * A metric's history as a small inline SVG line (a "sparkline"): steps on x, values on y,
 * non-finite points leave a gap. Hand-written because a chart library would weigh more than
 * this whole extension for a 120×28 px line; the server already downsamples the series.
 */
import type { IMetricHistory } from './api';

const SVG = 'http://www.w3.org/2000/svg';

function svgElement<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string>): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) {
    element.setAttribute(name, value);
  }
  return element;
}

/** An SVG sparkline of `history`, `width`×`height` px; a dot marks the last point. */
export function sparkline(history: IMetricHistory, width = 120, height = 28): SVGSVGElement {
  const svg = svgElement('svg', {
    class: 'jp-tracker-sparkline',
    width: String(width),
    height: String(height),
    viewBox: `0 0 ${width} ${height}`,
    role: 'img'
  });
  const points: [number, number | null][] = history.steps.map((step, index) => [step, history.values[index]]);
  const finite = points.filter((point): point is [number, number] => point[1] !== null);
  const title = svgElement('title', {});
  title.textContent = `${history.key}: ${history.total_points} point${history.total_points === 1 ? '' : 's'}` +
    (history.downsampled ? ` (${points.length} shown)` : '');
  svg.append(title);
  if (finite.length === 0) {
    return svg;
  }
  const pad = 2;
  const [x0, x1] = [Math.min(...finite.map(p => p[0])), Math.max(...finite.map(p => p[0]))];
  const [y0, y1] = [Math.min(...finite.map(p => p[1])), Math.max(...finite.map(p => p[1]))];
  const x = (step: number) => (x1 === x0 ? width / 2 : pad + ((step - x0) / (x1 - x0)) * (width - 2 * pad));
  const y = (value: number) => (y1 === y0 ? height / 2 : height - pad - ((value - y0) / (y1 - y0)) * (height - 2 * pad));
  let path = '';
  let pen = false;
  for (const [step, value] of points) {
    if (value === null) {
      pen = false;
      continue;
    }
    path += `${pen ? 'L' : 'M'}${x(step).toFixed(1)},${y(value).toFixed(1)}`;
    pen = true;
  }
  svg.append(svgElement('path', { d: path, class: 'jp-tracker-sparkline-line' }));
  const [lastStep, lastValue] = finite[finite.length - 1];
  svg.append(svgElement('circle', { cx: x(lastStep).toFixed(1), cy: y(lastValue).toFixed(1), r: '2', class: 'jp-tracker-sparkline-dot' }));
  return svg;
}
