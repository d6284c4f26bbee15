/**
 * Which of the log grid's columns show, and how wide, for the width the grid has.
 *
 * The message is what a reader scans, so it keeps a readable width first: the other
 * columns give way, from their usual width down to a least one, and when that is not
 * enough the least needed of them step out (a grid column without a width here first,
 * then source, task, worker / host, logger; the detail view shows every field of the
 * selected row). A column the user sized by dragging its header edge keeps that width and
 * stays. The grid draws the columns of a
 * ColumnView: the rows of the panel's model with only the columns that show.
 */
import { DataModel } from '@lumino/datagrid';

import { GRID_COLUMNS as COLUMNS, LogDataModel } from './model';

/** A column's widths in characters of the grid's (monospace) font. */
interface IColumnFit {
  /** The usual width: what the column has when there is room. */
  ease: number;
  /** The least width before the column steps out (or, for the message, before a scroll). */
  least: number;
  /** Columns step out in this order; a column without one always shows. */
  out?: number;
}

/** The widths of the record's grid columns, by name. */
export const COLUMN_FIT: { readonly [name: string]: IColumnFit } = {
  created: { ease: 12, least: 12 }, // HH:MM:SS.mmm, never cut
  level: { ease: 8, least: 8 }, // CRITICAL
  source: { ease: 7, least: 7, out: 0 }, // library, runtime
  logger: { ease: 15, least: 8, out: 3 },
  worker: { ease: 15, least: 7, out: 2 }, // worker / host
  task: { ease: 12, least: 6, out: 1 },
  msg: { ease: 40, least: 16 }
};

/** A grid column declared without a width here: it gives way, and steps out first. */
export const DEFAULT_FIT: IColumnFit = { ease: 12, least: 6, out: -1 };

/** A column's widths. */
export function columnFit(name: string): IColumnFit {
  return COLUMN_FIT[name] ?? DEFAULT_FIT;
}

/** Pixels around a cell's text: the renderer's 8 before it and a gap after. */
export const CELL_PADDING = 12;

/** The width of a column of `chars` characters. */
export function charsWidth(chars: number, charWidth: number): number {
  return Math.ceil(chars * charWidth) + CELL_PADDING;
}

/** The last column: the message, which the grid stretches over what is left. */
export const MESSAGE = COLUMNS[COLUMNS.length - 1].name;

export interface IColumnLayout {
  /** The ids of the columns that show, in the model's order. */
  shown: string[];
  /** Each shown column's width in pixels (the message's before the grid stretches it). */
  widths: Map<string, number>;
}

/**
 * The columns for a body `width` (pixels, without the vertical scroll bar), given the
 * font's character width and the widths the user set by hand (by id).
 */
export function fitColumns(
  width: number,
  charWidth: number,
  userWidths: ReadonlyMap<string, number> = new Map()
): IColumnLayout {
  const px = (chars: number) => charsWidth(chars, charWidth);
  const widths = new Map<string, number>();
  const all = COLUMNS.map(c => c.name);
  // what the columns that never give way take: user-sized ones, time and level
  let budget = width;
  const giving: string[] = [];
  for (const id of all) {
    const fit = columnFit(id);
    const user = userWidths.get(id);
    if (user !== undefined) {
      widths.set(id, user);
      budget -= user;
    } else if (id === MESSAGE) {
      continue;
    } else if (fit.out === undefined) {
      widths.set(id, px(fit.ease));
      budget -= px(fit.ease);
    } else {
      giving.push(id);
    }
  }
  const message = columnFit(MESSAGE);
  const userMessage = userWidths.has(MESSAGE);
  const room = budget - (userMessage ? 0 : px(message.ease));
  // the columns that give way: to their least width, then out in order
  const sum = (ids: string[], of: 'ease' | 'least') =>
    ids.reduce((total, id) => total + px(columnFit(id)[of]), 0);
  const staying = [...giving];
  const order = [...giving].sort((a, b) => columnFit(a).out! - columnFit(b).out!);
  while (sum(staying, 'least') > room && order.length) {
    staying.splice(staying.indexOf(order.shift()!), 1);
  }
  const ease = sum(staying, 'ease');
  const least = sum(staying, 'least');
  // between least and ease: each gets the same share of what is between them
  const share = ease <= room ? 1 : least >= room ? 0 : (room - least) / (ease - least);
  for (const id of staying) {
    const fit = columnFit(id);
    const size = Math.floor(px(fit.least) + (px(fit.ease) - px(fit.least)) * share);
    widths.set(id, size);
    budget -= size;
  }
  const shown = all.filter(id => widths.has(id) || id === MESSAGE);
  if (!userMessage) {
    // what is left, at least its least width (a scroll below that); the grid stretches it
    widths.set(MESSAGE, Math.max(px(message.least), Math.min(budget, px(message.ease))));
  }
  return { shown, widths };
}

