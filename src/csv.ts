/**
 * Log rows as CSV (RFC 4180): every column of the record, each field quoted where it must
 * be. Log text is untrusted, and a spreadsheet runs a cell that starts with `=`, `+`, `-`,
 * `@`, tab or carriage return as a formula: such text cells get a leading apostrophe
 * (OWASP's advice for CSV injection). `taskscope.logger.dataset.get()` has exact values.
 */
import { COLUMNS } from './generated/record';
import { IRow } from './protocol';
import { valueOf } from './presentation';

/** The columns written: every column of the record, in the store's order. */
export const CSV_COLUMNS: ReadonlyArray<string> = COLUMNS.map(c => c.name);

const FORMULA = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]|^\s|\s$/;

/** One CSV field: text defused and quoted as needed, numbers as they are. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  let text = typeof value === 'string' ? value : JSON.stringify(value);
  if (FORMULA.test(text)) {
    text = `'${text}`;
  }
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function cell(row: IRow, column: string): unknown {
  // created as ISO 8601 UTC: what a spreadsheet reads as a time
  if (column === 'created') {
    return typeof row.created === 'number' && isFinite(row.created)
      ? new Date(row.created * 1000).toISOString()
      : '';
  }
  return valueOf(row, column);
}

/** The header line, CRLF-terminated. */
export function csvHeader(): string {
  return CSV_COLUMNS.join(',') + '\r\n';
}

/** Rows as CSV lines, each CRLF-terminated. */
export function csvRows(rows: ReadonlyArray<IRow>): string {
  let out = '';
  for (const row of rows) {
    out += CSV_COLUMNS.map(column => csvField(cell(row, column))).join(',') + '\r\n';
  }
  return out;
}
