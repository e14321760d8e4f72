/**
 * "Track this cell": put `%%track` on the first line of a code cell, or take it off again.
 * Only the first line counts, as for every IPython cell magic.
 */

export const TRACK_LINE = '%%track';

/** Whether the cell source starts with a `%%track` line (with or without options). */
export function hasTrackLine(source: string): boolean {
  const firstLine = source.split('\n', 1)[0];
  return firstLine === TRACK_LINE || firstLine.startsWith(`${TRACK_LINE} `) || firstLine.startsWith(`${TRACK_LINE}\t`);
}

/** The source with its `%%track` line removed, or with one added on top. */
export function toggleTrackLine(source: string): string {
  if (hasTrackLine(source)) {
    const newline = source.indexOf('\n');
    return newline === -1 ? '' : source.slice(newline + 1);
  }
  return `${TRACK_LINE}\n${source}`;
}
