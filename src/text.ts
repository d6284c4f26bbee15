/**
 * Log text made ready to show: shared by the log panel's grid and detail view and by the
 * inline table. Log text is untrusted: these helpers only ever produce plain strings, which
 * callers draw on a canvas or set as `textContent`, never as HTML.
 */

/** Characters shown in a grid or table cell; the detail view has the full text. */
export const CELL_CHARS = 300;

/**
 * Direction overrides and isolates, other invisible controls and line separators would let
 * log text reorder or hide what is shown around it (taskscope/display.py spells out the
 * same set for the HTML fallback).
 */
// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/** A value as text with invisible and direction-changing characters spelled out. */
export function visible(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value);
  return text.replace(
    INVISIBLE,
    ch => `<U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}>`
  );
}

/** At most `limit` characters, an ellipsis marking a cut. */
export function cut(text: string, limit: number = CELL_CHARS): string {
  return text.length <= limit ? text : text.slice(0, limit - 1) + '…';
}

/** One line for a cell: line breaks shown as ⏎, controls spelled out, cut to CELL_CHARS. */
export function cellText(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value);
  // Slice first, so a huge message costs no more than a short one: the replacements only
  // lengthen the text, so a slice one past the limit still gets its ellipsis.
  const head = text.slice(0, CELL_CHARS + 1).replace(/\r\n|\n|\r/g, ' ⏎ ');
  return cut(visible(head));
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Epoch seconds as local `HH:MM:SS.mmm`. */
export function clockTime(epoch: unknown): string {
  if (typeof epoch !== 'number' || !isFinite(epoch)) {
    return '';
  }
  const d = new Date(epoch * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(
    d.getMilliseconds(),
    3
  )}`;
}

/** Epoch seconds as local `YYYY-MM-DD HH:MM:SS.mmm`. */
export function dateTime(epoch: unknown): string {
  if (typeof epoch !== 'number' || !isFinite(epoch)) {
    return '';
  }
  const d = new Date(epoch * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clockTime(
    epoch
  )}`;
}

/** The level names a filter offers, lowest first, and their numbers. */
export const LEVELS: ReadonlyArray<[string, number]> = [
  ['DEBUG', 10],
  ['INFO', 20],
  ['WARNING', 30],
  ['ERROR', 40],
  ['CRITICAL', 50],
  ['SYSTEM', 999]
];

/**
 * The colour class of a level number: `debug`, `info`, `warning`, `error`, `critical` or
 * `system`. CSS maps each to theme colours (style/panel.css), the grid reads the same ones.
 */
export type LevelClass = 'debug' | 'info' | 'warning' | 'error' | 'critical' | 'system';

export function levelClass(levelno: unknown): LevelClass {
  const n = typeof levelno === 'number' ? levelno : 0;
  if (n >= 999) {
    return 'system';
  }
  if (n >= 50) {
    return 'critical';
  }
  if (n >= 40) {
    return 'error';
  }
  if (n >= 30) {
    return 'warning';
  }
  if (n >= 20) {
    return 'info';
  }
  return 'debug';
}

/** Where a row ran, in a few words: the worker, else the host (and pid). */
export function whereText(row: {
  worker?: unknown;
  hostname?: unknown;
  pid?: unknown;
}): string {
  if (row.worker) {
    return visible(row.worker);
  }
  const host = visible(row.hostname);
  return row.pid !== null && row.pid !== undefined ? `${host}:${row.pid}` : host;
}
