/**
 * The inline table: a renderer for `application/vnd.taskscope.table+json`, the bundle
 * `taskscope.logger.dataset` shows in a cell's output (taskscope/display.py). It holds
 * static rows saved with the notebook, so it renders the same after a reload; sorting and
 * the quick filter live in the widget, so they survive the notebook detaching and
 * re-attaching the output as it scrolls. Every value is set as textContent.
 */
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { DETAIL_COLUMNS, GRID_COLUMNS, plainText } from './presentation';
import { IRow } from './protocol';
import { dateTime, levelClass, visible } from './text';

export const MIME_TYPE = 'application/vnd.taskscope.table+json';

/** The bundle's shape (docs/dataset.md, "Inline display"). */
export interface ITableBundle {
  version: number;
  columns: string[];
  rows: unknown[][];
  total: number;
  filter: { [key: string]: unknown };
  session_id: string | null;
}

/** The columns shown: the panel grid's, titled in lower case as table headers are here. */
const COLUMNS = GRID_COLUMNS.map(column => ({
  ...column,
  title: column.title.toLowerCase()
}));

/** The bundle checked, or what is wrong with it. */
export function parseBundle(data: unknown): ITableBundle | string {
  if (typeof data !== 'object' || data === null) {
    return 'the taskscope table is not an object';
  }
  const bundle = data as { [key: string]: unknown };
  if (bundle.version !== 1) {
    return `unsupported taskscope table version ${JSON.stringify(bundle.version)}`;
  }
  if (
    !Array.isArray(bundle.columns) ||
    !bundle.columns.every(c => typeof c === 'string') ||
    !Array.isArray(bundle.rows) ||
    !bundle.rows.every(r => Array.isArray(r))
  ) {
    return 'the taskscope table has no columns or rows';
  }
  return {
    version: 1,
    columns: bundle.columns as string[],
    rows: bundle.rows as unknown[][],
    total: typeof bundle.total === 'number' ? bundle.total : bundle.rows.length,
    filter:
      typeof bundle.filter === 'object' && bundle.filter !== null
        ? (bundle.filter as { [key: string]: unknown })
        : {},
    session_id: typeof bundle.session_id === 'string' ? bundle.session_id : null
  };
}

/** The bundle's rows as records, whatever the order of its columns. */
export function bundleRows(bundle: ITableBundle): IRow[] {
  return bundle.rows.map(values => {
    const row: { [key: string]: unknown } = {};
    bundle.columns.forEach((name, i) => (row[name] = values[i]));
    return row as unknown as IRow;
  });
}

/** "showing N of M rows", the session and the filter, as one line. */
export function summaryText(bundle: ITableBundle, shown: number): string {
  const filter = Object.entries(bundle.filter)
    .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
    .join(', ');
  const session = bundle.session_id ? `taskscope session ${bundle.session_id}: ` : '';
  const rows = bundle.rows.length;
  const count =
    shown === rows && rows === bundle.total
      ? `${rows.toLocaleString()} rows`
      : shown === rows
        ? `showing ${rows.toLocaleString()} of ${bundle.total.toLocaleString()} rows (the newest)`
        : `showing ${shown.toLocaleString()} of ${rows.toLocaleString()} rows here (${bundle.total.toLocaleString()} in all)`;
  return visible(`${session}${count}${filter ? ` matching ${filter}` : ''}`);
}

