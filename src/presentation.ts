/**
 * How views show the record's columns (src/generated/record.ts, written from the kernel's
 * declaration). The log panel's grid and the inline table show the columns declared
 * `grid`, the detail view and the CSV export every column. Only what is genuinely special
 * about a column is written here, keyed by its record name; a column without an entry is
 * shown as its plain value under its declared title, so a newly declared column shows up
 * without touching any view.
 */
import { COLUMNS, IColumn, IRow } from './generated/record';
import { cellText, clockTime, dateTime, whereText } from './text';

/** Where the detail view puts a column's value. */
export type DetailPlace = 'head' | 'section' | 'fact';

/** What a view does differently from the plain value, for one column. */
interface IPresentation {
  /** The grid's and the inline table's title, where it shows more than the column. */
  gridTitle?: string;
  /** A cell's text, one line. */
  cell?: (row: IRow) => string;
  /** The value the inline table sorts by. */
  sortKey?: (row: IRow) => string | number;
  /** The value the detail view shows. */
  detail?: (row: IRow) => unknown;
  /** The detail's head (level, message), a titled block of text, or a fact (default). */
  place?: DetailPlace;
  /** Drawn as the last grid column, stretched over the width left. */
  last?: boolean;
}

const PRESENTATION: { readonly [name: string]: IPresentation | undefined } = {
  created: {
    cell: row => clockTime(row.created),
    sortKey: row => row.created,
    detail: row => dateTime(row.created)
  },
  level: { sortKey: row => row.levelno, place: 'head' },
  msg: { place: 'head', last: true },
  text: { place: 'section' },
  extra: { place: 'section' },
  // the grid's "where": the worker, else host:pid (the detail has each of them)
  worker: {
    gridTitle: 'Worker / host',
    cell: row => cellText(whereText(row)),
    sortKey: row => whereText(row),
    detail: row => row.worker || '(kernel)'
  }
};

/** A record value, any column: the row type names the declared ones. */
export function valueOf(row: IRow, name: string): unknown {
  return (row as unknown as { [name: string]: unknown })[name];
}

/** A value as plain text: JSON for structured values, '' for none. */
export function plainText(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** A column as the grid and the inline table draw it. */
export interface IGridColumn {
  /** The record column's name (the grid's column id). */
  readonly name: string;
  readonly title: string;
  /** The cell's text: one line, controls spelled out, cut. */
  cell(row: IRow): string;
  /** What the inline table sorts the column by. */
  sortKey(row: IRow): string | number;
}

/** The columns declared `grid`, in the store's order, the stretched one (message) last. */
export function gridColumns(columns: ReadonlyArray<IColumn>): IGridColumn[] {
  const shown = columns.filter(c => c.shown === 'grid');
  const isLast = (c: IColumn) => PRESENTATION[c.name]?.last === true;
  return [...shown.filter(c => !isLast(c)), ...shown.filter(isLast)].map(column => {
    const how = PRESENTATION[column.name] ?? {};
    const name: string = column.name;
    return {
      name,
      title: how.gridTitle ?? column.title,
      cell: how.cell ?? (row => cellText(plainText(valueOf(row, name)))),
      sortKey:
        how.sortKey ??
        (row => {
          const value = valueOf(row, name);
          return typeof value === 'number' ? value : plainText(value);
        })
    };
  });
}

/** A column as the detail view shows it. */
export interface IDetailColumn {
  readonly name: string;
  readonly title: string;
  readonly place: DetailPlace;
  /** The value to show (text, number or a structured value). */
  value(row: IRow): unknown;
}

/** Every column, in the store's order, placed in the detail view. */
export function detailColumns(columns: ReadonlyArray<IColumn>): IDetailColumn[] {
  return columns.map(column => {
    const how = PRESENTATION[column.name] ?? {};
    const name: string = column.name;
    return {
      name,
      title: column.title,
      place: how.place ?? 'fact',
      value: how.detail ?? (row => valueOf(row, name))
    };
  });
}

/** The grid's and the inline table's columns. */
export const GRID_COLUMNS: ReadonlyArray<IGridColumn> = gridColumns(COLUMNS);

/** The detail view's columns. */
export const DETAIL_COLUMNS: ReadonlyArray<IDetailColumn> = detailColumns(COLUMNS);
