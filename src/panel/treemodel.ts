/**
 * The panel's Tree mode model: the session's actions as a @lumino/datagrid DataModel, one
 * line per action (and per log row directly inside an open action), opened one level at a
 * time. It fetches only what shows: the pages of siblings whose placeholders are in the
 * viewport (`actions` op), and the rows of an open action as they scroll into view
 * (`query` with `in_action`), so a tree of 100,000 actions costs what a screenful does.
 *
 * It follows a live source: new rows refresh the pages on screen (statuses, durations,
 * new children), a reset reloads the tree (and forgets what was open when the session's
 * actions are others: a restart, a clear, a new store session).
 */
import { DataModel } from '@lumino/datagrid';
import { ISignal, Signal } from '@lumino/signaling';

import { ActionSort, IActionsQuery, IActionsReply, IRow } from '../protocol';
import { IReset, isLive, IRowSource } from '../rowsource';
import { IPageNeed, LinesChange, TreeLine, TreeLines } from './treelines';
import { cellTexts, lineText, TREE_COLUMNS } from './treetext';

export { lineText, TREE_COLUMNS };
export type { TreeColumn } from './treetext';

/** Actions per `actions` request. */
export const TREE_PAGE = 500;
/** Log rows per `query` of one action's rows. */
const ROWS_PAGE = 500;
/** Refreshes after new rows, at most one per this many ms. */
const REFRESH_MS = 500;

/** What the tree reads: actions by parent, and rows by action. */
export interface IActionSource extends IRowSource {
  actions(query: IActionsQuery): Promise<IActionsReply>;
}

/** The sort of siblings: by start (oldest first) or by duration. */
export interface ITreeSort {
  sort: ActionSort;
  descending: boolean;
}

export class ActionTreeModel extends DataModel {
  constructor(options: ActionTreeModel.IOptions = {}) {
    super();
    this.lines = new TreeLines(change => this._emit(change));
    this._sort = options.sort ?? { sort: 'started', descending: false };
    this._setSource(options.source ?? null);
  }

  /** The flattened tree. */
  readonly lines: TreeLines;