export class TaskscopeTable extends Widget implements IRenderMime.IRenderer {
  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this._mimeType = options.mimeType;
    this.addClass('jp-taskscope-Table');
    const bar = document.createElement('div');
    bar.className = 'jp-taskscope-Table-bar';
    this._search = document.createElement('input');
    this._search.type = 'search';
    this._search.className = 'jp-taskscope-Table-search';
    this._search.placeholder = 'Filter these rows';
    this._search.setAttribute('aria-label', 'Filter these rows');
    this._search.addEventListener('input', () => this._renderBody());
    this._summary = document.createElement('span');
    this._summary.className = 'jp-taskscope-Table-summary';
    bar.append(this._search, this._summary);
    const scroll = document.createElement('div');
    scroll.className = 'jp-taskscope-Table-scroll';
    const table = document.createElement('table');
    const head = document.createElement('tr');
    COLUMNS.forEach((column, i) => {
      const th = document.createElement('th');
      th.textContent = column.title;
      th.dataset.column = column.name;
      th.scope = 'col';
      th.title = 'Sort by this column';
      th.addEventListener('click', () => this._sortBy(i));
      head.appendChild(th);
    });
    const thead = document.createElement('thead');
    thead.appendChild(head);
    this._head = head;
    this._body = document.createElement('tbody');
    this._body.addEventListener('click', event => this._toggleDetail(event));
    table.append(thead, this._body);
    scroll.appendChild(table);
    this.node.append(bar, scroll);
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const parsed = parseBundle(model.data[this._mimeType]);
    if (typeof parsed === 'string') {
      this._bundle = null;
      this._rows = [];
      this._summary.textContent = parsed;
    } else {
      this._bundle = parsed;
      this._rows = bundleRows(parsed);
    }
    this._renderBody();
    return Promise.resolve();
  }

  /** Sort by a column: ascending, then descending, then back to arrival order. */
  private _sortBy(column: number): void {
    if (this._sort?.column !== column) {
      this._sort = { column, descending: false };
    } else if (!this._sort.descending) {
      this._sort = { column, descending: true };
    } else {
      this._sort = null;
    }
    this._renderBody();
  }

  private _renderBody(): void {
    Array.from(this._head.children).forEach((th, i) => {
      if (this._sort?.column === i) {
        th.setAttribute('aria-sort', this._sort.descending ? 'descending' : 'ascending');
      } else {
        th.removeAttribute('aria-sort');
      }
    });
    const needle = this._search.value.trim().toLowerCase();
    let rows = needle
      ? this._rows.filter(row => matches(row, needle))
      : this._rows.slice();
    if (this._sort) {
      const { column, descending } = this._sort;
      const key = COLUMNS[column].sortKey;
      const sign = descending ? -1 : 1;
      rows = rows.sort((a, b) => {
        const x = key(a);
        const y = key(b);
        return (x < y ? -1 : x > y ? 1 : a.seq - b.seq) * sign;
      });
    }
    const fragment = document.createDocumentFragment();
    rows.forEach((row, i) => fragment.appendChild(tableRow(row, i)));
    if (rows.length === 0) {
      const tr = document.createElement('tr');
      const td = document.createElement('td');
      td.colSpan = COLUMNS.length;
      td.className = 'jp-taskscope-Table-empty';
      td.textContent = this._rows.length ? 'no row matches the filter' : 'no rows';
      tr.appendChild(td);
      fragment.appendChild(tr);
    }
    this._body.replaceChildren(fragment);
    this._shown = rows;
    if (this._bundle) {
      this._summary.textContent = summaryText(this._bundle, rows.length);
    }
  }

  /** A click on a row shows its full text and extra fields below it; again hides them. */
  private _toggleDetail(event: Event): void {
    const tr = (event.target as HTMLElement).closest('tr');
    if (!tr || tr.parentElement !== this._body || tr.classList.contains('jp-taskscope-Table-detail')) {
      return;
    }
    const next = tr.nextElementSibling;
    if (next?.classList.contains('jp-taskscope-Table-detail')) {
      next.remove();
      return;
    }
    const row = this._shown[Number(tr.dataset.index)];
    if (!row) {
      return;
    }
    const detail = document.createElement('tr');
    detail.className = 'jp-taskscope-Table-detail';
    const td = document.createElement('td');
    td.colSpan = COLUMNS.length;
    const pre = document.createElement('pre');
    pre.className = 'jp-taskscope-Detail-text';
    const extra = row.extra === null || row.extra === undefined ? '' : `\n${JSON.stringify(row.extra, null, 2)}`;
    pre.textContent = `${factsLine(row)}\n${visible(String(row.text ?? row.msg ?? '').replace(/\r\n?/g, '\n'))}${visible(extra)}`;
    td.appendChild(pre);
    detail.appendChild(td);
    tr.after(detail);
  }

  private _mimeType: string;
  private _bundle: ITableBundle | null = null;
  private _rows: IRow[] = [];
  private _shown: IRow[] = [];
  private _sort: { column: number; descending: boolean } | null = null;
  private _search: HTMLInputElement;
  private _summary: HTMLSpanElement;
  private _head: HTMLTableRowElement;
  private _body: HTMLTableSectionElement;
}

/** The facts of the row's detail the table's columns do not show, after its full time. */
const INLINE_FACTS = DETAIL_COLUMNS.filter(
  column => column.place === 'fact' && !GRID_COLUMNS.some(grid => grid.name === column.name)
);

/** The first line of a row's detail: its date and time, then `Title value` facts. */
function factsLine(row: IRow): string {
  const facts = INLINE_FACTS.map(column => [column.title, plainText(column.value(row))])
    .filter(([, value]) => value !== '')
    .map(([title, value]) => `${title} ${visible(value)}`);
  return [dateTime(row.created), ...facts].join('  ');
}

function tableRow(row: IRow, index: number): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.dataset.index = String(index);
  const level = levelClass(row.levelno);
  if (level === 'warning' || level === 'error' || level === 'critical') {
    tr.dataset.level = level;
  }
  for (const column of COLUMNS) {
    const td = document.createElement('td');
    td.textContent = column.cell(row);
    if (column.name === 'level') {
      td.className = 'jp-taskscope-level';
      td.dataset.level = level;
    } else if (column.name === 'msg') {
      td.className = 'jp-taskscope-Table-msg';
    }
    tr.appendChild(td);
  }
  return tr;
}

/** The quick filter: a case-insensitive substring of what a row shows, or its text. */
function matches(row: IRow, needle: string): boolean {
  return (
    COLUMNS.some(column => column.cell(row).toLowerCase().includes(needle)) ||
    String(row.text ?? '').toLowerCase().includes(needle)
  );
}

/** The renderer factory the mime extension registers. */
export const rendererFactory: IRenderMime.IRendererFactory = {
  // it never renders HTML from the data, so it may render untrusted outputs too
  safe: true,
  mimeTypes: [MIME_TYPE],
  defaultRank: 10,
  createRenderer: options => new TaskscopeTable(options)
};