/**
 * The body width at which the message column keeps its usual width with every column
 * showing at its least width (the user's sizes as set).
 */
export function readableWidth(
  charWidth: number,
  userWidths: ReadonlyMap<string, number> = new Map()
): number {
  const px = (chars: number) => charsWidth(chars, charWidth);
  return COLUMNS.reduce((total, { name }) => {
    const fit = columnFit(name);
    return total + (userWidths.get(name) ?? px(name === MESSAGE ? fit.ease : fit.least));
  }, 0);
}

/**
 * The panel's rows with only some of their columns: the model the grid draws. Rows,
 * selection and changes pass through; a column index is one of the columns shown.
 */
export class ColumnView extends DataModel {
  constructor(model: LogDataModel) {
    super();
    this.model = model;
    this._shown = COLUMNS.map((_, i) => i);
    model.changed.connect(this._onChanged, this);
  }

  /** The panel's model, with every column. */
  readonly model: LogDataModel;

  /** The ids of the columns shown, in order. */
  get shown(): string[] {
    return this._shown.map(i => COLUMNS[i].name);
  }

  /** The id of a shown column. */
  idAt(column: number): string | undefined {
    const index = this._shown[column];
    return index === undefined ? undefined : COLUMNS[index].name;
  }

  /** The shown column of an id (-1 when it does not show). */
  columnOf(id: string): number {
    return this._shown.findIndex(i => COLUMNS[i].name === id);
  }

  /** Show these columns (ids, in any order): the grid keeps the others' widths. */
  show(ids: ReadonlyArray<string>): void {
    const next = COLUMNS.map((c, i) => (ids.includes(c.name) ? i : -1)).filter(i => i >= 0);
    // out first, from the right, then in, from the left: each change names the index
    // the grid's columns have at that moment
    for (let column = this._shown.length - 1; column >= 0; column--) {
      if (!next.includes(this._shown[column])) {
        this._shown.splice(column, 1);
        this.emitChanged({ type: 'columns-removed', region: 'body', index: column, span: 1 });
      }
    }
    next.forEach((index, column) => {
      if (this._shown[column] !== index) {
        this._shown.splice(column, 0, index);
        this.emitChanged({ type: 'columns-inserted', region: 'body', index: column, span: 1 });
      }
    });
  }

  rowCount(region: DataModel.RowRegion): number {
    return this.model.rowCount(region);
  }

  columnCount(region: DataModel.ColumnRegion): number {
    return region === 'body' ? this._shown.length : this.model.columnCount(region);
  }

  data(region: DataModel.CellRegion, row: number, column: number): unknown {
    const mapped =
      region === 'body' || region === 'column-header' ? this._shown[column] : column;
    return mapped === undefined ? '' : this.model.data(region, row, mapped);
  }

  private _onChanged(_: LogDataModel, change: DataModel.ChangedArgs): void {
    if (change.type === 'cells-changed') {
      // the rows' cells, whichever columns show
      this.emitChanged({ ...change, column: 0, columnSpan: this._shown.length });
    } else if (change.type.startsWith('columns-')) {
      // the model's columns are fixed; were they not, start over
      this.emitChanged({ type: 'model-reset' });
    } else {
      this.emitChanged(change);
    }
  }

  private _shown: number[];
}
