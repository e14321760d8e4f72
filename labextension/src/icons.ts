import { LabIcon } from '@jupyterlab/ui-components';

/** A flask over a rising line: the tracker's icon (theme-coloured through jp-icon3). */
const TRACKER_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M9 2h6v2h-1v5.2l5.6 9.3A2 2 0 0 1 17.9 21H6.1a2 2 0 0 1-1.7-2.5L10 9.2V4H9V2zm3 2v5.8L8.7 15h6.6L12 9.8V4z"/>
  </g>
</svg>`;

export const trackerIcon = new LabIcon({ name: 'jupyter-tracker:tracker', svgstr: TRACKER_SVG });

/** "%%" in a box: the Track this cell button. */
const TRACK_CELL_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M7.5 6.5a2 2 0 1 1 0 4 2 2 0 0 1 0-4zm9 7a2 2 0 1 1 0 4 2 2 0 0 1 0-4zM16.6 6l1.4 1.4L7.4 18 6 16.6 16.6 6z"/>
    <path d="M3 3h18v18H3V3zm2 2v14h14V5H5z"/>
  </g>
</svg>`;

export const trackCellIcon = new LabIcon({ name: 'jupyter-tracker:track-cell', svgstr: TRACK_CELL_SVG });
