/**
 * Log text made ready to show: shared by the log panel's grid and detail view and by the
 * inline table. Log text is untrusted: these helpers only ever produce plain strings, which
 * callers draw on a canvas or set as `textContent`, never as HTML.
 */
import { INVISIBLE_SOURCE, LEVELS } from './generated/record';

export { LEVELS };

/** Characters shown in a grid or table cell; the detail view has the full text. */
export const CELL_CHARS = 300;

/**
 * Direction overrides and isolates, other invisible controls and line separators would let
 * log text reorder or hide what is shown around it (the kernel's vocabulary declares the
 * set; its HTML fallback spells out the same one).
 */
const INVISIBLE = new RegExp(INVISIBLE_SOURCE, 'g');

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

/**
 * The colour class of a level number: `debug`, `info`, `warning`, `error`, `critical` or
 * `system`. CSS maps each to theme colours (style/panel.css), the grid reads the same ones.
 */
export type LevelClass = 'debug' | 'info' | 'warning' | 'error' | 'critical' | 'system';

export function levelClass(levelno: unknown): LevelClass {
  const n = typeof levelno === 'number' ? levelno : 0;
  // the highest declared level at or below the number (LEVELS is lowest first)
  let name = 'debug';
  for (const [level, number] of LEVELS) {
    if (n >= number) {
      name = level.toLowerCase();
    }
  }
  return name as LevelClass;
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