  /** Emitted when the loading state, the error or the root count changes. */
  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
  }

  /** How many root actions there are (0 until the first page came). */
  get roots(): number {
    return this._roots;
  }

  /** The last request's error, if it failed. */
  get error(): string | null {
    return this._error;
  }

  /** Whether the first page is on its way. */
  get loading(): boolean {
    return this._loading;
  }

  get sort(): ITreeSort {
    return this._sort;
  }

  /** The action filter the siblings are those of (dataset.tree(**filter)). */
  get filter(): { [key: string]: unknown } {
    return this._filter;
  }

  rowCount(region: DataModel.RowRegion): number {
    return region === 'body' ? this.lines.lines.length : 1;
  }

  columnCount(region: DataModel.ColumnRegion): number {
    return region === 'body' ? TREE_COLUMNS.length : 1;
  }

  data(region: DataModel.CellRegion, row: number, column: number): string {
    if (region === 'column-header') {
      return this._headerText(column);
    }
    if (region !== 'body') {
      return '';
    }
    const line = this.lines.lines[row];
    return line ? (cellTexts(line)[column] ?? '') : '';
  }

  /** The line at a body row. */
  lineAt(row: number): TreeLine | undefined {
    return this.lines.lines[row];
  }

  /** Show another session's actions (the notebook's kernel changed). */
  setSource(source: IActionSource | null): Promise<void> {
    this._setSource(source);
    return this.reload(true);
  }

  /** Show the tree of another action filter. */
  setFilter(filter: { [key: string]: unknown }): Promise<void> {
    this._filter = { ...filter };
    return this.reload();
  }

  /** Order siblings another way: the tree is read again, what was open opens again. */
  setSort(sort: ITreeSort): Promise<void> {
    this._sort = { ...sort };
    return this.reload();
  }

  /** Open a closed action's line, close an open one; false if it has nothing inside. */
  toggle(row: number): boolean {
    const line = this.lines.lines[row];
    if (!line || !TreeLines.canExpand(line)) {
      return false;
    }
    if (line.expanded) {
      this.lines.collapse(line);
    } else {
      this.lines.expand(line);
      this._fetchShown();
    }
    return true;
  }

  /** The lines on screen: fetch what they wait for. */
  setViewport(first: number, last: number): void {
    this._viewport = [first, last];
    this._fetchShown();
  }

  /**
   * Read the tree again from its roots (after a reset, another sort or filter); `forget`:
   * the open actions are another session's, close them.
   */
  async reload(forget = false): Promise<void> {
    const generation = ++this._generation;
    this._inFlight.clear();
    this._rowCursors.clear();
    if (forget) {
      this.lines.expanded.clear();
    }
    // a session without its comm yet is asked once it opens (its reset('connected'))
    const source = this._source && (!isLive(this._source) || this._source.isConnected) ? this._source : null;
    this._loading = true;
    this._error = null;
    this._stateChanged.emit();
    try {
      const reply = source ? await this._page(source, '', 0) : null;
      if (generation !== this._generation) {
        return;
      }
      this._roots = reply?.total ?? 0;
      this.lines.reset(this._roots);
      if (reply) {
        this.lines.applyPage('', 0, reply.actions, reply.total);
      }
    } catch (error) {
      if (generation === this._generation) {
        this._error = (error as Error).message;
        this.lines.reset(0);
      }
    } finally {
      if (generation === this._generation) {
        this._loading = false;
        this._stateChanged.emit();
        this._fetchShown();
      }
    }
  }

  /**
   * Ask again for the pages on screen (and the root count): statuses and durations of
   * actions that ran on, children and rows that came.
   */
  refresh(): void {
    const source = this._source;
    if (!source || this._loading) {
      return;
    }
    const [first, last] = this._viewport;
    const pages = this.lines.shownPages(first, last, TREE_PAGE);
    if (!pages.some(p => p.parent === '')) {
      pages.push({ parent: '', page: 0 });
    }
    for (const need of pages) {
      void this._fetchPage(source, need, true);
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._setSource(null);
    clearTimeout(this._refreshTimer);
    this._isDisposed = true;
    Signal.clearData(this);
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  private _headerText(column: number): string {
    const id = TREE_COLUMNS[column]?.id;
    const title = TREE_COLUMNS[column]?.title ?? '';
    if (id === 'duration' && this._sort.sort === 'duration') {
      return `${title} ${this._sort.descending ? '▼' : '▲'}`;
    }
    if (id === 'tree' && this._sort.sort === 'started' && this._sort.descending) {
      return `${title} (newest first)`;
    }
    return title;
  }

  private _setSource(source: IActionSource | null): void {
    const old = this._source;
    if (old && isLive(old)) {
      old.rowsAppended.disconnect(this._onRowsAppended, this);
      old.reset.disconnect(this._onReset, this);
    }
    this._source = source;
    if (source && isLive(source)) {
      source.rowsAppended.connect(this._onRowsAppended, this);
      source.reset.connect(this._onReset, this);
    }
  }

  private _onRowsAppended(): void {
    if (this._refreshTimer !== undefined) {
      return;
    }
    this._refreshTimer = setTimeout(() => {
      this._refreshTimer = undefined;
      this.refresh();
    }, REFRESH_MS);
  }

  private _onReset(_: unknown, reset: IReset): void {
    // the same actions after a reconnect; others after a restart, a clear, a new session
    const others = reset.reason !== 'reconnected' && reset.reason !== 'connected';
    void this.reload(others).catch(() => undefined);
  }

  private _page(source: IActionSource, parent: string, page: number): Promise<IActionsReply> {
    return source.actions({
      parent,
      filter: this._filter,
      sort: this._sort.sort,
      descending: this._sort.descending,
      offset: page * TREE_PAGE,
      limit: TREE_PAGE
    });
  }

  /** Fetch the pages and rows the viewport's placeholders wait for. */
  private _fetchShown(): void {
    const source = this._source;
    if (!source || this._loading) {
      return;
    }
    const [first, last] = this._viewport;
    const { pages, rows } = this.lines.needs(first, last, TREE_PAGE);
    for (const need of pages) {
      void this._fetchPage(source, need, false);
    }
    for (const [parent, index] of rows) {
      void this._fetchRows(source, parent, index);
    }
  }

  private async _fetchPage(source: IActionSource, need: IPageNeed, again: boolean): Promise<void> {
    const key = `${need.parent}\u0000${need.page}`;
    if (this._inFlight.has(key)) {
      return;
    }
    this._inFlight.add(key);
    const generation = this._generation;
    try {
      const reply = await this._page(source, need.parent, need.page);
      if (generation !== this._generation) {
        return;
      }
      this.lines.applyPage(need.parent, reply.offset, reply.actions, reply.total);
      if (need.parent === '' && reply.total !== this._roots) {
        this._roots = reply.total;
        this._stateChanged.emit();
      }
    } catch (error) {
      if (generation === this._generation) {
        this._error = (error as Error).message;
        this._stateChanged.emit();
      }
      return;
    } finally {
      if (generation === this._generation) {
        this._inFlight.delete(key);
      }
    }
    if (!again) {
      this._fetchShown(); // the page may have opened actions whose lines now show
    }
  }

  /**
   * Fetch an open action's rows up to the `index`-th, page after page from where the last
   * one ended (keyset pages by seq).
   */
  private async _fetchRows(source: IActionSource, parent: string, index: number): Promise<void> {
    const cursor = this._rowCursors.get(parent) ?? { loaded: 0, lastSeq: null, busy: false };
    this._rowCursors.set(parent, cursor);
    if (cursor.busy) {
      return;
    }
    if (index < cursor.loaded) {
      // rows fetched before are placeholders again (the action was closed and opened)
      cursor.loaded = 0;
      cursor.lastSeq = null;
    }
    cursor.busy = true;
    const generation = this._generation;
    try {
      const reply = await source.query({
        filter: {},
        in_action: parent,
        after_seq: cursor.lastSeq,
        limit: ROWS_PAGE,
        with_total: false
      });
      if (generation !== this._generation) {
        return;
      }
      const rows: IRow[] = reply.rows;
      this.lines.applyRows(parent, cursor.loaded, rows);
      cursor.loaded += rows.length;
      cursor.lastSeq = reply.last_seq ?? cursor.lastSeq;
    } catch (error) {
      this._error = (error as Error).message;
      this._stateChanged.emit();
      return;
    } finally {
      cursor.busy = false;
    }
    this._fetchShown();
  }

  private _emit(change: LinesChange): void {
    if (change.type === 'model-reset') {
      this.emitChanged({ type: 'model-reset' });
    } else if (change.type === 'cells-changed') {
      this.emitChanged({
        type: 'cells-changed',
        region: 'body',
        row: change.index,
        column: 0,
        rowSpan: change.span,
        columnSpan: TREE_COLUMNS.length
      });
    } else {
      this.emitChanged({ type: change.type, region: 'body', index: change.index, span: change.span });
    }
  }

  private _source: IActionSource | null = null;
  private _filter: { [key: string]: unknown } = {};
  private _sort: ITreeSort;
  private _roots = 0;
  private _error: string | null = null;
  private _loading = false;
  private _generation = 0;
  private _viewport: [number, number] = [0, 50];
  private _inFlight = new Set<string>();
  private _rowCursors = new Map<string, { loaded: number; lastSeq: number | null; busy: boolean }>();
  private _refreshTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  private _isDisposed = false;
  private _stateChanged = new Signal<this, void>(this);
}

export namespace ActionTreeModel {
  export interface IOptions {
    source?: IActionSource | null;
    sort?: ITreeSort;
  }
}
